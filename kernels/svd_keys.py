"""Key mapping: diffusers ``UNetSpatioTemporalConditionModel`` (SVD, SVD-CIL) -> ComfyUI's SVD UNet.

ComfyUI runs SVD with its sgm-style ``UNetModel`` (``input_blocks.N``, ``time_stack``, ``time_mixer``, ...) and its
model detection has no mapping for diffusers SVD UNets, while the SVD-CIL checkpoints (cil.md §4) are diffusers UNets.
The mapping is derived from the two module trees and is structural: the block layout (levels, resnets per level,
which levels have attention, down/upsamplers) is read off the keys themselves, so it holds for SVD, SVD-XT and any
smaller config of the same classes. Pure Python (no torch, no ComfyUI).

Module correspondence::

    conv_in / conv_norm_out / conv_out      input_blocks.0.0 / out.0 / out.2
    time_embedding.linear_1|2               time_embed.0|2
    add_embedding.linear_1|2                label_emb.0.0|2
    down_blocks.i.resnets.j  (.attentions.j)  input_blocks.n.0 (.1)    n = 1, 2, ... in order, a downsampler
    down_blocks.i.downsamplers.0.conv       input_blocks.n.0.op       taking its own n
    mid_block.resnets.0 / attentions.0 / resnets.1   middle_block.0 / 1 / 2
    up_blocks.i.resnets.j (.attentions.j)   output_blocks.n.0 (.1)    n = 0, 1, ...; the upsampler of a level
    up_blocks.i.upsamplers.0.conv           output_blocks.n.1|2.conv  sits in its last n (.2 after an attention)

    SpatioTemporalResBlock -> VideoResBlock: spatial_res_block.{norm1, conv1, time_emb_proj, norm2, conv2,
    conv_shortcut} -> {in_layers.0, in_layers.2, emb_layers.1, out_layers.0, out_layers.3, skip_connection};
    temporal_res_block.<same> -> time_stack.<same>; time_mixer.mix_factor unchanged.
    TransformerSpatioTemporalModel -> SpatialVideoTransformer: temporal_transformer_blocks -> time_stack,
    time_pos_embed.linear_1|2 -> time_pos_embed.0|2; norm, proj_in, proj_out, transformer_blocks, time_mixer unchanged.
"""
from __future__ import annotations

import re

_RESNET_PARTS = {
    "norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection",
}
_TOP = {
    "conv_in.": "input_blocks.0.0.",
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}
_BLOCK = re.compile(r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)$")
_MID = re.compile(r"^mid_block\.(resnets|attentions)\.(\d+)\.(.+)$")
_RES_SUB = re.compile(r"^(spatial_res_block|temporal_res_block)\.(norm1|conv1|time_emb_proj|norm2|conv2|conv_shortcut)"
                      r"\.(.+)$")


class SVDKeyError(ValueError):
    """The keys are not those of a diffusers SVD UNet (message lists what did not fit)."""


def _resnet(rest: str) -> str | None:
    if rest == "time_mixer.mix_factor":
        return rest
    m = _RES_SUB.match(rest)
    if m is None:
        return None
    part = _RESNET_PARTS[m.group(2)] + "." + m.group(3)
    return part if m.group(1) == "spatial_res_block" else "time_stack." + part


def _attention(rest: str) -> str | None:
    if rest.startswith("temporal_transformer_blocks."):
        return "time_stack." + rest[len("temporal_transformer_blocks."):]
    if rest.startswith("time_pos_embed.linear_1."):
        return "time_pos_embed.0." + rest[len("time_pos_embed.linear_1."):]
    if rest.startswith("time_pos_embed.linear_2."):
        return "time_pos_embed.2." + rest[len("time_pos_embed.linear_2."):]
    if rest.split(".")[0] in ("norm", "proj_in", "proj_out", "transformer_blocks") or rest == "time_mixer.mix_factor":
        return rest
    return None


def _layout(keys):
    """{(kind, level): {"resnets": n, "attentions": bool, "sampler": bool}} for down_blocks / up_blocks."""
    layout = {}
    for key in keys:
        m = _BLOCK.match(key)
        if m is None:
            continue
        kind, level, part, index = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
        entry = layout.setdefault((kind, level), {"resnets": 0, "attentions": False, "sampler": False})
        if part == "resnets":
            entry["resnets"] = max(entry["resnets"], index + 1)
        elif part == "attentions":
            entry["attentions"] = True
        else:
            entry["sampler"] = True
    for kind in ("down_blocks", "up_blocks"):
        levels = sorted(level for k, level in layout if k == kind)
        if levels != list(range(len(levels))):
            raise SVDKeyError(f"{kind}: levels {levels} are not numbered 0..n-1")
    return layout


def svd_key_map(keys) -> dict[str, str]:
    """{diffusers key: ComfyUI key} for every key of a diffusers SVD UNet state dict (no ``module.``-style
    prefix). Raises :class:`SVDKeyError` listing the keys that have no counterpart."""
    keys = list(keys)
    layout = _layout(keys)
    # block numbers: input_blocks count from 1 (0 is conv_in), output_blocks from 0
    starts = {}
    n = 1
    for level in range(sum(1 for k in layout if k[0] == "down_blocks")):
        entry = layout[("down_blocks", level)]
        starts[("down_blocks", level)] = n
        n += entry["resnets"] + (1 if entry["sampler"] else 0)
    n = 0
    for level in range(sum(1 for k in layout if k[0] == "up_blocks")):
        starts[("up_blocks", level)] = n
        n += layout[("up_blocks", level)]["resnets"]

    out, unmapped = {}, []
    for key in keys:
        new = None
        for old, repl in _TOP.items():
            if key.startswith(old):
                new = repl + key[len(old):]
                break
        m = _BLOCK.match(key) if new is None else None
        if m is not None:
            kind, level, part, index, rest = m.group(1), int(m.group(2)), m.group(3), int(m.group(4)), m.group(5)
            entry, start = layout[(kind, level)], starts[(kind, level)]
            prefix = "input_blocks" if kind == "down_blocks" else "output_blocks"
            if part == "resnets":
                sub = _resnet(rest)
                new = None if sub is None else f"{prefix}.{start + index}.0.{sub}"
            elif part == "attentions":
                sub = _attention(rest)
                new = None if sub is None else f"{prefix}.{start + index}.1.{sub}"
            elif part == "downsamplers" and index == 0 and rest.startswith("conv."):
                new = f"input_blocks.{start + entry['resnets']}.0.op.{rest[len('conv.'):]}"
            elif part == "upsamplers" and index == 0 and rest.startswith("conv."):
                slot = 2 if entry["attentions"] else 1
                new = f"output_blocks.{start + entry['resnets'] - 1}.{slot}.{rest}"
        m = _MID.match(key) if new is None and m is None else None
        if m is not None:
            part, index, rest = m.group(1), int(m.group(2)), m.group(3)
            if part == "resnets" and index in (0, 1):
                sub = _resnet(rest)
                new = None if sub is None else f"middle_block.{2 * index}.{sub}"
            elif part == "attentions" and index == 0:
                sub = _attention(rest)
                new = None if sub is None else f"middle_block.1.{sub}"
        if new is None:
            unmapped.append(key)
        else:
            out[key] = new
    if unmapped:
        raise SVDKeyError(f"{len(unmapped)} keys are not part of a diffusers SVD UNet "
                          f"(UNetSpatioTemporalConditionModel): {', '.join(unmapped[:8])}"
                          + (" ..." if len(unmapped) > 8 else ""))
    targets = {}
    for key, new in out.items():
        if new in targets:
            raise SVDKeyError(f"{key} and {targets[new]} both map to {new}")
        targets[new] = key
    return out


def is_diffusers_svd(keys) -> bool:
    """True for the key set of a diffusers SVD UNet (spatio-temporal resnets/transformers, conv_in)."""
    keys = set(keys)
    return "conv_in.weight" in keys and any(".spatial_res_block." in k or ".temporal_transformer_blocks." in k
                                            for k in keys)


def is_comfy_svd(keys) -> bool:
    """True for an SVD UNet already in ComfyUI's (sgm) layout, without a prefix."""
    keys = set(keys)
    return "input_blocks.0.0.weight" in keys and any(".time_stack." in k for k in keys)


def describe_keys(keys) -> str:
    """A short guess of what architecture a key set is, for error messages."""
    keys = list(keys)
    if is_diffusers_svd(keys):
        return "a diffusers SVD UNet"
    if is_comfy_svd(keys):
        return "an SVD UNet in ComfyUI's layout"
    joined = "\n".join(keys[:2000])
    hints = [("model.diffusion_model.", "a full LDM/sgm checkpoint (model.diffusion_model.*)"),
             ("first_stage_model.", "a full checkpoint with a VAE"),
             ("input_blocks.", "an LDM-layout UNet without SVD's temporal layers"),
             ("down_blocks.", "a diffusers UNet without SVD's spatio-temporal blocks"),
             ("double_blocks.", "a Flux/HunyuanVideo-style DiT"),
             ("blocks.0.self_attn.", "a Wan-style DiT"),
             ("encoder.down.", "a VAE")]
    for marker, text in hints:
        if marker in joined:
            return text
    return "an unknown architecture"


# diffusers builds the resnets of CrossAttnDownBlockSpatioTemporal and of both up-block types with GroupNorm eps 1e-6;
# DownBlockSpatioTemporal and the mid block keep 1e-5, as every ResBlock of ComfyUI's (and Stability's sgm) SVD UNet.
DIFFUSERS_RESNET_EPS = 1e-6
COMFY_RESNET_EPS = 1e-5
_RES_NORM = re.compile(r"^(down_blocks|up_blocks)\.(\d+)\.resnets\.\d+\.(spatial|temporal)_res_block"
                       r"\.norm[12]\.weight$")


def diffusers_norm_eps(keys) -> dict[str, float]:
    """{ComfyUI GroupNorm module name: eps} for the resnet norms whose eps in diffusers' SVD UNet differs from
    ComfyUI's 1e-5. Setting them makes ComfyUI's forward reproduce diffusers' (the SVD-CIL fine-tune ran there)."""
    keys = list(keys)
    mapping, layout = svd_key_map(keys), _layout(keys)
    out = {}
    for key in keys:
        m = _RES_NORM.match(key)
        if m is None:
            continue
        if m.group(1) == "up_blocks" or layout[("down_blocks", int(m.group(2)))]["attentions"]:
            out[mapping[key][:-len(".weight")]] = DIFFUSERS_RESNET_EPS
    return out


def convert_svd_unet(sd: dict) -> dict:
    """The state dict with its diffusers SVD keys renamed to ComfyUI's SVD UNet keys (values untouched)."""
    mapping = svd_key_map(sd.keys())
    return {mapping[k]: v for k, v in sd.items()}
