"""PYoCo video noise priors (Ge et al. 2023), as ConsistI2V uses them.

mixed:        eps_f = sqrt(a²/(1+a²))·eps_shared + sqrt(1/(1+a²))·eta_f
progressive:  eps_0 = eta_0,  eps_f = sqrt(a²/(1+a²))·eps_(f-1) + sqrt(1/(1+a²))·eta_f

Both have unit variance per element; mixed frames correlate by a²/(1+a²) (0.5 at a = 1, the
ConsistI2V default), progressive neighbours by sqrt(a²/(1+a²)). Draws use a CPU generator in the
official order (mixed: shared [B,C,1,H,W] first, then independent [B,C,T,H,W]; progressive: a whole
[B,C,T,H,W] draw whose frame 0 starts the chain, then the [B,C,T,H,W] draw whose frames 1.. continue it),
so a seed reproduces the official noise where the official code draws on the CPU (on a GPU it uses the
CUDA generator: other numbers, same distribution); 4-D frames-as-batch latents get the same numbers as the
5-D video [1,C,T,H,W].
"""
from __future__ import annotations

import math

import torch

from .layout import from_bcthw, video_dims
from .text import quoted

NOISE_TYPES = ("pyoco_mixed", "pyoco_progressive", "gaussian")


def _bcthw_shape(shape: tuple[int, ...]) -> tuple[int, int, int, int, int]:
    video_dims(len(shape))
    if len(shape) == 4:
        t, c, h, w = shape
        return (1, c, t, h, w)
    return tuple(shape)


def check_alpha(alpha: float) -> None:
    if not (0.0 <= float(alpha) <= 100.0) or math.isnan(float(alpha)):
        raise ValueError(f"pyoco_alpha = {alpha} is out of range: use a value in [0, 100] (ConsistI2V uses 1.0)")


def video_noise(shape, seed: int, kind: str = "pyoco_mixed", alpha: float = 1.0,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Noise for a 4-D ``[T,C,H,W]`` or 5-D ``[B,C,T,H,W]`` latent, on the CPU."""
    if kind not in NOISE_TYPES:
        raise ValueError(f"noise type {quoted(kind)} is unknown: use one of {', '.join(NOISE_TYPES)}")
    check_alpha(alpha)
    shape = tuple(int(s) for s in shape)
    b, c, t, h, w = _bcthw_shape(shape)
    gen = torch.Generator("cpu").manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)
    a2 = float(alpha) ** 2
    shared_w, own_w = math.sqrt(a2 / (1 + a2)), math.sqrt(1 / (1 + a2))
    if kind == "gaussian":
        video = torch.randn((b, c, t, h, w), generator=gen)
    elif kind == "pyoco_mixed":
        shared = torch.randn((b, c, 1, h, w), generator=gen) * shared_w
        video = shared + torch.randn((b, c, t, h, w), generator=gen) * own_w
    else:
        start = torch.randn((b, c, t, h, w), generator=gen)  # the official code keeps only its frame 0
        eta = torch.randn((b, c, t, h, w), generator=gen)
        frames = [start[:, :, 0]]
        for f in range(1, t):
            frames.append(shared_w * frames[-1] + own_w * eta[:, :, f])
        video = torch.stack(frames, dim=2)
    return from_bcthw(video, len(shape)).to(dtype)
