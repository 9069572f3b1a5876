"""NOISE objects for ComfyUI's SamplerCustomAdvanced (``.seed`` + ``generate_noise(latent_dict)``).

They hold plain settings plus two duck-typed handles taken from the MODEL when the node runs: the
model-sampling object and the latent format's ``process_in``. No ComfyUI import.

The sampler draws the noise long after the node ran, so an error there would show on SamplerCustomAdvanced
alone: with ``origin`` set (the node's name and id), ``generate_noise`` puts it and the input at fault (tagged
with :func:`blame`) in front of the message, keeping the exception's type.
"""
from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch

from . import layout as lay
from . import layout_hints
from .families import Family
from .latent_parts import VideoPart, noise_for_latent
from .noise_solver import Affine, is_max_denoise, noise_for_state, probe_affine
from .pyoco import video_noise
from .spectral import frameinit_start

log = logging.getLogger(__name__)


@contextmanager
def blame(input_name: str):
    """Errors raised in this block are about the node's input ``input_name`` (the innermost tag wins)."""
    try:
        yield
    except Exception as err:
        if getattr(err, "noise_input", None) is None:
            err.noise_input = input_name
        raise


def named(origin: str, err: Exception) -> Exception:
    """``err`` with "<origin> input '<input>': " in front, of the same type where it can be rebuilt so."""
    input_name = getattr(err, "noise_input", None)
    where = f"{origin} input '{input_name}'" if input_name else f"{origin}, drawing the noise"
    message = f"{where}: {err}"
    try:
        new = type(err)(message)
    except Exception:  # noqa: BLE001  (a type that takes other arguments: fall back to RuntimeError)
        new = None
    if new is None or str(new) != message:
        new = RuntimeError(f"{where}: {type(err).__name__}: {err}")
    return new


def attributed(method):
    """Wrap a NOISE method so that its errors name ``self.origin`` (ComfyUI's interrupt passes unchanged)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as err:
            if not self.origin or type(err).__name__ == "InterruptProcessingException":
                raise
            raise named(self.origin, err) from err
    return wrapper


@dataclass
class PYoCoNoise:
    """Correlated video noise that replaces ComfyUI's i.i.d. Gaussian noise.

    Masked and nested latents: see :mod:`kernels.latent_parts` (held/partial elements and non-video parts get core's
    RandomNoise draw for the seed; PYoCo shapes the free elements of the video part)."""
    seed: int
    kind: str = "pyoco_mixed"
    alpha: float = 1.0
    origin: str = ""

    @attributed
    def generate_noise(self, input_latent):
        return noise_for_latent(input_latent, self.seed, self._video_noise)

    def _video_noise(self, part: VideoPart) -> torch.Tensor:
        return video_noise(part.samples.shape, self.seed, self.kind, self.alpha, dtype=part.samples.dtype)


@dataclass
class StartState:
    """Where sampling starts: sigma0 of the SIGMAS and the model's noise scaling there."""
    model_sampling: object
    process_in: Callable[[torch.Tensor], torch.Tensor]
    sigma0: float
    sigma_max: float

    def affine(self) -> Affine:
        return probe_affine(self.model_sampling, self.sigma0, is_max_denoise(self.sigma0, self.sigma_max))

    def noise_for(self, z: torch.Tensor, samples: torch.Tensor, processed: bool | None = None) -> torch.Tensor:
        """The noise placing the model input at ``z``; ``processed``: ComfyUI runs process_latent_in on the latent
        (default: ``samples`` is not all zero; a nested latent decides over all its parts)."""
        if processed is None:
            processed = bool(torch.count_nonzero(samples) > 0)  # ComfyUI leaves an all-zero latent unprocessed
        latent = self.process_in(samples.clone().float()) if processed else None
        return noise_for_state(z, self.affine(), latent).to(samples.dtype).cpu()

    def warn_if_partial(self) -> None:
        """For NOISE that normally starts at sigma_max (FrameInit; not Analytic-Init, whose σ_M is lower by design):
        an empty latent started below sigma_max is almost always the second half of a SplitSigmas hand-over
        (Wan 2.2 A14B) wired to this NOISE by mistake: say what to do (a warning: a truncated schedule on an empty
        latent is still placed exactly)."""
        if is_max_denoise(self.sigma0, self.sigma_max):
            return
        log.warning(
            "noise: the SIGMAS of this NOISE start at %.6g, below the model's sigma_max %.6g, on an empty latent. "
            "With two experts (Wan 2.2 A14B, SplitSigmas) connect the FIRST part of the split (high sigmas) to this "
            "noise node and to the first SamplerCustomAdvanced, and give the second SamplerCustomAdvanced "
            "(low-noise model, second part of the split, latent from the first) DisableNoise; if the truncated "
            "schedule is intended, ignore this.", self.sigma0, self.sigma_max)


LAYOUT_FIX = ("it came out of an earlier node broken (a diverged sampler, or an fp16 VAE overflow): rebuild the "
              "layout from a clean image (Static Layout or Camera Layout -> VAE Encode, the VAE in fp32 if it "
              "overflows); FrameInit would turn the whole video into NaN")


@dataclass
class FrameInitNoise:
    """ConsistI2V FrameInit: start from the low band of a noised layout video plus fresh high band."""
    seed: int
    layout: torch.Tensor
    start: StartState
    sigma_tau: float
    drop_first_frame: bool = False
    noise_kind: str = "pyoco_mixed"
    alpha: float = 1.0
    filter_kind: str = "gaussian"
    d_s: float = 0.25
    d_t: float = 0.25
    order: int = 4
    official_filters: bool = False
    origin: str = ""
    layout_input: str = "layout"
    temporal_padding: str = "circular"
    family: Family | None = None  # the model's family (kernels/families.py): its VAE strides name the layout fix

    def check_layout(self, samples: torch.Tensor) -> None:
        with blame(self.layout_input):
            self._check_layout(samples)

    def _check_layout(self, samples: torch.Tensor) -> None:
        layout = self.layout
        lay.check_finite(layout, self.layout_input, LAYOUT_FIX)
        extra = 1 if self.drop_first_frame else 0
        if layout.ndim != samples.ndim:
            raise ValueError(
                f"layout is {layout.ndim}-D {tuple(layout.shape)} but the sampled latent is {samples.ndim}-D "
                f"{tuple(samples.shape)}: {layout_hints.rank_hint(self.family)}"
            )
        frames, want = lay.frame_count(layout), lay.frame_count(samples) + extra
        if frames != want:
            raise ValueError(layout_hints.frames_message(self.family, frames, lay.frame_count(samples), bool(extra)))
        ch = 1
        if layout.shape[ch] != samples.shape[ch]:
            raise ValueError(layout_hints.channels_message(self.family, layout.shape[ch], samples.shape[ch]))
        lh, lw = lay.video_size(layout)[1:]
        sh, sw = lay.video_size(samples)[1:]
        if (lh, lw) != (sh, sw):
            raise ValueError(layout_hints.size_message(self.family, (lh, lw), (sh, sw)))
        if layout.ndim == 5 and layout.shape[0] not in (1, samples.shape[0]):
            raise ValueError(f"layout batch {layout.shape[0]} does not match the latent batch {samples.shape[0]}")

    @attributed
    def state(self, samples: torch.Tensor) -> torch.Tensor:
        """The intended model-input state z (float32) for ``samples``' shape."""
        return self._state(samples)

    def _state(self, samples: torch.Tensor) -> torch.Tensor:
        self.check_layout(samples)
        layout = self.layout.float()
        if layout.ndim == 5 and layout.shape[0] != samples.shape[0]:
            layout = layout.expand(samples.shape[0], *layout.shape[1:])
        layout = self.start.process_in(layout.clone())
        eps = video_noise(layout.shape, self.seed, self.noise_kind, self.alpha)
        tau = probe_affine(self.start.model_sampling, self.sigma_tau, False)
        z = frameinit_start(layout, eps, tau.k * tau.a, tau.k * tau.c, self.temporal_padding, kind=self.filter_kind,
                            d_s=self.d_s, d_t=self.d_t, order=self.order, official=self.official_filters)
        return lay.drop_first_frame(z) if self.drop_first_frame else z

    @attributed
    def generate_noise(self, input_latent):
        """Masked / nested latents: :mod:`kernels.latent_parts` (the state is placed on the free elements)."""
        return noise_for_latent(input_latent, self.seed, self._video_noise)

    def _video_noise(self, part: VideoPart) -> torch.Tensor:
        if not part.processed:
            self.start.warn_if_partial()
        return self.start.noise_for(self._state(part.samples), part.samples, part.processed)
