"""ConsistI2V's rotary position embedding for temporal attention (consisti2v.md §1.5).

``freqs`` holds C/4 frequencies (read from the checkpoint); they are repeated interleaved ``[f0, f0, f1, f1, ...]``
and rotate the first ``2 * len(freqs)`` channels of a projected query/key, *before* the head split, in interleaved
pairs: ``rot(x)_{2j} = -x_{2j+1}``, ``rot(x)_{2j+1} = x_{2j}``; ``x' = x cos(p f) + rot(x) sin(p f)``.
"""
from __future__ import annotations

import torch


def analytic_freqs(channels: int, theta: float = 10000.0) -> torch.Tensor:
    """The official initial values for a temporal attention of ``channels`` width: C/4 values theta^(-2i/(C/2))."""
    dim = channels // 2
    return 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))


def apply_rope(x: torch.Tensor, freqs: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` [..., L, C] at ``positions`` [L]; channels past ``2 * len(freqs)`` pass unchanged."""
    freqs = freqs.to(device=x.device, dtype=torch.float32)
    angles = positions.to(device=x.device, dtype=torch.float32)[:, None] * freqs[None]
    angles = angles.repeat_interleave(2, dim=-1).to(x.dtype)
    rot_dim = angles.shape[-1]
    head, tail = x[..., :rot_dim], x[..., rot_dim:]
    pairs = head.unflatten(-1, (-1, 2))
    rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    head = head * angles.cos() + rotated * angles.sin()
    return torch.cat((head, tail), dim=-1)
