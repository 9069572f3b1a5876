import math

import pytest
import torch

from kernels import spectral

pytestmark = pytest.mark.unit


def formula(kind, size, idx, d_s, d_t, n, official):
    """Independent scalar evaluation of the filter formulas at one shifted-grid index."""
    u = []
    for k, N in zip(idx, size):
        u.append(2 * k / N - 1 if official else 2 * (k - N // 2) / N)
    if d_s == 0 or d_t == 0:
        return 0.0
    if kind == "box":
        if official:
            r_t, r_s = round((size[0] // 2) * d_t), round((size[1] // 2) * d_s)
            c = [N // 2 for N in size]
            return float(c[0] - r_t <= idx[0] < c[0] + r_t and c[1] - r_s <= idx[1] < c[1] + r_s
                         and c[2] - r_s <= idx[2] < c[2] + r_s)
        return float(abs(u[0]) <= d_t and abs(u[1]) <= d_s and abs(u[2]) <= d_s)
    d2 = ((d_s / d_t) * u[0]) ** 2 + u[1] ** 2 + u[2] ** 2
    if kind == "gaussian":
        return math.exp(-d2 / (2 * d_s ** 2))
    if kind == "butterworth":
        return 1 / (1 + (d2 / d_s ** 2) ** n)
    return float(d2 <= (2 * d_s if official else d_s ** 2))


@pytest.mark.parametrize("official", [False, True], ids=["default", "official"])
@pytest.mark.parametrize("kind", spectral.FILTER_TYPES)
@pytest.mark.parametrize("size", [(16, 16, 16), (15, 45, 33), (5, 8, 12)], ids=str)
def test_filter_matches_formula(kind, size, official):
    d_s, d_t, n = 0.3, 0.45, 3
    filt = spectral.lowpass_filter(size, kind, d_s, d_t, n, official)
    assert filt.shape == size and filt.dtype == torch.float32
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        idx = tuple(int(torch.randint(0, s, (1,), generator=gen)) for s in size)
        expected = formula(kind, size, idx, d_s, d_t, n, official)
        assert float(filt[idx]) == pytest.approx(expected, abs=1e-6), idx


@pytest.mark.parametrize("kind", spectral.FILTER_TYPES)
@pytest.mark.parametrize("size", [(15, 45, 33), (16, 16, 16), (7, 10, 9)], ids=str)
def test_default_filter_is_centred_and_hermitian(kind, size):
    filt = spectral.lowpass_filter(size, kind, 0.25, 0.25)
    assert float(filt[tuple(n // 2 for n in size)]) == 1.0
    unshifted = torch.fft.ifftshift(filt)
    mirrored = torch.flip(unshifted, dims=(0, 1, 2)).roll(shifts=(1, 1, 1), dims=(0, 1, 2))  # H(-k)
    assert torch.equal(unshifted, mirrored)


def test_official_filter_keeps_its_odd_size_quirk():
    filt = spectral.lowpass_filter((15, 45, 33), "gaussian", 0.25, 0.25, official=True)
    assert filt.max() < 0.96  # the DC bin is off-grid in the official coordinates


@pytest.mark.parametrize("zero", ["d_s", "d_t"])
@pytest.mark.parametrize("kind", spectral.FILTER_TYPES)
def test_zero_cutoff_gives_zero_filter(kind, zero):
    args = {"d_s": 0.25, "d_t": 0.25, zero: 0.0}
    assert spectral.lowpass_filter((8, 8, 8), kind, **args).abs().sum() == 0


@pytest.mark.parametrize("official", [False, True])
@pytest.mark.parametrize("shape", [(9, 4, 10, 7), (2, 4, 5, 6, 8)], ids=["4d", "5d"])
@pytest.mark.parametrize("kind", spectral.FILTER_TYPES)
def test_low_plus_high_is_identity(kind, shape, official):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    args = dict(kind=kind, d_s=0.3, d_t=0.2, official=official)
    low, high = spectral.lowpass(x, **args), spectral.highpass(x, **args)
    assert torch.allclose(low + high, x, atol=1e-5)
    assert low.shape == x.shape and not torch.allclose(low, x, atol=1e-2)


def test_lowpass_passes_constants_and_removes_alternation():
    const = torch.full((6, 4, 8, 8), 3.0)
    assert torch.allclose(spectral.lowpass(const), const, atol=1e-5)
    t = torch.arange(8.0)
    nyquist = ((-1) ** t)[:, None, None, None].expand(8, 4, 8, 8)  # fastest temporal flicker
    assert spectral.lowpass(nyquist).abs().max() < 1e-3


def test_4d_and_5d_layouts_filter_the_same_axes():
    x4 = torch.randn(7, 4, 9, 11, generator=torch.Generator().manual_seed(2))
    x5 = x4.permute(1, 0, 2, 3).unsqueeze(0)
    low4, low5 = spectral.lowpass(x4, d_s=0.4), spectral.lowpass(x5, d_s=0.4)
    assert torch.allclose(low4, low5.squeeze(0).permute(1, 0, 2, 3), atol=1e-6)


def test_frameinit_mix_is_low_band_of_layout_plus_high_band_of_noise():
    g = torch.Generator().manual_seed(3)
    layout, noise = torch.randn(8, 4, 8, 8, generator=g), torch.randn(8, 4, 8, 8, generator=g)
    mixed = spectral.frameinit_mix(layout, noise, d_s=0.5, d_t=0.5)
    assert torch.allclose(mixed, spectral.lowpass(layout, d_s=0.5, d_t=0.5)
                          + spectral.highpass(noise, d_s=0.5, d_t=0.5), atol=1e-5)


@pytest.mark.parametrize("kwargs, words", [
    ({"kind": "triangle"}, "filter 'triangle' is unknown"),
    ({"d_s": 1.5}, "d_s (spatial stop frequency) = 1.5 is out of range"),
    ({"d_t": -0.1}, "d_t (temporal stop frequency) = -0.1 is out of range"),
    ({"kind": "butterworth", "order": 0}, "butterworth order = 0 is out of range"),
])
def test_bad_filter_arguments_name_the_input(kwargs, words):
    with pytest.raises(ValueError) as err:
        spectral.lowpass_filter((4, 4, 4), **kwargs)
    assert words in str(err.value)


def test_filter_is_cached_per_shape_and_device():
    spectral.lowpass(torch.zeros(4, 4, 6, 6))
    before = spectral._filter_shifted.cache_info().hits
    spectral.lowpass(torch.ones(4, 4, 6, 6))
    assert spectral._filter_shifted.cache_info().hits == before  # served from the device cache
    key_count = len(spectral._DEVICE_CACHE)
    spectral.lowpass(torch.ones(4, 4, 6, 6))
    assert len(spectral._DEVICE_CACHE) == key_count
