"""ConsistI2V UNet configuration: from the official ``config.json`` or inferred from tensor shapes.

Pure Python/torch (no ComfyUI import) so that configs and checkpoints can be validated anywhere.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

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


MAX_LEVELS, MAX_LAYERS = 8, 16  # far above any released UNet; bounds the (meta) build that sizes a config
BLOCK_TYPES = {"down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
               "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D")}
COUNTS = {"in_channels": None, "out_channels": None, "norm_num_groups": None, "n_temp_heads": None,
          "cross_attention_dim": None, "layers_per_block": MAX_LAYERS, "transformer_layers_per_block": MAX_LAYERS}
PER_LEVEL_ONE_VALUE = ("layers_per_block", "transformer_layers_per_block", "cross_attention_dim")
FLAGS = ("use_linear_projection", "flip_sin_to_cos", "augment_temporal_attention", "use_frame_stride_condition")


def read_config_file(path) -> dict:
    """The JSON object of a ``config.json``; unreadable, invalid or non-object files are refused by name."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); fix it, or "
                         "replace it with the config.json of the ConsistI2V unet folder (or delete it: the config is "
                         "then read off the tensor shapes)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot be read ({type(err).__name__}: {str(err)[:160]}); check the file's "
                         "permissions and encoding (UTF-8 JSON)") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: holds a JSON {type(raw).__name__}, not a JSON object of UNet settings; use the "
                         "config.json of the ConsistI2V unet folder")
    return raw


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + f"… ({len(text)} characters)"


def _refuse(source: str, key: str, value, want: str):
    raise ValueError(f"{source}: {key} = {_shown(value)} must be {want}; is this the config.json of a ConsistI2V "
                     "UNet? (use the one from its unet folder)")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(source: str, key: str, value, most: int | None = None) -> int:
    if not _is_int(value) or value < 1 or (most is not None and value > most):
        _refuse(source, key, value, f"an integer from 1 to {most}" if most else "a positive integer")
    return value


def _check_types(cfg: dict, source: str) -> None:
    """Every field the port reads has the JSON type and range it needs (expands per-level lists in place)."""
    ch = cfg["block_out_channels"]
    if not isinstance(ch, list) or not 1 <= len(ch) <= MAX_LEVELS:
        _refuse(source, "block_out_channels", ch, f"a list of 1 to {MAX_LEVELS} channel counts (integers)")
    if not all(_is_int(c) and c > 0 for c in ch):
        _refuse(source, "block_out_channels", ch, "a list of positive integers")
    heads = cfg["attention_head_dim"]
    cfg["attention_head_dim"] = heads = [heads] * len(ch) if _is_int(heads) else heads
    if not isinstance(heads, list) or len(heads) != len(ch) or not all(_is_int(h) and h > 0 for h in heads):
        _refuse(source, "attention_head_dim", heads, f"a positive integer or a list of {len(ch)} of them (one per "
                "block_out_channels entry)")
    for key in PER_LEVEL_ONE_VALUE:
        if isinstance(cfg[key], list):
            if len(set(map(repr, cfg[key]))) != 1:
                raise ValueError(f"{source}: per-level {key} {_shown(cfg[key])} is not supported (one value for "
                                 "every level)")
            cfg[key] = cfg[key][0]
    for key, most in COUNTS.items():
        _count(source, key, cfg[key], most)
    eps = cfg["norm_eps"]
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        _refuse(source, "norm_eps", eps, "a number between 0 and 1 (1e-5)")
    if isinstance(cfg["freq_shift"], bool) or not isinstance(cfg["freq_shift"], (int, float)) \
            or not math.isfinite(cfg["freq_shift"]):
        _refuse(source, "freq_shift", cfg["freq_shift"], "a number (0)")
    for key in FLAGS:
        if not isinstance(cfg[key], bool):
            _refuse(source, key, cfg[key], "true or false")
    for key, names in BLOCK_TYPES.items():
        value = cfg[key]
        if not isinstance(value, list) or len(value) != len(ch) or any(v not in names for v in value):
            bad = next((v for v in value if v not in names), value) if isinstance(value, list) else value
            raise ValueError(f"{source}: {key} {_shown(value)} must list one of {' / '.join(names)} per level "
                             f"({len(ch)} levels, one per block_out_channels entry); {_shown(bad)} is not one")


def normalise_config(raw: dict, source: str = "config.json") -> dict:
    """Validate an official UNet config and return the fields the port reads (lists expanded per level)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: holds a {type(raw).__name__}, not a JSON object of UNet settings")
    for key, want in REQUIRED.items():
        if key in raw and raw[key] != want and not (want is None and raw[key] in (None, "null")):
            raise ValueError(f"{source}: {key} = {_shown(raw[key])} is not supported by the ConsistI2V port "
                             f"(expected {want!r}); is this a ConsistI2V UNet config?")
    cfg = {k: raw.get(k, v) for k, v in DEFAULTS.items()}
    _check_types(cfg, source)
    groups, temp_heads = cfg["norm_num_groups"], cfg["n_temp_heads"]
    for i, c in enumerate(cfg["block_out_channels"]):
        if c % 32 or c % groups or c % temp_heads or c % cfg["attention_head_dim"][i]:
            raise ValueError(f"{source}: {c} channels at level {i} must be a multiple of 32, of norm_num_groups "
                             f"({groups}), of n_temp_heads ({temp_heads}) and of the head count "
                             f"({cfg['attention_head_dim'][i]})")
    return cfg


def strip_prefix(sd: dict) -> dict:
    """Remove a wrapper prefix (``module.`` from training pickles, ``unet.``, ``model.diffusion_model.``)."""
    for prefix in KNOWN_PREFIXES:
        if "conv_in.weight" not in sd and prefix + "conv_in.weight" in sd:
            return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    return sd


def _blocks(sd: dict, name: str, fail) -> int:
    """How many ``name.<i>.`` blocks the keys number, refusing gaps (stray or missing blocks)."""
    index = {k: int(m.group(1)) for k in sd if (m := re.match(rf"{name}\.(\d+)\.", k))}
    found = sorted(set(index.values()))
    if not found:
        fail(f"missing keys {name}.0.* (no {name} at all)")
    if found != list(range(len(found))):
        gap = next(i for i in range(len(found) + 1) if i not in found)
        stray = sorted(k for k, i in index.items() if i > gap)
        fail(f"{name} are numbered {', '.join(map(str, found))}: {name}.{gap}.* is missing or these keys are stray: "
             f"{', '.join(stray[:3])}" + (f" ... ({len(stray)} in all)" if len(stray) > 3 else ""))
    return len(found)


def infer_config(sd: dict, source: str = "unet_name") -> dict:
    """Config of a single-file checkpoint from its tensor shapes. Head counts cannot be seen in the weights: the
    spatial heads are taken as 64 channels wide (SD 2.1, ConsistI2V) and the temporal attention as 8 heads."""
    if "conv_in.weight" not in sd or "time_embedding.linear_1.weight" not in sd:
        raise ValueError(f"{source}: this file is not a diffusers-layout UNet (no conv_in / time_embedding keys)")
    if not any(".conv3ds." in k for k in sd) or not any(".tempo_attns." in k for k in sd):
        raise ValueError(f"{source}: this UNet has no temporal layers (conv3ds / tempo_attns): it is not a "
                         "ConsistI2V checkpoint (a plain SD UNet loads with ComfyUI's own loaders)")

    def fail(problem: str):
        raise ValueError(f"{source}: cannot read the UNet config off the tensor shapes: {problem}. The file does not "
                         "hold a whole ConsistI2V UNet: re-download it, or put the config.json of its unet folder "
                         "beside it")

    def weight(key: str, ndim: int) -> torch.Tensor:
        if key not in sd:
            fail(f"missing key {key}")
        if sd[key].dim() != ndim:
            fail(f"{key} has shape {tuple(sd[key].shape)}, not {ndim}-D")
        return sd[key]

    def first(suffix: str, ndim: int) -> torch.Tensor:
        key = next((k for k in sorted(sd) if k.endswith(suffix)), None)
        return weight(key if key is not None else f"*.{suffix}", ndim)

    levels = _blocks(sd, "down_blocks", fail)
    if _blocks(sd, "up_blocks", fail) != levels:
        fail(f"{levels} down_blocks but a different number of up_blocks")
    channels = [weight(f"down_blocks.{i}.resnets.0.conv1.weight", 4).shape[0] for i in range(levels)]
    layers = 1 + max((int(m.group(1)) for k in sd if (m := re.match(r"down_blocks\.0\.resnets\.(\d+)\.", k))),
                     default=-1)
    if layers == 0:
        fail("missing keys down_blocks.0.resnets.*")
    depth = 1 + max((int(m.group(1)) for k in sd
                     if (m := re.match(r"mid_block\.attentions\.0\.transformer_blocks\.(\d+)\.", k))), default=0)
    cross_dim = first("attn2.to_k.weight", 2).shape[1]
    proj = next((v for k, v in sorted(sd.items()) if k.endswith("attentions.0.proj_in.weight")), None)
    if proj is None:
        fail("missing key *.attentions.0.proj_in.weight")
    has = lambda prefix: any(k.startswith(prefix) for k in sd)  # noqa: E731
    return normalise_config({
        "in_channels": weight("conv_in.weight", 4).shape[1], "out_channels": weight("conv_out.weight", 4).shape[0],
        "block_out_channels": channels, "layers_per_block": layers, "transformer_layers_per_block": depth,
        "down_block_types": ["CrossAttnDownBlock2D" if has(f"down_blocks.{i}.attentions.") else "DownBlock2D"
                             for i in range(levels)],
        "up_block_types": ["CrossAttnUpBlock2D" if has(f"up_blocks.{i}.attentions.") else "UpBlock2D"
                           for i in range(levels)],
        "attention_head_dim": [c // 64 if c >= 64 else 1 for c in channels],
        "cross_attention_dim": cross_dim, "use_linear_projection": proj.dim() == 2,
        "use_frame_stride_condition": "frame_stride_embedding.linear_1.weight" in sd,
    }, source=f"{source} (config inferred from tensor shapes)")


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
