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
itself in (0, σ_max]; flow models take M on a 1000-step schedule (σ_M = the model's shifted σ at M/1000).

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
from .noise_objects import StartState, _samples, attributed, blame
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
                "flow": f"a timestep in (0, {self.T:g}] on the flow model's schedule (1000 = pure noise)"}[self.kind]


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
    """σ_M for start time M on the model's own scale (see :class:`StartScale`)."""
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
    ``scale``: DynamiCrafter's data rescale s (E·s, v·s²; 1 = as the official code).
    """
    mean: torch.Tensor | None
    variance: float
    space: str = "model"
    resample: str = "interpolate"
    scale: float = 1.0
    source: str = "statistics"

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
        video = resample_mean(self.mean.float(), frames, h, w, self.resample)  # [C, T, H, W]
        out = lay.from_bcthw(video.unsqueeze(0), samples.ndim)
        if samples.ndim == 5 and samples.shape[0] != 1:
            out = out.expand(samples.shape[0], *out.shape[1:]).contiguous()
        if self.space == "latent":
            if process_in is None:
                raise ValueError("a latent-space mean needs the model's latent format")
            out = process_in(out.clone())
        return out.float() * self.scale


def resample_mean(mean: torch.Tensor, frames: int, height: int, width: int,
                  mode: str = "interpolate") -> torch.Tensor:
    """E ``[C, F, h, w]`` → ``[C, frames, height, width]``.

    interpolate: bilinear in (h, w) per frame (half-pixel centres, antialiased when shrinking, so a 64×40 mean on a
    128×72 latent or back keeps its local averages), then linear in time with the first and last frames kept
    (align_corners; one frame is repeated; one target frame gets the time average). channel_mean: each channel's
    average everywhere (drops the watermark and layout of the released means).
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
    return Statistics(mean.detach().float().contiguous().clone(), variance, "model", resample, float(scale),
                      source)


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
    """Estimate E[x0] and Tr(Cov)/d from model-space video latents ``[C, F, h, w]`` of one size (the official
    estimator: E = Σz/n, Var = Σz²/n − E², v = mean(Var)), in float64."""

    def __init__(self):
        self.n, self.sum, self.sum_sq = 0, None, None

    def add(self, video: torch.Tensor) -> None:
        video = video.detach().double().cpu()
        if video.ndim == 5:
            for v in video:
                self.add(v)
            return
        if video.ndim != 4:
            raise ValueError("add model-space video latents [C, F, h, w] (or a batch of them)")
        if self.sum is not None and video.shape != self.sum.shape:
            raise ValueError(f"video {tuple(video.shape)} differs from the first one {tuple(self.sum.shape)}")
        self.sum = video.clone() if self.sum is None else self.sum + video
        self.sum_sq = video * video if self.sum_sq is None else self.sum_sq + video * video
        self.n += 1

    def result(self, source: str = "estimated statistics") -> Statistics:
        if self.n < 2:
            raise ValueError("estimating statistics needs at least 2 videos")
        mean = self.sum / self.n
        var = (self.sum_sq / self.n - mean * mean).clamp(min=0)
        return Statistics(mean.float(), float(var.mean()), "model", "interpolate", 1.0, source)


def save_statistics(path: str, stats: Statistics) -> None:
    """Write statistics in the released DynamiCrafter layout (``Expectation_X0`` [1,C,F,h,w], ``Tr_Cov_d``)."""
    from safetensors.torch import save_file
    if stats.mean is None or stats.space != "model":
        raise ValueError("only model-space statistics with a mean can be saved")
    save_file({"Expectation_X0": stats.mean.unsqueeze(0).contiguous(),
               "Tr_Cov_d": torch.tensor(stats.variance, dtype=torch.float32)}, str(path), metadata={"layout": "bcfhw"})


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
    def generate_noise(self, input_latent) -> torch.Tensor:
        samples = _samples(input_latent)
        if input_latent.get("noise_mask") is not None:
            raise ValueError("latent_image has a noise mask: ComfyUI re-noises masked latents with this NOISE at "
                             "every step, which an Analytic-Init start would distort. Remove the noise mask "
                             "(SetLatentNoiseMask) or use RandomNoise for inpainting")
        return self.start.noise_for(self._state(samples, input_latent), samples)
