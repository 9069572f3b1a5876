"""CIL Analytic-Init: start sampling at M < T from the Gaussian closest (in KL) to the true q(x_M).

For a forward marginal ``x_M = c·x0 + a·ε`` (any parameterisation) and data statistics E = E[x0],
v = Tr(Cov[x0]) / d, the best isotropic Gaussian is

    μ* = c·E,    σ*² = a² + c²·v.

(c, a) are *probed* on the model-sampling object at σ_M without the max-denoise branch, so one formula covers
ComfyUI's VE state of EPS / V / EDM models (c = 1, a = σ: x* = E + √(σ² + v)·ε, which is the VP formula
√ᾱ·E + √(1 − ᾱ + ᾱ·v)·ε after calculate_input) and flow models (c = 1 − σ, a = σ). The NOISE that makes
ComfyUI's sampler start there is then solved with :mod:`kernels.noise_solver` in either noise-scaling branch.

Where M lives (``start_scale``): DDPM-style discrete models take an integer-like timestep M in (0, N]
(σ_M = σ(M − 1), the official indexing: the first step is t = M − 1); continuous-σ models (EDM: SVD) take σ_M
itself in (0, σ_max]; flow models take M in (0, 1000] on the unshifted time grid: t = M/1000 is the time *before*
the model's shift, σ_M = the model's own ``percent_to_sigma(1 − t)`` (ModelSamplingDiscreteFlow: σ = s·t/(1 + (s −
1)·t) with shift s; Wan's s = 8 puts M = 900 at σ 0.986). So M/1000 is what KSampler's ``denoise`` would be, and
``linear_timesteps`` from M = 1000 is the model's ``simple`` schedule, as M = 1000 on a DDPM model is its full grid.

Statistics estimated by this pack (:class:`StatisticsAccumulator`, :func:`write_estimate`) record the model family
(``kernels.families`` keys), the latent shape and the clip count in the safetensors metadata and keep float64
running moments for adding clips later; released files without that metadata load as before.

Statistics files: the released ``initial_noise_*`` files (E[x0] ``[1, C, F, h, w]`` + the scalar Tr(Cov)/d,
keys ``Expectation_X0`` / ``Tr_Cov_d``; SVD: ``Expectation_x_0`` ``[1, F, C, h, w]`` / ``trCov_d``) are resampled to
any frame count and size (see :func:`resample_mean`). Pure torch: no ComfyUI import.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import layout as lay
from .families import FAMILIES
from .latent_parts import VideoPart, noise_for_latent
from .noise_objects import StartState, attributed, blame
from .checkpoints import CheckpointError, UnsafePickleError, read_checkpoint
from .noise_solver import probe_affine
from .text import quoted

RESAMPLE_MODES = ("interpolate", "channel_mean")
SCHEDULES = ("auto", "uniform_trailing", "karras", "linear_timesteps")
SVD_FORMULAS = ("fixed", "official_intended", "official_as_shipped", "june2024")
SPACES = ("model", "latent")
FLOW_TIMESTEPS = 1000.0
STAT_EXTENSIONS = (".safetensors", ".sft", ".pt", ".pth")

# normalised key (lower case, no '_') -> role; the layout of E follows the key family
_MEAN_KEYS = {"expectationx0": "bcfhw"}
_VAR_KEYS = {"trcovd"}
_SVD_MEAN_KEY, _SVD_VAR_KEY = "Expectation_x_0", "trCov_d"


# --------------------------------------------------------------------------------------------------------------
# closed forms

def analytic_moments(signal, noise, mean, variance):
    """(μ*, σ*) for ``x = signal·x0 + noise·ε`` with E[x0] = ``mean`` (tensor or None = 0), Tr(Cov)/d = ``variance``."""
    signal, noise = float(signal), float(noise)
    mu = None if mean is None else signal * mean
    return mu, math.sqrt(noise * noise + signal * signal * float(variance))


def vp_moments(alphas_cumprod: float, mean, variance):
    """The paper's VP form: μ* = √ᾱ·E, σ*² = 1 − ᾱ + ᾱ·v."""
    ab = float(alphas_cumprod)
    return analytic_moments(math.sqrt(ab), math.sqrt(max(0.0, 1.0 - ab)), mean, variance)


def svd_official_latents(mean: torch.Tensor, variance: float, eps: torch.Tensor, sigma_max: float,
                         formula: str = "fixed") -> torch.Tensor:
    """SVD start latents in the VE space (= ComfyUI's x) for each variant of the official pipeline.

    fixed (ours): E + √(σ² + v)·ε. official_intended: ε·√(σ² + 1 + v) + E (diffusers init_noise_sigma² =
    σ² + 1). official_as_shipped: the released code unpacks (trCov, E) swapped: ε·√(σ² + 1 + E) + v, elementwise.
    june2024 (commit 5690baa): ε·(√(σ² + 1) + √v) + E.
    """
    check_variance(variance, "variance")
    s2 = float(sigma_max) ** 2
    e, x = mean.double(), eps.double()
    if formula == "fixed":
        return e + math.sqrt(s2 + variance) * x
    if formula == "official_intended":
        return x * math.sqrt(s2 + 1.0 + variance) + e
    if formula == "official_as_shipped":
        return x * torch.sqrt(s2 + 1.0 + e) + variance
    if formula == "june2024":
        return x * (math.sqrt(s2 + 1.0) + math.sqrt(variance)) + e
    raise ValueError(f"svd_formula {quoted(formula)} is unknown: use one of {', '.join(SVD_FORMULAS)}")


def ldm_alphas_cumprod(timesteps: int = 1000, linear_start: float = 0.00085, linear_end: float = 0.012,
                       zero_snr: bool = False) -> torch.Tensor:
    """ᾱ of the LDM ``linear`` schedule (linear in √β; ComfyUI ``linear``, diffusers ``scaled_linear``) in float64,
    optionally rescaled to zero terminal SNR (Lin et al. 2024, as DynamiCrafter's inference configs)."""
    betas = torch.linspace(linear_start ** 0.5, linear_end ** 0.5, timesteps, dtype=torch.float64) ** 2
    ab = torch.cumprod(1.0 - betas, dim=0)
    if zero_snr:
        s = ab.sqrt()
        s0, sT = s[0].clone(), s[-1].clone()
        s = (s - sT) * (s0 / (s0 - sT))
        ab = s * s
    return ab


def official_trailing_grid(M: float, steps: int) -> np.ndarray:
    """The official ``make_ddim_timesteps("uniform_trailing", steps, M)`` grid as it computes it, descending:
    round(arange(M, 0, -M/S)) - 1 (numpy rounding, ties to even). For some (M, S) the float step makes ``arange``
    yield one extra value near 0, i.e. a timestep -1 (e.g. M = 920, S = 50)."""
    return np.round(np.arange(float(M), 0, -float(M) / steps)).astype(np.int64) - 1


def uniform_trailing_timesteps(M: float, steps: int) -> list[int]:
    """The official ``uniform_trailing`` DDIM grid, descending, with exactly ``steps`` timesteps for every
    1 <= steps <= M: t_i = round(M - i*M/S) - 1. The first step is M - 1. Where the official grid gains a
    timestep -1 (a float artifact of ``arange``), that entry is dropped: every other entry is the official one."""
    if steps < 1:
        raise ValueError(f"steps = {steps}: use at least 1 step")
    if M < 1:
        raise ValueError(f"M = {M:g} is below 1: the uniform_trailing grid needs M >= 1 (its last timestep is 0)")
    if steps > M:
        raise ValueError(f"steps = {steps} is more than the start time M = {M:g}: the uniform_trailing grid has at "
                         f"most one step per timestep, so use at most {int(M)} steps (or a larger M)")
    ts = official_trailing_grid(M, steps)
    ts = ts[ts >= 0].tolist()
    if len(ts) != steps or len(set(ts)) != steps:  # impossible for steps <= M (spacing M/S >= 1)
        raise AssertionError(f"uniform_trailing grid for M = {M:g}, steps = {steps} came out as {ts}")
    return ts


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. sigmas from ``sigma_max`` to ``sigma_min`` (``steps`` values, then 0), float64."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sig = (hi + ramp * (lo - hi)) ** rho
    sig[0] = sigma_max
    return torch.cat([sig, sig.new_zeros(1)])


# --------------------------------------------------------------------------------------------------------------
# where M lives on a model

@dataclass(frozen=True)
class StartScale:
    """``kind``: timestep (discrete DDPM, M in (0, N], σ_M = σ(M − 1)), sigma (continuous σ, M = σ_M in
    (0, σ_max]) or flow (M in (0, 1000], σ_M = the model's shifted σ at M/1000). ``T``: the top of M's range."""
    kind: str
    T: float

    def describe(self) -> str:
        return {"timestep": f"a timestep in (0, {self.T:g}] (DDPM-style model: the first step is M - 1)",
                "sigma": f"a sigma in (0, {self.T:g}] (continuous-sigma model such as SVD: official M = 100)",
                "flow": f"a timestep in (0, {self.T:g}] on the flow model's schedule before its shift: t = M/{self.T:g}, "
                        f"sigma = the model's shifted sigma at t ({self.T:g} = pure noise)"}[self.kind]


def _f(t) -> float:
    return float(torch.as_tensor(t).reshape(-1)[0])


def start_scale(model_sampling) -> StartScale:
    """Classify a (duck-typed) ComfyUI model-sampling object by how M maps to its sigma."""
    sigma_max = float(model_sampling.sigma_max)
    probe = min(0.5, 0.5 * sigma_max)
    if abs(probe_affine(model_sampling, probe, False).c - 1.0) > 1e-6:
        return StartScale("flow", FLOW_TIMESTEPS)
    sigmas = getattr(model_sampling, "sigmas", None)
    if sigmas is not None and sigmas.numel() > 1:
        n = sigmas.numel()
        try:
            top = _f(model_sampling.timestep(torch.tensor([sigma_max], dtype=torch.float32)))
            bottom = _f(model_sampling.timestep(sigmas[:1].float().clone()))
        except Exception:  # a timestep() that needs more than a tensor: not index-based
            top = bottom = float("nan")
        if abs(top - (n - 1)) < 1e-3 and abs(bottom) < 1e-3:
            return StartScale("timestep", float(n))
    return StartScale("sigma", sigma_max)


def check_M(M: float, scale: StartScale) -> None:
    if not math.isfinite(float(M)) or not 0 < float(M) <= scale.T * (1 + 1e-5):
        raise ValueError(f"M = {M:g} is outside (0, {scale.T:g}]: for this model M is {scale.describe()}. "
                         "Set M inside that range")


def sigma_at(model_sampling, M: float, scale: StartScale | None = None) -> float:
    """σ_M for start time M on the model's own scale (see :class:`StartScale`). Flow: t = M/1000 before the shift,
    σ_M = ``percent_to_sigma(1 − t)`` (the shifted σ; 1.0 at M = 1000)."""
    scale = scale or start_scale(model_sampling)
    check_M(M, scale)
    if scale.kind == "timestep":
        return _f(model_sampling.sigma(torch.tensor([float(M) - 1.0])))
    if scale.kind == "flow":
        return float(model_sampling.percent_to_sigma(1.0 - float(M) / scale.T))
    return float(M)


def start_sigmas(model_sampling, M: float, steps: int, schedule: str = "auto") -> torch.Tensor:
    """float32 SIGMAS starting exactly at σ_M and ending at 0.

    auto: uniform_trailing (DDPM models, the official DDIM grid), karras (continuous σ: reproduces SVD-CIL's
    Karras σ_max = M, ρ 7 to the model's σ_min), linear_timesteps (flow). linear_timesteps: M·(1 − i/S) mapped to σ.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {quoted(schedule)} is unknown: use one of {', '.join(SCHEDULES)}")
    if int(steps) < 1:
        raise ValueError(f"steps = {steps}: use at least 1 step")
    steps = int(steps)
    scale = start_scale(model_sampling)
    sigma_m = sigma_at(model_sampling, M, scale)
    if schedule == "auto":
        schedule = {"timestep": "uniform_trailing", "sigma": "karras", "flow": "linear_timesteps"}[scale.kind]
    if schedule == "uniform_trailing":
        if scale.kind != "timestep":
            raise ValueError("schedule uniform_trailing needs a DDPM-style (discrete timestep) model: use karras "
                             "or linear_timesteps (or auto) for this model")
        ts = uniform_trailing_timesteps(M, steps)
        sig = [_f(model_sampling.sigma(torch.tensor([float(t)]))) for t in ts] + [0.0]
    elif schedule == "karras":
        sigma_min = float(model_sampling.sigma_min)
        if not 0 < sigma_min < sigma_m:
            raise ValueError(f"M gives sigma {sigma_m:g}, not above the model's smallest sigma {sigma_min:g}: "
                             "raise M or use linear_timesteps")
        sig = karras_sigmas(steps, sigma_min, sigma_m).tolist()
    else:
        if scale.kind == "sigma":
            raise ValueError("schedule linear_timesteps needs a timestep-based model (DDPM-style or flow): use "
                             "karras (or auto) for continuous-sigma models such as SVD")
        us = [float(M) * (1.0 - i / steps) for i in range(steps)]
        sig = [sigma_at(model_sampling, u, scale) if u > 0 else 0.0 for u in us] + [0.0]
    sig[0] = sigma_m
    out = torch.tensor(sig, dtype=torch.float32)
    if not bool((out[:-1] > out[1:]).all()):
        raise ValueError(f"{steps} steps from M = {M:g} do not give decreasing sigmas: use fewer steps")
    return out


# --------------------------------------------------------------------------------------------------------------
# statistics

def check_variance(variance, name: str = "variance") -> float:
    value = float(torch.as_tensor(variance).double().reshape(-1)[0]) if torch.is_tensor(variance) else float(variance)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} = {value:g} is negative or not finite: Tr(Cov)/d is a variance, use a value >= 0 "
                         "(released DynamiCrafter-512 statistics: 0.808)")
    return value


@dataclass(frozen=True)
class Statistics:
    """E[x0] as ``[C, F, h, w]`` (``None``: zero mean) and the scalar Tr(Cov[x0]) / d.

    ``space``: "model" (scaled latents, as the released files) or "latent" (a raw VAE latent from VAE Encode; the
    model's latent format is applied when the noise is made). ``resample``: how E meets another frame count / size.
    ``scale``: DynamiCrafter's data rescale s (E·s, v·s²; 1 = as the official code). ``family``: the
    ``kernels.families`` key the statistics were estimated for (None: unknown, e.g. a released file). ``clips``: how
    many clips they were estimated from (None: unknown). ``causal_stride``: set by Analytic-Init for a causal video
    VAE (video frames per later latent frame; 0 = not causal): latent frame 0 is then kept apart in time.
    """
    mean: torch.Tensor | None
    variance: float
    space: str = "model"
    resample: str = "interpolate"
    scale: float = 1.0
    source: str = "statistics"
    family: str | None = None
    clips: int | None = None
    causal_stride: int = 0

    def __post_init__(self):
        check_variance(self.variance)
        if self.space not in SPACES:
            raise ValueError(f"statistics space {quoted(self.space)} is unknown: use model or latent")
        if self.resample not in RESAMPLE_MODES:
            raise ValueError(f"resample {quoted(self.resample)} is unknown: use one of {', '.join(RESAMPLE_MODES)}")
        if not math.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"data_scale = {self.scale:g} must be above 0 (1.0 = as the official code)")
        if self.mean is not None and (self.mean.ndim != 4 or self.mean.numel() == 0):
            raise ValueError(f"{self.source}: E[x0] must be [C, F, h, w]; got {tuple(self.mean.shape)}")
        if self.mean is not None and not bool(torch.isfinite(self.mean).all()):
            raise ValueError(f"{self.source}: E[x0] holds NaN or infinite values")

    @property
    def channels(self) -> int | None:
        return None if self.mean is None else int(self.mean.shape[0])

    @property
    def scaled_variance(self) -> float:
        return self.variance * self.scale ** 2

    def with_options(self, **kw) -> "Statistics":
        return replace(self, **kw)

    def check_family(self, key: str | None, where: str = "statistics") -> None:
        """Refuse statistics estimated for another model family (unknown or ``generic`` on either side passes)."""
        if self.family is None or key is None or self.family == key or "generic" in (self.family, key):
            return
        raise ValueError(
            f"{where}: {self.source} was estimated for {family_label(self.family)} but the model is "
            f"{family_label(key)}: its latents live in another space. Use statistics made for this model: CIL "
            "Estimate Statistics on your clips with this model and its VAE (or zero-mean statistics)")

    def check_channels(self, channels: int, where: str = "statistics") -> None:
        if self.channels is not None and self.channels != int(channels):
            raise ValueError(
                f"{where}: {self.source} has {self.channels} latent channels but the model samples {channels}: "
                "use statistics estimated with this model's VAE (or zero-mean statistics)")

    def mean_like(self, samples: torch.Tensor, process_in: Callable | None = None) -> torch.Tensor | None:
        """E resampled to ``samples``' layout (4-D [T,C,H,W] or 5-D [B,C,T,H,W]), in model space, float32."""
        if self.mean is None:
            return None
        if samples.ndim not in (4, 5):
            raise ValueError(f"latent is {samples.ndim}-D: a video latent must be 4-D or 5-D")
        self.check_channels(samples.shape[1])
        frames, h, w = lay.video_size(samples)
        if self.causal_stride and self.mean.shape[1] == 1 and frames > 1:
            k = int(self.causal_stride)
            raise ValueError(
                f"{self.source}: E[x0] has 1 latent frame but the video has {frames}: on this model's causal video "
                f"VAE latent frame 0 encodes one video frame and every later one {k}, so repeating one latent frame "
                f"is not E[x0]. For a mean from the image, encode a static video of it: Static Layout (frames = "
                f"{(frames - 1) * k + 1}, i.e. {k}k+1) -> VAE Encode -> CIL Statistics' mean_latent")
        video = resample_mean(self.mean.float(), frames, h, w, self.resample,
                              causal=bool(self.causal_stride))  # [C, T, H, W]
        out = lay.from_bcthw(video.unsqueeze(0), samples.ndim)
        if samples.ndim == 5 and samples.shape[0] != 1:
            out = out.expand(samples.shape[0], *out.shape[1:]).contiguous()
        if self.space == "latent":
            if process_in is None:
                raise ValueError("a latent-space mean needs the model's latent format")
            out = process_in(out.clone())
        return out.float() * self.scale


def family_label(key: str) -> str:
    """"<label> (family '<key>')" for messages."""
    fam = FAMILIES.get(key)
    return f"{fam.label} (family {quoted(key)})" if fam is not None else f"family {quoted(key, 40)}"


def resample_mean(mean: torch.Tensor, frames: int, height: int, width: int,
                  mode: str = "interpolate", causal: bool = False) -> torch.Tensor:
    """E ``[C, F, h, w]`` → ``[C, frames, height, width]``.

    interpolate: bilinear in (h, w) per frame (half-pixel centres, antialiased when shrinking, so a 64×40 mean on a
    128×72 latent or back keeps its local averages), then linear in time with the first and last frames kept
    (align_corners; one frame is repeated; one target frame gets the time average). channel_mean: each channel's
    average everywhere (drops the watermark and layout of the released means).
    ``causal`` (a causal video VAE's latent, whose frame 0 encodes one video frame and the others several):
    interpolate keeps latent frame 0 as it is and resamples only frames 1.. in time (a one-frame target gets frame 0).
    """
    if mode not in RESAMPLE_MODES:
        raise ValueError(f"resample {quoted(mode)} is unknown: use one of {', '.join(RESAMPLE_MODES)}")
    c, f, h, w = mean.shape
    if mode == "channel_mean":
        return mean.mean(dim=(1, 2, 3), keepdim=True).expand(c, frames, height, width).contiguous()
    x = mean.permute(1, 0, 2, 3)  # [F, C, h, w]
    if (h, w) != (height, width):
        shrink = height < h or width < w
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=shrink)
    x = x.permute(1, 0, 2, 3)  # [C, F, H, W]
    if f == frames:
        return x.contiguous()
    if causal and f > 1:
        if frames == 1:
            return x[:, :1].contiguous()
        rest = resample_mean(x[:, 1:], frames - 1, height, width, "interpolate")
        return torch.cat([x[:, :1], rest], dim=1).contiguous()
    if f == 1:
        return x.expand(c, frames, height, width).contiguous()
    if frames == 1:
        return x.mean(dim=1, keepdim=True)
    flat = x.permute(0, 2, 3, 1).reshape(1, c * height * width, f)
    flat = F.interpolate(flat, size=frames, mode="linear", align_corners=True)
    return flat.reshape(c, height, width, frames).permute(0, 3, 1, 2).contiguous()


def _norm_key(key: str) -> str:
    return key.replace("_", "").lower()


def _stat_key(tensors: dict, norm: str, what: str, source: str) -> str | None:
    """The one key of ``tensors`` that normalises to ``norm``; two such keys are refused (which one is meant?)."""
    found = [k for k in tensors if isinstance(k, str) and _norm_key(k) == norm]
    if len(found) > 1:
        raise ValueError(f"{source}: keys {' and '.join(quoted(k, 40) for k in found[:4])} name the same statistic "
                         f"({what}: key names are read without case and '_'); keep only one of them in the file")
    return found[0] if found else None


def _float_tensor(value, key: str, what: str, source: str) -> torch.Tensor:
    """A float tensor (a plain Python float, as some pickles hold Tr(Cov)/d, becomes one); anything else refused."""
    if isinstance(value, float):
        return torch.tensor(value, dtype=torch.float64)
    if torch.is_tensor(value) and value.is_floating_point():
        return value
    held = (f"a tensor of {str(value.dtype).replace('torch.', '')}" if torch.is_tensor(value)
            else f"{type(value).__name__} {repr(value)[:40]}")
    raise ValueError(f"{source}: {quoted(key, 40)} holds {held}, not a float: {what} must be a float number or a float "
                     "tensor (the released files hold float32); use a released initial_noise file or one saved by this pack")


def statistics_from_tensors(tensors: dict, metadata: dict | None = None, source: str = "statistics file",
                            resample: str = "interpolate", scale: float = 1.0) -> Statistics:
    """Statistics from a released / saved state dict (see the module docstring for keys and layouts)."""
    mean_key = _stat_key(tensors, "expectationx0", "E[x0]", source)
    var_key = _stat_key(tensors, "trcovd", "Tr(Cov)/d", source)
    if mean_key is None or var_key is None:
        held = ", ".join(quoted(k, 40) for k in sorted(map(str, tensors))[:6])
        raise ValueError(
            f"{source} is not a CIL statistics file: it holds {held or 'nothing'}; expected E[x0] under "
            "'Expectation_X0' (or SVD's 'Expectation_x_0') and Tr(Cov)/d under 'Tr_Cov_d' (or 'trCov_d')")
    mean = _float_tensor(tensors[mean_key], mean_key, "E[x0]", source)
    var = _float_tensor(tensors[var_key], var_key, "Tr(Cov)/d", source)
    if var.numel() != 1:
        raise ValueError(f"{source}: {quoted(var_key)} must be one number (Tr(Cov)/d); it has shape {tuple(var.shape)}")
    layout = (metadata or {}).get("layout") or ("bfchw" if mean_key == _SVD_MEAN_KEY else "bcfhw")
    if mean.ndim == 1:  # per-channel means
        mean = mean.reshape(-1, 1, 1, 1)
    elif mean.ndim == 5:
        if mean.shape[0] != 1:
            raise ValueError(f"{source}: E[x0] has a batch of {mean.shape[0]}; expected 1")
        if layout == "bfchw":
            mean = mean[0].permute(1, 0, 2, 3)
        elif layout == "bcfhw":
            mean = mean[0]
        else:
            raise ValueError(f"{source}: layout {quoted(layout)} is unknown: use bcfhw or bfchw")
    else:
        raise ValueError(f"{source}: E[x0] must be [1, C, F, h, w] (or [1, F, C, h, w] for SVD files, or [C] "
                         f"per-channel); got {tuple(mean.shape)}")
    variance = float(var.double().reshape(-1)[0])
    if not math.isfinite(variance) or variance < 0:
        raise ValueError(f"{source}: Tr(Cov)/d = {variance:g} is negative or not finite; this is not a valid "
                         "statistics file")
    family, clips = _estimate_info(metadata or {}, source)
    return Statistics(mean.detach().float().contiguous().clone(), variance, "model", resample, float(scale),
                      source, family, clips)


def _estimate_info(metadata: dict, source: str) -> tuple[str | None, int | None]:
    """(family, clips) recorded in a file's metadata (None where it records none: released files)."""
    family = metadata.get("family") or None
    if family is not None and family not in FAMILIES:
        raise ValueError(f"{source}: its metadata names the model family {quoted(family, 40)}, which this pack does "
                         f"not know (known: {', '.join(FAMILIES)}); estimate the statistics again with CIL Estimate "
                         "Statistics")
    clips = metadata.get("clips")
    try:
        clips = None if clips in (None, "") else int(clips)
    except ValueError:
        raise ValueError(f"{source}: its metadata 'clips' = {quoted(clips, 40)} is not a whole number; estimate "
                         "the statistics again with CIL Estimate Statistics") from None
    return family, clips


def load_statistics(path: str, resample: str = "interpolate", scale: float = 1.0) -> Statistics:
    """Read a statistics file: safetensors, or a torch pickle of tensors loaded with ``weights_only=True``."""
    name = os.path.basename(str(path))
    ext = os.path.splitext(name)[1].lower()
    if ext not in STAT_EXTENSIONS:
        raise ValueError(f"statistics_file {quoted(name)}: use a {', '.join(STAT_EXTENSIONS)} file")
    try:  # the checkpoint loaders' safe reader: weights_only pickles, code-running ones refused unread
        tensors, metadata = read_checkpoint(path)
    except UnsafePickleError as exc:
        raise ValueError(f"statistics_file {quoted(name)}: this pickle holds Python objects that would run code when "
                         f"loaded ({exc.detail}), so it is refused; use a released initial_noise file or one saved "
                         "by this pack") from None
    except CheckpointError as exc:  # corrupt / not a tensor file
        reason = str(exc).removeprefix(f"{name}: ")
        raise ValueError(f"statistics_file {quoted(name)} is not a readable statistics file ({reason}): use a "
                         "released initial_noise file or one saved by this pack") from None
    if not isinstance(tensors, dict):
        raise ValueError(f"statistics_file {quoted(name)} holds a {type(tensors).__name__}, not a dict of tensors")
    return statistics_from_tensors(tensors, metadata, f"statistics_file {quoted(name)}", resample, scale)


def statistics_from_latent(latent: torch.Tensor, variance: float, resample: str = "interpolate") -> Statistics:
    """Our extension: E[x0] from a raw VAE latent (an image: 1 frame, or a layout video) with a user variance."""
    check_variance(variance)
    if latent.ndim == 4:  # [T, C, H, W] frames-as-batch (or an image batch)
        mean = latent.permute(1, 0, 2, 3)
    elif latent.ndim == 5:  # [B, C, T, H, W]: the first video
        mean = latent[0]
    else:
        raise ValueError(f"mean_latent is {latent.ndim}-D {tuple(latent.shape)}: connect a VAE-encoded image or "
                         "video (4-D or 5-D LATENT)")
    return Statistics(mean.detach().float().cpu().contiguous(), float(variance), "latent", resample, 1.0,
                      "mean_latent")


def zero_mean_statistics(variance: float) -> Statistics:
    """E[x0] = 0 with a scalar variance: Analytic-Init as a pure variance correction."""
    return Statistics(None, check_variance(variance), "model", "interpolate", 1.0, "zero-mean statistics")


class StatisticsAccumulator:
    """E[x0] and Tr(Cov)/d of model-space video latents ``[C, F, h, w]`` of one shape, one clip at a time: Welford's
    running mean and sum of squared deviations (m2) in float64, so any number of clips streams through without
    cancellation; :meth:`merge` adds another accumulator (Chan et al.), so a saved estimate can take more clips.
    The result is the official estimator's: E = Σz/n, Var = Σ(z − E)²/n (per element), v = mean(Var)."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, None, None

    @property
    def shape(self) -> tuple | None:
        return None if self.mean is None else tuple(self.mean.shape)

    def add(self, video: torch.Tensor) -> None:
        video = video.detach().to("cpu", torch.float64)
        if video.ndim == 5:
            for v in video:
                self.add(v)
            return
        if video.ndim != 4:
            raise ValueError("add model-space video latents [C, F, h, w] (or a batch of them)")
        if self.mean is not None and tuple(video.shape) != self.shape:
            raise ValueError(f"video {tuple(video.shape)} differs from the first one {self.shape}")
        if not bool(torch.isfinite(video).all()):
            raise ValueError("a video latent holds NaN or infinite values")
        self.n += 1
        if self.mean is None:
            self.mean, self.m2 = video.clone(), torch.zeros_like(video)
            return
        delta = video - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (video - self.mean)

    def merge(self, other: StatisticsAccumulator) -> None:
        if other.n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean.clone(), other.m2.clone()
            return
        if other.shape != self.shape:
            raise ValueError(f"videos {other.shape} differ from the first ones {self.shape}")
        n = self.n + other.n
        delta = other.mean - self.mean
        self.m2 += other.m2 + delta * delta * (self.n * other.n / n)
        self.mean += delta * (other.n / n)
        self.n = n

    def variance(self) -> float:
        """Tr(Cov)/d = the mean over elements of the per-element population variance."""
        return float((self.m2 / self.n).clamp(min=0).mean())

    def result(self, source: str = "estimated statistics", family: str | None = None) -> Statistics:
        if self.n < 2:
            raise ValueError("estimating statistics needs at least 2 videos")
        return Statistics(self.mean.float(), self.variance(), "model", "interpolate", 1.0, source, family, self.n)


# An estimate file = the released DynamiCrafter layout (Expectation_X0 float32 [1, C, F, h, w], Tr_Cov_d) that any
# loader reads, + the float64 running moments and one 64-bit fingerprint per clip to add clips later.
ESTIMATE_FORMAT = "cdi2v-cil-statistics-estimate/1"
ESTIMATE_CREATOR = "CILEstimateStatistics"
_EST_MEAN, _EST_M2, _EST_HASHES = "cdi2v_mean_f64", "cdi2v_m2_f64", "cdi2v_clip_fingerprints"


def clip_fingerprint(clip: torch.Tensor) -> int:
    """A 64-bit fingerprint of a clip's values (dtype and shape included): the same clip added twice is found."""
    import hashlib
    t = clip.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return int.from_bytes(h.digest()[:8], "little", signed=True)


@dataclass
class Estimate:
    """A resumable estimate: the accumulator, the family it was made for and the fingerprints of its clips."""
    acc: StatisticsAccumulator
    family: str
    fingerprints: list

    def tensors(self) -> tuple[dict, dict]:
        """(tensors, metadata) of the file."""
        acc = self.acc
        if acc.n < 2:
            raise ValueError("estimating statistics needs at least 2 clips")
        c, f, h, w = acc.shape
        tensors = {"Expectation_X0": acc.mean.float().unsqueeze(0).contiguous(),
                   "Tr_Cov_d": torch.tensor(acc.variance(), dtype=torch.float32),
                   _EST_MEAN: acc.mean.contiguous(), _EST_M2: acc.m2.contiguous(),
                   _EST_HASHES: torch.tensor(self.fingerprints, dtype=torch.int64)}
        metadata = {"layout": "bcfhw", "format": ESTIMATE_FORMAT, "creator": ESTIMATE_CREATOR, "space": "model",
                    "family": self.family, "channels": str(c), "latent_frames": str(f), "height": str(h),
                    "width": str(w), "clips": str(acc.n)}
        return tensors, metadata

    def statistics(self, source: str) -> Statistics:
        return self.acc.result(source, self.family)


def is_estimate(metadata: dict | None) -> bool:
    """Whether a file's metadata marks it as written by CIL Estimate Statistics."""
    return bool(metadata) and metadata.get("format") == ESTIMATE_FORMAT and metadata.get("creator") == ESTIMATE_CREATOR


def estimate_from_tensors(tensors: dict, metadata: dict, source: str) -> Estimate:
    """The resumable estimate held by a file :func:`is_estimate` accepts; anything inconsistent is refused."""
    def bad(why):
        return ValueError(f"{source} was written by CIL Estimate Statistics but {why}: it cannot take more clips; "
                          "pick a new file name to start a new estimate")
    mean, m2, fps = tensors.get(_EST_MEAN), tensors.get(_EST_M2), tensors.get(_EST_HASHES)
    if not all(torch.is_tensor(t) for t in (mean, m2, fps)):
        raise bad("its running sums are missing")
    if mean.dtype != torch.float64 or m2.dtype != torch.float64 or mean.ndim != 4 or m2.shape != mean.shape:
        raise bad(f"its running sums are {tuple(mean.shape)} {mean.dtype} / {tuple(m2.shape)} {m2.dtype}")
    if not (bool(torch.isfinite(mean).all()) and bool(torch.isfinite(m2).all())) or bool((m2 < 0).any()):
        raise bad("its running sums hold NaN, infinite or negative values")
    family, clips = _estimate_info(metadata, source)
    if family is None or clips is None or clips < 2 or fps.dtype != torch.int64 or fps.shape != (clips,):
        raise bad(f"its metadata (family {family}, clips {clips}) does not match its {fps.numel()} clip fingerprints")
    shape = tuple(int(metadata.get(k, -1)) for k in ("channels", "latent_frames", "height", "width"))
    if shape != tuple(mean.shape):
        raise bad(f"its metadata shape {shape} differs from its running sums {tuple(mean.shape)}")
    acc = StatisticsAccumulator()
    acc.n, acc.mean, acc.m2 = clips, mean.clone(), m2.clone()
    return Estimate(acc, family, fps.tolist())


def write_estimate(path, estimate: Estimate, overwrite: bool = False) -> None:
    """Write an estimate file; the data appears only when complete (kernels.safe_files.staged_write), an existing
    file is replaced only with ``overwrite`` (FileExistsError otherwise)."""
    from .safe_files import staged_write, write_safetensors_to
    tensors, metadata = estimate.tensors()
    with staged_write(path, overwrite=overwrite) as f:
        write_safetensors_to(f, tensors, metadata)


def save_statistics(path: str, stats: Statistics) -> None:
    """Write statistics in the released DynamiCrafter layout (``Expectation_X0`` [1,C,F,h,w], ``Tr_Cov_d``)."""
    from safetensors.torch import save_file
    if stats.mean is None or stats.space != "model":
        raise ValueError("only model-space statistics with a mean can be saved")
    metadata = {"layout": "bcfhw"}
    if stats.family is not None:
        metadata["family"] = stats.family
    save_file({"Expectation_X0": stats.mean.unsqueeze(0).contiguous(),
               "Tr_Cov_d": torch.tensor(stats.variance, dtype=torch.float32)}, str(path), metadata=metadata)


# --------------------------------------------------------------------------------------------------------------
# the NOISE

@dataclass
class AnalyticInitNoise:
    """NOISE for SamplerCustomAdvanced: ComfyUI's sampler starts from x_M ~ N(c·E, a² + c²·v) at the SIGMAS' σ0.

    ε is ``randn(latent shape)`` on a CPU generator seeded like ComfyUI's RandomNoise (the same seed gives the
    same ε as the baseline), drawn for every sample of the batch; ``base_noise`` (another NOISE) replaces it: its
    model-space start state if it has one (FrameInit), else its noise (PYoCo, RandomNoise).
    """
    seed: int
    start: StartState
    stats: Statistics
    svd_formula: str = "fixed"
    base_noise: object | None = None
    origin: str = ""

    def __post_init__(self):
        if self.svd_formula not in SVD_FORMULAS:
            raise ValueError(f"svd_formula {quoted(self.svd_formula)} is unknown: use one of {', '.join(SVD_FORMULAS)}")

    def eps(self, input_latent: dict, samples: torch.Tensor) -> torch.Tensor:
        if self.base_noise is None:
            gen = torch.Generator("cpu").manual_seed(int(self.seed) & 0xFFFFFFFFFFFFFFFF)
            return torch.randn(samples.shape, generator=gen, dtype=torch.float32)
        with blame("noise"):
            state = getattr(self.base_noise, "state", None)
            eps = state(samples) if callable(state) else self.base_noise.generate_noise(input_latent)
            if tuple(eps.shape) != tuple(samples.shape):
                raise ValueError(f"noise gives {tuple(eps.shape)} for a latent of {tuple(samples.shape)}")
        return eps.float().cpu()

    def moments(self, samples: torch.Tensor):
        """(mean tensor or None, std) of x_M in ComfyUI's sampler state x."""
        fwd = probe_affine(self.start.model_sampling, self.start.sigma0, False)
        with blame("statistics"):
            mean = self.stats.mean_like(samples, self.start.process_in)
        return analytic_moments(fwd.c, fwd.a, mean, self.stats.scaled_variance)

    def target(self, input_latent: dict, samples: torch.Tensor) -> torch.Tensor:
        """x_M in ComfyUI's sampler state (before calculate_input), float64."""
        eps = self.eps(input_latent, samples).double()
        if self.svd_formula != "fixed":
            fwd = probe_affine(self.start.model_sampling, self.start.sigma0, False)
            if abs(fwd.c - 1.0) > 1e-6 or abs(fwd.a - self.start.sigma0) > 1e-6 * max(1.0, self.start.sigma0):
                raise ValueError(f"svd_formula {quoted(self.svd_formula)} reproduces the official SVD pipeline: use it "
                                 "only on EDM/VE models such as SVD (keep 'fixed' here)")
            with blame("statistics"):
                mean = self.stats.mean_like(samples, self.start.process_in)
            mean = torch.zeros_like(eps) if mean is None else mean
            return svd_official_latents(mean, self.stats.scaled_variance, eps, self.start.sigma0, self.svd_formula)
        mean, std = self.moments(samples)
        x = std * eps
        return x if mean is None else x + mean.double()

    @attributed
    def state(self, samples: torch.Tensor, input_latent: dict | None = None) -> torch.Tensor:
        """The model-input start state z = calculate_input(σ0, x_M)."""
        return self._state(samples, input_latent)

    def _state(self, samples: torch.Tensor, input_latent: dict | None = None) -> torch.Tensor:
        k = probe_affine(self.start.model_sampling, self.start.sigma0, False).k
        return k * self.target(input_latent or {"samples": samples}, samples)

    @attributed
    def generate_noise(self, input_latent):
        """x_M on the free elements (noise mask 1) of the video part; held/partial elements and other parts of a
        nested latent get core's RandomNoise draw, so the sampler re-noises held frames with unit noise at every
        step as it expects (kernels/latent_parts.py). ``base_noise`` sees the video part without the mask."""
        return noise_for_latent(input_latent, self.seed, self._video_noise)

    def _video_noise(self, part: VideoPart) -> torch.Tensor:
        return self.start.noise_for(self._state(part.samples, part.latent), part.samples, part.processed)
