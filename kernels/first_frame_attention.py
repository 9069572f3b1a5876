"""First-frame attention of ConsistI2V (consisti2v.md §3), on projected queries/keys/values.

Spatial: the tokens of every frame attend to their own keys/values *and* to those of frame 0 of the same video.
Frame 0's keys are broadcast to the other frames (never copied per frame) and the two key sets share one softmax,
computed in query chunks so that the score memory stays bounded.

Window temporal: per pixel, the frames attend over time plus the K x K neighbourhood of that pixel in frame 0
(replicate padding, centre left out since it is frame 0's own token). The window keys are gathered once per pixel.

Batches are videos stacked frame-major: row ``g * frames + f`` is frame f of video g, so each CFG chunk (cond,
uncond) uses its own frame 0.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

SCORE_BUDGET_BYTES = 256 * 1024 * 1024


def _check_frames(rows: int, frames: int, what: str) -> int:
    if frames < 1 or rows % frames:
        raise ValueError(f"{what}: {rows} rows are not a whole number of {frames}-frame videos")
    return rows // frames


def _fused_with_lse(q, k, v):
    """Fused attention on [B, H, L, d] that also returns the log-sum-exp of the scores (natural log), or None."""
    if q.device.type == "cpu":
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)[:2]
    elif q.device.type == "cuda":
        out, lse = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, None, True)[:2]
    else:
        return None
    return out, lse[..., : q.shape[-2]]


_FUSED_OK: dict = {}


def _fused_available(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether the private fused-with-lse ops exist and agree with plain softmax attention here (checked once)."""
    key = (device.type, dtype)
    if key not in _FUSED_OK:
        try:
            gen = torch.Generator().manual_seed(0)
            q, k, v = (torch.randn(1, 2, 5, 8, generator=gen).to(device, dtype) for _ in range(3))
            out, lse = _fused_with_lse(q, k, v)
            scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(8)
            ref_out = torch.softmax(scores, -1) @ v.float()
            tol = 1e-4 if dtype == torch.float32 else 2e-2
            _FUSED_OK[key] = bool(torch.allclose(lse.float(), torch.logsumexp(scores, -1), atol=tol)
                                  and torch.allclose(out.float(), ref_out, atol=tol))
        except Exception:  # noqa: BLE001 - missing op / unsupported dtype: use the plain path
            _FUSED_OK[key] = False
    return _FUSED_OK[key]


def _spatial_fused(q, k, v, heads, groups, frames):
    """Two fused attention calls (own keys; all frames of a video against frame 0's keys) merged by their
    log-sum-exp. Frame 0's keys are never repeated per frame."""
    rows, n, c = q.shape
    s, d = k.shape[1], c // heads
    split = lambda t, length: t.view(groups, frames, length, heads, d)  # noqa: E731
    qh, kh, vh = split(q, n), split(k, s), split(v, s)
    per_frame = lambda t, length: t.permute(0, 1, 3, 2, 4).reshape(rows, heads, length, d)  # noqa: E731
    out_own, lse_own = _fused_with_lse(per_frame(qh, n), per_frame(kh, s), per_frame(vh, s))
    q_video = qh.permute(0, 3, 1, 2, 4).reshape(groups, heads, frames * n, d)
    first = lambda t: t[:, 0].permute(0, 2, 1, 3)  # noqa: E731
    out_first, lse_first = _fused_with_lse(q_video, first(kh), first(vh))
    out_first = out_first.view(groups, heads, frames, n, d).transpose(1, 2).reshape(rows, heads, n, d)
    lse_first = lse_first.view(groups, heads, frames, n).transpose(1, 2).reshape(rows, heads, n)
    work = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
    lse_own, lse_first = lse_own.to(work), lse_first.to(work)
    top = torch.maximum(lse_own, lse_first)
    w_own, w_first = (lse_own - top).exp().unsqueeze(-1), (lse_first - top).exp().unsqueeze(-1)
    out = (out_own.to(work) * w_own + out_first.to(work) * w_first) / (w_own + w_first)
    return out.to(q.dtype).transpose(1, 2).reshape(rows, n, c)


def spatial_first_frame_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, frames: int,
                                  budget_bytes: int = SCORE_BUDGET_BYTES, fused: bool | None = None) -> torch.Tensor:
    """q [G*frames, N, C], k/v [G*frames, S, C] -> [G*frames, N, C].

    Equals softmax attention of each row over ``cat(k_row, k_frame0)`` (values likewise) with scale 1/sqrt(C/heads).
    ``fused``: None = fused attention kernels when available (checked once per device/dtype), False = the plain
    query-chunked path (scores held within ``budget_bytes``).
    """
    rows, n, c = q.shape
    groups = _check_frames(rows, frames, "first-frame attention")
    if fused is not False and _fused_available(q.device, q.dtype):
        return _spatial_fused(q, k, v, heads, groups, frames)
    s = k.shape[1]
    d = c // heads
    scale = 1.0 / math.sqrt(d)
    work = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
    qh = q.view(groups, frames, n, heads, d)
    kh = k.view(groups, frames, s, heads, d)
    vh = v.view(groups, frames, s, heads, d)
    k0, v0 = kh[:, 0], vh[:, 0]
    out = torch.empty_like(qh)
    per_query = groups * frames * heads * 2 * s * torch.finfo(work).bits // 8 * 3
    step = max(1, min(n, budget_bytes // max(per_query, 1)))
    for start in range(0, n, step):
        qc = qh[:, :, start:start + step].to(work) * scale
        own = torch.einsum("gfnhd,gfshd->gfhns", qc, kh.to(work))
        first = torch.einsum("gfnhd,gshd->gfhns", qc, k0.to(work))
        top = torch.maximum(own.amax(-1, keepdim=True), first.amax(-1, keepdim=True))
        own = (own - top).exp_()
        first = (first - top).exp_()
        norm = own.sum(-1) + first.sum(-1)
        mixed = torch.einsum("gfhns,gfshd->gfnhd", own, vh.to(work))
        mixed += torch.einsum("gfhns,gshd->gfnhd", first, v0.to(work))
        out[:, :, start:start + step] = (mixed / norm.permute(0, 1, 3, 2).unsqueeze(-1)).to(q.dtype)
    return out.view(rows, n, c)


def first_frame_window(x: torch.Tensor, height: int, width: int, window: int) -> torch.Tensor:
    """x [G*h*w, T, C] (temporal token layout) -> [G*h*w, K*K-1, C]: frame 0's K x K neighbourhood of each pixel,
    replicate-padded, centre removed, in row-major window order."""
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window_size must be an odd number >= 3, got {window}")
    rows, _, c = x.shape
    groups = _check_frames(rows, height * width, "window temporal attention")
    first = x[:, 0].reshape(groups, height, width, c).permute(0, 3, 1, 2)
    pad = window // 2
    padded = F.pad(first, (pad, pad, pad, pad), mode="replicate")
    patches = padded.unfold(2, window, 1).unfold(3, window, 1).flatten(-2)
    centre = window * window // 2
    patches = torch.cat((patches[..., :centre], patches[..., centre + 1:]), dim=-1)
    return patches.permute(0, 2, 3, 4, 1).reshape(rows, window * window - 1, c)


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """Plain multi-head attention on [B, L, C] tensors (the pure-torch default backend)."""
    b, _, c = q.shape
    d = c // heads
    split = lambda t: t.view(b, -1, heads, d).transpose(1, 2)  # noqa: E731
    out = F.scaled_dot_product_attention(split(q), split(k), split(v))
    return out.transpose(1, 2).reshape(b, -1, c)


def window_temporal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, height: int,
                              width: int, window: int = 3,
                              attention: Callable[..., torch.Tensor] = sdpa) -> torch.Tensor:
    """q/k/v [G*h*w, T, C]: attention over the T frames plus frame 0's K x K window (K*K-1 extra keys).

    Keys must already carry their positions; window keys are frame 0's keys, i.e. at position 0."""
    keys = torch.cat((k, first_frame_window(k, height, width, window)), dim=1)
    values = torch.cat((v, first_frame_window(v, height, width, window)), dim=1)
    return attention(q, keys, values, heads)
