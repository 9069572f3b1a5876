"""Latent layouts: which axes are time and space.

4-D latents are frames-as-batch ``[T, C, H, W]`` (SD, SVD, AnimateDiff, ConsistI2V);
5-D latents are ``[B, C, T, H, W]`` (Wan, LTX-Video, HunyuanVideo, Cosmos).
"""
from __future__ import annotations

import torch


def video_dims(ndim: int) -> tuple[int, int, int]:
    """The (time, height, width) axes of a latent with ``ndim`` dimensions."""
    if ndim == 4:
        return (0, 2, 3)
    if ndim == 5:
        return (2, 3, 4)
    raise ValueError(
        f"a video latent must be 4-D [frames, C, H, W] or 5-D [B, C, frames, H, W]; got {ndim}-D"
    )


def frame_axis(ndim: int) -> int:
    return video_dims(ndim)[0]


def frame_count(latent: torch.Tensor) -> int:
    return latent.shape[frame_axis(latent.ndim)]


def video_size(latent: torch.Tensor) -> tuple[int, int, int]:
    """(frames, height, width) of a 4-D or 5-D latent."""
    return tuple(latent.shape[d] for d in video_dims(latent.ndim))


def drop_first_frame(latent: torch.Tensor) -> torch.Tensor:
    return latent.narrow(frame_axis(latent.ndim), 1, frame_count(latent) - 1)


def to_bcthw(latent: torch.Tensor) -> torch.Tensor:
    """View a 4-D frames-as-batch latent as one 5-D video ``[1, C, T, H, W]``."""
    if latent.ndim == 5:
        return latent
    video_dims(latent.ndim)
    return latent.permute(1, 0, 2, 3).unsqueeze(0)


def from_bcthw(video: torch.Tensor, ndim: int) -> torch.Tensor:
    """Inverse of :func:`to_bcthw` for a latent that had ``ndim`` dimensions."""
    if ndim == 5:
        return video
    return video.squeeze(0).permute(1, 0, 2, 3).contiguous()


def check_finite(values: torch.Tensor, name: str, fix: str) -> None:
    """Refuse a tensor that holds NaN or ±inf, naming the input (``name``) and saying how to fix it (``fix``)."""
    if not values.is_floating_point():
        return
    bad = ~torch.isfinite(values)
    if bool(bad.any()):
        nan = int(torch.isnan(values).sum())
        raise ValueError(f"{name} holds {nan} NaN and {int(bad.sum()) - nan} infinite value(s) "
                         f"(of {values.numel()}): {fix}")
