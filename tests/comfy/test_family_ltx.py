"""The pack's NOISE / SIGMAS nodes on LTXV 0.9.x and LTX-2 (audio + video), in graphs of ComfyUI's own LTX nodes.

Tiny random-weight LTXV / LTXAV checkpoints are loaded by core's own ``load_checkpoint_guess_config`` (their
config rides in the safetensors metadata, as in the released files: no substitution). The image enters in-latent:
LTXVImgToVideo (LTXV) or LTXVImgToVideoInplace + LTXVConcatAVLatent (LTX-2) write the encoded image into latent
frame 0 under ``noise_mask`` = 1 - strength. A unet wrapper records the first model input, which for these flow
(CONST) models is ComfyUI's sampler state x after KSamplerX0Inpaint mixed the clean latent in:

    free frames (mask 1):       x = the start the noise object intends (the exact closed form where one exists)
    held frames (mask m < 1):   x = m·(σ0·n + (1 - σ0)·clean) + (1 - m)·clean = the flow state at m·σ0 (the
                                timestep LTX gives those tokens), n a unit Gaussian: core's inpainting semantics.

Expected values are written out here from closed forms (flow: c = 1 - σ, a = σ) and from core's RandomNoise, not
taken from the kernels under test.
"""
import math

import pytest
import torch

from tests.support.node_calls import call_node, capturing, node_class, sample_advanced

pytestmark = pytest.mark.comfy

W = H = 96  # 3x3 latent pixels (x32)
FRAMES = 17  # 3 latent frames (causal x8: 1 + 8 + 8)
SEED = 1234
VARIANCE = 0.5
FPS = 25


def _family():
    from tests.support import tiny_models
    return next(m for m in tiny_models.family_modules() if m.__name__.endswith("tiny_family_ltx"))


def _require_ltx2():
    if not _family().has_ltx2():
        pytest.skip("LTX-2 (LTXAV, LTXVConcatAVLatent: the nested audio+video latent) is not in this ComfyUI "
                    "(0.3.64 has only LTXV)")


@pytest.fixture(autouse=True)
def _inference_mode():
    """As ComfyUI's executor runs nodes."""
    with torch.inference_mode():
        yield


@pytest.fixture(scope="module")
def ltxv(comfy):
    return _family().load_checkpoint("ltxv")


@pytest.fixture(scope="module")
def ltx2(comfy):
    _require_ltx2()
    return _family().load_checkpoint("ltx2")


@pytest.fixture(scope="module")
def image(comfy):
    """A smooth coloured image (IMAGE [1, H, W, 3])."""
    y = torch.linspace(0, 1, H).view(H, 1, 1)
    x = torch.linspace(0, 1, W).view(1, W, 1)
    rgb = torch.cat([x.expand(H, W, 1), y.expand(H, W, 1), (0.5 + 0.4 * torch.sin(6 * x * y)).expand(H, W, 1)], -1)
    return rgb.unsqueeze(0).clamp(0, 1)


# --- graph pieces (core nodes) -------------------------------------------------------------------------------------

def ltxv_graph(model, vae, image, strength):
    pos, neg = _family().text_conditioning("ltxv")
    pos, neg = call_node("LTXVConditioning", positive=pos, negative=neg, frame_rate=float(FPS))
    pos, neg, latent = call_node("LTXVImgToVideo", positive=pos, negative=neg, vae=vae, image=image, width=W,
                                 height=H, length=FRAMES, batch_size=1, strength=strength)
    return pos, neg, latent


def audio_latent(frames=FRAMES, fps=FPS):
    """What LTXVEmptyLatentAudio gives for the tiny audio VAE (8 channels x 16 bins; 16 kHz, hop 160, x4): written
    out here because that node needs torchaudio, which this environment lacks."""
    return {"samples": torch.zeros(1, 8, math.ceil(frames / fps * 16000 / 160 / 4), 16), "sample_rate": 16000,
            "type": "audio"}


def ltx2_graph(vae, image, strength):
    pos, neg = _family().text_conditioning("ltx2")
    pos, neg = call_node("LTXVConditioning", positive=pos, negative=neg, frame_rate=float(FPS))
    video = call_node("EmptyLTXVLatentVideo", width=W, height=H, length=FRAMES, batch_size=1)[0]
    video = call_node("LTXVImgToVideoInplace", vae=vae, image=image, latent=video, strength=strength,
                      bypass=False)[0]
    latent = call_node("LTXVConcatAVLatent", video_latent=video, audio_latent=audio_latent())[0]
    return pos, neg, latent


def scheduler_sigmas(latent, steps=2):
    return call_node("LTXVScheduler", steps=steps, max_shift=2.05, base_shift=0.95, stretch=True, terminal=0.1,
                     latent=latent)[0]


def static_layout(vae, image, frames=FRAMES):
    pixels = node_class("ConsistI2VStaticLayout").execute(image, frames).result[0]
    return call_node("VAEEncode", pixels=pixels, vae=vae)[0]


def camera_layout(vae, image):
    path = node_class("ConsistI2VCameraMove").execute("pan", 0.0, 0.3, 1.5, 15.0, "", 0.0, 1.0,
                                                      "linear").result[0]
    pixels = node_class("ConsistI2VCameraLayout").execute(image, path, FRAMES, W, H, "reflect", "off").result[0]
    return call_node("VAEEncode", pixels=pixels, vae=vae)[0]


def frameinit(model, layout, sigmas, seed=SEED):
    return node_class("ConsistI2VFrameInitNoise").execute(
        model, layout, sigmas, seed, 700, "model_schedule", "gaussian", 0.25, 0.25, 4, False, "pyoco_mixed", 1.0,
        False).result[0]


def pyoco(seed=SEED):
    return node_class("ConsistI2VPYoCoNoise").execute(seed, "pyoco_mixed", 1.0).result[0]


def analytic(model, mean_latent, M=800.0, steps=2, seed=SEED):
    stats = node_class("CILStatistics").execute(VARIANCE, "interpolate", mean_latent).result[0]
    return node_class("CILAnalyticInit").execute(model, stats, M, steps, "auto", seed, "fixed").result


def run(model, noise, sigmas, pos, neg, latent, cfg=2.0):
    """Sample with core's SamplerCustomAdvanced; returns (first model input of the cond half, as a list of parts,
    float64; output LATENT)."""
    import comfy.utils
    patched, seen = capturing(model, lambda args: args["input"].detach().clone())
    out = sample_advanced(patched, noise, sigmas, pos, neg, latent, cfg)
    x = seen[0][:1].double()
    samples = latent["samples"]
    if getattr(samples, "is_nested", False):
        return comfy.utils.unpack_latents(x, [t.shape for t in samples.unbind()]), out
    return [x], out


def video_of(latent):
    samples = latent["samples"]
    return samples.unbind()[0] if getattr(samples, "is_nested", False) else samples


def mask_of(latent):
    mask = latent["noise_mask"]
    mask = mask.unbind()[0] if getattr(mask, "is_nested", False) else mask
    return float(mask.reshape(-1)[0])  # frame 0's mask (1 - strength); every later frame is 1


def held_expected(clean0, noise0, sigma0, m):
    """Core's inpainting semantics on a frame with mask m: the flow state at m·σ0 with unit-Gaussian noise n."""
    clean0, noise0 = clean0.double(), noise0.double()
    return m * (sigma0 * noise0 + (1 - sigma0) * clean0) + (1 - m) * clean0


def assert_unit_gaussian(n, what):
    k = n.numel()
    assert abs(float(n.mean())) < 5 / math.sqrt(k), f"{what}: mean {float(n.mean()):.4f}"
    assert float(n.var()) == pytest.approx(1.0, abs=6 * math.sqrt(2 / k)), f"{what}: variance {float(n.var()):.4f}"


def random_noise(latent, seed=SEED):
    return call_node("RandomNoise", noise_seed=seed)[0].generate_noise(latent)


def family_key(model):
    from tests.support.tiny_models import pack_module
    return pack_module("nodes.families").family_of(model).key


# --- the tiny files are core's models ------------------------------------------------------------------------------

def test_tiny_ltxv_checkpoint_is_core_ltxv(ltxv, image):
    model, vae = ltxv
    assert type(model.model).__name__ == "LTXV" and family_key(model) == "ltxv"
    assert vae.downscale_index_formula == (8, 32, 32)
    layout = static_layout(vae, image)
    assert tuple(layout["samples"].shape) == (1, 128, 3, H // 32, W // 32)


def test_tiny_ltx2_checkpoint_is_core_ltxav(ltx2):
    model, vae = ltx2
    assert type(model.model).__name__ == "LTXAV" and family_key(model) == "ltx2"
    assert vae.downscale_index_formula == (8, 32, 32)


# --- LTXV: every NOISE node in LTXVImgToVideo graphs -------------------------------------------------------------

NOISES = ["pyoco", "frameinit_static", "frameinit_camera", "analytic_init"]


def build_noise(kind, model, vae, image, latent, seed=SEED):
    """(NOISE, SIGMAS, E in model space or None) for ``kind``; the layouts/means are encoded by the family's VAE."""
    sigmas = scheduler_sigmas(latent)
    if kind == "pyoco":
        return pyoco(seed), sigmas, None
    if kind == "frameinit_static":
        return frameinit(model, static_layout(vae, image), sigmas, seed), sigmas, None
    if kind == "frameinit_camera":
        return frameinit(model, camera_layout(vae, image), sigmas, seed), sigmas, None
    mean = static_layout(vae, image)
    noise, sigmas = analytic(model, mean, seed=seed)
    E = model.get_model_object("latent_format").process_in(mean["samples"].clone()).double()
    return noise, sigmas, E


def check_start(kind, model, noise, sigmas, E, latent, x_video):
    """The free frames hold the intended start; the held frame 0 holds core's inpainting state."""
    clean = model.get_model_object("latent_format").process_in(video_of(latent).clone()).double()
    s0, m = float(sigmas[0]), mask_of(latent)
    free = x_video[:, :, 1:]
    if kind == "analytic_init":  # closed form: x_M = (1 - σ)·E + sqrt(σ² + (1 - σ)²·v)·ε, ε = RandomNoise(seed)
        eps = random_noise(latent)
        eps = (eps.unbind()[0] if getattr(eps, "is_nested", False) else eps).double()
        want = (1 - s0) * E + math.sqrt(s0 ** 2 + (1 - s0) ** 2 * VARIANCE) * eps
        torch.testing.assert_close(free, want[:, :, 1:], atol=1e-5, rtol=1e-5)
    elif kind.startswith("frameinit"):  # the state FrameInit intends, its own closed form (tests/comfy/
        want = noise.state(video_of(latent)).double()  # test_start_state.py checks that one against the paper)
        torch.testing.assert_close(free, want[:, :, 1:], atol=1e-5, rtol=1e-5)
    else:  # PYoCo: x = σ0·n on the empty frames; n per frame unit Gaussian, frames correlated α²/(1+α²) = 0.5
        n = free / s0
        for f in range(n.shape[2]):
            assert_unit_gaussian(n[:, :, f], f"PYoCo noise of latent frame {f + 1}")
        a, b = n[:, :, 0].flatten(), n[:, :, 1].flatten()
        corr = float(((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std()))
        assert corr == pytest.approx(0.5, abs=5 / math.sqrt(a.numel()))
    held = x_video[:, :, 0]
    if m == 0.0:  # strength 1: the model sees the clean image latent exactly
        assert torch.equal(held, clean[:, :, 0])
        return
    # partial mask: the flow state at m·σ0 of the clean frame, with unit-Gaussian noise n (RandomNoise semantics)
    n = (held - (1 - m * s0) * clean[:, :, 0]) / (m * s0)
    assert_unit_gaussian(n, f"{kind}: noise on the partially held frame 0 (mask {m:g})")
    if kind == "analytic_init":  # Analytic-Init's ε is RandomNoise(seed): frame 0 is exactly core's RandomNoise start
        eps = random_noise(latent)
        eps = eps.unbind()[0] if getattr(eps, "is_nested", False) else eps
        torch.testing.assert_close(held, held_expected(clean[:, :, 0], eps[:, :, 0], s0, m), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("strength", [1.0, 0.6])
@pytest.mark.parametrize("kind", NOISES)
def test_ltxv_start_state(ltxv, image, kind, strength):
    model, vae = ltxv
    pos, neg, latent = ltxv_graph(model, vae, image, strength)
    noise, sigmas, E = build_noise(kind, model, vae, image, latent)
    (x,), out = run(model, noise, sigmas, pos, neg, latent)
    check_start(kind, model, noise, sigmas, E, latent, x)
    result = out["samples"]
    assert result.shape == latent["samples"].shape and torch.isfinite(result).all()
    if strength == 1.0:
        # the held frame comes back as the conditioning latent up to the last Euler step's rounding
        # (x + (x - clean)/σ·(0 - σ)); core's own RandomNoise leaves the same ~1e-8 there
        clean = latent["samples"][:, :, 0]
        assert float((result[:, :, 0] - clean).abs().max()) <= 1e-6


def test_ltxv_held_frame_as_core_randomnoise(ltxv, image):
    """Reference for the tolerance above: core's RandomNoise through the same graph."""
    model, vae = ltxv
    pos, neg, latent = ltxv_graph(model, vae, image, 1.0)
    noise = call_node("RandomNoise", noise_seed=SEED)[0]
    _, out = run(model, noise, scheduler_sigmas(latent), pos, neg, latent)
    assert float((out["samples"][:, :, 0] - latent["samples"][:, :, 0]).abs().max()) <= 1e-6


def test_ltxv_same_seed_same_video(ltxv, image):
    model, vae = ltxv
    pos, neg, latent = ltxv_graph(model, vae, image, 1.0)
    outs = []
    for seed in (SEED, SEED, SEED + 1):
        noise, sigmas, _ = build_noise("analytic_init", model, vae, image, latent, seed)
        outs.append(run(model, noise, sigmas, pos, neg, latent)[1]["samples"])
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])


def test_ltxv_layout_of_another_vae_is_refused(ltxv, image):
    from tests.support import tiny_models

    model, vae = ltxv
    _, _, latent = ltxv_graph(model, vae, image, 1.0)
    sigmas = scheduler_sigmas(latent)
    sd_vae = tiny_models.build_tiny_vae()
    other = static_layout(sd_vae, image)  # SD VAE: 4 channels, x8, frames as batch
    with pytest.raises(Exception, match=r"layout.*(this model's VAE|latent channels)"):
        frameinit(model, other, sigmas).generate_noise(latent)
    short = static_layout(vae, image, frames=9)  # 2 latent frames for a 3-frame video
    with pytest.raises(Exception, match=r"layout has 2 frame\(s\) but the sampled latent has 3"):
        frameinit(model, short, sigmas).generate_noise(latent)
    with pytest.raises(ValueError, match="4 latent channels but the model samples 128"):
        analytic(model, other)


# --- LTX-2: the nested audio + video latent ------------------------------------------------------------------------

def test_ltx2_nested_noise_per_node(ltx2, image):
    """Every NOISE node gives a NestedTensor of the same structure: the video part is its own noise for the video
    latent, the audio part core's RandomNoise audio part for the same seed."""
    import comfy.nested_tensor

    model, vae = ltx2
    _, _, latent = ltx2_graph(vae, image, 1.0)
    video, audio = latent["samples"].unbind()
    video_alone = {"samples": video, "noise_mask": latent["noise_mask"].unbind()[0]}
    baseline = random_noise(latent).unbind()
    for kind in NOISES:
        noise, _, _ = build_noise(kind, model, vae, image, latent)
        out = noise.generate_noise(latent)
        assert isinstance(out, comfy.nested_tensor.NestedTensor), kind
        parts = out.unbind()
        assert [tuple(p.shape) for p in parts] == [tuple(video.shape), tuple(audio.shape)], kind
        torch.testing.assert_close(parts[1], baseline[1], atol=0, rtol=0, msg=f"{kind}: audio part")
        torch.testing.assert_close(parts[0], noise.generate_noise(video_alone), atol=0, rtol=0,
                                   msg=f"{kind}: video part")


@pytest.mark.parametrize("strength", [1.0, 0.6])
@pytest.mark.parametrize("kind", NOISES)
def test_ltx2_start_state(ltx2, image, kind, strength):
    model, vae = ltx2
    pos, neg, latent = ltx2_graph(vae, image, strength)
    noise, sigmas, E = build_noise(kind, model, vae, image, latent)
    (xv, xa), out = run(model, noise, sigmas, pos, neg, latent)
    check_start(kind, model, noise, sigmas, E, latent, xv)
    # the audio part starts from σ0·(core's RandomNoise audio part): plain Gaussian, as core's RandomNoise
    s0 = float(sigmas[0])
    torch.testing.assert_close(xa, s0 * random_noise(latent).unbind()[1].double(), atol=1e-5, rtol=1e-5)
    parts = out["samples"].unbind()
    assert [p.shape for p in parts] == [p.shape for p in latent["samples"].unbind()]
    assert all(torch.isfinite(p).all() for p in parts)
    if strength == 1.0:
        clean = latent["samples"].unbind()[0][:, :, 0]
        assert float((parts[0][:, :, 0] - clean).abs().max()) <= 1e-6


def test_ltx2_same_seed_same_video(ltx2, image):
    model, vae = ltx2
    pos, neg, latent = ltx2_graph(vae, image, 1.0)
    outs = []
    for seed in (SEED, SEED, SEED + 1):
        noise, sigmas, _ = build_noise("analytic_init", model, vae, image, latent, seed)
        outs.append(run(model, noise, sigmas, pos, neg, latent)[1]["samples"].unbind())
    assert all(torch.equal(a, b) for a, b in zip(outs[0], outs[1]))
    assert not any(torch.equal(a, b) for a, b in zip(outs[0], outs[2]))


def test_ltx2_layout_for_the_audio_part_or_of_the_wrong_shape_is_refused(ltx2, image):
    model, vae = ltx2
    _, _, latent = ltx2_graph(vae, image, 1.0)
    sigmas = scheduler_sigmas(latent)
    with pytest.raises(Exception, match="layout"):  # an audio latent offered as the layout
        frameinit(model, audio_latent(), sigmas).generate_noise(latent)
    with pytest.raises(Exception, match="layout"):  # the nested audio+video latent itself
        frameinit(model, latent, sigmas).generate_noise(latent)
    short = static_layout(vae, image, frames=9)
    with pytest.raises(Exception, match=r"layout has 2 frame\(s\) but the sampled latent has 3"):
        frameinit(model, short, sigmas).generate_noise(latent)
    with pytest.raises(ValueError, match="8 latent channels but the model samples 128"):
        analytic(model, audio_latent())
