"""FrameInit's layout check names the fix in the model family's own VAE terms (kernels/layout_hints.py)."""
import pytest
import torch

from kernels.families import FAMILIES
from kernels.noise_objects import FrameInitNoise, StartState

pytestmark = pytest.mark.unit


class VPSampling:
    """x = sigma·n + L, model input x / sqrt(sigma² + 1)."""
    sigma_max = 14.6

    def noise_scaling(self, sigma, noise, latent, max_denoise=False):
        return sigma * noise + latent

    def calculate_input(self, sigma, x):
        return x / (sigma ** 2 + 1) ** 0.5


def _error(family_key, layout, samples, drop=False) -> str:
    start = StartState(VPSampling(), lambda x: x, sigma0=14.6, sigma_max=14.6)
    fam = FAMILIES[family_key] if family_key else None
    noise = FrameInitNoise(seed=1, layout=layout, start=start, sigma_tau=10.8, drop_first_frame=drop, family=fam)
    with pytest.raises(ValueError) as err:
        noise.generate_noise({"samples": samples})
    return str(err.value)


def z(*shape):
    return torch.zeros(*shape)


@pytest.mark.parametrize("key, layout, samples, words", [
    ("wan22_5b", z(1, 16, 3, 8, 8), z(1, 48, 3, 8, 8),
     ["layout has 16 latent channels but the model samples 48",
      "encode the layout with this model's VAE: Wan 2.2 5B latents have 48 channels"]),
    ("ltxv", z(1, 16, 3, 4, 4), z(1, 128, 3, 4, 4), ["LTXV latents have 128 channels"]),
    ("svd", z(5, 16, 6, 6), z(5, 4, 6, 6), ["SVD / SVD-XT latents have 4 channels"]),
    ("generic", z(5, 16, 6, 6), z(5, 4, 6, 6), ["encode the layout with this model's VAE"]),
])
def test_channel_mismatch_names_the_familys_channels(key, layout, samples, words):
    msg = _error(key, layout, samples)
    for w in words:
        assert w in msg, msg
    if key == "generic":
        assert "latents have" not in msg


@pytest.mark.parametrize("key, stride", [("svd", 8), ("wan21", 8), ("wan22_5b", 16), ("ltxv", 32),
                                         ("hunyuan15", 16), ("cosmos_predict2", 8)])
def test_size_mismatch_uses_the_familys_spatial_stride(key, stride):
    fam = FAMILIES[key]
    c = fam.channels
    if fam.frames_as_batch:
        layout, samples = z(5, c, 6, 8), z(5, c, 6, 10)
    else:
        layout, samples = z(1, c, 3, 6, 8), z(1, c, 3, 6, 10)
    msg = _error(key, layout, samples)
    assert (f"layout latent is 6x8 but the sampled latent is 6x10: resize the layout images to "
            f"{10 * stride}x{6 * stride} pixels ({fam.label}'s VAE: {stride} pixels per latent pixel)") in msg, msg


@pytest.mark.parametrize("key", [None, "generic"])
def test_size_mismatch_without_a_known_family_keeps_the_x8_hint(key):
    msg = _error(key, z(5, 4, 6, 8), z(5, 4, 6, 10))
    assert "resize the layout images to 80x48 pixels (x8 for most VAEs)" in msg


@pytest.mark.parametrize("key, sampled, pixels, t", [("wan21", 21, 81, 4), ("wan22_5b", 31, 121, 4),
                                                      ("hunyuan15", 33, 129, 4), ("cosmos_predict2", 24, 93, 4),
                                                      ("ltxv", 13, 97, 8)])
def test_causal_vae_frame_mismatch_names_the_pixel_frames(key, sampled, pixels, t):
    fam = FAMILIES[key]
    assert fam.video_frames(sampled) == pixels and fam.latent_frames(pixels) == sampled
    c = fam.channels
    msg = _error(key, z(1, c, sampled - 1, 2, 2), z(1, c, sampled, 2, 2))
    assert f"layout has {sampled - 1} frame(s) but the sampled latent has {sampled}, so it needs {sampled}" in msg
    assert f"make the layout video {pixels} pixel frames long ({fam.label}'s causal VAE turns {t}k+1" in msg
    assert "drop_first_frame" not in msg  # the ConsistI2V convention does not apply to these families


def test_latent_count_given_as_pixel_count_is_named():
    """A user who typed the latent frame count (21) into Static Layout gets 6 latent frames on Wan."""
    msg = _error("wan21", z(1, 16, 6, 2, 2), z(1, 16, 21, 2, 2))
    assert "make the layout video 81 pixel frames long" in msg
    assert "A 21-frame layout video encodes to 6 latent frames: give Static Layout the pixel frame count" in msg


def test_single_image_layout_on_a_causal_family():
    msg = _error("ltxv", z(1, 128, 1, 2, 2), z(1, 128, 13, 2, 2))
    assert "it is a single image latent: make a layout video with 'ConsistI2V Static Layout'" in msg
    assert "make the layout video 97 pixel frames long" in msg


@pytest.mark.parametrize("drop, words", [
    (False, ["make the layout video 7 pixel frames long (the sampled video's frame count)",
             "or enable drop_first_frame"]),
    (True, ["(+1 dropped first frame), so it needs 8", ("make the layout video 8 pixel frames long "
                                                       "(the sampled video's frame count, +1 for the dropped first "
                                                       "frame)")]),
])
def test_frame_mismatch_on_frame_per_latent_families(drop, words):
    msg = _error("consisti2v", z(1, 4, 5, 6, 6), z(1, 4, 7, 6, 6), drop=drop)
    for w in words:
        assert w in msg, msg


def test_rank_mismatch_names_the_familys_latent_rank():
    assert "SVD / SVD-XT latents are 4-D [frames, C, H, W]" in _error("svd", z(1, 4, 5, 6, 6), z(5, 4, 6, 6))
    assert "Wan 2.1 / 2.2 14B latents are 5-D [B, C, frames, H, W]" in _error("wan21", z(5, 16, 6, 6),
                                                                             z(1, 16, 5, 6, 6))
