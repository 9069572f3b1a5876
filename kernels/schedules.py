"""The ConsistI2V training schedule (diffusers ``linear`` betas = ComfyUI ``sqrt_linear``)."""
from __future__ import annotations

import functools
import math

import torch

NUM_TRAIN_TIMESTEPS = 1000


@functools.lru_cache(maxsize=1)
def consisti2v_alphas_cumprod() -> torch.Tensor:
    """ᾱ_t as diffusers computes it (float32 linspace 0.00085 → 0.012, float32 cumprod)."""
    betas = torch.linspace(0.00085, 0.012, NUM_TRAIN_TIMESTEPS, dtype=torch.float32)
    return torch.cumprod(1.0 - betas, dim=0)


def consisti2v_snr_ratio(timestep: int) -> float:
    """sqrt(ᾱ_t) / sqrt(1 - ᾱ_t): the layout-to-noise amplitude ratio of FrameInit at ``timestep``."""
    if not 0 <= int(timestep) < NUM_TRAIN_TIMESTEPS:
        raise ValueError(f"timestep {timestep} is outside [0, {NUM_TRAIN_TIMESTEPS - 1}]")
    ab = float(consisti2v_alphas_cumprod()[int(timestep)])
    return math.sqrt(ab) / math.sqrt(1.0 - ab)
