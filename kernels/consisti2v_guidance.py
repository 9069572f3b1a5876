"""ConsistI2V's text and image guidance, as the official pipeline combines them (pure torch, no ComfyUI).

Official source: TIGER-AI-Lab/ConsistI2V ``consisti2v/pipelines/pipeline_conditional_animation.py`` (152102b):
- mode (lines 516-521): "both" if guidance_scale_img > 1, else "text" if guidance_scale_txt > 1, else none;
- branches (lines 637-651, 336-342): none = [prompt, clean first frame]; text = [empty prompt, clean] and
  [prompt, clean]; both = [empty prompt, **x_T frame 0**], [empty prompt, clean], [prompt, clean]. x_T frame 0 is
  the start state's first frame (after FrameInit), split off before the loop and fed unchanged at every step;
- combination (lines 661-667): text ``u + s_txt (c - u)``; both ``u_noisy + s_img (u - u_noisy) + s_txt (c - u)``.
Both combinations are affine (weights sum to 1), so they hold for denoised outputs as they do for epsilon.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from . import layout as lay
from .noise_solver import is_max_denoise, probe_affine

MODES = ("none", "text", "image")


class NoiseInputError(ValueError):
    """Something is wrong with the guider's ``noise`` input (the caller names its node in front)."""


def check_scale(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} is {value}: use a finite number (1.0 turns this guidance off)")
    if value < 0:
        raise ValueError(f"{name} is {value}: use 0 or more (1.0 turns this guidance off)")
    return value


def guidance_mode(cfg_text: float, cfg_image: float) -> str:
    """The official choice: image guidance ("both") above 1, else text CFG above 1, else the prompt alone."""
    if cfg_image > 1.0:
        return "image"
    return "text" if cfg_text > 1.0 else "none"


def combine(uncond_noisy: torch.Tensor, uncond: torch.Tensor, cond: torch.Tensor, cfg_text: float,
            cfg_image: float) -> torch.Tensor:
    """The official "both" guidance: ``u_noisy + s_img·(u − u_noisy) + s_txt·(c − u)``."""
    return uncond_noisy + cfg_image * (uncond - uncond_noisy) + cfg_text * (cond - uncond)


def _one_more_frame(samples: torch.Tensor) -> torch.Tensor:
    shape = list(samples.shape)
    shape[lay.frame_axis(samples.ndim)] += 1
    return torch.zeros(shape, dtype=torch.float32)


def noisy_first_frame(noise, samples: torch.Tensor, model_sampling, sigma0: float) -> torch.Tensor:
    """The start state's first frame [1, C, H, W] as the model sees it (x_T frame 0 of the official pipeline).

    ``noise`` is the NOISE that feeds the sampler and ``samples`` the sampled latent (without the first frame).
    A FrameInit noise with ``drop_first_frame`` gives the frame it drops (the official case: the same draw and
    FrameInit as the sampled frames). Any other NOISE is drawn for one frame more and its extra last frame is put
    at the first sigma as the sampler puts the others (for Gaussian and PYoCo mixed noise: one more frame of the
    same draw, correlated with the others as they are with each other)."""
    if samples.ndim != 4:
        raise ValueError(f"ConsistI2V Guider: SamplerCustomAdvanced's latent_image is {samples.ndim}-D "
                         f"{tuple(samples.shape)}; image guidance samples 4-D [frames, C, H, W] latents: connect "
                         "the latent output of 'ConsistI2V Conditioning'")
    if hasattr(noise, "drop_first_frame") and hasattr(noise, "state"):
        if not noise.drop_first_frame:
            raise NoiseInputError("this FrameInit Noise has drop_first_frame off, so it holds no first frame for "
                                  "image guidance; turn drop_first_frame on and give it the layout with the first "
                                  "frame (length frames), as the ConsistI2V workflows do")
        full = dataclasses.replace(noise, drop_first_frame=False).state(_one_more_frame(samples))
        return _finite(full.narrow(0, 0, 1).float())
    if not hasattr(noise, "generate_noise"):
        raise NoiseInputError("connect the NOISE that feeds SamplerCustomAdvanced (its start state gives the "
                              "noisy first frame of image guidance)")
    drawn = noise.generate_noise({"samples": _one_more_frame(samples)})
    if tuple(drawn.shape[1:]) != tuple(samples.shape[1:]) or drawn.shape[0] != samples.shape[0] + 1:
        raise NoiseInputError(f"it drew {tuple(drawn.shape)} for a {samples.shape[0] + 1}-frame latent; connect "
                              "the NOISE that feeds SamplerCustomAdvanced")
    sigma_max = float(model_sampling.sigma_max)
    affine = probe_affine(model_sampling, sigma0, is_max_denoise(sigma0, sigma_max))
    return _finite((affine.k * affine.a * drawn[-1:].double()).float())


def _finite(frame: torch.Tensor) -> torch.Tensor:
    if not torch.isfinite(frame).all():
        raise NoiseInputError("its first frame holds NaN or inf, which would make the whole video NaN; check "
                              "the NOISE node's inputs (layout, sigmas)")
    return frame
