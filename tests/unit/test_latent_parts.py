"""kernels/latent_parts: how a NOISE object's noise is combined with core's draw on masked and nested latents
(no ComfyUI; the comparison with core's own functions is in tests/comfy/test_noise_masks_nested.py)."""
import pytest
import torch

from kernels import latent_parts as lp
from kernels.noise_objects import PYoCoNoise, StartState
from kernels.pyoco import video_noise
from tests.support.duck_sampling import Flow


class Nest:
    """Duck-typed nested tensor (ComfyUI's NestedTensor keeps its parts in ``tensors``)."""

    def __init__(self, tensors):
        self.tensors = list(tensors)
        self.is_nested = True

    def unbind(self):
        return self.tensors


def _const(value):
    return lambda part: torch.full(part.samples.shape, float(value), dtype=part.samples.dtype)


def test_free_elements_get_ours_the_rest_core_draw():
    samples = torch.zeros(1, 4, 3, 4, 4)
    mask = torch.tensor([0.0, 0.3, 1.0 - 1e-7]).reshape(1, 1, 3, 1, 1)
    out = lp.noise_for_latent({"samples": samples, "noise_mask": mask}, 9, _const(5))
    (core,) = lp.core_noise([samples], 9)
    assert torch.equal(out[:, :, :2], core[:, :, :2])  # held (0) and partial (0.3): core's draw
    assert (out[:, :, 2] == 5).all()  # 1 - 1 ulp counts as free
    assert torch.equal(lp.noise_for_latent({"samples": samples}, 9, _const(5)), torch.full(samples.shape, 5.0))


def test_core_draw_is_one_generator_over_the_parts():
    video, audio = torch.zeros(1, 4, 2, 3, 3), torch.zeros(1, 8, 5, 16)
    g = torch.Generator().manual_seed(4)
    want_video, want_audio = torch.randn(video.shape, generator=g), torch.randn(audio.shape, generator=g)
    got = lp.core_noise([video, audio], 4)
    assert torch.equal(got[0], want_video) and torch.equal(got[1], want_audio)
    g = torch.Generator().manual_seed(4)
    rows = [torch.randn(1, 4, 2, 3, 3, generator=g) for _ in range(3)]
    (picked,) = lp.core_noise([torch.zeros(2, 4, 2, 3, 3)], 4, [2, 0])
    assert torch.equal(picked, torch.cat([rows[2], rows[0]]))


def test_nested_in_nested_out():
    video, audio = torch.zeros(1, 4, 3, 4, 4), torch.ones(1, 8, 5, 16)
    mask = Nest([torch.tensor([0.0, 1.0, 1.0]).reshape(1, 1, 3, 1, 1), torch.ones_like(audio)])
    seen = []

    def ours(part):
        seen.append(part)
        return torch.full(part.samples.shape, 2.0)

    out = lp.noise_for_latent({"samples": Nest([video, audio]), "noise_mask": mask}, 3, ours)
    assert isinstance(out, Nest) and len(out.tensors) == 2
    core = lp.core_noise([video, audio], 3)
    assert torch.equal(out.tensors[1], core[1])
    assert torch.equal(out.tensors[0][:, :, 0], core[0][:, :, 0]) and (out.tensors[0][:, :, 1:] == 2).all()
    assert seen[0].samples is video and seen[0].processed  # the audio part is non-zero: ComfyUI processes it all
    assert "noise_mask" not in seen[0].latent and seen[0].latent["samples"] is video
    built = lp.noise_for_latent({"samples": Nest([video, audio])}, 3, ours, rebuild=tuple)
    assert isinstance(built, tuple) and torch.equal(built[1], core[1])


def test_bad_masks_and_parts_named():
    samples = torch.zeros(1, 4, 3, 4, 4)
    with pytest.raises(ValueError, match="noise_mask holds NaN"):
        lp.noise_for_latent({"samples": samples, "noise_mask": torch.full((1, 1, 3, 1, 1), float("nan"))}, 0,
                            _const(1))
    with pytest.raises(ValueError, match="noise_mask .* does not fit"):
        lp.noise_for_latent({"samples": samples, "noise_mask": torch.ones(7)}, 0, _const(1))
    with pytest.raises(ValueError, match="3-D"):
        lp.noise_for_latent({"samples": torch.zeros(4, 4, 4)}, 0, _const(1))
    with pytest.raises(ValueError, match="noise has shape"):
        lp.noise_for_latent({"samples": samples}, 0, lambda part: torch.zeros(2))


def test_pyoco_on_a_masked_nested_latent():
    video, audio = torch.zeros(1, 4, 3, 4, 4), torch.zeros(1, 8, 5, 16)
    mask = torch.tensor([0.0, 1.0, 1.0]).reshape(1, 1, 3, 1, 1)
    out = PYoCoNoise(seed=11).generate_noise({"samples": Nest([video, audio]), "noise_mask": mask})
    own = video_noise(video.shape, 11)
    core = lp.core_noise([video, audio], 11)
    assert torch.equal(out.tensors[0][:, :, 1:], own[:, :, 1:]) and torch.equal(out.tensors[0][:, :, :1], core[0][:, :, :1])
    assert torch.equal(out.tensors[1], core[1])


def test_start_state_processed_flag():
    """An all-zero video part of a latent whose audio part is not zero is still processed (ComfyUI decides over the
    packed latent)."""
    ms = Flow()
    start = StartState(ms, lambda x: x * 2 + 1, 0.5, float(ms.sigma_max))
    z, samples = torch.ones(1, 2, 2, 2, 2), torch.zeros(1, 2, 2, 2, 2)
    plain = start.noise_for(z, samples)
    processed = start.noise_for(z, samples, processed=True)
    torch.testing.assert_close(plain, torch.full_like(z, 2.0))  # (z - 0) / 0.5
    torch.testing.assert_close(processed, torch.full_like(z, 1.0))  # (z - 0.5 * 1) / 0.5
