"""The ConsistI2V training schedule (diffusers ``linear`` betas = ComfyUI ``sqrt_linear``) and FrameInit's
layout share: how much of the start state's low band is the layout, on any model.

FrameInit's start state is ``HP(ε) + LP(k·(a·ε + c·L))`` (kernels/spectral.py ``frameinit_start``), where
``x = a·noise + c·latent`` and ``model_input = k·x`` are the model's own maps at the layout's noise level
sigma_tau (kernels/noise_solver.py ``probe_affine``). The **layout share** is

    share = c / sqrt(a² + c²)

the layout's fraction of the low band's amplitude: the correlation of the start state's low band with the
layout's low band when the layout and the noise have unit variance (k cancels). On a variance-preserving
schedule (DDPM eps/v, SVD's EDM) it is sqrt(ᾱ) at sigma_tau; on a flow model (1 - s) / sqrt(s² + (1 - s)²).
ConsistI2V (noise_timestep 850 on its own DDPM schedule) gives the layout sqrt(ᾱ_850) = 9.18 %.

``timestep_scale`` (FrameInit's ``noise_timestep`` -> sigma_tau):
  auto            the paper's share at noise_timestep, on any model: the model's own sigma for noise_timestep
                  where that already has the paper's share (ConsistI2V's own schedule: exact), else the sigma
                  that has it (capped at the model's largest sigma).
  model_schedule  noise_timestep read on the model's own schedule (SVD and flow models: 1-2.5 % at 850).
  consisti2v_snr  the sigma with the paper's layout-to-noise ratio c/a at noise_timestep, always solved.
No ComfyUI import: ``model_sampling`` is duck-typed.
"""
from __future__ import annotations

import functools
import math

import torch

from .noise_solver import probe_affine, sigma_for_snr
from .text import quoted

NUM_TRAIN_TIMESTEPS = 1000
TAU_SCALES = ("auto", "model_schedule", "consisti2v_snr")
DEFAULT_TAU_SCALE = "auto"
_SAME_SHARE = 1e-5  # relative: the model's own sigma counts as the paper's share (float32 schedule tables differ ~1e-7)


@functools.lru_cache(maxsize=1)
def consisti2v_alphas_cumprod() -> torch.Tensor:
    """ᾱ_t as diffusers computes it (float32 linspace 0.00085 → 0.012, float32 cumprod)."""
    betas = torch.linspace(0.00085, 0.012, NUM_TRAIN_TIMESTEPS, dtype=torch.float32)
    return torch.cumprod(1.0 - betas, dim=0)


def _check_timestep(timestep: int) -> int:
    if not 0 <= int(timestep) < NUM_TRAIN_TIMESTEPS:
        raise ValueError(f"timestep {timestep} is outside [0, {NUM_TRAIN_TIMESTEPS - 1}]")
    return int(timestep)


def consisti2v_snr_ratio(timestep: int) -> float:
    """sqrt(ᾱ_t) / sqrt(1 - ᾱ_t): the layout-to-noise amplitude ratio of FrameInit at ``timestep``."""
    ab = float(consisti2v_alphas_cumprod()[_check_timestep(timestep)])
    return math.sqrt(ab) / math.sqrt(1.0 - ab)


def paper_layout_share(timestep: int) -> float:
    """The layout share ConsistI2V's FrameInit has at ``timestep``: sqrt(ᾱ_t) of its schedule (850: 0.0918)."""
    return math.sqrt(float(consisti2v_alphas_cumprod()[_check_timestep(timestep)]))


def layout_share(model_sampling, sigma: float) -> float:
    """The layout share c / sqrt(a² + c²) of FrameInit's start state when the layout is noised to ``sigma``
    on ``model_sampling`` (1 at sigma 0, falling towards 0 as sigma grows)."""
    aff = probe_affine(model_sampling, float(sigma), False)
    norm = math.hypot(aff.a, aff.c)
    if norm == 0 or not math.isfinite(norm):
        raise ValueError(f"{type(model_sampling).__name__} at sigma {sigma} has noise scale {aff.a} and signal "
                         f"scale {aff.c}: no layout share exists there")
    return aff.c / norm


def model_schedule_sigma(model_sampling, tau: int) -> float:
    """``tau`` (on a 1000-step scale) read on the model's own schedule, as ComfyUI's percent_to_sigma does."""
    return float(model_sampling.percent_to_sigma(1.0 - _check_timestep(tau) / 999.0))


def layout_noise_sigma(model_sampling, tau: int, tau_scale: str = DEFAULT_TAU_SCALE) -> float:
    """The model's sigma for FrameInit's noise level ``tau`` (on a 1000-step scale) under ``tau_scale``."""
    if tau_scale not in TAU_SCALES:
        raise ValueError(f"timestep_scale {quoted(tau_scale)} is unknown: use one of {', '.join(TAU_SCALES)}")
    tau = _check_timestep(tau)
    if tau_scale == "model_schedule":
        return model_schedule_sigma(model_sampling, tau)
    sigma_max = float(model_sampling.sigma_max)
    if tau_scale == "auto":
        own = model_schedule_sigma(model_sampling, tau)
        if 0 < own <= sigma_max and math.isfinite(own):
            target = paper_layout_share(tau)
            if abs(layout_share(model_sampling, own) - target) <= _SAME_SHARE * target:
                return own
    return sigma_for_snr(model_sampling, consisti2v_snr_ratio(tau), sigma_max)
