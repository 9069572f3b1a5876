"""Analytic-Init inside real ComfyUI sampling: SIGMAS[0] is σ_M and the sampler's model-space start state has the
intended mean and variance, on tiny EPS, V, EDM (SVD), flow and Wan models through SamplerCustomAdvanced.

The expected σ_M and moments come from closed forms written out here (the SD schedule, σ_M = M for EDM, the flow
shift), not from the kernels under test. A unet wrapper records the first model input x; z = calculate_input(σ0, x).
"""
import math

import pytest
import torch

from tests.support.node_calls import call_node, capturing, node_class, sample_advanced

pytestmark = pytest.mark.comfy

FRAMES, H, W = 4, 16, 16
VARIANCE = 0.6
CASES = [("eps", 800), ("eps", 1000), ("v", 900), ("svd", 100), ("svd", 700), ("flow", 500), ("flow", 1000),
         ("wan", 940)]


def expected_sigma(kind, M, model_sampling):
    if kind in ("eps", "v"):  # SD1.5 'linear' betas: linear in sqrt(beta); the first step is M - 1
        betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
        ab = float(torch.cumprod(1 - betas, 0)[M - 1])
        return math.sqrt((1 - ab) / ab)
    if kind == "svd":
        return float(M)
    shift = float(getattr(model_sampling, "shift", 1.0))
    t = M / 1000
    return shift * t / (1 + (shift - 1) * t)


def expected_moments(kind, sigma0, variance):
    """(signal, std) of the model-space start z = signal·E + std·ε."""
    if kind in ("flow", "wan"):
        return 1 - sigma0, math.sqrt(sigma0 ** 2 + (1 - sigma0) ** 2 * variance)
    ab = 1 / (1 + sigma0 ** 2)  # VP view of the VE state (EPS / V / EDM with sigma_data 1)
    return math.sqrt(ab), math.sqrt(1 - ab + ab * variance)


def sample_and_capture(model, noise, sigmas, positive, negative, latent, cfg=2.0):
    patched, seen = capturing(model, lambda args: (args["input"].detach().clone(), args["timestep"].detach().clone(),
                                                   {k: v for k, v in args["c"].items() if torch.is_tensor(v)}))
    return seen, sample_advanced(patched, noise, sigmas, positive, negative, latent, cfg)


def mean_latent(latent, seed=4):
    """A raw VAE-space mean with structure (std ~2 in model space), the sampled latent's shape."""
    g = torch.Generator().manual_seed(seed)
    return {"samples": 3.0 * torch.randn(latent["samples"].shape, generator=g)}


@pytest.fixture(scope="module")
def models(comfy):
    from tests.support import tiny_models
    return {kind: tiny_models.build_tiny_model(kind) for kind in {k for k, _ in CASES}}


@pytest.mark.parametrize("kind, M", CASES, ids=[f"{k}-M{m}" for k, m in CASES])
def test_start_state_has_the_analytic_moments(comfy, models, kind, M):
    from tests.support import tiny_models

    model = models[kind]
    ms = model.get_model_object("model_sampling")
    positive, negative, latent = tiny_models.tiny_conditioning(kind, frames=FRAMES, h=H, w=W)
    raw_mean = mean_latent(latent)
    stats = node_class("CILStatistics").execute(VARIANCE, "interpolate", raw_mean).result[0]
    noise, sigmas = node_class("CILAnalyticInit").execute(model, stats, float(M), 3, "auto", 1234, "fixed").result

    sigma_m = expected_sigma(kind, M, ms)
    assert float(sigmas[0]) == pytest.approx(sigma_m, rel=1e-5)
    assert sigmas.dtype == torch.float32 and float(sigmas[-1]) == 0 and bool((sigmas[:-1] > sigmas[1:]).all())

    seen, out = sample_and_capture(model, noise, sigmas, positive, negative, latent)
    x, timestep, _ = seen[0]
    assert float(timestep.reshape(-1)[0]) == pytest.approx(float(sigmas[0]), rel=1e-6)  # the sampler starts at σ_M
    z = ms.calculate_input(sigmas[:1].double(), x.double())
    halves = z.chunk(2, dim=0)  # CFG batch: cond and uncond share the start
    samples = latent["samples"]
    exact = noise.state(samples)
    for half in halves:
        torch.testing.assert_close(half, exact, atol=1e-5, rtol=1e-5)

    # empirical moments of the start the sampler really used
    E = model.get_model_object("latent_format").process_in(raw_mean["samples"].clone()).double()
    signal, std = expected_moments(kind, float(sigmas[0]), VARIANCE)
    resid = (halves[0] - signal * E) / std
    n = resid.numel()
    assert abs(float(resid.mean())) < 5 / math.sqrt(n)
    assert float(resid.var()) == pytest.approx(1.0, abs=5 * math.sqrt(2 / n))
    # the mean really is signal·E: regress z on E
    Ec = E - E.mean()
    slope = float((halves[0] * Ec).sum() / (Ec * Ec).sum())
    assert slope == pytest.approx(signal, abs=5 * std / math.sqrt(float((Ec * Ec).sum())) + 1e-9)
    assert out["samples"].shape == samples.shape and torch.isfinite(out["samples"]).all()


@pytest.mark.parametrize("kind", ["svd", "wan"])
def test_zero_mean_statistics_give_the_variance_correction(comfy, models, kind):
    from tests.support import tiny_models

    model = models[kind]
    ms = model.get_model_object("model_sampling")
    positive, negative, latent = tiny_models.tiny_conditioning(kind, frames=FRAMES, h=H, w=W)
    stats = node_class("CILStatistics").execute(2.0, "interpolate", None).result[0]
    M = 100 if kind == "svd" else 700
    noise, sigmas = node_class("CILAnalyticInit").execute(model, stats, float(M), 2, "auto", 9, "fixed").result
    seen, _ = sample_and_capture(model, noise, sigmas, positive, negative, latent)
    z = ms.calculate_input(sigmas[:1].double(), seen[0][0].double()).chunk(2)[0]
    _, std = expected_moments(kind, float(sigmas[0]), 2.0)
    assert abs(float(z.mean())) < 5 * std / math.sqrt(z.numel())
    assert float(z.std()) == pytest.approx(std, rel=5 * math.sqrt(2 / z.numel()))


def test_same_seed_as_randomnoise_and_frameinit_base(comfy, models):
    """Same seed → the same ε as the baseline RandomNoise; with FrameInit as base noise the start is
    signal·E + std·z_FrameInit exactly (Analytic-Init + FrameInit)."""
    from tests.support import tiny_models

    model = models["svd"]
    ms = model.get_model_object("model_sampling")
    positive, negative, latent = tiny_models.tiny_conditioning("svd", frames=FRAMES, h=H, w=W)
    zero = node_class("CILStatistics").execute(0.0, "interpolate", None).result[0]
    noise, sigmas = node_class("CILAnalyticInit").execute(model, zero, 100.0, 2, "auto", 77, "fixed").result
    baseline = call_node("RandomNoise", noise_seed=77)[0]
    torch.testing.assert_close(noise.generate_noise(latent), baseline.generate_noise(latent), atol=1e-6, rtol=1e-6)

    layout = {"samples": torch.randn(latent["samples"].shape, generator=torch.Generator().manual_seed(3))}
    frameinit = node_class("ConsistI2VFrameInitNoise").execute(
        model, layout, sigmas, 77, 850, "consisti2v_snr", "gaussian", 0.25, 0.25, 4, False, "pyoco_mixed", 1.0,
        False).result[0]
    stats = node_class("CILStatistics").execute(VARIANCE, "interpolate", mean_latent(latent)).result[0]
    combo, sigmas = node_class("CILAnalyticInit").execute(model, stats, 100.0, 2, "auto", 77, "fixed",
                                                          frameinit).result
    seen, out = sample_and_capture(model, combo, sigmas, positive, negative, latent)
    z = ms.calculate_input(sigmas[:1].double(), seen[0][0].double()).chunk(2)[0]
    E = model.get_model_object("latent_format").process_in(mean_latent(latent)["samples"].clone()).double()
    signal, std = expected_moments("svd", float(sigmas[0]), VARIANCE)
    torch.testing.assert_close(z, signal * E + std * frameinit.state(latent["samples"]).double(), atol=1e-5,
                               rtol=1e-5)
    assert torch.isfinite(out["samples"]).all()


def test_official_svd_formula_switch_in_sampling(comfy, models):
    """The compat switch changes only the start variance (+1 of diffusers' init_noise_sigma at σ = 100)."""
    from tests.support import tiny_models

    model = models["svd"]
    positive, negative, latent = tiny_models.tiny_conditioning("svd", frames=FRAMES, h=H, w=W)
    stats = node_class("CILStatistics").execute(VARIANCE, "interpolate", None).result[0]
    fixed, sigmas = node_class("CILAnalyticInit").execute(model, stats, 100.0, 2, "auto", 5, "fixed").result
    official, _ = node_class("CILAnalyticInit").execute(model, stats, 100.0, 2, "auto", 5,
                                                        "official_intended").result
    ratio = official.generate_noise(latent).double() / fixed.generate_noise(latent).double()
    want = math.sqrt(100 ** 2 + 1 + VARIANCE) / math.sqrt(100 ** 2 + VARIANCE)
    torch.testing.assert_close(ratio, torch.full_like(ratio, want), rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match="svd_formula 'official_intended' reproduces the official SVD"):
        node_class("CILAnalyticInit").execute(models["eps"], stats, 900.0, 2, "auto", 5, "official_intended")
