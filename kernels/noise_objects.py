"""NOISE objects for ComfyUI's SamplerCustomAdvanced (``.seed`` + ``generate_noise(latent_dict)``).

They hold plain settings plus two duck-typed handles taken from the MODEL when the node runs: the
model-sampling object and the latent format's ``process_in``. No ComfyUI import.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from . import layout as lay
from .noise_solver import Affine, is_max_denoise, noise_for_state, probe_affine
from .pyoco import video_noise
from .spectral import frameinit_mix


def _samples(input_latent) -> torch.Tensor:
    samples = input_latent["samples"]
    if getattr(samples, "is_nested", False):
        raise ValueError("this noise node does not support nested (multi-part) latents such as LTX-AV")
    if samples.ndim not in (4, 5):
        raise ValueError(
            f"latent_image is {samples.ndim}-D {tuple(samples.shape)}: a video latent must be 4-D "
            "[frames, C, H, W] or 5-D [B, C, frames, H, W]"
        )
    return samples


@dataclass
class PYoCoNoise:
    """Correlated video noise that replaces ComfyUI's i.i.d. Gaussian noise."""
    seed: int
    kind: str = "pyoco_mixed"
    alpha: float = 1.0

    def generate_noise(self, input_latent) -> torch.Tensor:
        samples = _samples(input_latent)
        return video_noise(samples.shape, self.seed, self.kind, self.alpha, dtype=samples.dtype)


@dataclass
class StartState:
    """Where sampling starts: sigma0 of the SIGMAS and the model's noise scaling there."""
    model_sampling: object
    process_in: Callable[[torch.Tensor], torch.Tensor]
    sigma0: float
    sigma_max: float

    def affine(self) -> Affine:
        return probe_affine(self.model_sampling, self.sigma0, is_max_denoise(self.sigma0, self.sigma_max))

    def noise_for(self, z: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
        latent = None
        if torch.count_nonzero(samples) > 0:  # ComfyUI leaves an all-zero latent unprocessed
            latent = self.process_in(samples.clone().float())
        return noise_for_state(z, self.affine(), latent).to(samples.dtype).cpu()


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

    def check_layout(self, samples: torch.Tensor) -> None:
        layout = self.layout
        extra = 1 if self.drop_first_frame else 0
        if layout.ndim != samples.ndim:
            raise ValueError(
                f"layout is {layout.ndim}-D {tuple(layout.shape)} but the sampled latent is {samples.ndim}-D "
                f"{tuple(samples.shape)}: encode the layout with this model's VAE"
            )
        frames, want = lay.frame_count(layout), lay.frame_count(samples) + extra
        if frames != want:
            hint = ("it is a single image latent: make a layout video with 'ConsistI2V Static Layout' and "
                    "VAE Encode it" if frames == 1 else "make the layout with the frame count of the sampled video")
            raise ValueError(
                f"layout has {frames} frame(s) but the sampled latent has {lay.frame_count(samples)}"
                f"{' (+1 dropped first frame)' if extra else ''}, so it needs {want}: {hint}"
                + ("" if extra else "; or enable drop_first_frame if the layout includes the conditioning frame")
            )
        ch = 1
        if layout.shape[ch] != samples.shape[ch]:
            raise ValueError(
                f"layout has {layout.shape[ch]} latent channels but the model samples {samples.shape[ch]}: "
                "encode the layout with this model's VAE"
            )
        lh, lw = lay.video_size(layout)[1:]
        sh, sw = lay.video_size(samples)[1:]
        if (lh, lw) != (sh, sw):
            raise ValueError(
                f"layout latent is {lh}x{lw} but the sampled latent is {sh}x{sw}: resize the layout images to "
                f"{sw * 8}x{sh * 8} pixels (x8 for most VAEs) before encoding"
            )
        if layout.ndim == 5 and layout.shape[0] not in (1, samples.shape[0]):
            raise ValueError(f"layout batch {layout.shape[0]} does not match the latent batch {samples.shape[0]}")

    def state(self, samples: torch.Tensor) -> torch.Tensor:
        """The intended model-input state z (float32) for ``samples``' shape."""
        self.check_layout(samples)
        layout = self.layout.float()
        if layout.ndim == 5 and layout.shape[0] != samples.shape[0]:
            layout = layout.expand(samples.shape[0], *layout.shape[1:])
        layout = self.start.process_in(layout.clone())
        eps = video_noise(layout.shape, self.seed, self.noise_kind, self.alpha)
        tau = probe_affine(self.start.model_sampling, self.sigma_tau, False)
        noised = (tau.k * tau.a) * eps + (tau.k * tau.c) * layout
        z = frameinit_mix(noised, eps, kind=self.filter_kind, d_s=self.d_s, d_t=self.d_t, order=self.order,
                          official=self.official_filters)
        return lay.drop_first_frame(z) if self.drop_first_frame else z

    def generate_noise(self, input_latent) -> torch.Tensor:
        samples = _samples(input_latent)
        return self.start.noise_for(self.state(samples), samples)
