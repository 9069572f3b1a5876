"""Official DynamiCrafter / VideoCrafter1 configurations and checkpoint detection from tensor shapes.

``PRESETS[name]["unet"]`` / ``["image_proj"]`` are the official ``UNetModel`` / ``Resampler`` kwargs (DynamiCrafter
configs/inference_{256,512,1024}_v1.0.yaml; VideoCrafter1 configs/inference_i2v_512_v1.0.yaml with the
``finegrained`` Resampler of ``LatentVisualDiffusion``).
"""
from __future__ import annotations

import copy
import re

from ..kernels.dynamicrafter_keys import RESAMPLER, module_state_dict

_DC_UNET = {
    "in_channels": 8, "out_channels": 4, "model_channels": 320, "attention_resolutions": [4, 2, 1],
    "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4], "dropout": 0.1, "num_head_channels": 64,
    "transformer_depth": 1, "context_dim": 1024, "use_linear": True, "use_checkpoint": True, "temporal_conv": True,
    "temporal_attention": True, "temporal_selfatt_only": True, "use_relative_position": False,
    "use_causal_attention": False, "temporal_length": 16, "addition_attention": True, "image_cross_attention": True,
    "fs_condition": True,
}
_DC_PROJ = {"dim": 1024, "depth": 4, "dim_head": 64, "heads": 12, "num_queries": 16, "embedding_dim": 1280,
            "output_dim": 1024, "ff_mult": 4, "video_length": 16}
_COMMON = {"scale_factor": 0.18215}

PRESETS: dict[str, dict] = {
    "dynamicrafter_512": {
        "variant": "dynamicrafter", "unet": {**_DC_UNET, "default_fs": 24}, "image_proj": dict(_DC_PROJ),
        "prediction": "v", "zero_snr": True, "default_fs": 24, "recommended_fs": 24, "base_scale": 0.7,
        "resolution": [320, 512], **_COMMON,
    },
    "dynamicrafter_1024": {
        "variant": "dynamicrafter", "unet": {**_DC_UNET, "default_fs": 10}, "image_proj": dict(_DC_PROJ),
        "prediction": "v", "zero_snr": True, "default_fs": 10, "recommended_fs": 10, "base_scale": 0.3,
        "resolution": [576, 1024], **_COMMON,
    },
    "dynamicrafter_256": {
        "variant": "dynamicrafter",
        "unet": {**_DC_UNET, "image_cross_attention_scale_learnable": True, "default_fs": 3},
        "image_proj": dict(_DC_PROJ), "prediction": "eps", "zero_snr": False, "default_fs": 3, "recommended_fs": 3,
        "base_scale": None, "resolution": [256, 256], **_COMMON,
    },
    "videocrafter1_512": {
        "variant": "videocrafter1",
        "unet": {
            "in_channels": 4, "out_channels": 4, "model_channels": 320, "attention_resolutions": [4, 2, 1],
            "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4], "num_head_channels": 64, "transformer_depth": 1,
            "context_dim": 1024, "use_linear": True, "use_checkpoint": True, "temporal_conv": True,
            "temporal_attention": True, "temporal_selfatt_only": True, "use_relative_position": False,
            "use_causal_attention": False, "use_image_attention": True, "temporal_length": 16,
            "addition_attention": True, "fps_cond": True,
        },
        "image_proj": {"dim": 1024, "depth": 4, "dim_head": 64, "heads": 12, "num_queries": 16, "embedding_dim": 1280,
                       "output_dim": 1024, "ff_mult": 4},
        # the UNet's fps default is 16; the official i2v inference scripts pass --fps 24. use_scale with
        # scale_b 0.7: the DDIM rescales x0 like DynamiCrafter's dynamic rescale
        "prediction": "eps", "zero_snr": False, "default_fs": 16, "recommended_fs": 24, "base_scale": 0.7,
        "resolution": [320, 512], **_COMMON,
    },
}

def _indices(sd, prefix):
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in sd if (m := pat.match(k))})


def _missing_groups(sd) -> list[str]:
    keys = list(sd)
    groups = {
        "time_embed.* (UNet timestep MLP)": "time_embed.0.weight" in sd,
        "input_blocks.0.0 / out.2 (UNet in/out convolutions)": "input_blocks.0.0.weight" in sd and "out.2.weight" in sd,
        "temporal layers (*.temopral_conv.* / TemporalTransformer)": any(".temopral_conv." in k for k in keys)
        or any(re.match(r"input_blocks\.\d+\.2\.norm\.weight$", k) for k in keys),
        "attn2.to_k_ip / to_v_ip (image cross-attention)": any(k.endswith("attn2.to_k_ip.weight") for k in keys),
        "image_proj_model.* (image Resampler: latents, proj_in, layers)": "image_proj_model.latents" in sd
        and "image_proj_model.proj_in.weight" in sd,
    }
    return [name for name, ok in groups.items() if not ok]


def detect(sd: dict, name_hint: str | None = None) -> tuple[str, dict]:
    """(preset name, ``{"variant", "unet", "image_proj"}``) inferred from the tensor shapes of a state dict in our
    module's key names (UNet keys without ``model.diffusion_model.``, plus ``image_proj_model.*``; an official
    checkpoint's prefixed keys are accepted too). Values not visible in shapes (default_fs, temporal_length, ...)
    come from the preset. DynamiCrafter 512 and 1024 have identical shapes: ``name_hint`` (e.g. the file name)
    containing "1024" picks the 1024 preset, else 512. The Resampler's head split is not visible in shapes: dim_head
    64 (every released model) when it divides the attention width, else 16 (the tiny test checkpoints); the UNet's
    num_head_channels is read off ``init_attn`` (8 heads), else 64."""
    sd = module_state_dict(sd)
    missing = _missing_groups(sd)
    if missing:
        hint = ""
        if any(".time_stack." in k or ".time_mixer." in k for k in sd):
            hint = " (this looks like a Stable Video Diffusion UNet)"
        elif "time_embed.0.weight" in sd and not any(".temopral_conv." in k for k in sd):
            hint = " (this looks like an image UNet, e.g. SD1.x/2.x)"
        elif "image_proj_model.proj.weight" in sd:
            hint = " (the non-finegrained ImageProjModel is not supported; VideoCrafter1 i2v uses the Resampler)"
        raise ValueError("not a DynamiCrafter / VideoCrafter1 UNet state dict: missing " + "; ".join(missing) + hint)

    shape = lambda k: tuple(sd[k].shape)  # noqa: E731
    mc = shape("time_embed.0.weight")[1]
    in_ch, out_ch = shape("input_blocks.0.0.weight")[1], shape("out.2.weight")[0]
    mult, attn_res, n_res, level_res, ds, first_attn = [], [], None, 0, 1, None
    for i in _indices(sd, "input_blocks.")[1:]:
        if f"input_blocks.{i}.0.op.weight" in sd:
            n_res = n_res or level_res
            level_res, ds = 0, ds * 2
            continue
        if level_res == 0:
            mult.append(shape(f"input_blocks.{i}.0.in_layers.2.weight")[0] // mc)
            if f"input_blocks.{i}.1.norm.weight" in sd:
                attn_res.append(ds)
        if first_attn is None and f"input_blocks.{i}.1.norm.weight" in sd:
            first_attn = f"input_blocks.{i}."
        level_res += 1
    n_res = n_res or level_res
    if first_attn is None:
        raise ValueError("not a DynamiCrafter / VideoCrafter1 UNet state dict: no spatial transformer found")

    keys = list(sd)
    learnable = any(k.endswith(".attn2.alpha") for k in keys)
    variant = "dynamicrafter" if in_ch != out_ch or learnable else "videocrafter1"
    temporal_attn = first_attn + "2.norm.weight" in sd
    addition = "init_attn.0.norm.weight" in sd
    head_ch = shape("init_attn.0.proj_in.weight")[0] // 8 if addition else 64
    conv1 = next((k for k in keys if k.endswith(".temopral_conv.conv1.2.weight")), None)
    unet = {
        "in_channels": in_ch, "out_channels": out_ch, "model_channels": mc, "num_res_blocks": n_res,
        "attention_resolutions": sorted(attn_res, reverse=True), "channel_mult": mult, "num_head_channels": head_ch,
        "transformer_depth": len(_indices(sd, first_attn + "1.transformer_blocks.")),
        "context_dim": shape(first_attn + "1.transformer_blocks.0.attn2.to_k.weight")[1],
        "use_linear": len(shape(first_attn + "1.proj_in.weight")) == 2, "temporal_conv": conv1 is not None,
        "tempspatial_aware": conv1 is not None and shape(conv1)[-2:] != (1, 1), "temporal_attention": temporal_attn,
        "use_relative_position": any(".relative_position_k." in k for k in keys), "addition_attention": addition,
    }
    if variant == "dynamicrafter":
        unet.update(image_cross_attention=True, image_cross_attention_scale_learnable=learnable,
                    fs_condition="fps_embedding.0.weight" in sd)
        name = "dynamicrafter_256" if learnable else (
            "dynamicrafter_1024" if name_hint and "1024" in str(name_hint) else "dynamicrafter_512")
    else:
        unet.update(use_image_attention=True, fps_cond="fps_embedding.0.weight" in sd)
        if temporal_attn:
            unet["temporal_transformer_depth"] = len(_indices(sd, first_attn + "2.transformer_blocks."))
        name = "videocrafter1_512"

    p = RESAMPLER
    tokens, dim = shape(p + "latents")[1:]
    inner = shape(p + "layers.0.0.to_q.weight")[0]
    dim_head = next(d for d in (64, 16, inner) if inner % d == 0)
    proj = {"dim": dim, "depth": len(_indices(sd, p + "layers.")), "dim_head": dim_head, "heads": inner // dim_head,
            "embedding_dim": shape(p + "proj_in.weight")[1], "output_dim": shape(p + "proj_out.weight")[0],
            "ff_mult": shape(p + "layers.0.1.1.weight")[0] // dim}
    if variant == "dynamicrafter" and tokens % 16 == 0:
        proj.update(num_queries=16, video_length=tokens // 16)  # frame-wise: 16 queries per frame
    else:
        proj["num_queries"] = tokens
    preset = PRESETS[name]
    config = {"variant": variant, "unet": {**copy.deepcopy(preset["unet"]), **unet},
              "image_proj": {**{k: v for k, v in preset["image_proj"].items() if k != "video_length"}, **proj}}
    return name, config
