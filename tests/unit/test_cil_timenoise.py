"""TimeNoise distribution: a proper density that matches its sampler; presets; the conditioning noise helper."""
import math

import pytest
import torch

from kernels import timenoise as tn

pytestmark = pytest.mark.unit

SETTINGS = [(name, p.a, p.beta_m, p.mu_max) for name, p in tn.PRESETS.items()] + [("custom", 1.0, 25.0, 1.0)]
TIMES = [0.0, 0.3, 0.75, 0.95, 1.0]


@pytest.mark.parametrize("name, a, beta_m, mu_max", SETTINGS, ids=[s[0] for s in SETTINGS])
@pytest.mark.parametrize("t", TIMES)
def test_pdf_integrates_to_one(name, a, beta_m, mu_max, t):
    # in logit coordinates the density is a plain normal: integrate on a fine β grid with the Jacobian intact
    y = torch.linspace(-14, 14, 400001, dtype=torch.float64)
    beta = beta_m * torch.sigmoid(y)
    dens = tn.pdf(beta, t, a, beta_m, mu_max)
    total = torch.trapezoid(dens * beta * (beta_m - beta) / beta_m, y)  # dβ = β(β_m − β)/β_m dy
    assert float(total) == pytest.approx(1.0, abs=1e-9)
    # and directly on β (the density vanishes at both ends)
    b = torch.linspace(0, beta_m, 400001, dtype=torch.float64)
    assert float(torch.trapezoid(tn.pdf(b, t, a, beta_m, mu_max), b)) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("name, a, beta_m, mu_max", SETTINGS, ids=[s[0] for s in SETTINGS])
@pytest.mark.parametrize("t", [0.0, 0.8, 1.0])
def test_pdf_matches_sampled_histogram(name, a, beta_m, mu_max, t):
    n = 200_000
    beta, _ = tn.sample_beta(torch.full((n,), t), a, beta_m, mu_max, seed=7)
    assert bool(((beta > 0) & (beta < beta_m)).all())
    edges = torch.linspace(0, beta_m, 41, dtype=torch.float64)
    counts = torch.histc(beta, bins=40, min=0, max=beta_m).double()
    width = float(edges[1] - edges[0])
    # expected mass per bin from the cdf; compare as densities with a binomial tolerance
    mass = tn.cdf(edges[1:], t, a, beta_m, mu_max) - tn.cdf(edges[:-1], t, a, beta_m, mu_max)
    sd = torch.sqrt(n * mass * (1 - mass)).clamp(min=1.0)
    assert bool(((counts - n * mass).abs() <= 5 * sd + 2).all())
    # the pdf at bin centres agrees with the histogram density where bins are well filled
    centres = (edges[1:] + edges[:-1]) / 2
    hist = counts / (n * width)
    dens = tn.pdf(centres, t, a, beta_m, mu_max)
    well = counts > 2000
    assert bool(well.any())
    assert bool(((hist[well] - dens[well]).abs() <= 0.1 * dens[well] + 0.1 * float(dens.max())).all())
    # Kolmogorov–Smirnov distance of the sample against the closed-form cdf
    sorted_beta, _ = torch.sort(beta)
    ecdf = torch.arange(1, n + 1, dtype=torch.float64) / n
    ks = float((ecdf - tn.cdf(sorted_beta, t, a, beta_m, mu_max)).abs().max())
    assert ks < 1.63 / math.sqrt(n) * 1.5  # ~1 % level, with margin


def test_quantile_inverts_cdf():
    q = torch.tensor([0.001, 0.05, 0.3, 0.5, 0.9, 0.999], dtype=torch.float64)
    for p in tn.PRESETS.values():
        for t in TIMES:
            b = tn.quantile(q, t, p.a, p.beta_m, p.mu_max)
            torch.testing.assert_close(tn.cdf(b, t, p.a, p.beta_m, p.mu_max), q, rtol=0, atol=1e-12)


# the spec's preset table: median, 5 % and 95 % levels at t = 0, medians at t = 0.75 and 1 (SVD: t = σ/700)
PRESET_TABLE = {
    "DynamiCrafter": (26.9, 6.6, 65.6, 37.2, 73.1),
    "VideoCrafter1": (1.80, 0.35, 8.67, 10.9, 98.2),
    "SVD": (4.03, 1.0, 9.8, 5.57, 10.97),
}


@pytest.mark.parametrize("name", sorted(PRESET_TABLE))
def test_presets_match_the_recipes(name):
    p = tn.PRESETS[name]
    med0, q05, q95, med75, med1 = PRESET_TABLE[name]
    assert float(tn.median(0.0, p.a, p.beta_m, p.mu_max)) == pytest.approx(med0, rel=0.02)
    assert float(tn.quantile(0.05, 0.0, p.a, p.beta_m, p.mu_max)) == pytest.approx(q05, rel=0.04)
    assert float(tn.quantile(0.95, 0.0, p.a, p.beta_m, p.mu_max)) == pytest.approx(q95, rel=0.02)
    assert float(tn.median(0.75, p.a, p.beta_m, p.mu_max)) == pytest.approx(med75, rel=0.02)
    assert float(tn.median(1.0, p.a, p.beta_m, p.mu_max)) == pytest.approx(med1, rel=0.02)


def test_time_mapping_per_model():
    assert float(tn.time_of(500, "ddpm")) == 0.5
    assert float(tn.time_of(700.0, "edm")) == 1.0
    assert float(tn.time_of(1400.0, "edm")) == 2.0  # SVD's σ may exceed 700
    with pytest.raises(ValueError, match="time"):
        tn.time_of(1, "karras")


def test_dynamicrafter_destroys_the_concat_image():
    """Spec scale check: P(β < 1) at t = 0 is about 2e-4 for DynamiCrafter."""
    p = tn.PRESETS["DynamiCrafter"]
    assert float(tn.cdf(1.0, 0.0, p.a, p.beta_m, p.mu_max)) == pytest.approx(1.6e-4, rel=0.2)


def test_apply_timenoise_forms():
    cond = torch.randn(3, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    beta = torch.tensor([0.0, 1.0, 10.0])
    per = tn.apply_timenoise(cond, beta, seed=1)
    assert per.shape == cond.shape and per.dtype == cond.dtype
    torch.testing.assert_close(per[0], cond[0])  # β = 0 leaves a sample untouched
    eps = torch.randn(cond.shape, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(per, cond + beta.reshape(-1, 1, 1, 1) * eps, atol=1e-5, rtol=1e-5)
    off = tn.apply_timenoise(cond, beta, seed=1, form="scalar_offset")
    diff = off - cond
    assert bool((diff.flatten(1).std(dim=1) < 1e-5).all())  # one offset per sample
    n = torch.randn(3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(diff[:, 0, 0, 0], beta * n, atol=1e-5, rtol=1e-5)
    cond_copy = cond.clone()
    tn.apply_timenoise(cond, 2.0, seed=3)
    assert torch.equal(cond, cond_copy), "the input conditioning is never modified"


def test_apply_timenoise_statistics():
    cond = torch.zeros(2, 4, 64, 64)
    out = tn.apply_timenoise(cond, torch.tensor([2.0, 0.5]), seed=5)
    assert float(out[0].std()) == pytest.approx(2.0, rel=0.03)
    assert float(out[1].std()) == pytest.approx(0.5, rel=0.03)


@pytest.mark.parametrize("kwargs, match", [
    (dict(a=0.0, beta_m=100.0), "a = 0"), (dict(a=5.0, beta_m=-1.0), "beta_m"),
    (dict(a=5.0, beta_m=100.0, s=0.0), "s = 0"), (dict(a=5.0, beta_m=100.0, form="blur"), "form"),
    (dict(a=5.0, beta_m=100.0, time="karras"), "time"),
])
def test_bad_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tn.TimeNoiseParams(**kwargs)


def test_bad_levels():
    with pytest.raises(ValueError, match="beta"):
        tn.apply_timenoise(torch.zeros(2, 3), -1.0)
    with pytest.raises(ValueError, match="2 noise levels for a batch of 3"):
        tn.apply_timenoise(torch.zeros(3, 3), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="quantile"):
        tn.quantile(1.0, 0.0, 5, 100)
    with pytest.raises(ValueError, match="3 timesteps"):
        tn.timenoise_training_batch(torch.zeros(2, 3), [1, 2, 3], tn.PRESETS["SVD"])


def test_weight_limits_the_noise_to_the_given_part():
    """Wan's concat_mask inverted: noise where the image is given (weight 1), none on the padding (weight 0); the
    draws are those of the unweighted call."""
    cond = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    weight = torch.tensor([1.0, 0.0, 0.0]).reshape(1, 1, 3, 1, 1)
    full = tn.apply_timenoise(cond, 2.0, seed=4)
    part = tn.apply_timenoise(cond, 2.0, seed=4, weight=weight)
    assert torch.equal(part[:, :, 1:], cond[:, :, 1:])
    assert torch.equal(part[:, :, 0], full[:, :, 0])
    offset = tn.apply_timenoise(cond, 2.0, seed=4, form="scalar_offset", weight=weight)
    assert torch.equal(offset[:, :, 1:], cond[:, :, 1:]) and float((offset - cond)[:, :, 0].std()) < 1e-6


@pytest.mark.parametrize("weight, match", [(torch.ones(1, 1, 5, 1, 1), "does not fit the conditioning"),
                                           (torch.ones(2, 1, 1, 1, 1, 1), "does not fit the conditioning"),
                                           (torch.full((1, 1, 3, 1, 1), 1.5), r"must lie in \[0, 1\]"),
                                           (torch.full((1, 1, 3, 1, 1), float("nan")), r"must lie in \[0, 1\]")])
def test_bad_weights_are_refused(weight, match):
    with pytest.raises(ValueError, match=match):
        tn.apply_timenoise(torch.zeros(1, 16, 3, 4, 4), 1.0, seed=0, weight=weight)
