"""Our NOISE objects on latents with a noise mask and on nested (multi-part) latents, inside real ComfyUI sampling.

Two tiny random-weight models built by core's own classes: the tiny Wan 2.1 T2V (``model_base.WAN21``: the base
inpainting path, held frames re-noised with the NOISE at every step) and the tiny Wan 2.2 5B
(``tests/support/tiny_family_wan.py``, ``model_base.WAN22``: the in-latent I2V path, the held frames stay the clean
latent and the timestep is mask x sigma per frame). The latent holds an "image" in latent frame 0 under a noise mask
of 0 (held) or 0.3 (partial, LTXV's 1 - strength). Every run is compared with core's RandomNoise on the same seed.

Nested latents (LTX-2's ``NestedTensor(video, audio)``) are checked at the NOISE level with core's NestedTensor and
core's own packing; sampling them needs the LTXAV model (tests/comfy/test_family_ltx.py).
"""
import logging

import pytest
import torch

from tests.support.node_calls import call_node, capturing, node_class

pytestmark = pytest.mark.comfy

SEED = 31
FRAMES, H, W = 3, 8, 8
NOISES = ["pyoco", "frameinit", "analytic"]
BASELINES = {}


def node(name, **kwargs):
    """Run a registered node with its widget defaults for every input not given."""
    spec = node_class(name).INPUT_TYPES()
    args = {}
    for section in ("required", "optional"):
        for key, value in spec.get(section, {}).items():
            options = value[1] if len(value) > 1 and isinstance(value[1], dict) else {}
            if "default" in options:
                args[key] = options["default"]
            elif isinstance(value[0], (list, tuple)) and value[0]:
                args[key] = value[0][0]
    args.update(kwargs)
    return call_node(name, **args)


@pytest.fixture(scope="module")
def models(comfy):
    from tests.support import tiny_family_wan, tiny_models

    pos, neg, _ = tiny_models.tiny_conditioning("wan", frames=FRAMES, h=H, w=W)
    cosmos = next(m for m in tiny_models.family_modules() if getattr(m, "FAMILY", None) == "cosmos_predict2")
    ctx = torch.randn(1, 4, cosmos.TEXT_DIM, generator=torch.Generator().manual_seed(2))
    return {"wan21": tiny_models.build_tiny_model("wan"), "wan22_5b": tiny_family_wan.load_tiny_dit("wan22_5b"),
            "cosmos_predict2": cosmos.build_model(), "pos": pos, "neg": neg,
            "cosmos_conds": ([[ctx, {}]], [[torch.zeros_like(ctx), {}]])}


def _latent(channels, mask_value, seed=3):
    g = torch.Generator().manual_seed(seed)
    samples = torch.zeros(1, channels, FRAMES, H, W)
    samples[:, :, 0] = torch.randn(1, channels, H, W, generator=g)  # the "encoded image" in latent frame 0
    mask = torch.ones(1, 1, FRAMES, 1, 1)
    mask[:, :, 0] = mask_value
    return {"samples": samples, "noise_mask": mask}


def _layout(latent, seed=5):
    g = torch.Generator().manual_seed(seed)
    _, c, t, h, w = latent["samples"].shape
    return {"samples": torch.randn(1, c, 1, h, w, generator=g).repeat(1, 1, t, 1, 1)}


def _noise(kind, model, latent, sigmas):
    """(NOISE, SIGMAS) of our node ``kind`` for this model (Analytic-Init brings its own SIGMAS)."""
    if kind == "pyoco":
        return node("ConsistI2VPYoCoNoise", seed=SEED)[0], sigmas
    if kind == "frameinit":
        return node("ConsistI2VFrameInitNoise", model=model, layout=_layout(latent), sigmas=sigmas, seed=SEED)[0], sigmas
    (stats,) = node("CILStatistics", variance=0.8, resample="interpolate", mean_latent=_layout(latent, 6))
    top = float(model.get_model_object("model_sampling").sigma_max)
    M = 900.0 if top <= 1.0 else 0.8 * top  # a timestep on flow models, a sigma on continuous-sigma ones (Cosmos)
    noise, own = node("CILAnalyticInit", model=model, statistics=stats, M=M, steps=3, schedule="auto", seed=SEED,
                      svd_formula="fixed")
    return noise, own


def _sample(model, noise, sigmas, pos, neg, latent, sampler="euler"):
    """SamplerCustomAdvanced; returns (output samples, model inputs x of every call)."""
    import comfy.samplers

    patched, seen = capturing(model, lambda args: args["input"].detach().clone())
    guider = comfy.samplers.CFGGuider(patched)
    guider.set_conds(pos, neg)
    guider.set_cfg(2.0)
    out = call_node("SamplerCustomAdvanced", noise=noise, guider=guider,
                   sampler=comfy.samplers.sampler_object(sampler), sigmas=sigmas, latent_image=latent)[0]
    return out["samples"], seen


def _intended(kind, noise, model, latent, sigma0):
    """The object's intended model-input state at sigma0 on the whole latent (float64)."""
    samples = latent["samples"]
    if kind != "pyoco":
        return noise.state(samples).double()
    from kernels.noise_solver import is_max_denoise
    from kernels.pyoco import video_noise

    ms = model.get_model_object("model_sampling")
    eps = video_noise(samples.shape, SEED, noise.kind, noise.alpha)  # PYoCo's own noise on every element
    lat = model.get_model_object("latent_format").process_in(samples.clone()) if samples.any() else 0 * samples
    s = torch.tensor([sigma0], dtype=torch.float64)
    md = is_max_denoise(sigma0, float(ms.sigma_max))
    return ms.calculate_input(s, ms.noise_scaling(s, eps.double(), lat.double(), md))


def _per_frame(x):
    return x.mean(dim=(0, 1, 3, 4)), x.var(dim=(0, 1, 3, 4))


@pytest.mark.parametrize("mask_value", [0.0, 0.3])
@pytest.mark.parametrize("kind", NOISES)
@pytest.mark.parametrize("family", ["wan21", "wan22_5b", "cosmos_predict2"])
def test_masked_latent_sampling(models, family, kind, mask_value):
    import comfy.samplers

    model = models[family]
    pos, neg = models["cosmos_conds"] if family == "cosmos_predict2" else (models["pos"], models["neg"])
    channels = model.get_model_object("latent_format").latent_channels
    latent = _latent(channels, mask_value)
    ms = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "simple", 3).float()
    noise, sigmas = _noise(kind, model, latent, sigmas)
    out, seen = _sample(model, noise, sigmas, pos, neg, latent)
    (random,) = call_node("RandomNoise", noise_seed=SEED)
    key = (family, mask_value, kind == "analytic")  # core's run, shared by the objects on the same sigmas
    if key not in BASELINES:
        BASELINES[key] = _sample(model, random, sigmas, pos, neg, latent)
    base_out, base_seen = BASELINES[key]

    # frame 0 (held or partial): core's RandomNoise values, so the model sees exactly what it sees with RandomNoise
    drawn = noise.generate_noise(latent)
    assert torch.equal(drawn[:, :, 0], random.generate_noise(latent)[:, :, 0])
    for ours, theirs in zip(seen, base_seen):
        if mask_value == 0.0 or ours is seen[0]:  # later steps of a partial frame depend on the free frames
            assert torch.equal(ours[:, :, 0], theirs[:, :, 0]), "frame 0 differs from RandomNoise at the model input"
    if mask_value == 0.0:
        # held: bit-identical to core's own run, and the conditioning up to core's sampler rounding (not bit-exact
        # with RandomNoise either: euler's last step and the latent format's round trip)
        assert torch.equal(out[:, :, 0], base_out[:, :, 0])
        torch.testing.assert_close(out[:, :, 0], latent["samples"][:, :, 0], atol=2e-6, rtol=0)
        if family == "wan22_5b":  # in-latent path: the model sees the clean latent on the held frame (Cosmos: scaled)
            lat = model.get_model_object("latent_format").process_in(latent["samples"].clone())
            for x in seen:
                for half in x.chunk(2):
                    assert torch.equal(half[:, :, 0], lat[:, :, 0])

    # free frames: exactly the object's intended state at sigma0
    z = _intended(kind, noise, model, latent, float(sigmas[0]))
    start = ms.calculate_input(sigmas[:1].double(), seen[0].double())
    for half in start.chunk(2):
        torch.testing.assert_close(half[:, :, 1:], z[:, :, 1:], atol=1e-5, rtol=1e-5)
        hm, hv = _per_frame(half[:, :, 1:])
        zm, zv = _per_frame(z[:, :, 1:])
        torch.testing.assert_close(hm, zm, atol=1e-6, rtol=0)
        torch.testing.assert_close(hv, zv, atol=1e-5, rtol=1e-5)
    assert not torch.equal(out[:, :, 1:], base_out[:, :, 1:]), "our noise left no trace on the free frames"
    assert torch.isfinite(out).all()

    if mask_value and family == "wan22_5b":
        again, _ = _sample(model, _noise(kind, model, latent, sigmas)[0], sigmas, pos, neg, latent)
        assert torch.equal(out, again), "same seed, same video"
    else:
        assert torch.equal(drawn, _noise(kind, model, latent, sigmas)[0].generate_noise(latent)), "same seed"


def test_mask_resize_and_classification_follow_core(comfy):
    """Our copy of comfy.utils.reshape_mask gives core's values, on frame, spatial, soft and 4-D masks."""
    import comfy.utils

    from kernels import latent_parts

    g = torch.Generator().manual_seed(0)
    cases = [
        (torch.tensor([0.0, 1.0, 1.0]).reshape(1, 1, 3, 1, 1), (1, 16, 3, 8, 8)),
        (torch.tensor([0.3, 1.0, 1.0, 1.0]).reshape(1, 1, 4, 1, 1), (2, 48, 4, 6, 10)),
        ((torch.rand(1, 16, 16, generator=g) > 0.5).float(), (1, 16, 5, 8, 8)),   # SetLatentNoiseMask style
        (torch.rand(1, 12, 12, generator=g), (1, 4, 3, 6, 6)),                    # soft, resized
        (torch.rand(3, 16, 16, generator=g), (3, 4, 8, 8)),                       # frames as batch (SVD)
        (torch.ones(1, 1, 7, 1, 1), (1, 128, 7, 4, 6)),
    ]
    for mask, shape in cases:
        ours = latent_parts.reshape_mask(mask, shape)
        assert torch.equal(ours, comfy.utils.reshape_mask(mask, shape)), (tuple(mask.shape), shape)
    frame_mask = latent_parts.reshape_mask(cases[0][0], cases[0][1])
    free = latent_parts.free_elements(frame_mask)
    assert not free[:, :, 0].any() and free[:, :, 1:].all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_core_draw_matches_prepare_noise(comfy, dtype):
    import comfy.sample

    from kernels import latent_parts

    latent = torch.zeros(3, 4, 2, 4, 4, dtype=dtype)
    for inds in (None, [2, 0, 2]):
        want = comfy.sample.prepare_noise(latent, 77, inds)
        (got,) = latent_parts.core_noise([latent], 77, inds)
        assert got.dtype == want.dtype and torch.equal(got, want)


def test_all_ones_mask_is_no_mask(models):
    """A mask of ones leaves every element free: the same noise as without a mask."""
    import comfy.samplers

    model = models["wan21"]
    latent = _latent(16, 1.0)
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 3).float()
    for kind in NOISES:
        noise, _ = _noise(kind, model, latent, sigmas)
        assert torch.equal(noise.generate_noise(latent), noise.generate_noise({"samples": latent["samples"]}))


# ---------------------------------------------------------------------------------------------- nested latents

def _nested_module():
    try:
        import comfy.nested_tensor as nt
    except ImportError:
        pytest.skip("this ComfyUI (0.3.64) has no comfy.nested_tensor: nested audio+video latents came with LTX-2")
    return nt


@pytest.mark.parametrize("kind", NOISES)
def test_nested_latent_noise(models, kind):
    """LTX-2 layout: NestedTensor(video, audio) with a nested mask (video frame 0 held, audio free)."""
    import comfy.sample
    import comfy.samplers
    import comfy.utils

    nt = _nested_module()
    model = models["wan21"]
    plain = _latent(16, 0.0)
    audio = torch.zeros(1, 8, 9, 16)  # LTX-2 audio latent [B, 8 channels, audio frames, 16 frequency bins]
    nested = {"samples": nt.NestedTensor((plain["samples"], audio)),
              "noise_mask": nt.NestedTensor((plain["noise_mask"], torch.ones_like(audio)))}
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 3).float()
    noise, _ = _noise(kind, model, plain, sigmas)

    got = noise.generate_noise(nested)
    assert isinstance(got, nt.NestedTensor) and len(got.unbind()) == 2
    video, audio_noise = got.unbind()
    assert torch.equal(video, noise.generate_noise(plain)), "the video part is the object's noise for that latent"
    (random,) = call_node("RandomNoise", noise_seed=SEED)
    core = random.generate_noise(nested)
    assert torch.equal(audio_noise, core.unbind()[1]), "audio: core's draw for the seed, after the video draw"
    assert torch.equal(audio_noise, comfy.sample.prepare_noise(nested["samples"], SEED).unbind()[1])
    assert torch.equal(video[:, :, 0], core.unbind()[0][:, :, 0]), "held video frame: core's draw"
    again = noise.generate_noise(nested)
    assert all(torch.equal(a, b) for a, b in zip(again.unbind(), got.unbind())), "same seed, same noise"
    # a plain (not nested) mask applies to the video part, as the sampler reads it
    single = noise.generate_noise(dict(nested, noise_mask=plain["noise_mask"]))
    assert all(torch.equal(a, b) for a, b in zip(single.unbind(), got.unbind()))
    # what CFGGuider.sample does with it: pack the parts into one tensor and back
    packed, shapes = comfy.utils.pack_latents(got.unbind())
    assert [tuple(s) for s in shapes] == [tuple(plain["samples"].shape), tuple(audio.shape)]
    back = comfy.utils.unpack_latents(packed, shapes)
    assert torch.equal(back[0], video) and torch.equal(back[1], audio_noise)


# ------------------------------------------------------------------------------ two experts (Wan 2.2 A14B style)

@pytest.mark.parametrize("kind", ["pyoco", "frameinit"])
def test_two_expert_hand_over(models, kind):
    """SplitSigmas: our NOISE feeds the first SamplerCustomAdvanced (high sigmas), DisableNoise the second. The start
    state sits at the first sigma of the first half, and the hand-over reproduces the unsplit run (same model for
    both halves, euler: only float rounding through core's latent round trip differs)."""
    import comfy.samplers

    model = models["wan21"]
    latent = {"samples": torch.zeros(1, 16, FRAMES, H, W)}
    ms = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "simple", 4).float()
    high, low = node("SplitSigmas", sigmas=sigmas, step=2)
    assert float(high[0]) == float(sigmas[0]) and float(low[0]) == float(high[-1])
    noise, _ = _noise(kind, model, latent, high)
    first, seen = _sample(model, noise, high, models["pos"], models["neg"], latent)
    z = _intended(kind, noise, model, latent, float(high[0]))
    for half in ms.calculate_input(high[:1].double(), seen[0].double()).chunk(2):
        torch.testing.assert_close(half, z, atol=1e-5, rtol=1e-5)
    (off,) = node("DisableNoise")
    second, _ = _sample(model, off, low, models["pos"], models["neg"], {"samples": first})
    whole, _ = _sample(model, _noise(kind, model, latent, sigmas)[0], sigmas, models["pos"], models["neg"], latent)
    torch.testing.assert_close(second, whole, atol=1e-4, rtol=1e-4)


def test_second_half_sigmas_warn(models, caplog):
    """FrameInit given the second half of a split on an empty latent: placed as asked, with a warning saying what
    to wire instead."""
    import comfy.samplers

    model = models["wan21"]
    latent = {"samples": torch.zeros(1, 16, FRAMES, H, W)}
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 4).float()
    high, low = node("SplitSigmas", sigmas=sigmas, step=2)
    with caplog.at_level(logging.WARNING):
        _noise("frameinit", model, latent, high)[0].generate_noise(latent)
    assert "FIRST part of the split" not in caplog.text
    with caplog.at_level(logging.WARNING):
        _noise("frameinit", model, latent, low)[0].generate_noise(latent)
    assert "FIRST part of the split" in caplog.text and "DisableNoise" in caplog.text
