import pytest
import torch

from kernels import pyoco

pytestmark = pytest.mark.unit


def frame_corr(noise5d, lag=None):
    """Correlation between frames (all pairs, or neighbours at ``lag``) of a [B,C,T,H,W] sample."""
    x = noise5d.double()
    t = x.shape[2]
    pairs = [(i, j) for i in range(t) for j in range(t) if (i < j if lag is None else j - i == lag)]
    return sum(float((x[:, :, i] * x[:, :, j]).mean()) for i, j in pairs) / len(pairs)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 1.5])
def test_mixed_unit_variance_and_correlation(alpha):
    noise = pyoco.video_noise((2, 4, 8, 64, 64), seed=7, alpha=alpha)
    assert float(noise.double().var()) == pytest.approx(1.0, abs=0.02)
    assert frame_corr(noise) == pytest.approx(alpha ** 2 / (1 + alpha ** 2), abs=0.02)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_progressive_unit_variance_and_neighbour_correlation(alpha):
    noise = pyoco.video_noise((2, 4, 8, 64, 64), seed=3, kind="pyoco_progressive", alpha=alpha)
    assert float(noise.double().var()) == pytest.approx(1.0, abs=0.02)
    rho = (alpha ** 2 / (1 + alpha ** 2)) ** 0.5
    assert frame_corr(noise, lag=1) == pytest.approx(rho, abs=0.02)
    assert frame_corr(noise, lag=3) == pytest.approx(rho ** 3, abs=0.02)


def test_gaussian_is_independent():
    noise = pyoco.video_noise((1, 4, 8, 64, 64), seed=3, kind="gaussian")
    assert abs(frame_corr(noise)) < 0.02


@pytest.mark.parametrize("kind", pyoco.NOISE_TYPES)
def test_seed_determinism(kind):
    a = pyoco.video_noise((5, 4, 8, 8), seed=11, kind=kind)
    assert torch.equal(a, pyoco.video_noise((5, 4, 8, 8), seed=11, kind=kind))
    assert not torch.equal(a, pyoco.video_noise((5, 4, 8, 8), seed=12, kind=kind))


@pytest.mark.parametrize("kind", pyoco.NOISE_TYPES)
def test_4d_is_the_5d_video_permuted(kind):
    four = pyoco.video_noise((6, 4, 5, 7), seed=5, kind=kind)
    five = pyoco.video_noise((1, 4, 6, 5, 7), seed=5, kind=kind)
    assert four.shape == (6, 4, 5, 7)
    assert torch.equal(four, five[0].permute(1, 0, 2, 3))


def test_dtype_and_official_draw_order():
    noise = pyoco.video_noise((1, 4, 3, 2, 2), seed=9, alpha=1.0, dtype=torch.float16)
    assert noise.dtype == torch.float16
    g = torch.Generator().manual_seed(9)
    shared = torch.randn(1, 4, 1, 2, 2, generator=g)
    own = torch.randn(1, 4, 3, 2, 2, generator=g)
    expected = shared * 0.5 ** 0.5 + own * 0.5 ** 0.5
    torch.testing.assert_close(noise.float(), expected, atol=2e-3, rtol=0)


def test_progressive_is_the_official_two_draw_recipe():
    """Restates the official `pyoco_progressive` (ConsistI2V pipeline_conditional_animation.py, single generator):
    latents = randn(shape); ind = randn(shape)·sqrt(1/(1+a²)); latents[:, :, j] = latents[:, :, j-1]·sqrt(a²/(1+a²))
    + ind[:, :, j] for j >= 1."""
    shape, alpha = (2, 4, 5, 3, 3), 1.5
    a2 = alpha ** 2
    g = torch.Generator().manual_seed(11)
    latents = torch.randn(shape, generator=g)
    ind = torch.randn(shape, generator=g) * (1 / (1 + a2)) ** 0.5
    for j in range(1, shape[2]):
        latents[:, :, j] = latents[:, :, j - 1] * (a2 / (1 + a2)) ** 0.5 + ind[:, :, j]
    ours = pyoco.video_noise(shape, seed=11, kind="pyoco_progressive", alpha=alpha)
    torch.testing.assert_close(ours, latents, atol=1e-6, rtol=0)


@pytest.mark.parametrize("shape, words", [((4, 4), "must be 4-D"), ((1, 2, 3, 4, 5, 6), "must be 4-D")])
def test_bad_shape(shape, words):
    with pytest.raises(ValueError, match=words):
        pyoco.video_noise(shape, seed=0)


def test_bad_alpha_and_kind():
    with pytest.raises(ValueError, match="pyoco_alpha = -1"):
        pyoco.video_noise((2, 4, 4, 4), seed=0, alpha=-1)
    with pytest.raises(ValueError, match="noise type 'pink' is unknown"):
        pyoco.video_noise((2, 4, 4, 4), seed=0, kind="pink")
