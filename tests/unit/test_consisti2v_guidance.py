"""The guidance kernel: the official mode choice and combination, scale checks, the noisy first frame of a NOISE."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from kernels.consisti2v_guidance import (
    NoiseInputError,
    check_scale,
    combine,
    guidance_mode,
    noisy_first_frame,
)


@pytest.mark.parametrize(("txt", "img", "mode"), [
    (7.5, 1.0, "text"), (7.5, 2.0, "image"), (1.0, 3.0, "image"), (1.0, 1.0, "none"), (0.5, 1.0, "none"),
    (0.5, 1.5, "image"), (1.01, 0.0, "text")])
def test_mode_follows_the_official_rule(txt, img, mode):
    assert guidance_mode(txt, img) == mode


def test_image_combination_is_affine_and_reduces_to_text_cfg_at_scale_1():
    gen = torch.Generator().manual_seed(0)
    noisy, uncond, cond = (torch.randn(5, generator=gen) for _ in range(3))
    out = combine(noisy, uncond, cond, 7.5, 2.0)
    torch.testing.assert_close(out, -1.0 * noisy + (2.0 - 7.5) * uncond + 7.5 * cond)
    shift = torch.full((5,), 3.0)  # weights sum to 1: denoised and epsilon combine alike
    torch.testing.assert_close(combine(noisy + shift, uncond + shift, cond + shift, 7.5, 2.0), out + shift)
    torch.testing.assert_close(combine(noisy, uncond, cond, 7.5, 1.0), uncond + 7.5 * (cond - uncond))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_bad_scales_are_named(bad):
    with pytest.raises(ValueError, match="cfg_image is .*1.0 turns this guidance off"):
        check_scale("cfg_image", bad)


class LinearSampling:
    """EPS-style model sampling: x = sigma * noise + latent, model input = x / sqrt(1 + sigma^2)."""
    sigma_max = 14.6

    def noise_scaling(self, sigma, noise, latent, max_denoise=False):
        return sigma * noise + latent

    def calculate_input(self, sigma, x):
        return x / (sigma ** 2 + 1) ** 0.5


@dataclass
class Drawn:
    seed: int = 3

    def generate_noise(self, latent):
        shape = latent["samples"].shape
        return torch.randn(shape, generator=torch.Generator().manual_seed(self.seed))


def test_other_noise_gives_one_more_frame_of_its_draw_at_the_first_sigma():
    samples = torch.zeros(3, 4, 2, 2)
    frame = noisy_first_frame(Drawn(), samples, LinearSampling(), 5.0)
    extra = torch.randn(4, 4, 2, 2, generator=torch.Generator().manual_seed(3))[-1:]
    torch.testing.assert_close(frame, extra * 5.0 / math.sqrt(26.0))


@dataclass
class FakeFrameInit:
    drop_first_frame: bool

    def state(self, samples):
        return torch.arange(samples.shape[0], dtype=torch.float32).view(-1, 1, 1, 1).expand(samples.shape)


def test_frameinit_noise_gives_the_frame_it_drops_and_refuses_without_one():
    frame = noisy_first_frame(FakeFrameInit(True), torch.zeros(3, 4, 2, 2), LinearSampling(), 5.0)
    assert frame.shape == (1, 4, 2, 2) and not frame.any()
    with pytest.raises(NoiseInputError, match="turn drop_first_frame on"):
        noisy_first_frame(FakeFrameInit(False), torch.zeros(3, 4, 2, 2), LinearSampling(), 5.0)
    with pytest.raises(NoiseInputError, match="connect the NOISE"):
        noisy_first_frame(object(), torch.zeros(3, 4, 2, 2), LinearSampling(), 5.0)
    with pytest.raises(ValueError, match="latent_image is 5-D"):
        noisy_first_frame(Drawn(), torch.zeros(1, 4, 3, 2, 2), LinearSampling(), 5.0)
