import pytest
import torch

from kernels import noise_solver as ns
from kernels.noise_objects import FrameInitNoise, StartState

pytestmark = pytest.mark.unit


class VPSampling:
    """The variance-preserving formulas of ComfyUI's EPS class, written out for the kernel tier."""
    sigma_data = 1.0
    sigma_max = 14.6

    def noise_scaling(self, sigma, noise, latent, max_denoise=False):
        scale = torch.sqrt(1 + sigma ** 2) if max_denoise else sigma
        return noise * scale + latent

    def calculate_input(self, sigma, x):
        return x / (sigma ** 2 + self.sigma_data ** 2) ** 0.5

    def percent_to_sigma(self, p):
        return 1.0


class Squared(VPSampling):
    def noise_scaling(self, sigma, noise, latent, max_denoise=False):
        return noise ** 2 * sigma + latent


@pytest.mark.parametrize("max_denoise", [True, False])
def test_probe_and_round_trip(max_denoise):
    ms = VPSampling()
    aff = ns.probe_affine(ms, 3.0, max_denoise)
    assert aff.a == pytest.approx(10 ** 0.5 if max_denoise else 3.0)
    assert (aff.c, aff.k) == (pytest.approx(1.0), pytest.approx(10 ** -0.5))
    g = torch.Generator().manual_seed(0)
    z, latent = torch.randn(3, 4, 5, 5, generator=g), torch.randn(3, 4, 5, 5, generator=g)
    noise = ns.noise_for_state(z, aff, latent)
    x = ms.noise_scaling(torch.tensor(3.0, dtype=torch.float64), noise, latent.double(), max_denoise)
    torch.testing.assert_close(ms.calculate_input(torch.tensor(3.0, dtype=torch.float64), x), z.double())
    torch.testing.assert_close(ns.state_of(aff, noise, latent), z.double())


def test_non_affine_sampling_is_refused():
    with pytest.raises(ValueError, match="does not scale noise affinely"):
        ns.probe_affine(Squared(), 2.0, False)


def test_zero_sigma_is_refused():
    aff = ns.probe_affine(VPSampling(), 0.0, False)
    with pytest.raises(ValueError, match="SIGMAS must start above 0"):
        ns.noise_for_state(torch.zeros(2, 4, 2, 2), aff)


def test_max_denoise_rule():
    assert ns.is_max_denoise(14.6146, 14.6146) and ns.is_max_denoise(20.0, 14.6)
    assert not ns.is_max_denoise(14.0, 14.6146)


def test_sigma_for_snr_inverts_the_ratio():
    sigma = ns.sigma_for_snr(VPSampling(), 0.0922, 1e4)
    assert 1 / sigma == pytest.approx(0.0922, rel=1e-6)


def _frameinit(layout, drop=False):
    start = StartState(VPSampling(), lambda x: x, sigma0=14.6, sigma_max=14.6)
    return FrameInitNoise(seed=1, layout=layout, start=start, sigma_tau=10.8, drop_first_frame=drop)


@pytest.mark.parametrize("layout, samples, drop, words", [
    (torch.zeros(8, 4, 6, 6), torch.zeros(7, 4, 6, 6), False, "layout has 8 frame(s) but the sampled latent has 7"),
    (torch.zeros(7, 4, 6, 6), torch.zeros(7, 4, 6, 6), True, "so it needs 8"),
    (torch.zeros(1, 4, 6, 6), torch.zeros(7, 4, 6, 6), False, "single image latent"),
    (torch.zeros(7, 16, 6, 6), torch.zeros(7, 4, 6, 6), False, "layout has 16 latent channels"),
    (torch.zeros(7, 4, 6, 8), torch.zeros(7, 4, 6, 6), False, "resize the layout images to 48x48 pixels"),
    (torch.zeros(1, 4, 7, 6, 6), torch.zeros(7, 4, 6, 6), False, "layout is 5-D"),
])
def test_layout_mismatch_is_explained(layout, samples, drop, words):
    with pytest.raises(ValueError) as err:
        _frameinit(layout, drop).generate_noise({"samples": samples})
    assert words in str(err.value)


def test_image_latent_is_refused():
    with pytest.raises(ValueError, match="latent_image is 3-D"):
        _frameinit(torch.zeros(4, 4, 4, 4)).generate_noise({"samples": torch.zeros(4, 4, 4)})


def test_frameinit_noise_is_the_paper_formula():
    """z = eps + LP(sqrt(ab)·L - (1 - sqrt(1-ab))·eps), frame 0 dropped; at max denoise NOISE = z."""
    from kernels.pyoco import video_noise
    from kernels.spectral import lowpass

    g = torch.Generator().manual_seed(4)
    layout = torch.randn(1, 4, 1, 16, 16, generator=g).expand(1, 4, 9, 16, 16).contiguous()
    out = _frameinit(layout, drop=True).generate_noise({"samples": torch.zeros(1, 4, 8, 16, 16)})
    sqrt_ab = 1 / (1 + 10.8 ** 2) ** 0.5
    sqrt_1mab = 10.8 * sqrt_ab
    eps = video_noise(layout.shape, 1, "pyoco_mixed", 1.0)
    expected = (eps + lowpass(sqrt_ab * layout - (1 - sqrt_1mab) * eps))[:, :, 1:]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
