"""FrameInit at the ends of a clip: circular (official) vs mirrored temporal padding of the layout."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kernels import spectral

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CASES = sorted(GOLDEN.glob("frameinit_*.safetensors"))
MIRRORED = ("reflect", "mirror")


def last_frame_only(frames=16, size=16, seed=0):
    """A layout that is zero except on its last frame (the end of a camera move, exaggerated)."""
    x = torch.zeros(frames, 4, size, size)
    x[-1] = torch.randn(4, size, size, generator=torch.Generator().manual_seed(seed))
    return x


@pytest.mark.parametrize("d_t", [0.25, 0.5])
def test_circular_wraps_the_last_frame_into_the_first_and_mirroring_does_not(d_t):
    layout = last_frame_only()
    end = spectral.lowpass(layout, d_s=0.5, d_t=d_t)[-1].norm()
    ghost = {mode: float(spectral.lowpass(layout, d_s=0.5, d_t=d_t, temporal_padding=mode)[0].norm() / end)
             for mode in spectral.TEMPORAL_PADDINGS}
    assert ghost["circular"] > 0.1  # frame 0 is frame 15's neighbour on the FFT's circle
    for mode in MIRRORED:
        # what is left is the ringing of the Gaussian cut at Nyquist (exp(-2) there at d_t 0.5), not the wrap
        assert ghost[mode] < 3e-3 * ghost["circular"], (mode, ghost)


@pytest.mark.parametrize("mode", MIRRORED)
def test_mirrored_lowpass_is_the_lowpass_of_the_even_extension(mode):
    """Independent construction: the clip and its reversed copy, low-passed circularly, first half kept."""
    x = torch.randn(7, 3, 8, 10, generator=torch.Generator().manual_seed(1))
    back = x.flip(0)[1:-1] if mode == "reflect" else x.flip(0)
    expected = spectral.lowpass(torch.cat([x, back]), d_s=0.4, d_t=0.3)[:7]
    torch.testing.assert_close(spectral.lowpass(x, d_s=0.4, d_t=0.3, temporal_padding=mode), expected,
                               atol=1e-6, rtol=0)
    # the 5-D layout [B, C, T, H, W] pads its own time axis
    as5d = spectral.lowpass(x.permute(1, 0, 2, 3)[None], d_s=0.4, d_t=0.3, temporal_padding=mode)
    torch.testing.assert_close(as5d[0].permute(1, 0, 2, 3), expected, atol=1e-6, rtol=0)


def test_two_frames_and_a_still_layout():
    two = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(spectral.lowpass(two, temporal_padding="reflect"), spectral.lowpass(two))
    still = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3)).expand(9, 4, 8, 8)
    for mode in MIRRORED:
        torch.testing.assert_close(spectral.lowpass(still, temporal_padding=mode), spectral.lowpass(still),
                                   atol=1e-6, rtol=0)


@pytest.fixture(params=CASES, ids=[c.stem for c in CASES])
def case(request):
    return json.loads(request.param.with_suffix(".json").read_text()), load_file(request.param)


def test_circular_keeps_golden_parity_and_mirror_changes_only_moving_layouts(case):
    meta, data = case
    p = meta["filters"]["gaussian"]
    args = dict(noise_gain=meta["sqrt_one_minus_alphas_cumprod_at_tau"],
                layout_gain=meta["sqrt_alphas_cumprod_at_tau"], d_s=p["d_s"], d_t=p["d_t"], official=True)
    circular = spectral.frameinit_start(data["layout"], data["noise"], temporal_padding="circular", **args)
    torch.testing.assert_close(circular, data["mixed_gaussian"], atol=1e-5, rtol=0)
    for mode in MIRRORED:
        mirrored = spectral.frameinit_start(data["layout"], data["noise"], temporal_padding=mode, **args)
        if meta["layout_kind"] == "static":
            torch.testing.assert_close(mirrored, data["mixed_gaussian"], atol=1e-5, rtol=0)
        else:  # a pan: its first and last frames no longer see each other
            first = (mirrored - circular)[:, :, 0].abs().max()
            assert first > 1e-3, (mode, float(first))


@pytest.mark.parametrize("gain", [0.0, 0.5, (1 - 0.0084241) ** 0.5], ids=["gain0", "gain0.5", "tau850"])
@pytest.mark.parametrize("mode", MIRRORED)
def test_noise_part_keeps_its_statistics_at_the_ends(mode, gain):
    """Where the layout is zero the result is the official (circular) one, and every frame, the first and
    the last included, has the variance mean((1 - (1 - gain)·F)²) of white noise through the circular filter
    (≈ 1 at ConsistI2V's tau 850). Mirroring the noise as well would lower it at the ends."""
    eps = torch.randn(16, 32, 48, 48, generator=torch.Generator().manual_seed(0))
    zero = torch.zeros_like(eps)
    z = spectral.frameinit_start(zero, eps, gain, 1.0, mode, d_s=0.5, d_t=0.5)
    torch.testing.assert_close(z, spectral.frameinit_start(zero, eps, gain, 1.0, "circular", d_s=0.5, d_t=0.5),
                               atol=1e-6, rtol=0)
    filt = spectral.lowpass_filter((16, 48, 48), d_s=0.5, d_t=0.5).double()
    expected = float(((1 - (1 - gain) * filt) ** 2).mean())
    per_frame = z.var(dim=(1, 2, 3))
    torch.testing.assert_close(per_frame, torch.full_like(per_frame, expected), atol=0.02, rtol=0)
    if gain > 0.99:
        assert (per_frame - 1).abs().max() < 0.02
    if mode == "mirror" and gain < 0.99:  # the alternative this design avoids: the repeated end frames
        mirrored_noise = eps + spectral.lowpass((gain - 1) * eps, d_s=0.5, d_t=0.5, temporal_padding=mode)
        assert (mirrored_noise.var(dim=(1, 2, 3))[[0, -1]] - expected).abs().min() > 0.05


def test_unknown_padding_names_the_input_and_the_choices():
    with pytest.raises(ValueError, match="temporal_padding 'wrap' is unknown: use one of circular, reflect, mirror"):
        spectral.lowpass(torch.zeros(4, 1, 4, 4), temporal_padding="wrap")
