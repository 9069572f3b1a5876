"""Analytic-Init kernels: statistics files and resampling, where M lives per model family, SIGMAS, the NOISE."""
import math

import pytest
import torch

from kernels import analytic_init as ai
from kernels.noise_objects import StartState
from kernels.noise_solver import is_max_denoise
from tests.support import duck_sampling as duck

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------------------------------ duck-typed samplings

def Discrete(zero_snr=False):  # noqa: N802 - reads like the sampling classes below
    """ModelSamplingDiscrete-like on the SD schedule; zero-SNR with ComfyUI's zsnr clamp of the last ᾱ."""
    ab = ai.ldm_alphas_cumprod(zero_snr=zero_snr)
    if zero_snr:
        ab[-1] = 4.8973451890853435e-08
    return duck.Discrete(ab)


EDM, Flow = duck.EDM, duck.Flow


def _start(ms, sigma0, process_in=lambda x: x):
    return StartState(ms, process_in, float(sigma0), float(ms.sigma_max))


# ------------------------------------------------------------------------------------------ where M lives

def test_start_scale_per_family():
    assert ai.start_scale(Discrete()) == ai.StartScale("timestep", 1000.0)
    assert ai.start_scale(Discrete(zero_snr=True)) == ai.StartScale("timestep", 1000.0)
    edm = ai.start_scale(EDM())
    assert edm.kind == "sigma" and edm.T == pytest.approx(700.0)
    assert ai.start_scale(Flow(shift=8.0)) == ai.StartScale("flow", 1000.0)


def test_sigma_at_per_family():
    d = Discrete()
    assert ai.sigma_at(d, 940) == pytest.approx(float(d.sigmas[939]), rel=1e-12)  # the first step is M - 1
    assert ai.sigma_at(d, 1000) == pytest.approx(float(d.sigma_max), rel=1e-12)
    assert ai.sigma_at(EDM(), 100) == 100.0
    assert ai.sigma_at(Flow(), 600) == pytest.approx(0.6)
    assert ai.sigma_at(Flow(shift=8.0), 500) == pytest.approx(8 * 0.5 / (1 + 7 * 0.5))
    assert ai.sigma_at(Flow(shift=8.0), 1000) == 1.0


@pytest.mark.parametrize("ms, M, top", [(Discrete(), 0, "1000"), (Discrete(), 1001, "1000"), (EDM(), 800, "700"),
                                        (EDM(), -1, "700"), (Flow(), 1000.5, "1000"), (Discrete(), float("nan"), "")])
def test_M_outside_range_is_named(ms, M, top):
    with pytest.raises(ValueError, match=r"M = .* is outside \(0, " + top):
        ai.sigma_at(ms, M)


def test_start_sigmas_uniform_trailing_is_the_official_grid():
    d = Discrete()
    sig = ai.start_sigmas(d, 940, 50)
    ts = ai.uniform_trailing_timesteps(940, 50)
    assert ts[0] == 939 and len(ts) == 50
    want = torch.tensor([float(d.sigmas[t]) for t in ts] + [0.0], dtype=torch.float32)
    torch.testing.assert_close(sig, want, rtol=1e-6, atol=0)
    assert sig.dtype == torch.float32 and float(sig[0]) == pytest.approx(ai.sigma_at(d, 940), rel=1e-7)
    assert ai.uniform_trailing_timesteps(1000, 50)[:3] == [999, 979, 959]


def test_uniform_trailing_whole_sweep():
    """Every integer M <= 1000 and steps <= min(M, 100): exactly `steps` distinct descending timesteps from M - 1,
    equal to the official grid wherever that has no timestep -1; where it has one (3,389 pairs, 3,255 of them with
    steps <= M // 2) only that entry is gone."""
    pairs = official_broken = within_half = 0
    for M in range(1, 1001):
        for steps in range(1, min(M, 100) + 1):
            ts = ai.uniform_trailing_timesteps(M, steps)
            official = ai.official_trailing_grid(M, steps).tolist()
            assert len(ts) == steps and ts[0] == M - 1 and ts[-1] >= 0, (M, steps)
            assert all(a > b for a, b in zip(ts, ts[1:])), (M, steps)
            if official[-1] == -1:
                official_broken += 1
                within_half += steps <= M // 2
                assert len(official) == steps + 1 and min(official[:-1]) >= 0, (M, steps)
                official = official[:-1]
            assert ts == official, (M, steps)
            pairs += 1
    assert pairs == 95050 and official_broken == 3389 and within_half == 3255
    assert ai.official_trailing_grid(920, 50)[-1] == -1 and ai.official_trailing_grid(57, 25)[-1] == -1
    assert ai.uniform_trailing_timesteps(920, 50)[-3:] == [54, 36, 17]


@pytest.mark.parametrize("M", [0.5, 940.25, 999.5])
def test_uniform_trailing_fractional_M(M):
    if M < 1:
        with pytest.raises(ValueError, match="below 1"):
            ai.uniform_trailing_timesteps(M, 1)
        return
    for steps in (1, 7, 50, 100):
        ts = ai.uniform_trailing_timesteps(M, steps)
        assert len(set(ts)) == steps and min(ts) >= 0


def test_start_sigmas_karras_and_flow():
    sig = ai.start_sigmas(EDM(), 100, 25)
    assert float(sig[0]) == 100.0 and float(sig[-1]) == 0 and len(sig) == 26
    assert float(sig[-2]) == pytest.approx(0.002, rel=1e-5)
    assert float(sig[1]) == pytest.approx(79.1885, rel=1e-5)  # the official SVD-CIL second sigma
    f = ai.start_sigmas(Flow(shift=3.0), 800, 4)
    assert float(f[0]) == pytest.approx(ai.sigma_at(Flow(shift=3.0), 800), rel=1e-6)
    assert len(f) == 5 and bool((f[:-1] > f[1:]).all())
    k = ai.start_sigmas(Discrete(), 900, 10, "karras")
    assert float(k[0]) == pytest.approx(ai.sigma_at(Discrete(), 900), rel=1e-6)


def test_start_sigmas_bad_combinations():
    with pytest.raises(ValueError, match="uniform_trailing needs a DDPM-style"):
        ai.start_sigmas(EDM(), 100, 25, "uniform_trailing")
    with pytest.raises(ValueError, match="linear_timesteps needs a timestep-based"):
        ai.start_sigmas(EDM(), 100, 25, "linear_timesteps")
    with pytest.raises(ValueError, match="steps = 50 is more than the start time M = 10: .* use at most 10 steps"):
        ai.start_sigmas(Discrete(), 10, 50)
    with pytest.raises(ValueError, match="schedule 'cosine' is unknown"):
        ai.start_sigmas(Discrete(), 900, 10, "cosine")


# ------------------------------------------------------------------------------------------ statistics

def test_resample_identity_repeat_and_time_ends():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(4, 3, 5, 6, generator=g)
    assert torch.equal(ai.resample_mean(mean, 3, 5, 6), mean)
    one = mean[:, :1]
    rep = ai.resample_mean(one, 7, 5, 6)
    assert rep.shape == (4, 7, 5, 6) and torch.equal(rep[:, 6], one[:, 0])
    longer = ai.resample_mean(mean, 5, 5, 6)  # 3 -> 5 frames: ends kept, midpoints averaged
    torch.testing.assert_close(longer[:, 0], mean[:, 0])
    torch.testing.assert_close(longer[:, 4], mean[:, 2])
    torch.testing.assert_close(longer[:, 1], (mean[:, 0] + mean[:, 1]) / 2)
    torch.testing.assert_close(ai.resample_mean(mean, 1, 5, 6)[:, 0], mean.mean(dim=1))


def test_resample_space_keeps_local_averages():
    const = torch.full((2, 1, 8, 8), 0.3)
    torch.testing.assert_close(ai.resample_mean(const, 4, 20, 12), torch.full((2, 4, 20, 12), 0.3))
    checker = (torch.arange(16).reshape(4, 4) % 2 == 0).float()
    checker = (checker + checker.T) % 2  # 0/1 checkerboard, average 0.5
    small = ai.resample_mean(torch.kron(checker, torch.ones(4, 4))[None, None], 1, 2, 2)  # 16x16 -> 2x2
    torch.testing.assert_close(small, torch.full((1, 1, 2, 2), 0.5), atol=0.02, rtol=0)
    # shrinking averages (antialiased): white noise 32x32 -> 4x4 keeps its mean, loses most of its spread
    noise = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    shrunk = ai.resample_mean(noise, 1, 4, 4)
    assert float(shrunk.std()) < 0.3 and abs(float(shrunk.mean() - noise.mean())) < 0.05
    cm = ai.resample_mean(torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2), 5, 4, 4,
                          "channel_mean")
    assert cm.shape == (2, 5, 4, 4)
    torch.testing.assert_close(cm[0], torch.full((5, 4, 4), 5.5))
    torch.testing.assert_close(cm[1], torch.full((5, 4, 4), 17.5))


def test_statistics_keys_and_layouts():
    E = torch.randn(1, 4, 3, 2, 5)
    dc = ai.statistics_from_tensors({"Expectation_X0": E, "Tr_Cov_d": torch.tensor(0.8)})
    assert torch.equal(dc.mean, E[0]) and dc.variance == pytest.approx(0.8)
    svd = ai.statistics_from_tensors({"Expectation_x_0": E.permute(0, 2, 1, 3, 4), "trCov_d": torch.tensor(0.5)})
    assert torch.equal(svd.mean, E[0])  # b f c h w -> c f h w
    override = ai.statistics_from_tensors({"Expectation_X0": E.permute(0, 2, 1, 3, 4), "Tr_Cov_d": torch.tensor(1.)},
                                          {"layout": "bfchw"})
    assert torch.equal(override.mean, E[0])
    per_channel = ai.statistics_from_tensors({"expectation_x0": torch.tensor([1., 2., 3., 4.]),
                                              "tr_cov_d": torch.tensor([0.1])})
    assert per_channel.mean.shape == (4, 1, 1, 1)
    plain = ai.statistics_from_tensors({"Expectation_X0": E, "Tr_Cov_d": 0.25})  # a float in a pickle
    assert plain.variance == 0.25


@pytest.mark.parametrize("tensors, match", [
    ({"weight": torch.zeros(3)}, "is not a CIL statistics file"),
    ({"Expectation_X0": torch.zeros(2, 4, 1, 2, 2), "Tr_Cov_d": torch.tensor(1.0)}, "batch of 2"),
    ({"Expectation_X0": torch.zeros(4, 1, 2, 2), "Tr_Cov_d": torch.tensor(1.0)}, r"must be \[1, C, F, h, w\]"),
    ({"Expectation_X0": torch.zeros(1, 4, 1, 2, 2), "Tr_Cov_d": torch.tensor([1.0, 2.0])}, "must be one number"),
    ({"Expectation_X0": torch.zeros(1, 4, 1, 2, 2), "Tr_Cov_d": torch.tensor(-0.1)}, "negative"),
    ({"Expectation_X0": torch.full((1, 4, 1, 2, 2), float("nan")), "Tr_Cov_d": torch.tensor(0.1)}, "NaN"),
])
def test_not_a_statistics_file(tensors, match):
    with pytest.raises(ValueError, match=match):
        ai.statistics_from_tensors(tensors, source="statistics_file 'x.safetensors'")


def test_files_roundtrip_and_garbage(tmp_path):
    stats = ai.Statistics(torch.randn(4, 3, 4, 5), 0.7)
    ai.save_statistics(tmp_path / "mine.safetensors", stats)
    back = ai.load_statistics(tmp_path / "mine.safetensors", "channel_mean", 0.7)
    assert torch.equal(back.mean, stats.mean) and back.variance == pytest.approx(0.7)
    assert back.resample == "channel_mean" and back.scale == 0.7
    assert back.scaled_variance == pytest.approx(0.7 * 0.49)
    torch.save({"Expectation_X0": stats.mean[None], "Tr_Cov_d": torch.tensor(0.7)}, tmp_path / "official.pt")
    assert torch.equal(ai.load_statistics(tmp_path / "official.pt").mean, stats.mean)
    (tmp_path / "junk.safetensors").write_bytes(b"this is not a tensor file")
    with pytest.raises(ValueError, match="statistics_file 'junk.safetensors' is not a readable statistics file"):
        ai.load_statistics(tmp_path / "junk.safetensors")
    (tmp_path / "stats.json").write_text("{}")
    with pytest.raises(ValueError, match="statistics_file 'stats.json'"):
        ai.load_statistics(tmp_path / "stats.json")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not a dict of tensors"):
        ai.load_statistics(tmp_path / "list.pt")


def test_accumulator_estimates_mean_and_variance():
    g = torch.Generator().manual_seed(3)
    true_mean = torch.randn(4, 2, 3, 3, generator=g)
    acc = ai.StatisticsAccumulator()
    for _ in range(4000):
        acc.add(true_mean + 0.5 * torch.randn(4, 2, 3, 3, generator=g))
    est = acc.result()
    torch.testing.assert_close(est.mean, true_mean, atol=0.05, rtol=0)
    assert est.variance == pytest.approx(0.25, rel=0.05)
    with pytest.raises(ValueError, match="differs"):
        acc.add(torch.zeros(4, 2, 3, 4))


def test_latent_and_zero_mean_statistics():
    image = torch.randn(1, 4, 6, 6)
    s = ai.statistics_from_latent(image, 0.3)
    assert s.space == "latent" and s.mean.shape == (4, 1, 6, 6)
    video = torch.randn(1, 16, 5, 6, 6)
    assert ai.statistics_from_latent(video, 0.3).mean.shape == (16, 5, 6, 6)
    z = ai.zero_mean_statistics(0.5)
    assert z.mean is None and z.channels is None and z.mean_like(torch.zeros(3, 4, 2, 2)) is None
    for bad in (-0.01, float("inf")):
        with pytest.raises(ValueError, match="variance = .* is negative or not finite"):
            ai.zero_mean_statistics(bad)
    with pytest.raises(ValueError, match="variance"):
        ai.statistics_from_latent(image, -1.0)
    with pytest.raises(ValueError, match="mean_latent is 3-D"):
        ai.statistics_from_latent(torch.zeros(4, 6, 6), 0.3)


def test_mean_like_layouts_space_and_channels():
    mean = torch.randn(4, 2, 3, 3)
    s = ai.Statistics(mean, 0.5)
    four = s.mean_like(torch.zeros(2, 4, 3, 3))  # [T, C, H, W]
    assert torch.equal(four, mean.permute(1, 0, 2, 3))
    five = s.mean_like(torch.zeros(2, 4, 2, 3, 3))  # [B, C, T, H, W]: every sample gets E
    assert torch.equal(five[1], mean)
    latent = ai.statistics_from_latent(torch.ones(1, 4, 3, 3), 0.5)
    processed = latent.mean_like(torch.zeros(5, 4, 3, 3), process_in=lambda x: (x - 0.5) * 0.18215)
    torch.testing.assert_close(processed, torch.full((5, 4, 3, 3), 0.5 * 0.18215))
    with pytest.raises(ValueError, match="statistics: .* has 4 latent channels but the model samples 16"):
        s.mean_like(torch.zeros(1, 16, 2, 3, 3))
    scaled = s.with_options(scale=0.5)
    torch.testing.assert_close(scaled.mean_like(torch.zeros(2, 4, 3, 3)), 0.5 * four)


# ------------------------------------------------------------------------------------------ the NOISE

def _big_mean(c=4, f=4, h=16, w=16, seed=11):
    g = torch.Generator().manual_seed(seed)
    return 2.0 * torch.randn(c, f, h, w, generator=g)


@pytest.mark.parametrize("ms, M", [(Discrete(), 800), (Discrete(), 1000), (Discrete(zero_snr=True), 1000),
                                   (EDM(), 100), (EDM(), 700), (Flow(), 500), (Flow(shift=8.0), 940),
                                   (Flow(), 1000)])
def test_start_state_moments(ms, M):
    """z = calculate_input(σ0, sampler start) has mean k·c·E and variance k²(a² + c²v), whatever branch."""
    mean, v = _big_mean(), 0.6
    sigma0 = float(ai.start_sigmas(ms, M, 4)[0])
    noise = ai.AnalyticInitNoise(5, _start(ms, sigma0), ai.Statistics(mean, v))
    samples = torch.zeros(4, 4, 16, 16)
    n = noise.generate_noise({"samples": samples})
    s = torch.tensor(sigma0, dtype=torch.float64)
    x = ms.noise_scaling(s, n.double(), samples.double(), is_max_denoise(sigma0, float(ms.sigma_max)))
    z = ms.calculate_input(s, x)
    if isinstance(ms, Flow):
        signal, std = 1 - sigma0, math.sqrt(sigma0 ** 2 + (1 - sigma0) ** 2 * v)
    else:
        ab = 1 / (1 + sigma0 ** 2)
        signal, std = math.sqrt(ab), math.sqrt(1 - ab + ab * v)
    E = mean.permute(1, 0, 2, 3).double()
    resid = (z - signal * E) / std
    nel = resid.numel()
    assert abs(float(resid.mean())) < 5 / math.sqrt(nel)
    assert float(resid.var()) == pytest.approx(1.0, abs=5 * math.sqrt(2 / nel))
    assert abs(float((resid * E).mean() / E.std())) < 5 / math.sqrt(nel)  # no leftover mean


def test_seed_matches_randomnoise_and_batches_differ():
    ms = EDM()
    noise = ai.AnalyticInitNoise(42, _start(ms, 100.0), ai.zero_mean_statistics(0.0))
    samples = torch.zeros(2, 4, 8, 8)
    eps = noise.eps({"samples": samples}, samples)
    torch.manual_seed(42)
    assert torch.equal(eps, torch.randn(samples.shape))  # ComfyUI's prepare_noise draw
    assert not torch.equal(eps[0], eps[1])  # one draw per sample/frame, never reused
    # zero mean, v = 0, non-max branch: the NOISE is exactly eps
    torch.testing.assert_close(noise.generate_noise({"samples": samples}), eps, atol=1e-6, rtol=1e-6)


def test_nonempty_latent_is_subtracted():
    ms, sigma0 = Discrete(), ai.sigma_at(Discrete(), 700)
    noise = ai.AnalyticInitNoise(1, _start(ms, sigma0), ai.Statistics(_big_mean(f=3, h=4, w=4), 0.4))
    latent = torch.randn(3, 4, 4, 4, generator=torch.Generator().manual_seed(2))
    n = noise.generate_noise({"samples": latent})
    s = torch.tensor(sigma0, dtype=torch.float64)
    z = ms.calculate_input(s, ms.noise_scaling(s, n.double(), latent.double()))
    torch.testing.assert_close(z, noise.state(latent), atol=1e-5, rtol=1e-5)


class _StateNoise:
    seed = 0

    def __init__(self, value):
        self.value = value

    def state(self, samples):
        return self.value.expand(samples.shape).clone()

    def generate_noise(self, latent):
        raise AssertionError("state() is preferred")


class _PlainNoise:
    seed = 0

    def generate_noise(self, latent):
        return torch.full(latent["samples"].shape, 0.5)


def test_base_noise_replaces_eps():
    ms = Flow()
    stats = ai.zero_mean_statistics(0.0)
    samples = torch.zeros(2, 4, 4, 4)
    a = ai.AnalyticInitNoise(0, _start(ms, 1.0), stats, base_noise=_StateNoise(torch.tensor(0.25)))
    torch.testing.assert_close(a.state(samples), torch.full(samples.shape, 0.25, dtype=torch.float64))
    b = ai.AnalyticInitNoise(0, _start(ms, 1.0), stats, base_noise=_PlainNoise())
    torch.testing.assert_close(b.generate_noise({"samples": samples}), torch.full(samples.shape, 0.5))


def test_noise_mask_and_svd_formula_guards():
    ms = Discrete()
    noise = ai.AnalyticInitNoise(0, _start(ms, ai.sigma_at(ms, 900)), ai.zero_mean_statistics(0.5))
    plain = noise.generate_noise({"samples": torch.zeros(2, 4, 4, 4)})  # an all-ones mask frees every element
    assert torch.equal(noise.generate_noise({"samples": torch.zeros(2, 4, 4, 4), "noise_mask": torch.ones(1, 1, 4, 4)}),
                       plain)
    flow = ai.AnalyticInitNoise(0, _start(Flow(), 0.5), ai.zero_mean_statistics(0.5), "official_intended")
    with pytest.raises(ValueError, match="only on EDM/VE models"):
        flow.generate_noise({"samples": torch.zeros(2, 4, 4, 4)})
    with pytest.raises(ValueError, match="svd_formula 'swapped' is unknown"):
        ai.AnalyticInitNoise(0, _start(ms, 1.0), ai.zero_mean_statistics(0.5), "swapped")
