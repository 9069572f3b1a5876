"""DynamiCrafter / VideoCrafter1 (and their CIL TimeNoise checkpoints): loader and image conditioning."""
from __future__ import annotations

import comfy.model_management
import folder_paths
import node_helpers
import torch
from comfy_api.latest import io

from ..dynamicrafter.configs import PRESETS
from ..dynamicrafter.model import CLIP_TOKENS_KEY, FRAMES_KEY, FS_KEY, IMAGE_LATENT_KEY, load_dynamicrafter
from ..kernels.checkpoints import WEIGHTS
from ..kernels.guidance import from_prediction, rescaled_guidance, to_prediction
from .common import LOADER_CATEGORY, fit_image, parse_weight_dtype, weight_dtype_input

CATEGORY = "conditioning/video_models"
SIZE_STEP = 64  # VAE ×8, then three UNet downsamples
UNCOND_GRAY = 0.5  # the official negative encodes a zero image in [-1, 1] = mid-gray


class CILLoadDynamiCrafter(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CILLoadDynamiCrafter",
            display_name="Load DynamiCrafter / VideoCrafter1 (CIL)",
            category=LOADER_CATEGORY,
            description=(
                "Loads a DynamiCrafter or VideoCrafter1 image-to-video UNet with its image projector as a ComfyUI "
                "MODEL for KSampler / SamplerCustomAdvanced: the original releases and the CIL TimeNoise "
                "fine-tunes (GraceZhao/DynamiCrafter-CIL-512/-1024, VideoCrafter1-CIL-512; same keys). Takes the "
                "official .ckpt (read without running code; the VAE and encoders inside are skipped) or a "
                "safetensors copy (e.g. Kijai/DynamiCrafter_pruned, or one written by CIL Convert Checkpoint). Use "
                "CLIPLoader (stable_diffusion, SD 2.1 text encoder), CLIPVisionLoader (ViT-H) and an SD VAE beside it."),
            inputs=[
                io.Combo.Input("unet_name", options=folder_paths.get_filename_list("diffusion_models"), tooltip=(
                    "The checkpoint in models/diffusion_models (timenoise.ckpt, model.ckpt or a .safetensors).")),
                io.Combo.Input("model_type", options=["auto", *PRESETS], default="auto", tooltip=(
                    "Schedule and prediction of the release. auto reads the architecture off the file: "
                    "DynamiCrafter 512/1024 (v-prediction, zero-SNR, dynamic rescale 0.7; pick dynamicrafter_1024 "
                    "for the 1024 models: rescale 0.3), DynamiCrafter 256 (epsilon) or VideoCrafter1 (epsilon).")),
                io.Combo.Input("weights", options=list(WEIGHTS), default="auto", tooltip=(
                    "Which weights of a training checkpoint: auto takes EMA weights when the file has them.")),
                weight_dtype_input("Weight precision. default lets ComfyUI pick (fp16/bf16 on GPUs, fp32 on CPU)."),
            ],
            outputs=[io.Model.Output(display_name="MODEL")],
        )

    @classmethod
    def execute(cls, unet_name, model_type, weights, weight_dtype) -> io.NodeOutput:
        dtype = parse_weight_dtype(weight_dtype)
        path = folder_paths.get_full_path("diffusion_models", unet_name)
        if path is None:
            raise ValueError(f"unet_name: {unet_name} is not in models/diffusion_models")
        model, _ = load_dynamicrafter(path, model_type, weights, dtype)
        return io.NodeOutput(model)


def clip_tokens(clip_vision, image: torch.Tensor) -> torch.Tensor:
    """CLIP vision tokens as the official image embedder gives them: all tokens of the last layer, the image
    squashed (not cropped) to the encoder's size."""
    out = clip_vision.encode_image(image, crop=False)
    tokens = out["last_hidden_state"]
    return tokens.to(comfy.model_management.intermediate_device())


class CILDynamiCrafterConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CILDynamiCrafterConditioning",
            display_name="CIL DynamiCrafter Conditioning",
            category=CATEGORY,
            description=(
                "Image conditioning for DynamiCrafter / VideoCrafter1 (and CIL) models: the start image's VAE "
                "latent (concatenated to every frame on DynamiCrafter), its CLIP image tokens (positive; the "
                "negative gets a gray image's tokens, as the official sampler), the frame stride / fps, and an "
                "empty video latent of length frames. Feed the outputs to KSampler or SamplerCustomAdvanced."),
            inputs=[
                io.Conditioning.Input("positive", tooltip="Prompt from CLIPTextEncode (SD 2.1 text encoder)."),
                io.Conditioning.Input("negative", tooltip="Negative prompt (the official one is empty text)."),
                io.ClipVision.Input("clip_vision", tooltip="OpenCLIP ViT-H/14 image encoder (CLIPVisionLoader)."),
                io.Image.Input("start_image", tooltip="The image the video starts from."),
                io.Vae.Input("vae", tooltip="SD VAE (kl-f8) that encodes the start image."),
                io.Int.Input("width", default=512, min=64, max=4096, step=64, tooltip=(
                    "Video width in pixels (official: 512 for the 512 models, 1024 for 1024, 256 for 256).")),
                io.Int.Input("height", default=320, min=64, max=4096, step=64, tooltip=(
                    "Video height in pixels (official: 320, 576 for 1024, 256 for 256).")),
                io.Int.Input("length", default=16, min=1, max=1024, tooltip=(
                    "Frames to generate (the models were trained on 16).")),
                io.Int.Input("frame_stride", default=24, min=1, max=1000, tooltip=(
                    "The model's motion conditioning; its direction differs per model. DynamiCrafter 512 / 1024: "
                    "an fps (official 24 at 512, 10 at 1024; recommended 15-30 / 5-15): LOWER = more motion per "
                    "frame (CIL inference uses 24 for both). DynamiCrafter 256: the frame stride (official 3, "
                    "recommended 1-6): HIGHER = more motion. VideoCrafter1: its fps conditioning (official 24).")),
            ],
            outputs=[io.Conditioning.Output(display_name="positive"), io.Conditioning.Output(display_name="negative"),
                     io.Latent.Output(display_name="latent")],
        )

    @classmethod
    def execute(cls, positive, negative, clip_vision, start_image, vae, width, height, length,
                frame_stride) -> io.NodeOutput:
        if start_image is None or start_image.dim() != 4 or start_image.shape[0] < 1:
            raise ValueError("start_image: connect an IMAGE (LoadImage)")
        if width % SIZE_STEP or height % SIZE_STEP:
            raise ValueError(f"width/height: {width}×{height} must be multiples of {SIZE_STEP} pixels (the VAE "
                             "downsamples by 8 and the UNet halves that three times), e.g. 512×320 or 1024×576")
        image = fit_image(start_image, width, height)
        latent = vae.encode(image)
        values = {IMAGE_LATENT_KEY: latent[:1], FS_KEY: int(frame_stride), FRAMES_KEY: int(length)}
        gray = torch.full_like(image, UNCOND_GRAY)
        positive = node_helpers.conditioning_set_values(
            positive, dict(values, **{CLIP_TOKENS_KEY: clip_tokens(clip_vision, image)}))
        negative = node_helpers.conditioning_set_values(
            negative, dict(values, **{CLIP_TOKENS_KEY: clip_tokens(clip_vision, gray)}))
        empty = torch.zeros([length, latent.shape[1], height // 8, width // 8],
                            device=comfy.model_management.intermediate_device())
        return io.NodeOutput(positive, negative, {"samples": empty})


PREDICTION_OF = {"EPS": "eps", "V_PREDICTION": "v"}


class CILGuidanceRescale(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CILGuidanceRescale",
            display_name="Guidance Rescale (video, DynamiCrafter)",
            category="advanced/model",
            description=(
                "The official DynamiCrafter guidance rescale: after CFG, the guided v (or eps) is pulled towards the "
                "standard deviation of the prompt's prediction, measured over each whole video (ComfyUI's "
                "RescaleCFG measures per frame). Keeps colours from burning at CFG 7.5; official multiplier 0.7. "
                "For v- and epsilon-prediction models."),
            inputs=[
                io.Model.Input("model"),
                io.Float.Input("multiplier", default=0.7, min=0.0, max=1.0, step=0.01, tooltip=(
                    "0 = plain CFG, 1 = fully rescaled. DynamiCrafter's CIL and original inference use 0.7.")),
                io.Int.Input("frames_per_video", default=0, min=0, max=4096, tooltip=(
                    "Frames of one video in the latent batch. 0: the whole batch is one video (a latent from CIL "
                    "DynamiCrafter Conditioning); set the length when a batch holds several videos.")),
            ],
            outputs=[io.Model.Output(display_name="MODEL")],
        )

    @classmethod
    def execute(cls, model, multiplier, frames_per_video) -> io.NodeOutput:
        kind = PREDICTION_OF.get(model.model.model_type.name)
        if kind is None:
            raise ValueError(f"model: guidance rescale here works on v- or epsilon-prediction models, not "
                             f"{model.model.model_type.name}; use ComfyUI's RescaleCFG")

        def rescale(args):
            x, cond, uncond = args["input"], args["cond_denoised"], args["uncond_denoised"]
            sigma = args["sigma"].view(-1, *([1] * (x.dim() - 1)))
            videos = x.shape[0] // frames_per_video if frames_per_video else 1
            if frames_per_video and x.shape[0] % frames_per_video:
                raise ValueError(f"frames_per_video: the latent holds {x.shape[0]} frames, not a multiple of "
                                 f"{frames_per_video}")
            out = rescaled_guidance(to_prediction(cond, x, sigma, kind), to_prediction(uncond, x, sigma, kind),
                                    args["cond_scale"], multiplier, videos)
            return x - from_prediction(out, x, sigma, kind)

        patched = model.clone()
        patched.set_model_sampler_cfg_function(rescale)
        return io.NodeOutput(patched)
