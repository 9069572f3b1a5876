"""CIL TimeNoise: the noise level of the conditional image as a function of the diffusion time.

Per sample, ``β = β_m · sigmoid(y)`` with ``y ~ N(μ(t), s²)``, ``μ(t) = 2·μ_max·t^a − μ_max``, t in [0, 1]
(s = 1 in every official recipe). Closed forms on (0, β_m):

    pdf  p_t(β) = β_m / (β(β_m − β)) · φ((ln(β/(β_m − β)) − μ(t)) / s) / s
    cdf          Φ((ln(β/(β_m − β)) − μ(t)) / s)
    quantile q   β_m · sigmoid(μ(t) + s·Φ⁻¹(q))          (median: β_m · sigmoid(μ(t)))

The sampler draws one CPU ``randn(len(t))`` and maps it as above, so a seed reproduces the official
``get_beta_s`` (``torch.manual_seed(seed)`` then the call). Everything is evaluated in float64.
Pure torch: no ComfyUI import.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .text import quoted

SVD_TIME_SIGMA = 700.0  # SVD-CIL feeds t = σ / 700 (σ may exceed 700, so t may exceed 1)
DDPM_TIMESTEPS = 1000   # DynamiCrafter / VideoCrafter feed t = t_int / 1000
FORMS = ("per_element", "scalar_offset")


@dataclass(frozen=True)
class TimeNoiseParams:
    """One TimeNoise setting. ``time``: how a model's timestep becomes t ("ddpm": t_int/1000, "edm": σ/700).
    ``form``: per_element (c + β·ε, ε i.i.d. per element and frame) or scalar_offset (c + β·n, one n per sample:
    SVD-CIL). ``target`` documents where the official recipe applies it."""
    a: float
    beta_m: float
    mu_max: float = 1.0
    s: float = 1.0
    time: str = "ddpm"
    form: str = "per_element"
    target: str = ""

    def __post_init__(self):
        check_params(self.a, self.beta_m, self.mu_max, self.s)
        if self.time not in ("ddpm", "edm"):
            raise ValueError(f"time {quoted(self.time)} is unknown: use ddpm (t = t_int/1000) or edm (t = sigma/700)")
        if self.form not in FORMS:
            raise ValueError(f"form {quoted(self.form)} is unknown: use one of {', '.join(FORMS)}")


def check_params(a: float, beta_m: float, mu_max: float, s: float = 1.0) -> None:
    for name, value in (("a", a), ("beta_m", beta_m), ("mu_max", mu_max), ("s", s)):
        if not math.isfinite(float(value)):
            raise ValueError(f"TimeNoise {name} = {value} is not a finite number")
    if a <= 0:
        raise ValueError(f"TimeNoise a = {a} must be above 0 (official: 5; lower = more noise early)")
    if beta_m <= 0:
        raise ValueError(f"TimeNoise beta_m = {beta_m} must be above 0 (official: 100 DynamiCrafter, 15 SVD)")
    if s <= 0:
        raise ValueError(f"TimeNoise s = {s} must be above 0 (official: 1)")


PRESETS = {
    # examples/DynamiCrafter/configs/train_512.yaml; μ_max 4 → 1 per the maintainers (issue #8)
    "DynamiCrafter": TimeNoiseParams(
        a=5.0, beta_m=100.0, mu_max=1.0, time="ddpm", form="per_element",
        target="scaled concat latent (per element and frame); CLIP tokens after the Resampler (clip_type 1)"),
    # VideoCrafter code default μ_max = 4 (the paper and maintainers say 1: use custom parameters for that)
    "VideoCrafter1": TimeNoiseParams(
        a=5.0, beta_m=100.0, mu_max=4.0, time="ddpm", form="per_element",
        target="CLIP image tokens after the Resampler"),
    # examples/SVD/config/train.yaml + svd/training/loss.py::EDMLossTimeNoise
    "SVD": TimeNoiseParams(
        a=5.0, beta_m=15.0, mu_max=1.0, time="edm", form="scalar_offset",
        target="unscaled first-frame latent (concat_latent_image); β also fed as noise_aug_strength"),
}


def _f64(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def time_of(timestep, time: str = "ddpm") -> torch.Tensor:
    """t fed to μ(t): ``t_int / 1000`` for DDPM models, ``σ / 700`` for SVD."""
    value = _f64(timestep)
    if time == "ddpm":
        return value / DDPM_TIMESTEPS
    if time == "edm":
        return value / SVD_TIME_SIGMA
    raise ValueError(f"time {quoted(time)} is unknown: use ddpm or edm")


def mu_t(t, a: float, mu_max: float) -> torch.Tensor:
    """μ(t) = 2·μ_max·t^a − μ_max."""
    t = _f64(t)
    if bool((t < 0).any()):
        raise ValueError("TimeNoise t must be >= 0")
    return 2.0 * mu_max * t.pow(a) - mu_max


def beta_from_normal(t, z, a: float, beta_m: float, mu_max: float = 1.0, s: float = 1.0) -> torch.Tensor:
    """β for standard-normal draws ``z``: β_m · sigmoid(μ(t) + s·z)."""
    return beta_m * torch.sigmoid(mu_t(t, a, mu_max) + s * _f64(z))


def sample_beta(t, a: float, beta_m: float, mu_max: float = 1.0, s: float = 1.0, seed: int | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(β, z) for every t: one ``randn(t.shape)`` on a CPU generator (seeded like ``torch.manual_seed``)."""
    check_params(a, beta_m, mu_max, s)
    t = _f64(t)
    if generator is None:
        generator = torch.Generator("cpu").manual_seed(int(seed or 0) & 0xFFFFFFFFFFFFFFFF)
    z = torch.randn(t.shape, generator=generator)  # float32 draws, as the official call
    return beta_from_normal(t, z, a, beta_m, mu_max, s), z.double()


def _logit(beta: torch.Tensor, beta_m: float) -> torch.Tensor:
    return torch.log(beta / (beta_m - beta))


def pdf(beta, t, a: float, beta_m: float, mu_max: float = 1.0, s: float = 1.0) -> torch.Tensor:
    """Density of β at time t (0 outside (0, β_m)); broadcast over ``beta`` and ``t``."""
    check_params(a, beta_m, mu_max, s)
    beta, mu = torch.broadcast_tensors(_f64(beta), mu_t(t, a, mu_max))
    inside = (beta > 0) & (beta < beta_m)
    b = torch.where(inside, beta, torch.full_like(beta, beta_m / 2))
    u = (_logit(b, beta_m) - mu) / s
    dens = beta_m / (b * (beta_m - b)) * torch.exp(-0.5 * u * u) / (math.sqrt(2 * math.pi) * s)
    return torch.where(inside, dens, torch.zeros_like(dens))


def cdf(beta, t, a: float, beta_m: float, mu_max: float = 1.0, s: float = 1.0) -> torch.Tensor:
    check_params(a, beta_m, mu_max, s)
    beta, mu = torch.broadcast_tensors(_f64(beta), mu_t(t, a, mu_max))
    b = beta.clamp(min=1e-300, max=beta_m * (1 - 1e-16))
    out = torch.special.ndtr((_logit(b, beta_m) - mu) / s)
    return torch.where(beta <= 0, torch.zeros_like(out), torch.where(beta >= beta_m, torch.ones_like(out), out))


def quantile(q, t, a: float, beta_m: float, mu_max: float = 1.0, s: float = 1.0) -> torch.Tensor:
    """β with P(β_s ≤ β) = q, q in (0, 1)."""
    check_params(a, beta_m, mu_max, s)
    q = _f64(q)
    if bool(((q <= 0) | (q >= 1)).any()):
        raise ValueError("TimeNoise quantile must be strictly between 0 and 1 (0.5 = median)")
    return beta_m * torch.sigmoid(mu_t(t, a, mu_max) + s * torch.special.ndtri(q))


def median(t, a: float, beta_m: float, mu_max: float = 1.0, s: float = 1.0) -> torch.Tensor:
    return quantile(0.5, t, a, beta_m, mu_max, s)


def apply_timenoise(cond: torch.Tensor, beta, generator: torch.Generator | None = None, form: str = "per_element",
                    seed: int | None = None, weight: torch.Tensor | None = None) -> torch.Tensor:
    """``cond + β·ε`` with one β per sample (leading axis of ``cond``), or ``cond + β·ε·weight``.

    per_element: ε i.i.d. N(0, 1) with ``cond``'s shape (DynamiCrafter: also independent per frame when the frames
    are in ``cond``). scalar_offset: one N(0, 1) per sample broadcast over the sample (SVD-CIL's form).
    ``weight`` (broadcast to ``cond``, in [0, 1]) limits the noise to part of ``cond``: 1 where the image is given,
    0 elsewhere (Wan's concat_mask inverted); ε is drawn for the whole of ``cond`` either way.
    ε is drawn on a CPU generator and returned in ``cond``'s dtype and device; ``cond`` is not modified.
    """
    if form not in FORMS:
        raise ValueError(f"form {quoted(form)} is unknown: use one of {', '.join(FORMS)}")
    if cond.ndim < 1:
        raise ValueError("the conditioning tensor needs a leading batch axis")
    if generator is None:
        generator = torch.Generator("cpu").manual_seed(int(seed or 0) & 0xFFFFFFFFFFFFFFFF)
    batch = cond.shape[0]
    beta = _f64(beta).reshape(-1)
    if beta.numel() not in (1, batch):
        raise ValueError(f"{beta.numel()} noise levels for a batch of {batch}: give one per sample or one in all")
    if bool((beta < 0).any()) or not bool(torch.isfinite(beta).all()):
        raise ValueError("the TimeNoise level beta must be a finite number >= 0")
    shape = tuple(cond.shape) if form == "per_element" else (batch,) + (1,) * (cond.ndim - 1)
    eps = torch.randn(shape, generator=generator, dtype=torch.float32)
    noise = beta.reshape((-1,) + (1,) * (cond.ndim - 1)) * eps.double()
    if weight is not None:
        weight = _f64(weight.detach().cpu())
        try:
            fits = torch.broadcast_shapes(weight.shape, cond.shape) == cond.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"the noise weight {tuple(weight.shape)} does not fit the conditioning "
                             f"{tuple(cond.shape)}")
        if not bool(((weight >= 0) & (weight <= 1)).all()):
            raise ValueError("the noise weight must lie in [0, 1]")
        noise = noise * weight
    out = cond.detach().cpu().double() + noise
    return out.to(dtype=cond.dtype, device=cond.device)


def timenoise_training_batch(cond: torch.Tensor, timesteps, params: TimeNoiseParams,
                             generator: torch.Generator | None = None, seed: int | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Training helper: noise a conditioning batch for its timesteps (one per sample), as the CIL recipes do.

    ``timesteps``: integer DDPM timesteps (``params.time == "ddpm"``) or EDM sigmas (``"edm"``), shape [B].
    Draw order as the official code: one ``randn(B)`` for the levels, then ε. Returns (noised cond, β).
    """
    timesteps = _f64(timesteps).reshape(-1)
    if timesteps.numel() != cond.shape[0]:
        raise ValueError(f"{timesteps.numel()} timesteps for a conditioning batch of {cond.shape[0]}")
    if generator is None:
        generator = torch.Generator("cpu").manual_seed(int(seed or 0) & 0xFFFFFFFFFFFFFFFF)
    t = time_of(timesteps, params.time)
    beta, _ = sample_beta(t, params.a, params.beta_m, params.mu_max, params.s, generator=generator)
    return apply_timenoise(cond, beta, generator=generator, form=params.form), beta
