"""Plumbing shared by the pack's model folders (consisti2v/, dynamicrafter/, svd_cil/): a strictly checked
ModelPatcher from a ComfyUI model config and a state dict."""
from __future__ import annotations

from typing import Callable

import psutil
import torch

import comfy.model_management
import comfy.model_patcher
import comfy.utils

from ..kernels.memory import cgroup_headroom


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


def meta_state_shapes(make: Callable[[torch.device], torch.nn.Module]) -> tuple[int, dict]:
    """(element count, {key: shape}) of the state dict of ``make(device)`` built on the meta device: sizes a
    model, and gives the keys its weights must fit, without allocating it."""
    sd = make(torch.device("meta")).state_dict()
    return sum(v.numel() for v in sd.values()), {k: v.shape for k, v in sd.items()}


def available_memory() -> int:
    """Bytes a new CPU allocation can take: the OS's available memory, capped by a cgroup (container) limit."""
    free = psutil.virtual_memory().available
    headroom = cgroup_headroom()
    return max(free if headroom is None else min(free, headroom), 0)


def require_memory(nbytes: int, what: str, fix: str) -> None:
    """Refuse up front (a ValueError naming ``what`` and the ``fix``) work whose ``nbytes`` exceed the memory
    available, instead of an allocator error or an out-of-memory kill halfway through."""
    free = available_memory()
    if nbytes > free:
        raise ValueError(f"{what} needs {nbytes / 1e9:.1f} GB, more than the {free / 1e9:.1f} GB of memory "
                         f"available. {fix}")


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
