"""Autoregressive long video (ConsistI2V spec §6): N chunks, each conditioned on the previous chunk's last
generated latent frame (no VAE round trip), chunks overlapping by ``overlap`` frames.

The loop is model-agnostic: the caller supplies ``sample_chunk(k, condition) -> chunk`` (ComfyUI sampling in the
node, a stub in tests). Finished chunks live on the CPU in one preallocated output tensor, so memory beyond the
result itself is one chunk whatever the number of chunks.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

ANCHOR_EPS = 1e-6


def total_frames(chunks: int, chunk_frames: int, overlap: int) -> int:
    """Frames of the joined video: ``chunks·(T − overlap) + overlap`` (46 for 3 × 16 with overlap 1)."""
    return chunks * (chunk_frames - overlap) + overlap


def check_chunking(chunks: int, overlap: int, chunk_frames: Optional[int] = None) -> None:
    if int(chunks) != chunks or chunks < 1:
        raise ValueError(f"chunks is {chunks}: it must be an integer >= 1 (1 = a single ordinary video)")
    if int(overlap) != overlap or overlap < 0:
        raise ValueError(f"overlap is {overlap}: it must be an integer >= 0 (1 = ConsistI2V's one shared frame)")
    if chunk_frames is not None and overlap >= chunk_frames:
        raise ValueError(
            f"overlap is {overlap} but a chunk has only {chunk_frames} frame(s): overlap must be smaller than the "
            f"chunk length; lower overlap (1 is usual) or sample longer chunks (more video_frames)")


def last_frame(chunk: torch.Tensor, frame_axis: int) -> torch.Tensor:
    """The last frame of ``chunk`` with the frame axis kept (length 1), as a contiguous copy."""
    return chunk.narrow(frame_axis, chunk.shape[frame_axis] - 1, 1).detach().clone().contiguous()


def _channel_stats(x: torch.Tensor, channel_axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over every other axis, shaped to broadcast against ``x``."""
    dims = [d for d in range(x.ndim) if d != channel_axis]
    x = x.double()
    return x.mean(dim=dims, keepdim=True), x.std(dim=dims, keepdim=True, unbiased=False)


def anchor_colour(chunk: torch.Tensor, reference: torch.Tensor, channel_axis: int = 1) -> torch.Tensor:
    """Match ``chunk``'s per-channel latent mean/std (pooled over frames and space) to ``reference``'s.

    In an SD-style VAE latent the channel means carry the overall colour and brightness and the channel stds
    the contrast, so this pulls a drifting chunk back to the first frame's palette without touching its
    structure (an affine map per channel). Done in latent space: no decode. A constant channel (std 0) is only
    shifted.
    """
    mean, std = _channel_stats(chunk, channel_axis)
    ref_mean, ref_std = _channel_stats(reference, channel_axis)
    scale = torch.where(std > ANCHOR_EPS, ref_std / std.clamp_min(ANCHOR_EPS), torch.ones_like(std))
    return ((chunk.double() - mean) * scale + ref_mean).to(chunk.dtype)


def autoregressive_video(
    sample_chunk: Callable[[int, torch.Tensor], torch.Tensor],
    first_condition: torch.Tensor,
    chunks: int,
    overlap: int,
    frame_axis: int,
    anchor: bool = False,
    progress: Optional[Callable[[int], None]] = None,
    channel_axis: int = 1,
) -> torch.Tensor:
    """Generate ``chunks`` chunks autoregressively and join them into one video on the CPU.

    - chunk 0 is sampled from ``first_condition``; chunk k > 0 from the last frame (frame axis kept, length 1)
      of chunk k − 1 *as it appears in the result* (after anchoring);
    - every chunk after the first loses its ``overlap`` leading frames (they re-generate the condition frame),
      so the result has ``chunks·(T − overlap) + overlap`` frames;
    - ``anchor``: each later chunk's per-channel latent mean/std is matched to the first chunk's first frame
      (:func:`anchor_colour`) before it is stored and before its last frame conditions the next chunk;
    - ``progress(k)`` is called after chunk k (0-based) is stored: the place for progress bars and
      interruption checks.

    Every chunk must have the shape of the first. The output is allocated once, after the first chunk; each
    chunk is copied in and released, so memory beyond the result is one chunk.
    """
    check_chunking(chunks, overlap)
    result = None
    reference = None
    condition = first_condition
    start = 0
    for k in range(chunks):
        chunk = sample_chunk(k, condition)
        if not isinstance(chunk, torch.Tensor):
            raise TypeError(f"sample_chunk returned {type(chunk).__name__} for chunk {k}, expected a tensor")
        chunk = chunk.detach().cpu()
        if k == 0:
            if not 0 <= frame_axis < chunk.ndim:
                raise ValueError(f"frame_axis {frame_axis} is outside the {chunk.ndim}-D chunk {tuple(chunk.shape)}")
            frames = chunk.shape[frame_axis]
            check_chunking(chunks, overlap, frames)
            shape = list(chunk.shape)
            shape[frame_axis] = total_frames(chunks, frames, overlap)
            result = torch.empty(shape, dtype=chunk.dtype)
            first_shape = tuple(chunk.shape)
            if anchor:
                reference = chunk.narrow(frame_axis, 0, 1).clone()
            keep = chunk
        else:
            if tuple(chunk.shape) != first_shape:
                raise ValueError(
                    f"chunk {k} has shape {tuple(chunk.shape)} but the first chunk had {first_shape}: every chunk "
                    "must be sampled with the same latent size")
            if anchor:
                chunk = anchor_colour(chunk, reference, channel_axis)
            keep = chunk.narrow(frame_axis, overlap, frames - overlap)
        n = keep.shape[frame_axis]
        result.narrow(frame_axis, start, n).copy_(keep)
        start += n
        condition = last_frame(chunk, frame_axis)
        del chunk, keep
        if progress is not None:
            progress(k)
    assert start == result.shape[frame_axis]
    return result


def layout_slice(layout: torch.Tensor, k: int, chunk_frames: int, overlap: int, frame_axis: int) -> torch.Tensor:
    """Chunk k's part of a layout video that spans the whole long clip: frames ``[k(T − o), k(T − o) + T)``."""
    step = chunk_frames - overlap
    return layout.narrow(frame_axis, k * step, chunk_frames)


def check_long_layout(layout: torch.Tensor, chunks: int, chunk_frames: int, overlap: int, frame_axis: int) -> None:
    want = total_frames(chunks, chunk_frames, overlap)
    have = layout.shape[frame_axis] if 0 <= frame_axis < layout.ndim else None
    if have != want:
        raise ValueError(
            f"camera_layout has {have} frame(s) but {chunks} chunk(s) of {chunk_frames} frames with overlap "
            f"{overlap} make {want}: make the camera layout video {want} frames long (chunks·(frames − overlap) "
            "+ overlap) and VAE Encode it, or disconnect camera_layout to use the static layout")
