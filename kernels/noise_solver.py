"""Solve for the NOISE tensor that makes ComfyUI's sampler start from an intended state.

ComfyUI starts sampling at ``x = noise_scaling(σ0, n, L, max_denoise)`` and feeds the model
``calculate_input(σ0, x)``. For every model-sampling class (EPS, V, EDM, CONST/flow, ...) both maps
are affine: ``x = a·n + c·L`` and ``calculate_input(σ0, x) = k·x``. Given an intended model-input
state ``z`` (the variance-preserving state diffusion papers write as x_t), the noise is

    n = (z / k - c·L) / a.

The coefficients are *probed* on the model-sampling object itself, so the solver follows whatever
class a model (or a ModelSampling* patch node) installs, without a table of formulas.
Nothing here imports ComfyUI: ``model_sampling`` is duck-typed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Affine:
    """``x = a·noise + c·latent`` and ``model_input = k·x`` at one sigma."""
    sigma: float
    max_denoise: bool
    a: float
    c: float
    k: float


def is_max_denoise(sigma0: float, sigma_max: float) -> bool:
    """ComfyUI's KSAMPLER rule for using the full-schedule noise scaling."""
    return math.isclose(sigma_max, sigma0, rel_tol=1e-05) or sigma0 > sigma_max


def _scalar(t) -> float:
    return float(torch.as_tensor(t).reshape(-1)[0])


def probe_affine(model_sampling, sigma: float, max_denoise: bool) -> Affine:
    """Measure a, c, k of ``model_sampling`` at ``sigma``; raise if the maps are not affine."""
    s = torch.tensor([float(sigma)], dtype=torch.float64)
    one, zero = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)

    def scale(n, lat):
        return _scalar(model_sampling.noise_scaling(s, n.clone(), lat.clone(), max_denoise))

    a, c, offset = scale(one, zero), scale(zero, one), scale(zero, zero)
    k = _scalar(model_sampling.calculate_input(s, one.clone()))
    mixed = scale(2 * one, 3 * one)
    k2 = _scalar(model_sampling.calculate_input(s, 3 * one))
    tol = 1e-9 * max(1.0, abs(a), abs(c))
    if abs(offset) > tol or abs(mixed - (2 * a + 3 * c)) > 10 * tol or abs(k2 - 3 * k) > 1e-9 * max(1.0, abs(k)):
        raise ValueError(
            f"{type(model_sampling).__name__} does not scale noise affinely at sigma {sigma}: "
            "this noise node cannot place its start state for this model"
        )
    return Affine(float(sigma), bool(max_denoise), a, c, k)


def noise_for_state(z: torch.Tensor, affine: Affine, latent: torch.Tensor | None = None) -> torch.Tensor:
    """The NOISE giving model-input state ``z``; ``latent`` is the processed input latent (or None)."""
    if affine.a == 0 or not math.isfinite(affine.a):
        raise ValueError(
            f"sigma {affine.sigma} adds no noise (noise scale {affine.a}): the SIGMAS must start above 0"
        )
    if affine.k == 0 or not math.isfinite(affine.k):
        raise ValueError(f"the model input scale at sigma {affine.sigma} is {affine.k}: cannot place a start state")
    x = z.double() / affine.k
    if latent is not None and affine.c != 0:
        x = x - affine.c * latent.double()
    return x / affine.a


def state_of(affine: Affine, noise: torch.Tensor, latent: torch.Tensor | None = None) -> torch.Tensor:
    """Forward map: the model-input state ComfyUI builds from ``noise`` (used to check the solver)."""
    x = affine.a * noise.double()
    if latent is not None:
        x = x + affine.c * latent.double()
    return affine.k * x


def sigma_for_snr(model_sampling, snr_ratio: float, sigma_max: float) -> float:
    """The sigma at which ``noised = c·L + a·noise`` has signal/noise ratio ``c/a = snr_ratio``.

    Lets a noise level chosen on one model's schedule mean the same on another (EPS: 1/σ,
    flow: (1-σ)/σ). Bisection in log-sigma; the ratio falls as sigma grows.
    """
    if snr_ratio <= 0:
        raise ValueError("the signal-to-noise ratio must be positive")

    def ratio(sig):
        aff = probe_affine(model_sampling, sig, False)
        return aff.c / aff.a

    lo, hi = 1e-6, float(sigma_max)
    if ratio(hi) >= snr_ratio:
        return hi
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if ratio(mid) > snr_ratio:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)
