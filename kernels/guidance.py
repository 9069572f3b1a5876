"""Guidance rescale (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed") as the
DynamiCrafter sampler applies it: on the model outputs (v or eps), std over each whole video (pure torch)."""
from __future__ import annotations

import torch

from .text import quoted

PREDICTIONS = ("v", "eps")


def to_prediction(denoised: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor, kind: str) -> torch.Tensor:
    """The model output behind ``denoised`` at the (VE-scaled) input ``x``: v (sigma_data 1) or eps."""
    if kind == "v":
        return (x / (sigma ** 2 + 1) - denoised) * (sigma ** 2 + 1).sqrt() / sigma
    if kind == "eps":
        return (x - denoised) / sigma
    raise ValueError(f"prediction {quoted(kind)} is unknown: use one of {', '.join(PREDICTIONS)}")


def from_prediction(out: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor, kind: str) -> torch.Tensor:
    """Inverse of :func:`to_prediction`: the denoised latent of a model output."""
    if kind == "v":
        return x / (sigma ** 2 + 1) - out * sigma / (sigma ** 2 + 1).sqrt()
    if kind == "eps":
        return x - out * sigma
    raise ValueError(f"prediction {quoted(kind)} is unknown: use one of {', '.join(PREDICTIONS)}")


def rescaled_guidance(cond: torch.Tensor, uncond: torch.Tensor, scale: float, multiplier: float,
                      videos: int = 1) -> torch.Tensor:
    """``uncond + scale·(cond − uncond)`` with its std pulled towards ``cond``'s by ``multiplier``; the rows (frames)
    form ``videos`` equal groups, each normalised over all its frames as the official 5-D tensors are."""
    out = uncond + scale * (cond - uncond)
    if multiplier == 0:
        return out
    rows = out.shape[0]
    if videos < 1 or rows % videos:
        raise ValueError(f"{rows} latent frames do not split into {videos} videos")

    def std(t):
        s = t.reshape(videos, -1).std(dim=1)
        return s.repeat_interleave(rows // videos).view(-1, *([1] * (t.dim() - 1)))

    return multiplier * out * (std(cond) / std(out)) + (1 - multiplier) * out
