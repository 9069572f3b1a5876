"""Load an SVD-CIL UNet (diffusers ``UNetSpatioTemporalConditionModel`` keys, pickled or safetensors, or a file
already converted to ComfyUI's keys) into ComfyUI's own ``SVD_img2vid`` model, so that the core SVD nodes
(SVD_img2vid_Conditioning, VideoLinearCFGGuidance, KSampler) drive it unchanged."""
from __future__ import annotations

import json
from pathlib import Path

import torch

import comfy.model_detection
import comfy.supported_models

from ..kernels.checkpoints import (HEAD_METADATA, NORM_EPS_METADATA, CheckpointError, convert_architecture,
                                   head_channels_beside, load_state_dict, strip_unet_prefix)
from ..kernels.svd_keys import diffusers_norm_eps, is_diffusers_svd
from ..modelkit import build_patcher, requiring_fit

SVD_HEAD_CHANNELS = 64  # every released SVD / SVD-XT / SVD-CIL: num_attention_heads = channels / 64


def model_config_for(sd: dict, head_channels: int, source: str):
    """ComfyUI's SVD_img2vid config with the unet_config ComfyUI's own detection reads off the converted keys."""
    try:
        unet_config = comfy.model_detection.detect_unet_config(sd, "")
    except Exception as err:  # noqa: BLE001 - detection indexes keys that a foreign file lacks
        raise ValueError(f"{source}: ComfyUI cannot read an SVD UNet config from it ({err})") from err
    if not unet_config or not unet_config.get("use_temporal_resblock") or unet_config.get("in_channels") != 8 \
            or unet_config.get("adm_in_channels") != 768:
        summary = {k: unet_config.get(k) for k in ("in_channels", "adm_in_channels", "use_temporal_resblock")} \
            if unet_config else {}
        raise ValueError(f"{source}: not an SVD image-to-video UNet (needs 8 input channels, a 768-wide time-id "
                         f"embedding and temporal layers; found {summary})")

    class SVDCIL(comfy.supported_models.SVD_img2vid):
        unet_extra_config = dict(comfy.supported_models.SVD_img2vid.unet_extra_config, num_head_channels=head_channels)

    return SVDCIL(unet_config)


def read_svd_cil(path: str | Path, weights: str = "auto") -> tuple[dict, dict, int]:
    """(ComfyUI-keyed state dict, {module: eps} of diffusers' resnet norms, head channels) of a file."""
    path = Path(path)
    try:
        raw, info = load_state_dict(path, weights, "as_is")
    except CheckpointError as err:
        raise ValueError(f"unet_name: {err}") from err
    metadata = info["metadata"]
    raw = strip_unet_prefix(raw)
    norm_eps = {}
    if is_diffusers_svd(raw):
        norm_eps = diffusers_norm_eps(raw.keys())
    elif NORM_EPS_METADATA in metadata:
        norm_eps = {k: float(v) for k, v in json.loads(metadata[NORM_EPS_METADATA]).items()}
    try:
        sd = convert_architecture(raw, "svd_cil", path.name)
        head = head_channels_beside(path)
    except CheckpointError as err:
        raise ValueError(f"unet_name: {err}") from err
    if head is None:
        head = int(metadata.get(HEAD_METADATA, SVD_HEAD_CHANNELS))
    return sd, norm_eps, head


def apply_norm_eps(diffusion_model: torch.nn.Module, norm_eps: dict) -> int:
    modules = dict(diffusion_model.named_modules())
    for name, eps in norm_eps.items():
        if name not in modules or not hasattr(modules[name], "eps"):
            raise ValueError(f"norm '{name}' is not a normalisation layer of this UNet")
        modules[name].eps = eps
    return len(norm_eps)


def build_svd_model(sd: dict, head_channels: int, source: str, dtype: torch.dtype | None = None,
                    norm_eps: dict | None = None):
    """A ModelPatcher around ComfyUI's SVD_img2vid model holding ``sd`` (ComfyUI keys, strictly checked)."""
    prepare = (lambda model: apply_norm_eps(model.diffusion_model, norm_eps)) if norm_eps else None
    return build_patcher(model_config_for(sd, head_channels, source), sd, dtype,
                         requiring_fit(sd, source, "ComfyUI's SVD UNet"), prepare)


def load_svd_cil(path: str | Path, weights: str = "auto", dtype: torch.dtype | None = None,
                 diffusers_eps: bool = True):
    """ModelPatcher of an SVD-CIL UNet file. ``diffusers_eps``: give the resnet GroupNorms the eps diffusers
    trained them with (1e-6 where ComfyUI uses 1e-5); exact parity with the official pipeline."""
    sd, norm_eps, head = read_svd_cil(path, weights)
    return build_svd_model(sd, head, f"unet_name ({Path(path).name})", dtype, norm_eps if diffusers_eps else None)
