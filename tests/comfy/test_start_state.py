"""Our NOISE places ComfyUI's sampler exactly at the intended model-space start state.

Tiny random-weight models built with ComfyUI's own classes sample through the real
SamplerCustomAdvanced node; a unet wrapper records the first model input x, and
calculate_input(sigma0, x) must equal the FrameInit state z within 1e-5.
"""
import pytest
import torch

from tests.support.node_calls import capturing, node_class, sample_advanced

pytestmark = pytest.mark.comfy

KINDS = ["eps", "v", "svd", "flow", "wan"]


def _layout(latent, drop, seed=5):
    """A static layout latent (one random frame repeated) matching ``latent``'s video."""
    g = torch.Generator().manual_seed(seed)
    if latent.ndim == 4:
        t, c, h, w = latent.shape
        return torch.randn(1, c, h, w, generator=g).repeat(t + drop, 1, 1, 1)
    b, c, t, h, w = latent.shape
    return torch.randn(1, c, 1, h, w, generator=g).repeat(1, 1, t + drop, 1, 1)


def _sample_and_capture(model, noise, sigmas, positive, negative, latent, cfg=2.0):
    patched, seen = capturing(model, lambda args: args["input"].detach().clone())
    out = sample_advanced(patched, noise, sigmas, positive, negative, latent, cfg)
    return seen[0], out


@pytest.mark.parametrize("schedule", ["full", "truncated", "truncated_img2img"])
@pytest.mark.parametrize("kind", KINDS)
def test_frameinit_start_state_is_exact(comfy, kind, schedule):
    import comfy.samplers
    from tests.support import tiny_models

    model = tiny_models.build_tiny_model(kind)
    positive, negative, latent = tiny_models.tiny_conditioning(kind, frames=5, h=8, w=8)
    ms = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "simple", 6).float()
    if schedule != "full":
        sigmas = sigmas[3:]
    if schedule == "truncated_img2img":
        latent = dict(latent, samples=torch.randn(latent["samples"].shape, generator=torch.Generator().manual_seed(9)))
    drop = kind == "eps"  # exercise the ConsistI2V convention on one model
    layout = {"samples": _layout(latent["samples"], drop)}
    noise = node_class("ConsistI2VFrameInitNoise").execute(
        model, layout, sigmas, 123, 850, "consisti2v_snr", "gaussian", 0.25, 0.25, 4, drop, "pyoco_mixed", 1.0,
        False).result[0]

    z = noise.state(latent["samples"])
    x, out = _sample_and_capture(model, noise, sigmas, positive, negative, latent)
    start = ms.calculate_input(sigmas[:1].double(), x.double())
    halves = start.chunk(2, dim=0)  # CFG batch: [cond, uncond] share the start state
    assert len(halves) == 2
    for half in halves:
        torch.testing.assert_close(half, z.double(), atol=1e-5, rtol=1e-5)
    assert out["samples"].shape == latent["samples"].shape
    assert torch.isfinite(out["samples"]).all()


@pytest.mark.parametrize("kind", ["svd", "wan"])
def test_pyoco_noise_samples(comfy, kind):
    import comfy.samplers
    from tests.support import tiny_models

    model = tiny_models.build_tiny_model(kind)
    positive, negative, latent = tiny_models.tiny_conditioning(kind, frames=5, h=8, w=8)
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 3).float()
    noise = node_class("ConsistI2VPYoCoNoise").execute(77, "pyoco_mixed", 1.0).result[0]
    eps = noise.generate_noise(latent)
    assert eps.shape == latent["samples"].shape and eps.dtype == latent["samples"].dtype
    x, out = _sample_and_capture(model, noise, sigmas, positive, negative, latent)
    ms = model.get_model_object("model_sampling")
    expected = ms.noise_scaling(sigmas[:1], eps.clone(), torch.zeros_like(eps), True)
    torch.testing.assert_close(x.chunk(2)[0], expected, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(out["samples"]).all()


SOLVER_CASES = [(cls, sigma, md) for cls in ["EPS", "V_PREDICTION", "EDM", "CONST", "COSMOS_RFLOW"]
                for sigma, md in [(0.7, False), (0.97, True), (5.0, False)]
                if not (cls == "CONST" and sigma > 1)]  # flow sigmas live in [0, 1]


@pytest.mark.parametrize("cls_name, sigma, max_denoise", SOLVER_CASES)
def test_solver_on_every_core_prediction_class(comfy, cls_name, sigma, max_denoise):
    import comfy.model_sampling as cms
    from kernels import noise_solver

    base = cms.ModelSamplingDiscreteFlow if cls_name == "CONST" else cms.ModelSamplingDiscrete

    class Sampling(base, getattr(cms, cls_name)):
        pass

    ms = Sampling()
    ms.sigma_data = getattr(ms, "sigma_data", 1.0)
    aff = noise_solver.probe_affine(ms, sigma, max_denoise)
    g = torch.Generator().manual_seed(1)
    z, latent = torch.randn(4, 4, 6, 6, generator=g), torch.randn(4, 4, 6, 6, generator=g)
    n = noise_solver.noise_for_state(z, aff, latent)
    s = torch.tensor([sigma], dtype=torch.float64)
    x = ms.noise_scaling(s, n.clone(), latent.double(), max_denoise)
    torch.testing.assert_close(ms.calculate_input(s, x), z.double(), atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("scale", ["model_schedule", "consisti2v_snr"])
def test_noise_timestep_on_the_consisti2v_schedule(comfy, scale):
    """On ConsistI2V's own schedule (ComfyUI sqrt_linear) both scales give sigma(850) = 10.849 (spec §8)."""
    import sys
    import types

    import comfy.model_sampling as cms

    class Sampling(cms.ModelSamplingDiscrete, cms.EPS):
        pass

    cfg = types.SimpleNamespace(sampling_settings={"beta_schedule": "sqrt_linear", "linear_start": 0.00085,
                                                   "linear_end": 0.012})
    ms = Sampling(cfg)
    module = sys.modules[node_class("ConsistI2VFrameInitNoise").__module__]
    assert module.layout_noise_sigma(ms, 850, scale) == pytest.approx(10.849, abs=2e-3)
    assert float(ms.sigma(torch.tensor(850.0))) == pytest.approx(10.849, abs=2e-3)


def test_consisti2v_snr_matches_signal_ratio_on_flow(comfy):
    """On a flow model the SNR scale picks s with (1-s)/s = sqrt(ab/(1-ab)) of ConsistI2V's t=850."""
    import sys

    from kernels.schedules import consisti2v_snr_ratio
    from tests.support import tiny_models

    ms = tiny_models.build_tiny_model("wan").get_model_object("model_sampling")
    module = sys.modules[node_class("ConsistI2VFrameInitNoise").__module__]
    s = module.layout_noise_sigma(ms, 850, "consisti2v_snr")
    assert (1 - s) / s == pytest.approx(consisti2v_snr_ratio(850), rel=1e-6)
    assert module.layout_noise_sigma(ms, 850, "model_schedule") != pytest.approx(s, rel=1e-2)
