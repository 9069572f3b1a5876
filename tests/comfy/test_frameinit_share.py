"""FrameInit's layout share (kernels/schedules.py) on every core family's own noise schedule.

Each family's model_sampling is built the way ComfyUI builds it for a loaded checkpoint, without weights:
``comfy.model_base.model_sampling(<supported_models config>, <the model_base class's model_type>)``; the shifts
of ComfyUI's workflow templates are applied by core's own ModelSamplingSD3 / ModelSamplingLTXV nodes. ``auto``
(the default) must give the layout ConsistI2V's share at noise_timestep on each; ``model_schedule`` (the old
default) leaves SVD and the flow models close to plain noise, which these closed forms pin down.
"""
from __future__ import annotations

import inspect
import math

import pytest
import torch

from tests.support.node_calls import call_node, node_class, pack_module

pytestmark = pytest.mark.comfy

TAU = 850
T = TAU / 999.0  # model_schedule reads noise_timestep as percent 1 - tau/999

# id: (supported_models config, model_base class, what it is). Shifts/sigma ranges are the configs' own.
CORE = {
    "svd": ("SVD_img2vid", "SVD_img2vid", "SVD / SVD-XT (EDM v-prediction, sigma 0.002..700)"),
    "sd15": ("SD15", "BaseModel", "SD 1.5 (DDPM eps)"),
    "wan21": ("WAN21_T2V", "WAN21", "Wan 2.1 (flow, shift 8)"),
    "wan21_i2v": ("WAN21_I2V", "WAN21", "Wan 2.1 I2V (flow, shift 8)"),
    "wan22_5b": ("WAN22_T2V", "WAN22", "Wan 2.2 5B TI2V (flow, shift 8)"),
    "ltxv": ("LTXV", "LTXV", "LTXV (flux-style shift 2.37)"),
    "ltx2": ("LTXAV", "LTXAV", "LTX-2 audio+video"),
    "hunyuan15": ("HunyuanVideo15", "HunyuanVideo15", "HunyuanVideo 1.5 (flow, shift 7)"),
    "cosmos_predict2": ("CosmosI2VPredict2", "CosmosPredict2", "Cosmos Predict2 I2V (rectified flow, EDM sigmas)"),
}
# (id, core node, its inputs besides model): shifts from ComfyUI's templates (comfyui-workflow-templates 0.7):
# Wan 2.1/2.2 5B: ModelSamplingSD3 8; Wan 2.2 14B: 8 (high noise) and 5 (low noise); HunyuanVideo 1.5: 7, its
# super-resolution stage 2; LTXV's LTXVScheduler shift for 768x512x97 (ModelSamplingLTXV's same formula).
TEMPLATES = [
    ("sd3_shift_8", "ModelSamplingSD3", {"shift": 8.0}),
    ("sd3_shift_5", "ModelSamplingSD3", {"shift": 5.0}),
    ("sd3_shift_7", "ModelSamplingSD3", {"shift": 7.0}),
    ("sd3_shift_2", "ModelSamplingSD3", {"shift": 2.0}),
    ("sd3_shift_1", "ModelSamplingSD3", {"shift": 1.0}),
    ("sd3_shift_17", "ModelSamplingSD3", {"shift": 17.0}),
    ("ltxv_768x512x97", "ModelSamplingLTXV", {"max_shift": 2.05, "base_shift": 0.95,
                                              "latent": {"samples": torch.zeros(1, 128, 13, 16, 24)}}),
]


def _version() -> str:
    try:
        import comfyui_version

        return comfyui_version.__version__
    except ImportError:
        return "this ComfyUI"


def core_sampling(key: str):
    """The model_sampling ComfyUI gives a loaded checkpoint of family ``key`` (no weights involved)."""
    import comfy.model_base as mb
    import comfy.supported_models as sm

    config_name, base_name, what = CORE[key]
    config_cls, base_cls = getattr(sm, config_name, None), getattr(mb, base_name, None)
    if config_cls is None or base_cls is None:
        pytest.skip(f"ComfyUI {_version()} has no {what} (no supported_models.{config_name} / "
                    f"model_base.{base_name})")
    model_type = inspect.signature(base_cls.__init__).parameters["model_type"].default
    return mb.model_sampling(config_cls({}), model_type)


def consisti2v_sampling():
    """The native ConsistI2V model's model_sampling (the pack's config: the paper's DDPM schedule, eps)."""
    import comfy.model_base as mb

    model_mod = pack_module("consisti2v.model")
    model_type = inspect.signature(model_mod.ConsistI2VModel.__init__).parameters["model_type"].default
    return mb.model_sampling(model_mod.ConsistI2VConfig({}), model_type)


@pytest.fixture(scope="module")
def tiny_wan(comfy):
    from tests.support import tiny_models

    return tiny_models.build_tiny_model("wan")


def template_sampling(tiny_wan, key: str):
    """model_sampling after core's ModelSampling* node (the node only reads the model's config)."""
    _, node, kwargs = next(t for t in TEMPLATES if t[0] == key)
    (patched,) = call_node(node, model=tiny_wan, **kwargs)
    return patched.get_model_object("model_sampling")


def schedules():
    from kernels import schedules

    return schedules


# --- closed forms of model_schedule at tau (independent of the pack's probing) ---------------------------

def _vp_share(sigma: float) -> float:  # x = sigma·n + L (DDPM/EDM/Cosmos): c/sqrt(a²+c²) = 1/sqrt(1+sigma²)
    return 1.0 / math.sqrt(1.0 + sigma * sigma)


def _flow_share(s: float) -> float:  # x = s·n + (1-s)·L
    return (1.0 - s) / math.hypot(s, 1.0 - s)


def _edm_sigma(sigma_min: float, sigma_max: float) -> float:  # log-linear, percent 1 - T
    return math.exp(math.log(sigma_min) + (math.log(sigma_max) - math.log(sigma_min)) * T)


def _shifted(shift: float) -> float:  # time_snr_shift
    return shift * T / (1 + (shift - 1) * T)


def _flux_shifted(mu: float) -> float:  # flux_time_shift(mu, 1, t)
    return math.exp(mu) / (math.exp(mu) + (1 / T - 1))


MODEL_SCHEDULE_850 = {
    "svd": _vp_share(_edm_sigma(0.002, 700.0)),
    "wan21": _flow_share(_shifted(8.0)),
    "wan21_i2v": _flow_share(_shifted(8.0)),
    "wan22_5b": _flow_share(_shifted(8.0)),
    "ltxv": _flow_share(_flux_shifted(2.37)),
    "ltx2": _flow_share(_flux_shifted(2.37)),
    "hunyuan15": _flow_share(_shifted(7.0)),
    "cosmos_predict2": _vp_share(_edm_sigma(0.002, 80.0)),
}
_LTXV_TEMPLATE_SHIFT = 13 * 16 * 24 * (2.05 - 0.95) / (4096 - 1024) + 0.95 - (2.05 - 0.95) / (4096 - 1024) * 1024
TEMPLATE_MODEL_SCHEDULE_850 = {
    "sd3_shift_8": _flow_share(_shifted(8.0)), "sd3_shift_5": _flow_share(_shifted(5.0)),
    "sd3_shift_7": _flow_share(_shifted(7.0)), "sd3_shift_2": _flow_share(_shifted(2.0)),
    "sd3_shift_1": _flow_share(_shifted(1.0)), "sd3_shift_17": _flow_share(_shifted(17.0)),
    "ltxv_768x512x97": _flow_share(_flux_shifted(_LTXV_TEMPLATE_SHIFT)),
}
# The video families whose own schedule (model_schedule) left FrameInit without effect: under 40 % of the
# paper's share at 850 (the issue measured 1-2 % of the layout on SVD, Wan 2.1, Wan 2.2 5B and LTXV graphs).
WEAK_UNDER_MODEL_SCHEDULE = ["svd", "wan21", "wan21_i2v", "wan22_5b", "ltxv", "ltx2", "hunyuan15"]


def _shares(ms, tau=TAU):
    s = schedules()
    return {scale: s.layout_share(ms, s.layout_noise_sigma(ms, tau, scale)) for scale in s.TAU_SCALES}


def test_paper_share_is_sqrt_alpha_bar_of_the_consisti2v_schedule():
    s = schedules()
    ab = torch.cumprod(1 - torch.linspace(0.00085, 0.012, 1000, dtype=torch.float64), 0)
    assert s.paper_layout_share(850) == pytest.approx(math.sqrt(float(ab[850])), rel=1e-5)
    assert s.paper_layout_share(850) == pytest.approx(0.0918, abs=1e-4)
    assert s.paper_layout_share(850) / math.sqrt(1 - s.paper_layout_share(850) ** 2) == pytest.approx(
        s.consisti2v_snr_ratio(850), rel=1e-9)


@pytest.mark.parametrize("key", list(CORE))
@pytest.mark.parametrize("tau", [100, 500, 850, 950])
def test_auto_gives_the_paper_share_on_every_family(comfy, key, tau):
    s = schedules()
    ms = core_sampling(key)
    shares = _shares(ms, tau)
    assert shares["consisti2v_snr"] == pytest.approx(shares["auto"], rel=1e-6)
    if s.layout_share(ms, float(ms.sigma_max)) > s.paper_layout_share(tau):
        # Only SD 1.5's short schedule (sigma_max 14.6) cannot noise the layout as far as ConsistI2V's t=950.
        assert (key, tau) == ("sd15", 950)
        assert s.layout_noise_sigma(ms, tau, "auto") == pytest.approx(float(ms.sigma_max), rel=1e-6)
        return
    assert shares["auto"] == pytest.approx(s.paper_layout_share(tau), rel=1e-6), (key, tau, shares)


@pytest.mark.parametrize("key", [t[0] for t in TEMPLATES])
def test_auto_gives_the_paper_share_at_every_template_shift(tiny_wan, key):
    s = schedules()
    ms = template_sampling(tiny_wan, key)
    shares = _shares(ms)
    assert shares["auto"] == pytest.approx(s.paper_layout_share(TAU), rel=1e-6), (key, shares)
    assert shares["model_schedule"] == pytest.approx(TEMPLATE_MODEL_SCHEDULE_850[key], rel=1e-4), key


@pytest.mark.parametrize("key", list(MODEL_SCHEDULE_850))
def test_model_schedule_matches_the_closed_form(comfy, key):
    ms = core_sampling(key)
    assert _shares(ms)["model_schedule"] == pytest.approx(MODEL_SCHEDULE_850[key], rel=1e-4)


@pytest.mark.parametrize("key", WEAK_UNDER_MODEL_SCHEDULE)
def test_model_schedule_leaves_the_video_families_near_plain_noise(comfy, key):
    """The defect ``auto`` fixes: at 850 their own schedule keeps 1-2.5 % of the layout, not the paper's 9.2 %."""
    shares = _shares(core_sampling(key))
    assert 0.009 < shares["model_schedule"] < 0.026, shares
    assert shares["model_schedule"] < 0.4 * shares["auto"]


def test_auto_is_exactly_the_native_consisti2v_schedule(comfy):
    """On ConsistI2V's own DDPM schedule auto is model_schedule bit for bit (the paper's own noise level)."""
    s = schedules()
    ms = consisti2v_sampling()
    assert s.layout_noise_sigma(ms, 850, "auto") == s.layout_noise_sigma(ms, 850, "model_schedule")
    assert s.layout_noise_sigma(ms, 850, "auto") == pytest.approx(float(ms.sigmas[850]), rel=1e-6)
    assert s.layout_noise_sigma(ms, 850, "auto") == pytest.approx(10.849, abs=1e-3)
    for tau in range(1, 999):
        assert s.layout_noise_sigma(ms, tau, "auto") == s.layout_noise_sigma(ms, tau, "model_schedule"), tau
    # The ends, where percent_to_sigma returns 0 and 1e9: auto keeps the paper's share there instead.
    for tau in (0, 999):
        assert s.layout_share(ms, s.layout_noise_sigma(ms, tau, "auto")) == pytest.approx(
            s.paper_layout_share(tau), rel=1e-3)


def test_auto_is_capped_at_the_models_largest_noise(comfy):
    """SD 1.5's sigma_max (14.6) keeps more layout than the paper's t=999: auto stops at sigma_max."""
    s = schedules()
    ms = core_sampling("sd15")
    sigma = s.layout_noise_sigma(ms, 999, "auto")
    assert sigma == pytest.approx(float(ms.sigma_max), rel=1e-6)
    assert s.layout_share(ms, sigma) > s.paper_layout_share(999)


def test_unknown_scale_is_refused(comfy):
    s = schedules()
    with pytest.raises(ValueError, match="timestep_scale 'paper' is unknown: use one of auto, model_schedule, "
                                         "consisti2v_snr"):
        s.layout_noise_sigma(core_sampling("wan21"), 850, "paper")


# --- the node: default, tooltip, and the share measured in the start state it builds ---------------------

def _input(node_id: str, name: str):
    return next(i for i in node_class(node_id).define_schema().inputs if i.id == name)


@pytest.mark.parametrize("node_id", ["ConsistI2VFrameInitNoise", "ConsistI2VLongVideo"])
def test_auto_is_the_default_and_saved_choices_stay(comfy, node_id):
    inp = _input(node_id, "timestep_scale")
    assert inp.default == "auto"
    assert set(inp.options) == {"auto", "model_schedule", "consisti2v_snr"}


def test_timestep_scale_tooltip_numbers_are_the_measured_ones(comfy):
    s = schedules()
    tip = _input("ConsistI2VFrameInitNoise", "timestep_scale").tooltip
    assert f"({s.paper_layout_share(850):.1%} at 850)" in tip
    assert f"SVD keeps {_shares(core_sampling('svd'))['model_schedule']:.1%} of the layout" in tip
    assert "Wan, LTXV and HunyuanVideo 1.5 at their default shift 1.6-2.5%" in tip
    for key in ("wan21", "wan22_5b", "ltxv", "hunyuan15"):
        try:
            share = _shares(core_sampling(key))["model_schedule"]
        except pytest.skip.Exception:
            continue  # a family this ComfyUI lacks
        assert 0.016 <= round(share, 3) <= 0.025, (key, share)


def _split_start_state(noise, shape, ms, process_in):
    """(layout coefficient, noise coefficient) of the low band of the start state ``noise`` builds, recovered
    from the state itself: z = ε + LP((ka - 1)·ε) + kc·LP(process_in(L)) (circular padding)."""
    from kernels.pyoco import video_noise
    from kernels.spectral import lowpass

    args = {"kind": noise.filter_kind, "d_s": noise.d_s, "d_t": noise.d_t, "order": noise.order}
    samples = torch.zeros(shape)
    z1 = noise.state(samples).double()
    layout1 = noise.layout
    noise.layout = 2 * layout1
    z2 = noise.state(samples).double()
    noise.layout = layout1
    lp_layout = lowpass(process_in(layout1.clone().float()) - process_in(torch.zeros_like(layout1)), **args).double()
    kc = float((z2 - z1).flatten() @ lp_layout.flatten() / (lp_layout.flatten() @ lp_layout.flatten()))
    eps = video_noise(shape, noise.seed, noise.noise_kind, noise.alpha).double()
    rest = z1 - eps - kc * lowpass(process_in(layout1.clone().float()), **args).double()
    lp_eps = lowpass(eps, **args).double()
    ka = 1 + float(rest.flatten() @ lp_eps.flatten() / (lp_eps.flatten() @ lp_eps.flatten()))
    torch.testing.assert_close(rest, (ka - 1) * lp_eps, atol=1e-4, rtol=1e-4)
    return kc, ka


@pytest.mark.parametrize("kind", ["wan", "svd"])
@pytest.mark.parametrize("scale", ["auto", "model_schedule"])
def test_share_in_the_start_state_the_node_builds(comfy, tiny_wan, kind, scale):
    """The node's FrameInit state holds the layout at layout_share(sigma_tau): auto gives the paper's 9.2 %,
    model_schedule 2.2 % (Wan, shift 8) and 1.0 % (SVD)."""
    import comfy.samplers

    from tests.support import tiny_models

    s = schedules()
    model = tiny_wan if kind == "wan" else tiny_models.build_tiny_model(kind)
    _, _, latent = tiny_models.tiny_conditioning(kind, frames=3, h=8, w=8)
    shape = latent["samples"].shape
    ms = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "simple", 4).float()
    layout = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    noise = node_class("ConsistI2VFrameInitNoise").execute(
        model, {"samples": layout}, sigmas, 7, 850, scale, "gaussian", 0.25, 0.25, 4, False, "pyoco_mixed", 1.0,
        False, "circular").result[0]
    kc, ka = _split_start_state(noise, shape, ms, model.get_model_object("latent_format").process_in)
    measured = kc / math.hypot(ka, kc)
    assert measured == pytest.approx(s.layout_share(ms, noise.sigma_tau), rel=1e-4)
    expected = s.paper_layout_share(850) if scale == "auto" else MODEL_SCHEDULE_850["wan21" if kind == "wan" else "svd"]
    assert measured == pytest.approx(expected, rel=1e-3)


# --- the layout check speaks the family's VAE -------------------------------------------------------------

def test_node_passes_the_family_to_the_layout_check(comfy, tiny_wan):
    import comfy.samplers

    from tests.support import tiny_models

    _, _, latent = tiny_models.tiny_conditioning("wan", frames=6, h=8, w=8)
    sigmas = comfy.samplers.calculate_sigmas(tiny_wan.get_model_object("model_sampling"), "simple", 4).float()
    short = torch.randn(1, 16, 2, 8, 8)
    noise = node_class("ConsistI2VFrameInitNoise").execute(
        tiny_wan, {"samples": short}, sigmas, 7, 850, "auto", "gaussian", 0.25, 0.25, 4, False, "pyoco_mixed",
        1.0, False).result[0]
    assert noise.family.key == "wan21"
    with pytest.raises(ValueError) as err:
        noise.generate_noise(latent)
    msg = str(err.value)
    assert "layout has 2 frame(s) but the sampled latent has 6, so it needs 6" in msg
    assert "make the layout video 21 pixel frames long" in msg and "4k+1" in msg
    assert "drop_first_frame" not in msg


def test_static_layout_frames_tooltip_gives_each_familys_pixel_frames(comfy):
    from kernels.families import FAMILIES

    tip = _input("ConsistI2VStaticLayout", "frames").tooltip
    for fam in FAMILIES.values():
        assert (fam.label if fam.key != "generic" else "most other models") in tip, fam.key
    assert ("Wan 2.1 / 2.2 14B, Wan 2.2 5B, HunyuanVideo 1.5, Cosmos Predict2: 4k+1 "
            "(e.g. 81 pixel frames -> 21 latent frames)") in tip
    assert "LTXV, LTX-2 (audio+video): 8k+1 (e.g. 97 pixel frames -> 13 latent frames)" in tip
    for key, px, latent in (("wan21", 81, 21), ("ltxv", 97, 13)):
        assert FAMILIES[key].latent_frames(px) == latent and FAMILIES[key].video_frames(latent) == px
    assert "SVD / SVD-XT" in tip.split("one per latent frame")[0]


def test_static_layout_behaviour_is_unchanged(comfy):
    image = torch.rand(2, 8, 12, 3)
    (out,) = call_node("ConsistI2VStaticLayout", image=image, frames=5)
    assert out.shape == (5, 8, 12, 3) and torch.equal(out, image[:1].repeat(5, 1, 1, 1))
