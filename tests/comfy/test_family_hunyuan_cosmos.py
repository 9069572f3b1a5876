"""The pack's NOISE / SIGMAS nodes on HunyuanVideo 1.5 I2V and Cosmos Predict2 I2V, with core's own conditioning
nodes (HunyuanVideo15ImageToVideo, CosmosPredict2ImageToVideoLatent) and tiny random-weight models that core's
model detection builds (tests/support/tiny_family_hunyuan.py, tiny_family_cosmos.py).

HunyuanVideo 1.5 takes the image by concat (the sampled latent is zeros, every frame is noise at sigma_0);
Cosmos Predict2 writes it into the latent under noise_mask 0 (ComfyUI's inpainting path keeps those frames).
Each test samples through the real SamplerCustomAdvanced and records the model input x at the first step:
calculate_input(sigma_0, x) must be the start state the NOISE object intends (exact, hence the same per-frame mean
and variance), on every frame for the concat family and on the free frames for the in-latent family, whose held
frames the model must see as the clean conditioning at every step.
"""
from __future__ import annotations

import pytest
import torch

from tests.support.node_calls import call_node, capturing, sample_advanced

pytestmark = pytest.mark.comfy

HUNYUAN_NODE = "HunyuanVideo15ImageToVideo"
COSMOS_NODE = "CosmosPredict2ImageToVideoLatent"
H_SIZE, H_FRAMES = 64, 5  # latent [1, 32, 2, 4, 4] (x16 spatial, x4 causal temporal)
C_SIZE, C_FRAMES = 32, 9  # latent [1, 16, 3, 4, 4] (x8, x4 causal); frame 0 held


def _require(node):
    import nodes
    if node not in nodes.NODE_CLASS_MAPPINGS:
        pytest.skip(f"this ComfyUI has no {node} node (added after 0.3.64)")


def _family(name):
    from tests.support import tiny_models
    return next(m for m in tiny_models.family_modules() if getattr(m, "FAMILY", None) == name)


def _image(size, seed=0):
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, size)
    img = torch.stack([ramp[None, :].expand(size, size), ramp[:, None].expand(size, size),
                       torch.rand(size, size, generator=g)], dim=-1)
    return img[None].float()


def _text(clip):
    """Positive and negative conditioning from the family's tiny text encoder through core's CLIPTextEncode."""
    return (call_node("CLIPTextEncode", clip=clip, text="a paper boat drifts on a pond")[0],
            call_node("CLIPTextEncode", clip=clip, text="")[0])


def _sigmas(model, steps=2, scheduler="simple"):
    return call_node("BasicScheduler", model=model, scheduler=scheduler, steps=steps, denoise=1.0)[0]


def _static_layout(vae, image, frames):
    video = call_node("ConsistI2VStaticLayout", image=image, frames=frames)[0]
    return call_node("VAEEncode", pixels=video, vae=vae)[0]


def _camera_layout(vae, image, frames, size):
    path = call_node("ConsistI2VCameraMove", move="zoom", pan_angle=0.0, pan_distance=0.25, zoom_scale=1.5,
                     roll_degrees=15.0, perspective_corners="-0.9,-0.9  0.9,-1.0  1.0,1.0  -1.0,0.9", start=0.0,
                     end=1.0, easing="ease_in_out")[0]
    video = call_node("ConsistI2VCameraLayout", image=image, camera_path=path, frames=frames, width=size,
                      height=size, border="reflect", official_motion="off")[0]
    return call_node("VAEEncode", pixels=video, vae=vae)[0]


def _frameinit(model, layout, sigmas, seed=11):
    return call_node("ConsistI2VFrameInitNoise", model=model, layout=layout, sigmas=sigmas, seed=seed,
                     noise_timestep=850, timestep_scale="model_schedule", filter="gaussian", spatial_cutoff=0.25,
                     temporal_cutoff=0.25, butterworth_order=4, drop_first_frame=False, noise_type="pyoco_mixed",
                     pyoco_alpha=1.0, official_filters=False)[0]


def _pyoco(seed=11):
    return call_node("ConsistI2VPYoCoNoise", seed=seed, noise_type="pyoco_mixed", pyoco_alpha=1.0)[0]


def _analytic(model, vae, image, frames, M, seed=11):
    """Analytic-Init NOISE + SIGMAS with E[x0] = the VAE-encoded static layout (a causal VAE: latent frame 0 holds
    one frame, later ones four, so the layout video is encoded, not latent frame 0 replicated)."""
    stats = call_node("CILStatistics", variance=0.8, resample="interpolate",
                      mean_latent=_static_layout(vae, image, frames))[0]
    return call_node("CILAnalyticInit", model=model, statistics=stats, M=M, steps=2, schedule="auto",
                     seed=seed, svd_formula="fixed")


def _run(model, noise, sigmas, positive, negative, latent, cfg=3.0):
    """Sample; returns (output LATENT, model inputs x at every call, as recorded)."""
    patched, seen = capturing(model, lambda args: args["input"].detach().clone())
    out = sample_advanced(patched, noise, sigmas, positive, negative, latent, cfg)
    return out, seen


def _start(model, sigmas, x):
    """Model-space start state of the first (conditional) half of the CFG batch."""
    ms = model.get_model_object("model_sampling")
    return ms.calculate_input(sigmas[:1].double(), x.double()).chunk(2)[0]


def _intended(noise, latent):
    if hasattr(noise, "state"):
        try:
            return noise.state(latent["samples"], latent).double()
        except TypeError:
            return noise.state(latent["samples"]).double()
    ms_free = noise.generate_noise(latent)  # PYoCo: the noise itself at sigma_0 (empty/processed latent + noise)
    return ms_free.double()


def _assert_frame_stats(start, intended, frames):
    for t in frames:
        a, b = start[:, :, t], intended[:, :, t]
        assert float(a.mean().detach()) == pytest.approx(float(b.mean().detach()), abs=1e-5), f"latent frame {t} mean"
        assert float(a.var().detach()) == pytest.approx(float(b.var().detach()), rel=1e-5, abs=1e-6), f"latent frame {t} variance"


# --- HunyuanVideo 1.5 (concat) -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hunyuan(comfy):
    _require(HUNYUAN_NODE)
    fam = _family("hunyuan15")
    model, vae = fam.build_model(), fam.build_vae()
    image = _image(H_SIZE)
    pos, neg = _text(fam.build_clip())
    pos, neg, latent = call_node(HUNYUAN_NODE, positive=pos, negative=neg, vae=vae, width=H_SIZE, height=H_SIZE,
                                 length=H_FRAMES, batch_size=1, start_image=image)
    return {"model": model, "vae": vae, "image": image, "pos": pos, "neg": neg, "latent": latent}


def test_hunyuan_detected_as_hunyuanvideo15_shift7(hunyuan):
    from tests.support.node_calls import pack_module
    model = hunyuan["model"]
    assert type(model.model).__name__ == "HunyuanVideo15"
    assert float(model.get_model_object("model_sampling").shift) == 7.0
    assert pack_module("nodes.families").family_of(model).key == "hunyuan15"
    latent = hunyuan["latent"]["samples"]
    assert latent.shape == (1, 32, 2, 4, 4) and not latent.any()  # concat family: the sampled latent is zeros
    cond = hunyuan["pos"][0][1]
    assert cond["concat_latent_image"].shape == latent.shape and cond["concat_mask"][0, 0, :, 0, 0].tolist() == [0, 1]


@pytest.mark.parametrize("layout_kind", ["static", "camera_zoom"])
def test_hunyuan_frameinit_start_state_on_shift7_schedule(hunyuan, layout_kind):
    h = hunyuan
    sigmas = _sigmas(h["model"])
    assert float(sigmas[0]) == pytest.approx(1.0)  # flow, shift 7: sigma_0 = 1 (pure noise level)
    layout = (_static_layout(h["vae"], h["image"], H_FRAMES) if layout_kind == "static"
              else _camera_layout(h["vae"], h["image"], H_FRAMES, H_SIZE))
    assert layout["samples"].shape == h["latent"]["samples"].shape
    noise = _frameinit(h["model"], layout, sigmas)
    out, seen = _run(h["model"], noise, sigmas, h["pos"], h["neg"], h["latent"])
    start, intended = _start(h["model"], sigmas, seen[0]), _intended(noise, h["latent"])
    torch.testing.assert_close(start, intended, atol=1e-5, rtol=1e-5)
    _assert_frame_stats(start, intended, range(start.shape[2]))
    assert torch.isfinite(out["samples"]).all() and out["samples"].shape == h["latent"]["samples"].shape


def test_hunyuan_frameinit_keeps_the_layout_in_the_start(hunyuan):
    """At sigma_0 = 1 of the shift-7 schedule, the start keeps the noised layout's low band: two different layouts
    give different starts with the same seed (the layout is not lost to the pure-noise level)."""
    h = hunyuan
    sigmas = _sigmas(h["model"])
    static = _frameinit(h["model"], _static_layout(h["vae"], h["image"], H_FRAMES), sigmas)
    camera = _frameinit(h["model"], _camera_layout(h["vae"], h["image"], H_FRAMES, H_SIZE), sigmas)
    a, b = static.state(h["latent"]["samples"]), camera.state(h["latent"]["samples"])
    assert (a - b).abs().max() > 1e-3


def test_hunyuan_pyoco_start_state(hunyuan):
    h = hunyuan
    sigmas = _sigmas(h["model"])
    noise = _pyoco()
    eps = noise.generate_noise(h["latent"])
    out, seen = _run(h["model"], noise, sigmas, h["pos"], h["neg"], h["latent"])
    ms = h["model"].get_model_object("model_sampling")
    intended = ms.calculate_input(sigmas[:1].double(), ms.noise_scaling(sigmas[:1], eps.clone(),
                                                                        torch.zeros_like(eps), True).double())
    start = _start(h["model"], sigmas, seen[0])
    torch.testing.assert_close(start, intended, atol=1e-5, rtol=1e-5)
    _assert_frame_stats(start, intended, range(start.shape[2]))
    assert torch.isfinite(out["samples"]).all()


def test_hunyuan_analytic_init_start_state(hunyuan):
    h = hunyuan
    noise, sigmas = _analytic(h["model"], h["vae"], h["image"], H_FRAMES, M=900.0)  # flow: a timestep of 1000
    assert float(sigmas[0]) < 1.0  # starts at M < T on the shift-7 schedule
    out, seen = _run(h["model"], noise, sigmas, h["pos"], h["neg"], h["latent"])
    start, intended = _start(h["model"], sigmas, seen[0]), _intended(noise, h["latent"])
    torch.testing.assert_close(start, intended, atol=1e-5, rtol=1e-5)
    _assert_frame_stats(start, intended, range(start.shape[2]))
    assert torch.isfinite(out["samples"]).all()


def test_hunyuan_same_seed_same_video(hunyuan):
    h = hunyuan
    sigmas = _sigmas(h["model"])
    layout = _static_layout(h["vae"], h["image"], H_FRAMES)
    a, _ = _run(h["model"], _frameinit(h["model"], layout, sigmas, seed=5), sigmas, h["pos"], h["neg"], h["latent"])
    b, _ = _run(h["model"], _frameinit(h["model"], layout, sigmas, seed=5), sigmas, h["pos"], h["neg"], h["latent"])
    assert torch.equal(a["samples"], b["samples"])
    other = _frameinit(h["model"], layout, sigmas, seed=6).generate_noise(h["latent"])
    assert not torch.equal(_frameinit(h["model"], layout, sigmas, seed=5).generate_noise(h["latent"]), other)


# --- Cosmos Predict2 (in-latent + noise_mask) ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def cosmos(comfy, tmp_path_factory):
    _require(COSMOS_NODE)
    fam = _family("cosmos_predict2")
    model, vae = fam.build_model(), fam.build_vae(tmp_dir=tmp_path_factory.mktemp("cosmos_vae"))
    image = _image(C_SIZE)
    latent = call_node(COSMOS_NODE, vae=vae, width=C_SIZE, height=C_SIZE, length=C_FRAMES, batch_size=1,
                       start_image=image)[0]
    pos, neg = _text(fam.build_clip())
    return {"model": model, "vae": vae, "image": image, "pos": pos, "neg": neg, "latent": latent, "baseline": {}}


def _baseline(c, sigmas):
    """Core's own RandomNoise on the same latent and SIGMAS (cached per schedule)."""
    key = tuple(sigmas.tolist())
    if key not in c["baseline"]:
        c["baseline"][key] = _run(c["model"], call_node("RandomNoise", noise_seed=11)[0], sigmas, c["pos"], c["neg"],
                                  c["latent"])
    return c["baseline"][key]


def _held_and_free(latent):
    mask = latent["noise_mask"][0, 0, :, 0, 0]
    return [t for t in range(mask.numel()) if mask[t] == 0], [t for t in range(mask.numel()) if mask[t] == 1]


def test_cosmos_detected_as_predict2_i2v(cosmos):
    from tests.support.node_calls import pack_module
    model = cosmos["model"]
    assert type(model.model).__name__ == "CosmosPredict2" and model.model.image_to_video
    assert type(model.get_model_object("model_sampling")).__name__ == "ModelSampling"
    assert float(model.get_model_object("model_sampling").sigma_max) == 80.0
    assert pack_module("nodes.families").family_of(model).key == "cosmos_predict2"
    held, free = _held_and_free(cosmos["latent"])
    assert cosmos["latent"]["samples"].shape == (1, 16, 3, 4, 4) and held == [0] and free == [1, 2]


def _cosmos_noises(c, sigmas):
    return {
        "frameinit_static": lambda: (_frameinit(c["model"], _static_layout(c["vae"], c["image"], C_FRAMES), sigmas),
                                     sigmas),
        "frameinit_camera_zoom": lambda: (_frameinit(c["model"], _camera_layout(c["vae"], c["image"], C_FRAMES,
                                                                                 C_SIZE), sigmas), sigmas),
        "pyoco": lambda: (_pyoco(), sigmas),
        "analytic_init": lambda: _analytic(c["model"], c["vae"], c["image"], C_FRAMES, M=40.0),  # a sigma (max 80)
    }


@pytest.mark.parametrize("method", ["frameinit_static", "frameinit_camera_zoom", "pyoco", "analytic_init"])
def test_cosmos_start_state_and_held_frames(cosmos, method):
    """Free frames start exactly where the NOISE intends; held frames reach the model as the clean conditioning at
    every step (bit-identical to what core's own RandomNoise gives) and come out as the conditioning."""
    c = cosmos
    noise, sigmas = _cosmos_noises(c, _sigmas(c["model"], scheduler="karras"))[method]()
    latent = c["latent"]
    held, free = _held_and_free(latent)
    out, seen = _run(c["model"], noise, sigmas, c["pos"], c["neg"], latent)
    base, base_seen = _baseline(c, sigmas)

    if method == "pyoco":
        ms = c["model"].get_model_object("model_sampling")
        processed = c["model"].get_model_object("latent_format").process_in(latent["samples"].clone())
        eps = noise.generate_noise(latent)
        intended = ms.calculate_input(sigmas[:1].double(),
                                      ms.noise_scaling(sigmas[:1], eps.clone(), processed, False).double())
    else:
        intended = _intended(noise, latent)
    start = _start(c["model"], sigmas, seen[0])
    torch.testing.assert_close(start[:, :, free], intended[:, :, free], atol=1e-5, rtol=1e-5)
    _assert_frame_stats(start, intended, free)

    for x, x_base in zip(seen, base_seen):  # every model call: held frames = the conditioning, noise-independent
        assert torch.equal(x[:, :, held], x_base[:, :, held])
    # Output: the held frames are the conditioning up to core's own latent-format round trip (process_in/out in
    # float32: RandomNoise gives the same tolerance); the free frames were sampled.
    cond = latent["samples"][:, :, held]
    torch.testing.assert_close(out["samples"][:, :, held], cond, atol=1e-6, rtol=0)
    torch.testing.assert_close(base["samples"][:, :, held], cond, atol=1e-6, rtol=0)
    assert not torch.allclose(out["samples"][:, :, free], latent["samples"][:, :, free])
    assert torch.isfinite(out["samples"]).all()


def test_cosmos_same_seed_same_video(cosmos):
    c = cosmos
    sigmas = _sigmas(c["model"], scheduler="karras")
    layout = _static_layout(c["vae"], c["image"], C_FRAMES)
    runs = [_run(c["model"], _frameinit(c["model"], layout, sigmas, seed=5), sigmas, c["pos"], c["neg"],
                 c["latent"])[0]["samples"] for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    noises = [_frameinit(c["model"], layout, sigmas, seed=s).generate_noise(c["latent"]) for s in (5, 6)]
    assert not torch.equal(noises[0], noises[1])


# --- wrong layouts ---------------------------------------------------------------------------------------------------
def test_layout_of_the_other_family_vae_is_refused(hunyuan, cosmos):
    """A Cosmos (Wan 2.1 VAE: 16 channels, x8) layout on HunyuanVideo 1.5 (32 channels, x16) and the reverse."""
    h, c = hunyuan, cosmos
    h_sig, c_sig = _sigmas(h["model"]), _sigmas(c["model"], scheduler="karras")
    wan_layout = _static_layout(c["vae"], _image(H_SIZE), H_FRAMES)  # same pixels and frames, other VAE
    with pytest.raises(Exception, match=r"16 latent channels but the model samples 32.*this model's VAE"):
        _run(h["model"], _frameinit(h["model"], wan_layout, h_sig), h_sig, h["pos"], h["neg"], h["latent"])
    hv_layout = _static_layout(h["vae"], _image(C_SIZE * 2), C_FRAMES)
    with pytest.raises(Exception, match=r"32 latent channels but the model samples 16.*this model's VAE"):
        _run(c["model"], _frameinit(c["model"], hv_layout, c_sig), c_sig, c["pos"], c["neg"], c["latent"])
