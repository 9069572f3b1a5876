"""ConsistI2V UNet configuration: from the official ``config.json`` or inferred from tensor shapes.

Pure Python/torch (no ComfyUI import) so that configs and checkpoints can be validated anywhere.
"""
from __future__ import annotations

import re

import torch

# Keys every released checkpoint carries that the forward never reads (consisti2v.md §2).
UNUSED_KEY = re.compile(r"(\.conv3ds\.\d+\.time_emb_proj\.(weight|bias)"
                        r"|\.attn[12]\.rotary_bias\.relative_attention_bias\.weight)$")
KNOWN_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "module.", "unet.")

DEFAULTS = {
    "in_channels": 4, "out_channels": 4, "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
    "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
    "mid_block_type": "UNetMidBlock2DCrossAttn", "attention_head_dim": [5, 10, 20, 20],
    "cross_attention_dim": 1024, "norm_num_groups": 32, "norm_eps": 1e-5, "use_linear_projection": True,
    "flip_sin_to_cos": True, "freq_shift": 0, "transformer_layers_per_block": 1, "n_temp_heads": 8,
    "first_frame_condition_mode": "concat", "augment_temporal_attention": True,
    "temp_pos_embedding": "rotary", "use_frame_stride_condition": True, "use_temporal": True,
}
# Values our port implements; anything else in a config.json is refused rather than silently mis-run.
REQUIRED = {
    "first_frame_condition_mode": "concat", "temp_pos_embedding": "rotary", "use_temporal": True,
    "mid_block_type": "UNetMidBlock2DCrossAttn", "act_fn": "silu", "time_embedding_type": "positional",
    "resnet_time_scale_shift": "default", "class_embed_type": None, "addition_embed_type": None,
    "encoder_hid_dim": None, "num_attention_heads": None, "dual_cross_attention": False,
    "only_cross_attention": False, "center_input_sample": False, "conv_in_kernel": 3, "conv_out_kernel": 3,
    "mid_block_scale_factor": 1, "resnet_out_scale_factor": 1.0, "time_embedding_dim": None,
    "timestep_post_act": None, "time_cond_proj_dim": None, "downsample_padding": 1,
}


def normalise_config(raw: dict, source: str = "config.json") -> dict:
    """Validate an official UNet config and return the fields the port reads (lists expanded per level)."""
    for key, want in REQUIRED.items():
        if key in raw and raw[key] != want and not (want is None and raw[key] in (None, "null")):
            raise ValueError(f"{source}: {key} = {raw[key]!r} is not supported by the ConsistI2V port "
                             f"(expected {want!r}); is this a ConsistI2V UNet config?")
    cfg = {k: raw.get(k, v) for k, v in DEFAULTS.items()}
    levels = len(cfg["block_out_channels"])
    for key in ("attention_head_dim",):
        if isinstance(cfg[key], int):
            cfg[key] = [cfg[key]] * levels
    for key in ("layers_per_block", "transformer_layers_per_block", "cross_attention_dim"):
        if isinstance(cfg[key], (list, tuple)):
            if len(set(cfg[key])) != 1:
                raise ValueError(f"{source}: per-level {key} {cfg[key]} is not supported")
            cfg[key] = cfg[key][0]
    if not (len(cfg["down_block_types"]) == len(cfg["up_block_types"]) == len(cfg["attention_head_dim"]) == levels):
        raise ValueError(f"{source}: block_out_channels, down/up_block_types and attention_head_dim must have one "
                         "entry per level")
    for i, c in enumerate(cfg["block_out_channels"]):
        if c % 32 or c % cfg["n_temp_heads"] or c % cfg["attention_head_dim"][i]:
            raise ValueError(f"{source}: {c} channels at level {i} must be a multiple of 32, of n_temp_heads "
                             f"({cfg['n_temp_heads']}) and of the head count ({cfg['attention_head_dim'][i]})")
    return cfg


def strip_prefix(sd: dict) -> dict:
    """Remove a wrapper prefix (``module.`` from training pickles, ``unet.``, ``model.diffusion_model.``)."""
    for prefix in KNOWN_PREFIXES:
        if "conv_in.weight" not in sd and prefix + "conv_in.weight" in sd:
            return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    return sd


def infer_config(sd: dict) -> dict:
    """Config of a single-file checkpoint from its tensor shapes. Head counts cannot be seen in the weights: the
    spatial heads are taken as 64 channels wide (SD 2.1, ConsistI2V) and the temporal attention as 8 heads."""
    if "conv_in.weight" not in sd or "time_embedding.linear_1.weight" not in sd:
        raise ValueError("unet_name: this file is not a diffusers-layout UNet (no conv_in / time_embedding keys)")
    if not any(".conv3ds." in k for k in sd) or not any(".tempo_attns." in k for k in sd):
        raise ValueError("unet_name: this UNet has no temporal layers (conv3ds / tempo_attns): it is not a "
                         "ConsistI2V checkpoint (a plain SD UNet loads with ComfyUI's own loaders)")
    levels = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"down_blocks\.(\d+)\.", k)))
    channels = [sd[f"down_blocks.{i}.resnets.0.conv1.weight"].shape[0] for i in range(levels)]
    layers = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"down_blocks\.0\.resnets\.(\d+)\.", k)))
    depth = 1 + max((int(m.group(1)) for k in sd
                     if (m := re.match(r"mid_block\.attentions\.0\.transformer_blocks\.(\d+)\.", k))), default=0)
    cross_dim = next(v.shape[1] for k, v in sd.items() if k.endswith("attn2.to_k.weight"))
    proj = next(v for k, v in sd.items() if k.endswith("attentions.0.proj_in.weight"))
    has = lambda prefix: any(k.startswith(prefix) for k in sd)  # noqa: E731
    return normalise_config({
        "in_channels": sd["conv_in.weight"].shape[1], "out_channels": sd["conv_out.weight"].shape[0],
        "block_out_channels": channels, "layers_per_block": layers, "transformer_layers_per_block": depth,
        "down_block_types": ["CrossAttnDownBlock2D" if has(f"down_blocks.{i}.attentions.") else "DownBlock2D"
                             for i in range(levels)],
        "up_block_types": ["CrossAttnUpBlock2D" if has(f"up_blocks.{i}.attentions.") else "UpBlock2D"
                           for i in range(levels)],
        "attention_head_dim": [c // 64 if c >= 64 else 1 for c in channels],
        "cross_attention_dim": cross_dim, "use_linear_projection": proj.dim() == 2,
        "use_frame_stride_condition": "frame_stride_embedding.linear_1.weight" in sd,
    }, source="unet_name (config inferred from tensor shapes)")


def check_state_dict(expected: dict[str, torch.Size], sd: dict, source: str) -> dict:
    """Drop the known unused keys, then refuse missing / unexpected keys and shape mismatches (listing them)."""
    sd = {k: v for k, v in sd.items() if not UNUSED_KEY.search(k)}
    missing = sorted(set(expected) - set(sd) - {k for k in expected if k.endswith("rotary_emb.freqs")})
    unexpected = sorted(set(sd) - set(expected))
    wrong = sorted(f"{k}: file {tuple(sd[k].shape)} vs model {tuple(expected[k])}"
                   for k in set(sd) & set(expected) if sd[k].shape != expected[k])
    problems = []
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong)):
        if items:
            shown = ", ".join(items[:12]) + (f", ... ({len(items)} in all)" if len(items) > 12 else "")
            problems.append(f"{title}: {shown}")
    if problems:
        raise ValueError(f"{source}: the checkpoint does not fit the ConsistI2V UNet of its config; "
                         + "; ".join(problems) + ". Check that config.json belongs to these weights.")
    return sd
