"""The native ConsistI2V model: loader, first-frame conditioning, output assembly, first-frame attention switch."""
from __future__ import annotations

import comfy.model_management
import folder_paths
import node_helpers
import torch
from comfy_api.latest import io

from ..consisti2v.attention_patch import apply_first_frame_attention
from ..consisti2v.model import FIRST_FRAME_KEY, STRIDE_KEY, load_consisti2v
from .common import LOADER_CATEGORY, fit_image, parse_weight_dtype, weight_dtype_input

CATEGORY = "conditioning/video_models"
MAX_STRIDE = 16


class ConsistI2VModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VModelLoader",
            display_name="Load ConsistI2V Model",
            category=LOADER_CATEGORY,
            description=(
                "Loads the ConsistI2V UNet (TIGER-Lab/ConsistI2V, unet/diffusion_pytorch_model.safetensors) from "
                "models/diffusion_models as a ComfyUI MODEL that KSampler, SamplerCustomAdvanced, LoRA loaders "
                "and model patches accept. A config.json beside the file is used when present (the diffusers "
                "folder layout), else the config is read off the tensor shapes. Use ComfyUI's CLIPLoader "
                "(stable_diffusion) and VAELoader for the SD 2.1 text encoder and VAE. Only safetensors load."),
            inputs=[
                io.Combo.Input("unet_name", options=folder_paths.get_filename_list("diffusion_models"), tooltip=(
                    "The ConsistI2V UNet file in models/diffusion_models (rename the downloaded "
                    "diffusion_pytorch_model.safetensors, or keep it in its folder with config.json).")),
                weight_dtype_input("Weight precision. default lets ComfyUI pick for your GPU (fp16/bf16 on GPUs, "
                                   "fp32 on CPU); fp32 is exact to the official model."),
            ],
            outputs=[io.Model.Output(display_name="MODEL")],
        )

    @classmethod
    def execute(cls, unet_name, weight_dtype) -> io.NodeOutput:
        dtype = parse_weight_dtype(weight_dtype)
        path = folder_paths.get_full_path("diffusion_models", unet_name)
        if path is None:
            raise ValueError(f"unet_name: {unet_name} is not in models/diffusion_models")
        return io.NodeOutput(load_consisti2v(path, dtype, unet_name))


def first_frame_latent(vae, start_image, start_latent, width, height):
    """[1, 4, h, w] VAE latent of the first frame (not yet scaled by the latent format)."""
    if start_latent is not None:
        latent = start_latent["samples"][:1]
        if latent.dim() != 4:
            raise ValueError(f"start_latent: expected an image latent [B, C, H, W], got shape {tuple(latent.shape)}")
    elif start_image is not None:
        if vae is None:
            raise ValueError("vae: connect the SD 2.1 VAE to encode start_image")
        latent = vae.encode(fit_image(start_image, width, height))
    else:
        raise ValueError("start_image: connect the first frame (an IMAGE, or a LATENT to start_latent)")
    if latent.shape[1] != 4:
        source = "start_latent" if start_latent is not None else "vae"
        raise ValueError(f"{source}: ConsistI2V works on 4-channel SD latents, got {latent.shape[1]} channels; "
                         "use the SD 2.1 VAE (ConsistI2V's vae/diffusion_pytorch_model.safetensors)")
    return latent


class ConsistI2VConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VConditioning",
            display_name="ConsistI2V Conditioning",
            category=CATEGORY,
            description=(
                "Image-to-video conditioning for the native ConsistI2V model: stores the first frame's clean "
                "latent and the frame stride in both positive and negative (each CFG branch sees the same first "
                "frame, as in the paper) and returns the latent of the frames to generate (length - 1; the first "
                "frame is not sampled). After decoding, 'ConsistI2V Prepend First Frame' gives the full video."),
            inputs=[
                io.Conditioning.Input("positive", tooltip="Text conditioning of the prompt (CLIPTextEncode)."),
                io.Conditioning.Input("negative", tooltip="Negative text conditioning (ConsistI2V uses an empty one)."),
                io.Vae.Input("vae", optional=True, tooltip="The SD 2.1 VAE; needed to encode start_image."),
                io.Image.Input("start_image", optional=True, tooltip=(
                    "The first frame. It is resized to cover width x height and centre-cropped, like the "
                    "official pipeline.")),
                io.Latent.Input("start_latent", optional=True, tooltip=(
                    "Alternatively the first frame's latent (its first image); overrides start_image.")),
                io.Int.Input("width", default=256, min=64, max=4096, step=8,
                             tooltip="Video width in pixels (ConsistI2V was trained at 256)."),
                io.Int.Input("height", default=256, min=64, max=4096, step=8,
                             tooltip="Video height in pixels (ConsistI2V was trained at 256)."),
                io.Int.Input("length", default=16, min=2, max=1024, tooltip=(
                    "Frames of the video including the first frame (ConsistI2V: 16). The sampler generates "
                    "length - 1 frames.")),
                io.Int.Input("frame_stride", default=3, min=1, max=MAX_STRIDE, tooltip=(
                    "Source frames between generated frames (trained 1-5, official default 3). Higher: faster, "
                    "larger motion per frame; lower: slower, finer motion.")),
            ],
            outputs=[io.Conditioning.Output(display_name="positive"), io.Conditioning.Output(display_name="negative"),
                     io.Latent.Output(display_name="latent")],
        )

    @classmethod
    def execute(cls, positive, negative, width, height, length, frame_stride, vae=None, start_image=None,
                start_latent=None) -> io.NodeOutput:
        if length < 2:
            raise ValueError(f"length {length}: needs at least 2 frames (the first frame plus one to generate)")
        if not 1 <= frame_stride <= MAX_STRIDE:
            raise ValueError(f"frame_stride {frame_stride} is out of range: use 1..{MAX_STRIDE} (trained on 1-5)")
        first = first_frame_latent(vae, start_image, start_latent, width, height)
        values = {FIRST_FRAME_KEY: first, STRIDE_KEY: int(frame_stride)}
        positive = node_helpers.conditioning_set_values(positive, values)
        negative = node_helpers.conditioning_set_values(negative, values)
        latent = torch.zeros((length - 1, *first.shape[1:]), device=comfy.model_management.intermediate_device())
        return io.NodeOutput(positive, negative, {"samples": latent})


class ConsistI2VPrependFirstFrame(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VPrependFirstFrame",
            display_name="ConsistI2V Prepend First Frame",
            category="latent/video",
            description=(
                "Puts the clean first-frame latent (from 'ConsistI2V Conditioning') in front of the sampled frames, "
                "so that VAE Decode returns the whole video: the input frame followed by the generated ones."),
            inputs=[
                io.Latent.Input("samples", tooltip="The sampled latent (length - 1 frames) from the sampler."),
                io.Conditioning.Input("positive", tooltip="The positive output of 'ConsistI2V Conditioning'."),
            ],
            outputs=[io.Latent.Output(display_name="LATENT")],
        )

    @classmethod
    def execute(cls, samples, positive) -> io.NodeOutput:
        first = next((c[1][FIRST_FRAME_KEY] for c in positive if FIRST_FRAME_KEY in c[1]), None)
        if first is None:
            raise ValueError("positive: no first frame in this conditioning; connect the positive output of "
                             "'ConsistI2V Conditioning'")
        video = samples["samples"]
        if video.shape[1:] != first.shape[1:]:
            raise ValueError(f"samples: frames {tuple(video.shape[1:])} do not match the first frame "
                             f"{tuple(first.shape[1:])}")
        out = {k: v for k, v in samples.items() if k not in ("noise_mask", "batch_index")}
        out["samples"] = torch.cat((first[:1].to(video), video), dim=0)
        return io.NodeOutput(out)


class ConsistI2VFirstFrameAttention(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VFirstFrameAttention",
            display_name="ConsistI2V First-Frame Attention",
            category="model_patches/unet",
            description=(
                "Switches ConsistI2V's first-frame attention. Spatial: every frame also attends to frame 0's keys "
                "and values. Temporal window: each pixel also attends to a K x K window of frame 0. The ConsistI2V "
                "model uses both by default (turn them off for the paper's ablation). On SVD-style UNet models "
                "this node adds them training-free (the model never learned them): it often steadies identity "
                "at the cost of motion; compare with and without."),
            inputs=[
                io.Model.Input("model", tooltip="A ConsistI2V model, or an SVD-style UNet video model (training-free)."),
                io.Boolean.Input("spatial", default=True, tooltip=(
                    "Every frame's spatial self-attention also sees frame 0's tokens (keeps appearance).")),
                io.Boolean.Input("temporal_window", default=True, tooltip=(
                    "Temporal attention also sees frame 0's neighbourhood of each pixel (keeps layout, allows "
                    "small motion).")),
                io.Int.Input("window_size", default=3, min=3, max=15, step=2, tooltip=(
                    "K of the K x K frame-0 window (ConsistI2V: 3). Larger follows larger motion.")),
            ],
            outputs=[io.Model.Output(display_name="MODEL")],
        )

    @classmethod
    def execute(cls, model, spatial, temporal_window, window_size) -> io.NodeOutput:
        if window_size < 3 or window_size % 2 == 0:
            raise ValueError(f"window_size {window_size}: use an odd number >= 3")
        return io.NodeOutput(apply_first_frame_attention(model, spatial, temporal_window, window_size))
