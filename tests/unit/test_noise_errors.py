"""Errors raised while the sampler draws a NOISE name the node (and input) that made it; bad values refused."""
import re

import pytest
import torch

from kernels import analytic_init as ai
from kernels.layout import check_finite
from kernels.noise_objects import FrameInitNoise, PYoCoNoise, StartState, named
from tests.support import duck_sampling as duck

ORIGIN = "FrameInit Noise (ConsistI2V) (node 14)"


def _frameinit(layout, origin=ORIGIN):
    start = StartState(duck.EDM(), lambda x: x, sigma0=80.0, sigma_max=700.0)
    return FrameInitNoise(seed=1, layout=layout, start=start, sigma_tau=10.0, origin=origin)


def test_layout_error_names_the_node_and_input():
    with pytest.raises(ValueError) as err:
        _frameinit(torch.zeros(8, 4, 6, 6)).generate_noise({"samples": torch.zeros(7, 4, 6, 6)})
    assert str(err.value).startswith(f"{ORIGIN} input 'layout': layout has 8 frame(s) but the sampled latent has 7")


def test_without_origin_the_error_is_unchanged():
    with pytest.raises(ValueError, match=r"^layout has 8 frame\(s\)"):
        _frameinit(torch.zeros(8, 4, 6, 6), origin="").generate_noise({"samples": torch.zeros(7, 4, 6, 6)})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_layout_is_refused_by_input_name(value):
    layout = torch.zeros(7, 4, 6, 6)
    layout[3, 1, 2, 2] = value
    with pytest.raises(ValueError, match=rf"^{re.escape(ORIGIN)} input 'layout': layout holds [01] NaN and [01] "
                                         "infinite"):
        _frameinit(layout).generate_noise({"samples": torch.zeros(7, 4, 6, 6)})


def test_pyoco_error_on_the_samplers_latent_names_the_node():
    noise = PYoCoNoise(seed=0, origin="PYoCo Video Noise (ConsistI2V) (node 12)")
    with pytest.raises(ValueError, match=r"^PYoCo Video Noise \(ConsistI2V\) \(node 12\), drawing the noise: "
                                         r"latent_image is 3-D"):
        noise.generate_noise({"samples": torch.zeros(1, 4, 10)})


def test_analytic_init_names_its_noise_input_then_the_inner_node():
    start = StartState(duck.EDM(), lambda x: x, sigma0=100.0, sigma_max=700.0)
    stats = ai.Statistics(mean=None, variance=0.5)
    outer = ai.AnalyticInitNoise(0, start, stats, base_noise=_frameinit(torch.zeros(8, 4, 6, 6)),
                                 origin="Analytic-Init (CIL) (node 11)")
    with pytest.raises(ValueError) as err:
        outer.generate_noise({"samples": torch.zeros(7, 4, 6, 6)})
    assert str(err.value).startswith(f"Analytic-Init (CIL) (node 11) input 'noise': {ORIGIN} input 'layout': "
                                     "layout has 8 frame(s)")


def test_named_keeps_the_type_or_says_it():
    assert type(named("N", KeyError("k"))) is RuntimeError  # KeyError's str() quotes: rebuilt as RuntimeError
    assert str(named("N", KeyError("k"))) == "N, drawing the noise: KeyError: 'k'"
    err = TypeError("bad")
    err.noise_input = "layout"
    assert type(named("N", err)) is TypeError and str(named("N", err)) == "N input 'layout': bad"


def test_interrupt_passes_through_unchanged(monkeypatch):
    class InterruptProcessingException(Exception):  # ComfyUI's name; the wrapper must not rebuild it
        pass

    def interrupted(*args, **kwargs):
        raise InterruptProcessingException()

    monkeypatch.setattr("kernels.noise_objects.video_noise", interrupted)
    with pytest.raises(InterruptProcessingException) as err:
        PYoCoNoise(seed=0, origin="N").generate_noise({"samples": torch.zeros(2, 4, 2, 2)})
    assert str(err.value) == ""


def test_check_finite_ignores_integer_tensors_and_counts():
    check_finite(torch.zeros(3, dtype=torch.int64), "x", "fix")
    with pytest.raises(ValueError, match=r"^x holds 2 NaN and 1 infinite value\(s\) \(of 4\): fix$"):
        check_finite(torch.tensor([float("nan"), float("nan"), float("inf"), 0.0]), "x", "fix")
