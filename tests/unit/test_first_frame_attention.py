"""First-frame attention kernels (consisti2v.md §3) against straightforward, copy-materialising references.

The references follow the official ConsistI2V recipe: frame 0's tokens are concatenated onto every frame's keys and
values, and frame 0's K x K window is gathered per pixel, then plain softmax attention is run per row and head.
"""
import functools
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from kernels.first_frame_attention import (first_frame_window, spatial_first_frame_attention,
                                           window_temporal_attention)

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True, params=[None, False], ids=["fused", "chunked"])
def spatial_path(request, monkeypatch):
    """Run every test on both spatial paths: fused kernels merged by log-sum-exp, and the query-chunked one."""
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "spatial_first_frame_attention",
                        functools.partial(spatial_first_frame_attention, fused=request.param))


def rand(*shape, dtype=torch.float64, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


def mha(q, k, v, heads):
    """Reference multi-head attention of one sequence: q [L, C], k/v [S, C]; explicit softmax, scale 1/sqrt(C/heads)."""
    length, channels = q.shape
    d = channels // heads
    out = torch.empty_like(q)
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        scores = q[:, cols] @ k[:, cols].T / math.sqrt(d)
        weights = torch.exp(scores - scores.max(-1, keepdim=True).values)
        weights = weights / weights.sum(-1, keepdim=True)
        out[:, cols] = weights @ v[:, cols]
    return out


def reference_spatial(q, k, v, heads, frames):
    """Row r of video g attends over cat(k[r], k[g * frames]) (values likewise), materialised per row."""
    out = torch.empty_like(q)
    for r in range(q.shape[0]):
        first = (r // frames) * frames
        out[r] = mha(q[r], torch.cat((k[r], k[first]), 0), torch.cat((v[r], v[first]), 0), heads)
    return out


def qkv(groups, frames, n, s, c, dtype=torch.float64, seed=0):
    rows = groups * frames
    return (rand(rows, n, c, dtype=dtype, seed=seed), rand(rows, s, c, dtype=dtype, seed=seed + 1),
            rand(rows, s, c, dtype=dtype, seed=seed + 2))


# ---------------------------------------------------------------- spatial first-frame attention


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-10), (torch.float32, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("n,s", [(6, 6), (6, 15)], ids=["S=N=2x3", "S>N"])
@pytest.mark.parametrize("frames", [1, 3, 5])
def test_spatial_matches_concatenated_reference(frames, n, s, heads, dtype, atol):
    q, k, v = qkv(2, frames, n, s, 8, dtype)  # G=2: a CFG pair whose frame 0s differ
    assert not torch.equal(k[0], k[frames]) and not torch.equal(v[0], v[frames])
    out = spatial_first_frame_attention(q, k, v, heads, frames)
    assert out.shape == q.shape and out.dtype == dtype
    expected = reference_spatial(q.double(), k.double(), v.double(), heads, frames)
    torch.testing.assert_close(out.double(), expected, atol=atol, rtol=0)


@pytest.mark.parametrize("budget", [1, 3000, 7000, 20000])
def test_spatial_query_chunking_gives_the_same_result(budget):
    q, k, v = qkv(2, 3, 7, 9, 8)
    whole = spatial_first_frame_attention(q, k, v, 2, 3)
    chunked = spatial_first_frame_attention(q, k, v, 2, 3, budget_bytes=budget)
    torch.testing.assert_close(chunked, whole, atol=1e-12, rtol=0)
    torch.testing.assert_close(chunked, reference_spatial(q, k, v, 2, 3), atol=1e-10, rtol=0)


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)], ids=["fp16", "bf16"])
def test_spatial_half_precision_returns_input_dtype_close_to_fp32(dtype, tol):
    q, k, v = qkv(2, 3, 6, 6, 16, dtype)
    out = spatial_first_frame_attention(q, k, v, 4, 3)
    assert out.dtype == dtype
    fp32 = spatial_first_frame_attention(q.float(), k.float(), v.float(), 4, 3)
    torch.testing.assert_close(out.float(), fp32, atol=tol, rtol=tol)


@pytest.mark.parametrize("frames", [1, 4])
def test_spatial_frame0_is_plain_self_attention(frames):
    q, k, v = qkv(2, frames, 6, 6, 8)
    out = spatial_first_frame_attention(q, k, v, 2, frames)
    for g in range(2):
        r = g * frames
        torch.testing.assert_close(out[r], mha(q[r], k[r], v[r], 2), atol=1e-10, rtol=0)


def test_spatial_each_video_uses_its_own_frame0():
    frames = 3
    q, k, v = qkv(2, frames, 6, 6, 8)
    out = spatial_first_frame_attention(q, k, v, 2, frames)
    swap = torch.tensor([frames, 1, 2, 0, frames + 1, frames + 2])  # exchange the two videos' frame 0
    swapped = spatial_first_frame_attention(q[swap], k[swap], v[swap], 2, frames)
    # frame 0 only sees itself: it moves with the swap unchanged
    torch.testing.assert_close(swapped[0], out[frames], atol=1e-12, rtol=0)
    torch.testing.assert_close(swapped[frames], out[0], atol=1e-12, rtol=0)
    # the other frames now attend to the other video's frame 0
    for r in (1, 2, frames + 1, frames + 2):
        assert (swapped[r] - out[r]).abs().max() > 1e-3, r
    torch.testing.assert_close(swapped, reference_spatial(q[swap], k[swap], v[swap], 2, frames), atol=1e-10, rtol=0)


def test_spatial_videos_are_independent():
    frames = 3
    q, k, v = qkv(2, frames, 6, 6, 8)
    out = spatial_first_frame_attention(q, k, v, 2, frames)
    k2, v2 = k.clone(), v.clone()
    k2[frames] += 1.0  # perturb video 1's frame 0 keys/values only
    v2[frames] -= 1.0
    changed = spatial_first_frame_attention(q, k2, v2, 2, frames)
    torch.testing.assert_close(changed[:frames], out[:frames], atol=1e-12, rtol=0)
    assert (changed[frames:] - out[frames:]).abs().amin(dim=(1, 2)).gt(0).all()


@pytest.mark.parametrize("rows,frames", [(5, 3), (4, 0), (7, 2)])
def test_spatial_rejects_rows_not_divisible_by_frames(rows, frames):
    q = rand(rows, 4, 8)
    with pytest.raises(ValueError):
        spatial_first_frame_attention(q, q, q, 2, frames)


# ---------------------------------------------------------------- frame-0 window


def official_window(x, height, width, window):
    """The official recipe: frame 0 -> [G, C, h, w], replicate pad, unfold twice, boolean mask drops the centre."""
    rows, _, c = x.shape
    groups = rows // (height * width)
    first = x[:, 0].reshape(groups, height * width, c).permute(0, 2, 1).reshape(groups, c, height, width)
    p = window // 2
    padded = F.pad(first, (p, p, p, p), mode="replicate")
    patches = padded.unfold(2, window, 1).unfold(3, window, 1)  # [G, C, h, w, K, K]
    patches = patches.reshape(groups, c, height, width, window * window)
    keep = torch.ones(window * window, dtype=torch.bool)
    keep[window * window // 2] = False
    patches = patches[..., keep]  # [G, C, h, w, K*K-1]
    return patches.permute(0, 2, 3, 4, 1).reshape(rows, window * window - 1, c)


def clamped_window(x, height, width, window):
    """Scalar index version: neighbour (y+dy, x+dx) clamped to the image, row-major (dy, dx), centre skipped."""
    rows, _, c = x.shape
    out = torch.empty(rows, window * window - 1, c, dtype=x.dtype)
    p = window // 2
    for r in range(rows):
        base, pix = divmod(r, height * width)
        y, xx = divmod(pix, width)
        j = 0
        for dy in range(-p, p + 1):
            for dx in range(-p, p + 1):
                if dy == 0 and dx == 0:
                    continue
                ny, nx = min(max(y + dy, 0), height - 1), min(max(xx + dx, 0), width - 1)
                out[r, j] = x[base * height * width + ny * width + nx, 0]
                j += 1
    return out


@pytest.mark.parametrize("window", [3, 5])
@pytest.mark.parametrize("height,width", [(4, 4), (3, 5), (5, 2)], ids=str)
def test_window_matches_official_recipe(height, width, window):
    x = rand(2 * height * width, 3, 6)  # G=2 videos, T=3
    out = first_frame_window(x, height, width, window)
    assert out.shape == (2 * height * width, window * window - 1, 6)
    assert torch.equal(out, official_window(x, height, width, window))
    assert torch.equal(out, clamped_window(x, height, width, window))


def test_window_corner_replicates_edges():
    height, width = 3, 5
    x = rand(height * width, 2, 4)
    frame0 = x[:, 0].reshape(height, width, 4)
    out = first_frame_window(x, height, width, 3)
    top_left = out[0]  # neighbours (dy, dx) row-major without the centre
    expected = torch.stack([frame0[0, 0], frame0[0, 0], frame0[0, 1],
                            frame0[0, 0], frame0[0, 1],
                            frame0[1, 0], frame0[1, 0], frame0[1, 1]])
    assert torch.equal(top_left, expected)
    bottom_right = out[height * width - 1]
    expected = torch.stack([frame0[1, 3], frame0[1, 4], frame0[1, 4],
                            frame0[2, 3], frame0[2, 4],
                            frame0[2, 3], frame0[2, 4], frame0[2, 4]])
    assert torch.equal(bottom_right, expected)


def test_window_reads_frame0_only():
    x = rand(2 * 12, 4, 4)
    y = x.clone()
    y[:, 1:] = rand(2 * 12, 3, 4, seed=9)
    assert torch.equal(first_frame_window(x, 3, 4, 3), first_frame_window(y, 3, 4, 3))


@pytest.mark.parametrize("window", [2, 4, 1, 0, -3])
def test_window_rejects_even_or_small_sizes(window):
    with pytest.raises(ValueError):
        first_frame_window(rand(9, 2, 4), 3, 3, window)



def test_window_rejects_rows_not_divisible_by_pixels():
    with pytest.raises(ValueError):
        first_frame_window(rand(10, 2, 4), 3, 3, 3)

# ---------------------------------------------------------------- window temporal attention


def reference_window_temporal(q, k, v, heads, height, width, window):
    wk, wv = clamped_window(k, height, width, window), clamped_window(v, height, width, window)
    return torch.stack([mha(q[r], torch.cat((k[r], wk[r]), 0), torch.cat((v[r], wv[r]), 0), heads)
                        for r in range(q.shape[0])])


@pytest.mark.parametrize("window", [3, 5])
@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("height,width", [(3, 3), (2, 4)], ids=str)
def test_window_temporal_matches_reference(height, width, heads, window):
    rows = 2 * height * width
    q, k, v = rand(rows, 4, 8), rand(rows, 4, 8, seed=1), rand(rows, 4, 8, seed=2)
    out = window_temporal_attention(q, k, v, heads, height, width, window)
    assert out.shape == q.shape
    torch.testing.assert_close(out, reference_window_temporal(q, k, v, heads, height, width, window),
                               atol=1e-10, rtol=0)


def test_window_temporal_uses_custom_attention_callable():
    height, width, window, frames = 2, 3, 3, 4
    rows = 2 * height * width
    q, k, v = rand(rows, frames, 8), rand(rows, frames, 8, seed=1), rand(rows, frames, 8, seed=2)
    calls = []

    def attention(q_, k_, v_, heads):
        calls.append((q_.shape, k_.shape, v_.shape, heads))
        return torch.stack([mha(a, b, c, heads) for a, b, c in zip(q_, k_, v_)])

    out = window_temporal_attention(q, k, v, 2, height, width, window, attention=attention)
    assert calls == [((rows, frames, 8), (rows, frames + 8, 8), (rows, frames + 8, 8), 2)]
    torch.testing.assert_close(out, reference_window_temporal(q, k, v, 2, height, width, window),
                               atol=1e-10, rtol=0)


def test_fused_path_is_used_on_cpu():
    """The pinned torch has the fused CPU kernel with log-sum-exp, so the 'fused' runs above really test it."""
    from kernels.first_frame_attention import _fused_available

    assert _fused_available(torch.device("cpu"), torch.float32)
    assert _fused_available(torch.device("cpu"), torch.float64)
