"""Plumbing shared by the pack's model folders (consisti2v/, dynamicrafter/, svd_cil/): a strictly checked
ModelPatcher from a ComfyUI model config and a state dict."""
from __future__ import annotations

from typing import Callable

import torch

import comfy.model_management
import comfy.model_patcher
import comfy.utils


def key_problems(expected: dict, sd: dict, limit: int = 6) -> list[str]:
    """Missing / unexpected keys and shape mismatches of ``sd`` against ``{key: shape}``, one line per kind."""
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong = sorted(f"{k} {tuple(sd[k].shape)} vs {tuple(expected[k])}" for k in set(expected) & set(sd)
                   if tuple(expected[k]) != tuple(sd[k].shape))
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                         ("keys with other shapes", wrong)):
        if items:
            problems.append(f"{len(items)} {label}: {', '.join(items[:limit])}" + (" ..." if len(items) > limit else ""))
    return problems


def requiring_fit(sd: dict, source: str, what: str) -> Callable[[dict], dict]:
    """A ``check`` for :func:`build_patcher`: ``sd`` must fit the model's keys and shapes exactly, else a
    ValueError naming ``source`` and listing the problems."""
    def check(expected: dict) -> dict:
        problems = key_problems(expected, sd)
        if problems:
            raise ValueError(f"{source}: does not fit {what} ({'; '.join(problems)})")
        return sd
    return check


def build_patcher(model_config, sd: dict, dtype: torch.dtype | None, check: Callable[[dict], dict],
                  prepare: Callable | None = None):
    """A ModelPatcher around ``model_config.get_model`` holding ``sd``. ``check(expected_shapes)`` returns the
    state dict to load or raises (e.g. :func:`requiring_fit`); ``prepare(model)`` adjusts the model before the
    weights go in."""
    load_device = comfy.model_management.get_torch_device()
    offload_device = comfy.model_management.unet_offload_device()
    if dtype is None:
        dtype = comfy.model_management.unet_dtype(model_params=comfy.utils.calculate_parameters(sd),
                                                  supported_dtypes=model_config.supported_inference_dtypes)
    manual_cast = comfy.model_management.unet_manual_cast(dtype, load_device, model_config.supported_inference_dtypes)
    model_config.set_inference_dtype(dtype, manual_cast)
    model = model_config.get_model(sd, "")
    sd = check({k: v.shape for k, v in model.diffusion_model.state_dict().items()})
    if prepare is not None:
        prepare(model)
    model = model.to(offload_device)
    model.load_model_weights(sd, "")
    return comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=offload_device)
