"""ConsistI2V RoPE (consisti2v.md §1.5) against a scalar reference written from the spec."""
import math

import pytest
import torch

from kernels.rope import analytic_freqs, apply_rope

pytestmark = pytest.mark.unit


def rand(*shape, dtype=torch.float64, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


def reference_rope(x, freqs, positions):
    """x' = x cos(p f) + rot(x) sin(p f) on interleaved pairs (2j, 2j+1), freqs [f0, f0, f1, f1, ...]; float64."""
    x = x.double()
    out = x.clone()
    for i, p in enumerate(positions.tolist()):
        for j, f in enumerate(freqs.tolist()):
            a = p * f
            x0, x1 = x[..., i, 2 * j], x[..., i, 2 * j + 1]
            out[..., i, 2 * j] = x0 * math.cos(a) - x1 * math.sin(a)  # rot(x)_{2j} = -x_{2j+1}
            out[..., i, 2 * j + 1] = x1 * math.cos(a) + x0 * math.sin(a)  # rot(x)_{2j+1} = x_{2j}
    return out


@pytest.mark.parametrize("shape", [(3, 6, 16), (2, 3, 5, 16)], ids=str)
def test_rope_matches_spec_reference_fp32(shape):
    x = rand(*shape, dtype=torch.float32)
    freqs = analytic_freqs(shape[-1])
    positions = torch.arange(shape[-2])
    out = apply_rope(x, freqs, positions)
    assert out.shape == x.shape and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), reference_rope(x, freqs, positions), atol=1e-5, rtol=0)


def test_rope_matches_spec_reference_fp64_with_arbitrary_freqs_and_positions():
    x = rand(2, 5, 12)
    freqs = torch.tensor([1.3, 0.7, 0.05, 2.0])  # e.g. drifted checkpoint values, not the analytic ones
    positions = torch.tensor([0, 3, 1, 7, 2])
    out = apply_rope(x, freqs, positions)
    assert out.dtype == torch.float64
    # the kernel forms the angles p*f in float32 (then casts), so float64 agrees to ~1e-6, not 1e-12
    torch.testing.assert_close(out, reference_rope(x, freqs, positions), atol=1e-5, rtol=0)


def test_rope_rotation_direction_on_one_pair():
    x = torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=torch.float64)  # one token, two pairs
    out = apply_rope(x, torch.tensor([0.5, 0.25]), torch.tensor([2]))
    expected = torch.tensor([[math.cos(1.0), math.sin(1.0), -math.sin(0.5), math.cos(0.5)]], dtype=torch.float64)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_rope_leaves_channels_past_2n_unchanged():
    x = rand(4, 6, 20)
    freqs = torch.tensor([1.0, 0.5, 0.1])  # rotates channels [0, 6)
    out = apply_rope(x, freqs, torch.arange(6))
    assert torch.equal(out[..., 6:], x[..., 6:])
    assert not torch.allclose(out[..., 1:, :6], x[..., 1:, :6])


def test_rope_position_zero_is_identity():
    x = rand(3, 4, 16, dtype=torch.float32)
    assert torch.equal(apply_rope(x, analytic_freqs(16), torch.zeros(4, dtype=torch.long)), x)


def test_rope_preserves_pair_norms():
    x = rand(2, 8, 16)
    out = apply_rope(x, analytic_freqs(64)[:8], torch.arange(8))
    norms = lambda t: t.unflatten(-1, (-1, 2)).norm(dim=-1)  # noqa: E731
    torch.testing.assert_close(norms(out), norms(x), atol=1e-12, rtol=0)


def test_rope_scores_depend_only_on_relative_position():
    c = 32
    freqs = analytic_freqs(c)  # rotates channels [0, c/2)
    q, k = rand(1, c), rand(1, c, seed=1)

    def score(p1, p2):
        rq = apply_rope(q, freqs, torch.tensor([p1]))[0, : c // 2]
        rk = apply_rope(k, freqs, torch.tensor([p2]))[0, : c // 2]
        return float(rq @ rk)

    base = score(0, 3)
    for shift in (1, 4, 9, 12):
        assert score(shift, shift + 3) == pytest.approx(base, abs=1e-5)
    assert score(1, 2) == pytest.approx(score(14, 15), abs=1e-5)
    assert abs(score(0, 1) - base) > 1e-3  # a different offset gives a different score


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 2e-2), (torch.bfloat16, 1e-1)], ids=["fp16", "bf16"])
def test_rope_half_precision_keeps_dtype(dtype, tol):
    x = rand(2, 8, 16, dtype=dtype)
    freqs, positions = analytic_freqs(16), torch.arange(8)
    out = apply_rope(x, freqs, positions)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), reference_rope(x, freqs, positions), atol=tol, rtol=0)


@pytest.mark.parametrize("channels", [320, 640, 1280, 64])
def test_analytic_freqs_are_the_official_values(channels):
    freqs = analytic_freqs(channels)
    n = channels // 4
    assert freqs.shape == (n,)
    assert float(freqs[0]) == 1.0
    expected = torch.tensor([10000.0 ** (-2 * i / (channels / 2)) for i in range(n)], dtype=torch.float64)
    torch.testing.assert_close(freqs.double(), expected, rtol=1e-6, atol=0)
    assert (freqs[1:] < freqs[:-1]).all()


def test_analytic_freqs_320_has_80_values():
    assert analytic_freqs(320).numel() == 80
