"""First-frame attention switches: flags on the native ConsistI2V model, attn1 replace patches on SVD-style UNets.

On SVD-style models (ComfyUI ``UNetModel`` with ``SpatialVideoTransformer`` blocks) the same attn1 replace key
fires for the spatial block and its temporal ``time_stack`` (comfyui.md §1.2); the patch tells them apart by
shape and runs the matching first-frame kernel. Training-free: those models never learned these keys.
"""
from __future__ import annotations

import comfy.ldm.modules.attention as comfy_attention
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

from ..kernels.first_frame_attention import spatial_first_frame_attention, window_temporal_attention
from .unet import OPTIONS_KEY, ConsistI2VUNet


def first_frame_replace(spatial: bool, temporal_window: bool, window_size: int):
    def patch(q, k, v, extra_options):
        heads = extra_options["n_heads"]
        rows = extra_options["activations_shape"][0]
        height, width = extra_options["activations_shape"][-2:]
        chunks = len(extra_options.get("cond_or_uncond", [0])) or 1
        frames = rows // chunks
        attend = comfy_attention.optimized_attention
        if q.shape[0] == rows and spatial:
            return spatial_first_frame_attention(q, k, v, heads, frames)
        if q.shape[0] == chunks * height * width and q.shape[0] != rows and temporal_window:
            return window_temporal_attention(q, k, v, heads, height, width, window_size,
                                             lambda q_, k_, v_, h: attend(q_, k_, v_, h))
        return attend(q, k, v, heads)
    return patch


def video_transformer_blocks(unet) -> list[tuple[str, int]]:
    from comfy.ldm.modules.attention import SpatialVideoTransformer

    found = []
    for name, blocks in (("input", unet.input_blocks), ("middle", [unet.middle_block]),
                         ("output", unet.output_blocks)):
        for number, block in enumerate(blocks):
            if any(isinstance(layer, SpatialVideoTransformer) for layer in block):
                found.append((name, number))
    return found


def apply_first_frame_attention(model, spatial: bool, temporal_window: bool, window_size: int):
    """A clone of ``model`` with the first-frame attention set as asked (ConsistI2V or SVD-style UNet)."""
    unet = model.get_model_object("diffusion_model")
    out = model.clone()
    if isinstance(unet, ConsistI2VUNet):
        options = out.model_options.setdefault("transformer_options", {})
        options[OPTIONS_KEY] = {"spatial": spatial, "temporal_window": temporal_window, "window_size": window_size}
        return out
    blocks = video_transformer_blocks(unet) if isinstance(unet, UNetModel) else []
    if not blocks:
        raise ValueError(f"model: {type(unet).__name__} has neither ConsistI2V's attention nor SVD-style video "
                         "transformer blocks; first-frame attention works on ConsistI2V and SVD-style UNet models")
    patch = first_frame_replace(spatial, temporal_window, window_size)
    for name, number in blocks:
        out.set_model_attn1_replace(patch, name, number)
    return out
