"""Parity with the official CIL code (TimeNoise, Analytic-Init, SVD pipeline) on every golden case found by pattern.

Every shape and parameter is read from the case files (tests/fixtures/golden/cil_*.json + .safetensors); the case
file name is the pytest id.
"""
import json
import math
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kernels import analytic_init as ai
from kernels import timenoise as tn
from kernels.noise_objects import StartState
from kernels.noise_solver import is_max_denoise
from tests.support import duck_sampling as duck

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CASES = sorted(GOLDEN.glob("cil_*.json"))


def test_golden_cases_present():
    assert CASES, f"no cil_*.json in {GOLDEN}"


@pytest.fixture(params=CASES, ids=[c.stem for c in CASES])
def case(request):
    meta = json.loads(request.param.read_text())
    return meta, load_file(request.param.parent / meta["tensors_file"])


def _entries(meta, section):
    entries = meta.get(section) or {}
    if not entries:
        pytest.skip(f"case has no {section} section")
    return entries


# ---------------------------------------------------------------------------------------------- TimeNoise

def test_timenoise_mu_t(case):
    meta, _ = case
    for name, e in _entries(meta, "timenoise").items():
        got = tn.mu_t(e["t"], e["a"], e["mu_max"])
        torch.testing.assert_close(got, torch.tensor(e["mu_t"], dtype=torch.float64), atol=1e-6, rtol=0, msg=name)


def test_timenoise_seeded_samples(case):
    meta, _ = case
    for name, e in _entries(meta, "timenoise").items():
        for sample in e["samples"]:
            beta, z = tn.sample_beta(e["t"], e["a"], e["beta_m"], e["mu_max"], seed=sample["seed"])
            assert torch.equal(z.float(), torch.tensor(sample["z"], dtype=torch.float32)), (name, sample["seed"])
            want = torch.tensor(sample["beta_s"], dtype=torch.float64)
            torch.testing.assert_close(beta, want, rtol=1e-6, atol=0, msg=f"{name} seed {sample['seed']}")
            # the same levels from the recorded draws (the training helper's path)
            torch.testing.assert_close(tn.beta_from_normal(e["t"], sample["z"], e["a"], e["beta_m"], e["mu_max"]),
                                       want, rtol=1e-6, atol=0)


def test_timenoise_training_helper_draw_order(case):
    """One randn(B) for the levels, then eps: the helper reproduces the official levels for a batch."""
    meta, _ = case
    for name, e in _entries(meta, "timenoise").items():
        time = "edm" if "sigma" in e else "ddpm"
        steps = e["sigma"] if time == "edm" else e["t_int"]
        params = tn.TimeNoiseParams(a=e["a"], beta_m=e["beta_m"], mu_max=e["mu_max"], time=time)
        sample = e["samples"][0]
        cond = torch.zeros(len(steps), 2, 3)
        noised, beta = tn.timenoise_training_batch(cond, steps, params, seed=sample["seed"])
        torch.testing.assert_close(beta, torch.tensor(sample["beta_s"], dtype=torch.float64), rtol=1e-6, atol=0)
        gen = torch.Generator().manual_seed(sample["seed"])
        torch.randn(len(steps), generator=gen)
        eps = torch.randn(cond.shape, generator=gen)
        torch.testing.assert_close(noised.double(), beta.reshape(-1, 1, 1) * eps.double(), rtol=1e-6, atol=1e-6)


def test_timenoise_pdf_cdf_quantiles(case):
    meta, _ = case
    for name, e in _entries(meta, "pdf").items():
        grid = torch.tensor(e["beta_grid"], dtype=torch.float64)
        for row in e["rows"]:
            args = (e["a"], e["beta_m"], e["mu_max"], e["s"])
            assert float(tn.mu_t(row["t"], e["a"], e["mu_max"])) == pytest.approx(row["mu"], abs=1e-12)
            torch.testing.assert_close(tn.pdf(grid, row["t"], *args), torch.tensor(row["pdf"], dtype=torch.float64),
                                       rtol=1e-9, atol=1e-15, msg=f"{name} t={row['t']}")
            torch.testing.assert_close(tn.cdf(grid, row["t"], *args), torch.tensor(row["cdf"], dtype=torch.float64),
                                       rtol=1e-9, atol=1e-15)
            for key, q in (("median", 0.5), ("q05", 0.05), ("q95", 0.95)):
                assert float(tn.quantile(q, row["t"], *args)) == pytest.approx(row[key], rel=1e-9), (name, key)


# ---------------------------------------------------------------------------------------------- Analytic-Init

def _schedule_args(description: str):
    """(timesteps, linear_start, linear_end) from the recorded make_beta_schedule call."""
    m = re.search(r"make_beta_schedule\('linear',\s*(\d+),\s*([0-9.e-]+),\s*([0-9.e-]+)\)", description)
    assert m, description
    return int(m.group(1)), float(m.group(2)), float(m.group(3))


def _families(meta):
    section = _entries(meta, "analytic_init")
    return section, {k: v for k, v in section.items() if isinstance(v, dict) and "rows" in v}


def test_analytic_init_schedule_and_grid(case):
    meta, _ = case
    _, families = _families(meta)
    for name, fam in families.items():
        steps, start, end = _schedule_args(fam["schedule"]["betas"])
        ab = ai.ldm_alphas_cumprod(steps, start, end, zero_snr=fam["schedule"]["rescale_zero_terminal_snr"])
        for row in fam["rows"]:
            idx = row["alpha_index"]
            assert idx == row["M"] - 1
            assert float(ab[idx].sqrt()) == pytest.approx(row["sqrt_alphas_cumprod"], abs=1e-6), (name, row["M"])
            grid = row["ddim_uniform_trailing_50_timesteps"]
            ours = ai.uniform_trailing_timesteps(row["M"], len(grid))
            assert ours[0] == row["M"] - 1
            assert sorted(ours) == sorted(grid), (name, row["M"])


def test_analytic_init_moments(case):
    meta, data = case
    section, families = _families(meta)
    E, eps, v = data[section["expectation_x0_tensor"]], data[section["eps_tensor"]], section["tr_cov_d"]
    assert list(E.shape) == section["shape_b_c_f_h_w"]
    gen = torch.Generator().manual_seed(section["seed"])
    assert torch.equal(torch.randn(E.shape, generator=gen), eps), "eps is torch.manual_seed(seed) + randn_like"
    for name, fam in families.items():
        steps, start, end = _schedule_args(fam["schedule"]["betas"])
        ab_ours = ai.ldm_alphas_cumprod(steps, start, end, zero_snr=fam["schedule"]["rescale_zero_terminal_snr"])
        for row in fam["rows"]:
            for ab in (row["alphas_cumprod"], float(ab_ours[row["alpha_index"]])):
                mu, std = ai.vp_moments(ab, E.double(), v)
                assert std == pytest.approx(row["sigma_p"], abs=1e-6), (name, row["M"])
                torch.testing.assert_close(mu.float(), data[row["mu_tensor"]], atol=1e-6, rtol=0)
                torch.testing.assert_close((mu + std * eps.double()).float(), data[row["init_tensor"]], atol=1e-6,
                                           rtol=0)


def test_analytic_init_noise_object_reproduces_official_init(case):
    """The whole NOISE path (file statistics → resampling → sigma_M → start state) on a VP model with the recorded
    schedule: the sampler's model-space start equals the official x_M (rows where ᾱ > 0)."""
    meta, data = case
    section, families = _families(meta)
    stats = ai.statistics_from_tensors({"Expectation_X0": data[section["expectation_x0_tensor"]],
                                        "Tr_Cov_d": torch.tensor(section["tr_cov_d"])})
    samples = torch.zeros(section["shape_b_c_f_h_w"])  # a 5-D [B, C, T, H, W] latent of the same shape
    checked = 0
    for name, fam in families.items():
        steps, start, end = _schedule_args(fam["schedule"]["betas"])
        ms = duck.Discrete(ai.ldm_alphas_cumprod(steps, start, end, zero_snr=fam["schedule"]["rescale_zero_terminal_snr"]))
        for row in fam["rows"]:
            if row["alphas_cumprod"] == 0:  # zero terminal SNR: sigma is infinite (covered by the moments test)
                continue
            scale = ai.start_scale(ms)
            assert (scale.kind, scale.T) == ("timestep", steps)
            sigma0 = ai.sigma_at(ms, row["M"])
            sig = ai.start_sigmas(ms, row["M"], len(row["ddim_uniform_trailing_50_timesteps"]), "auto")
            assert float(sig[0]) == pytest.approx(sigma0, rel=1e-6)
            noise = ai.AnalyticInitNoise(section["seed"], StartState(ms, lambda x: x, sigma0, float(ms.sigma_max)),
                                         stats)
            z = noise.state(samples)
            torch.testing.assert_close(z.float(), data[row["init_tensor"]], atol=1e-6, rtol=0, msg=f"{name} {row['M']}")
            n = noise.generate_noise({"samples": samples})
            max_denoise = is_max_denoise(sigma0, float(ms.sigma_max))  # VideoCrafter M = 1000 is the top sigma
            x = ms.noise_scaling(torch.tensor(sigma0, dtype=torch.float64), n.double(), samples.double(), max_denoise)
            torch.testing.assert_close(ms.calculate_input(torch.tensor(sigma0, dtype=torch.float64), x).float(),
                                       data[row["init_tensor"]], atol=1e-6, rtol=0)
            checked += 1
    assert checked


# ---------------------------------------------------------------------------------------------- SVD pipeline

def test_svd_variants_and_sigmas(case):
    meta, data = case
    section = _entries(meta, "analytic_init_svd")
    E, eps, v = data[section["expectation_x0_tensor"]], data[section["eps_tensor"]], section["tr_cov_d"]
    assert list(E.shape) == section["shape_b_f_c_h_w"]
    for row in section["rows"]:
        s = row["sigma_max"]
        assert math.sqrt(s * s + 1) == pytest.approx(row["init_noise_sigma"], rel=1e-6)
        assert math.sqrt(s * s + 1 + v) == pytest.approx(row["std_intended"], rel=1e-6)
        assert math.sqrt(s * s + 1) + math.sqrt(v) == pytest.approx(row["std_june2024"], rel=1e-6)
        for formula, key in (("official_intended", "latents_intended_tensor"),
                             ("official_as_shipped", "latents_as_shipped_tensor"),
                             ("june2024", "latents_june2024_tensor")):
            got = ai.svd_official_latents(E, v, eps, s, formula)
            torch.testing.assert_close(got.float(), data[row[key]], rtol=1e-6, atol=1e-6, msg=f"{formula} {s}")
        fixed = ai.svd_official_latents(E, v, eps, s, "fixed")
        intended = data[row["latents_intended_tensor"]].double()
        rescaled = E.double() + (intended - E.double()) * math.sqrt(s * s + v) / math.sqrt(s * s + 1 + v)
        torch.testing.assert_close(fixed, rescaled, rtol=1e-6, atol=1e-5)
        # Karras sigmas from the recorded sigma_min / steps reproduce the official scheduler
        sigmas = row["sigmas"]
        assert len(sigmas) == section["num_inference_steps"] + 1 and sigmas[-1] == 0
        ours = ai.karras_sigmas(section["num_inference_steps"], sigmas[-2], sigmas[0])
        torch.testing.assert_close(ours.float(), torch.tensor(sigmas, dtype=torch.float32), rtol=1e-5, atol=1e-6)


def test_svd_statistics_file_layout_and_noise_object(case):
    """SVD statistics (b f c h w) load into [C, F, h, w]; on a 4-D frames-as-batch latent the NOISE gives the
    official intended latents with the compat switch and our fixed formula by default."""
    meta, data = case
    section = _entries(meta, "analytic_init_svd")
    E, eps, v = data[section["expectation_x0_tensor"]], data[section["eps_tensor"]], section["tr_cov_d"]
    stats = ai.statistics_from_tensors({"Expectation_x_0": E, "trCov_d": torch.tensor(v)}, source="svd file")
    b, f, c, h, w = E.shape
    assert tuple(stats.mean.shape) == (c, f, h, w) and stats.variance == pytest.approx(v)
    samples = torch.zeros(f, c, h, w)
    assert torch.equal(stats.mean_like(samples), E[0])
    ms = duck.EDM(sigma_max=max(r["sigma_max"] for r in section["rows"]))
    for row in section["rows"]:
        sigma0 = ai.sigma_at(ms, row["sigma_max"])
        assert sigma0 == row["sigma_max"]
        start = StartState(ms, lambda x: x, sigma0, float(ms.sigma_max))
        official = ai.AnalyticInitNoise(section["seed"], start, stats, "official_intended")
        x = official.target({"samples": samples}, samples)
        torch.testing.assert_close(x.float(), data[row["latents_intended_tensor"]][0], rtol=1e-6, atol=1e-6)
        fixed = ai.AnalyticInitNoise(section["seed"], start, stats)
        torch.testing.assert_close(fixed.target({"samples": samples}, samples),
                                   ai.svd_official_latents(E[0], v, eps[0], sigma0, "fixed"), rtol=1e-9, atol=1e-9)
