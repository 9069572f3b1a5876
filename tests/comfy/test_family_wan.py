"""The pack's NOISE / SIGMAS nodes on Wan, in graphs built with ComfyUI's own Wan conditioning nodes, on tiny
random-weight Wan models that core's own model detection builds (tests/support/tiny_family_wan.py).

- Wan 2.1 I2V 14B (WanImageToVideo + CLIP vision; concat family): PYoCo, FrameInit with a static layout and with a
  camera layout (ConsistI2VCameraLayout -> VAE Encode with the Wan 2.1 VAE), Analytic-Init with CIL Statistics of
  the VAE-encoded static layout. WanFirstLastFrameToVideo (both end frames) + FrameInit.
- Wan 2.2 A14B I2V (two experts, SplitSigmas -> SamplerCustomAdvanced on the high-noise expert with our NOISE ->
  SamplerCustomAdvanced on the low-noise expert with DisableNoise): the start state at the high expert's first
  sigma on Wan's shift-8 flow schedule, and the hand-over at the split.
- Wan 2.2 5B TI2V (Wan22ImageToVideoLatent: 48-channel latent, x16 VAE, first frame held by noise_mask): FrameInit
  (static and camera layouts), PYoCo; held frames reach the model bit-identical to the encoded image.

The start state is read at the model's first call (a unet wrapper records its input x, its timestep and output)."""
from __future__ import annotations

import pytest
import torch

from tests.support.node_calls import call_node, node_class

pytestmark = pytest.mark.comfy

W = H = 32          # Wan 2.1 / 2.2 A14B video: latent 16 x 3 x 4 x 4
W5 = H5 = 64        # Wan 2.2 5B video: latent 48 x 3 x 4 x 4
LENGTH = 9          # 4k + 1 video frames -> 3 latent frames
SHIFT = 8.0         # ModelSamplingSD3 shift of core's Wan templates
PROMPT = "a cat walks on the beach while the camera pans to the right"


def node(name, **kwargs):
    """Run a registered node with its widget defaults for every input not given (robust to new inputs)."""
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
def wan(comfy):
    """The tiny Wan parts, each loaded through core's own loader function."""
    from tests.support import tiny_family_wan as fam
    from tests.support import tiny_models

    clip = fam.build_tiny_umt5()
    (pos,) = node("CLIPTextEncode", clip=clip, text=PROMPT)
    (neg,) = node("CLIPTextEncode", clip=clip, text="static, blurry")
    image = torch.rand(1, H5, W5, 3, generator=torch.Generator().manual_seed(4))

    def shifted(kind, seed=0):
        return node("ModelSamplingSD3", model=fam.load_tiny_dit(kind, seed), shift=SHIFT)[0]

    return dict(fam=fam, pos=pos, neg=neg, image=image, small=torch.nn.functional.interpolate(
        image.movedim(-1, 1), size=(H, W), mode="bilinear").movedim(1, -1),
        vae21=fam.build_tiny_vae("wan21"), vae22=fam.build_tiny_vae("wan22"),
        clip_vision=tiny_models.build_tiny_clip_vision(),
        i2v=shifted("wan21_i2v"), high=shifted("wan22_i2v", 0), low=shifted("wan22_i2v", 100),
        ti2v=shifted("wan22_5b"))


def recording(model):
    """Clone of ``model`` whose every model call records the sampler's x, its sigma, the denoised output and the
    conds (ComfyUI's model_function_wrapper around apply_model)."""
    seen = []

    def wrapper(apply_model, args):
        out = apply_model(args["input"], args["timestep"], **args["c"])
        seen.append({"x": args["input"].detach().clone(), "t": args["timestep"].detach().clone(),
                     "out": out.detach().clone(), "c": {k: v for k, v in args["c"].items()}})
        return out

    patched = model.clone()
    patched.set_model_unet_function_wrapper(wrapper)
    return patched, seen


def sample(model, noise, sigmas, pos, neg, latent, cfg=1.0):
    """SamplerCustomAdvanced (CFGGuider, euler) on a recording clone: (output LATENT, model calls)."""
    import comfy.samplers

    patched, seen = recording(model)
    (guider,) = node("CFGGuider", model=patched, positive=pos, negative=neg, cfg=cfg)
    out = call_node("SamplerCustomAdvanced", noise=noise, guider=guider,
                    sampler=comfy.samplers.sampler_object("euler"), sigmas=sigmas, latent_image=latent)[0]
    return out, seen


def sigmas_of(model, steps=2):
    return node("BasicScheduler", model=model, scheduler="simple", steps=steps, denoise=1.0)[0]


def static_layout(wan, vae, size=(H, W)):
    image = wan["small"] if size == (H, W) else wan["image"]
    (frames,) = node("ConsistI2VStaticLayout", image=image, frames=LENGTH)
    return node("VAEEncode", pixels=frames, vae=vae)[0]


def camera_layout(wan, vae, size=(H, W)):
    (path,) = node("ConsistI2VCameraMove", move="pan", pan_angle=0.0, pan_distance=0.25)
    (frames,) = node("ConsistI2VCameraLayout", image=wan["image"], camera_path=path, frames=LENGTH, width=size[1],
                     height=size[0])
    return node("VAEEncode", pixels=frames, vae=vae)[0], frames


def frameinit(model, layout, sigmas, seed=7, **kw):
    args = dict(model=model, layout=layout, sigmas=sigmas, seed=seed, noise_timestep=850,
                timestep_scale="consisti2v_snr", spatial_cutoff=0.25, temporal_cutoff=0.25)
    args.update(kw)
    return node("ConsistI2VFrameInitNoise", **args)[0]


def wan21_i2v(wan, **images):
    (vision,) = node("CLIPVisionEncode", clip_vision=wan["clip_vision"], image=wan["small"], crop="none")
    return node("WanImageToVideo", positive=wan["pos"], negative=wan["neg"], vae=wan["vae21"], width=W, height=H,
                length=LENGTH, batch_size=1, start_image=wan["small"], clip_vision_output=vision, **images)


def start_state(model, sigmas, x):
    """The model-space start state: ComfyUI's calculate_input at the first sigma (the identity on flow models)."""
    return model.get_model_object("model_sampling").calculate_input(sigmas[:1], x)


def per_frame(x):
    """(mean, variance) of each latent frame of a [B, C, T, H, W] tensor."""
    frames = x.double().transpose(1, 2).flatten(2)  # [B, T, C*H*W]
    return frames.mean(-1), frames.var(-1)


# ------------------------------------------------------------------------------------- Wan 2.1 I2V (concat)

def test_wan21_i2v_pyoco_start_state_and_seed(wan):
    pos, neg, latent = wan21_i2v(wan)
    assert latent["samples"].shape == (1, 16, 3, H // 8, W // 8)
    assert pos[0][1]["concat_mask"][0, 0, :, 0, 0].tolist() == [0.0, 1.0, 1.0]  # latent frame 0 given
    sigmas = sigmas_of(wan["i2v"])
    assert float(sigmas[0]) == 1.0  # the shifted flow schedule starts at pure noise
    (noise,) = node("ConsistI2VPYoCoNoise", seed=11, noise_type="pyoco_mixed", pyoco_alpha=1.0)
    out, seen = sample(wan["i2v"], noise, sigmas, pos, neg, latent, cfg=2.0)
    eps = noise.generate_noise(latent)
    x = seen[0]["x"].chunk(2)  # CFG batch: cond and uncond share the start state
    for half in x:
        torch.testing.assert_close(half, eps, atol=1e-6, rtol=1e-6)
    mean, var = per_frame(x[0])
    assert mean.abs().max() < 0.25 and ((var - 1.0).abs() < 0.25).all(), (mean, var)  # PYoCo marginal N(0, 1)
    assert "clip_fea" in seen[0]["c"] and seen[0]["c"]["c_concat"].shape[1] == 20  # mask 4 + image latent 16
    again, _ = sample(wan["i2v"], node("ConsistI2VPYoCoNoise", seed=11)[0], sigmas, pos, neg, latent, cfg=2.0)
    assert torch.equal(out["samples"], again["samples"]), "same seed, same video"
    other, _ = sample(wan["i2v"], node("ConsistI2VPYoCoNoise", seed=12)[0], sigmas, pos, neg, latent, cfg=2.0)
    assert not torch.equal(out["samples"], other["samples"])
    assert torch.isfinite(out["samples"]).all()


@pytest.mark.parametrize("layout_kind", ["static", "camera"])
def test_wan21_i2v_frameinit_start_state_is_exact(wan, layout_kind):
    pos, neg, latent = wan21_i2v(wan)
    if layout_kind == "static":
        layout = static_layout(wan, wan["vae21"])
    else:
        layout, _ = camera_layout(wan, wan["vae21"])
    assert layout["samples"].shape == latent["samples"].shape
    sigmas = sigmas_of(wan["i2v"])
    noise = frameinit(wan["i2v"], layout, sigmas)
    out, seen = sample(wan["i2v"], noise, sigmas, pos, neg, latent)
    z = noise.state(latent["samples"])
    torch.testing.assert_close(start_state(wan["i2v"], sigmas, seen[0]["x"]), z, atol=1e-5, rtol=1e-5)
    zm, zv = per_frame(z)
    xm, xv = per_frame(seen[0]["x"])
    torch.testing.assert_close(xm, zm, atol=1e-6, rtol=0)
    torch.testing.assert_close(xv, zv, atol=1e-5, rtol=1e-5)
    # the layout's low band is what the start adds to the same seed's noise: against a zero (model-space) layout the
    # difference follows the layout
    zero = {"samples": wan["i2v"].model.process_latent_out(torch.zeros_like(layout["samples"]))}
    diff = (z - frameinit(wan["i2v"], zero, sigmas).state(latent["samples"])).double()
    lay = wan["i2v"].model.process_latent_in(layout["samples"]).double()
    corr = torch.corrcoef(torch.stack([diff.flatten(), lay.flatten()]))[0, 1]
    assert corr > 0.5, corr
    again, _ = sample(wan["i2v"], frameinit(wan["i2v"], layout, sigmas), sigmas, pos, neg, latent)
    assert torch.equal(out["samples"], again["samples"]), "same seed, same video"


def test_wan21_first_last_frame_frameinit(wan):
    """WanFirstLastFrameToVideo with both end frames: concat_mask gives the first and last latent frames; FrameInit's
    start is exact on every frame (the image rides in the conditioning, not in the latent)."""
    end = wan["small"].flip(2)
    (vision,) = node("CLIPVisionEncode", clip_vision=wan["clip_vision"], image=wan["small"], crop="none")
    pos, neg, latent = node("WanFirstLastFrameToVideo", positive=wan["pos"], negative=wan["neg"], vae=wan["vae21"],
                            width=W, height=H, length=LENGTH, batch_size=1, start_image=wan["small"],
                            end_image=end, clip_vision_start_image=vision)
    mask = pos[0][1]["concat_mask"]  # [1, 4 video frames per latent frame, 3 latent frames, h, w]
    assert mask.shape[1:3] == (4, 3)
    assert float(mask[:, :, 0].max()) == 0.0  # latent frame 0: the start image (video frame 0, causal)
    assert float(mask[:, -1, -1].max()) == 0.0 and float(mask[:, :-1, -1].min()) == 1.0  # the last video frame
    assert float(mask[:, :, 1].min()) == 1.0  # the middle latent frame is generated
    sigmas = sigmas_of(wan["i2v"])
    noise = frameinit(wan["i2v"], static_layout(wan, wan["vae21"]), sigmas)
    out, seen = sample(wan["i2v"], noise, sigmas, pos, neg, latent)
    torch.testing.assert_close(seen[0]["x"], noise.state(latent["samples"]), atol=1e-5, rtol=1e-5)
    given = wan["i2v"].model.process_latent_in(pos[0][1]["concat_latent_image"])
    torch.testing.assert_close(seen[0]["c"]["c_concat"][:, 4:], given, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(out["samples"]).all()


def analytic_init(wan, model, M=900.0, steps=4, seed=5):
    (stats,) = node("CILStatistics", variance=0.8, resample="interpolate",
                    mean_latent=static_layout(wan, wan["vae21"]))
    noise, sigmas = node("CILAnalyticInit", model=model, statistics=stats, M=M, steps=steps, schedule="auto",
                         seed=seed, svd_formula="fixed")
    return noise, sigmas, stats


def check_analytic_start(model, noise, stats, sigma0, x, samples):
    """x (the first model input) = the noise object's x_M, and its per-frame moments are those of
    N(c·E[x0], a² + c²·v) on the flow schedule (c = 1 - σ, a = σ)."""
    torch.testing.assert_close(x, noise.state(samples).to(x.dtype), atol=1e-5, rtol=1e-5)
    c, a = 1.0 - sigma0, sigma0
    mean = stats.mean_like(samples, model.model.process_latent_in).double()
    resid_mean, resid_var = per_frame(x.double() - c * mean)
    want_var = a * a + c * c * stats.scaled_variance
    assert resid_mean.abs().max() < 0.2 * want_var ** 0.5, resid_mean
    assert ((resid_var / want_var - 1).abs() < 0.2).all(), (resid_var, want_var)
    x_mean, _ = per_frame(x)
    e_mean, _ = per_frame(c * mean)
    assert (x_mean - e_mean).abs().max() < 0.2 * want_var ** 0.5


def test_wan21_i2v_analytic_init(wan):
    pos, neg, latent = wan21_i2v(wan)
    noise, sigmas, stats = analytic_init(wan, wan["i2v"])
    ms = wan["i2v"].get_model_object("model_sampling")
    assert float(sigmas[0]) == pytest.approx(float(ms.sigma(torch.tensor(900.0))), rel=1e-6)
    out, seen = sample(wan["i2v"], noise, sigmas, pos, neg, latent)
    check_analytic_start(wan["i2v"], noise, stats, float(sigmas[0]), seen[0]["x"], latent["samples"])
    assert torch.isfinite(out["samples"]).all()


# ----------------------------------------------------------------------------- Wan 2.2 A14B I2V, two experts

def two_experts(wan, noise, sigmas, split):
    """SplitSigmas -> high-noise expert with ``noise`` -> low-noise expert with DisableNoise (core's nodes)."""
    pos, neg, latent = node("WanImageToVideo", positive=wan["pos"], negative=wan["neg"], vae=wan["vae21"], width=W,
                            height=H, length=LENGTH, batch_size=1, start_image=wan["small"])
    high_sigmas, low_sigmas = node("SplitSigmas", sigmas=sigmas, step=split)
    first, seen_high = sample(wan["high"], noise, high_sigmas, pos, neg, latent)
    (disabled,) = node("DisableNoise")
    second, seen_low = sample(wan["low"], disabled, low_sigmas, pos, neg, first)
    return dict(latent=latent, first=first, second=second, high=seen_high, low=seen_low, high_sigmas=high_sigmas,
                low_sigmas=low_sigmas)


def euler_step(call, sigma, sigma_next):
    """Where euler puts x after a cfg-1 call (apply_model returns the denoised x0): x + (x - x0)/σ·(σ' - σ)."""
    x, denoised = call["x"].double(), call["out"].double()
    return x + (x - denoised) / float(sigma) * (float(sigma_next) - float(sigma))


@pytest.mark.parametrize("method", ["analytic_init", "frameinit", "pyoco"])
def test_wan22_two_experts_start_state_and_hand_over(wan, method):
    ms = wan["high"].get_model_object("model_sampling")
    if method == "analytic_init":
        noise, sigmas, stats = analytic_init(wan, wan["high"], M=900.0, steps=4)
    else:
        sigmas = sigmas_of(wan["high"], steps=4)
        noise = (frameinit(wan["high"], static_layout(wan, wan["vae21"]), sigmas) if method == "frameinit"
                 else node("ConsistI2VPYoCoNoise", seed=3)[0])
    run = two_experts(wan, noise, sigmas, split=2)
    samples = run["latent"]["samples"]
    assert len(run["high"]) == 2 and len(run["low"]) == 2  # one call per step (cfg 1)
    # the high-noise expert starts at the first sigma of Wan's shift-8 flow schedule, from our start state
    sigma0 = float(sigmas[0])
    assert float(run["high"][0]["t"][0]) == pytest.approx(float(sigmas[0]), rel=1e-6)  # the wrapper sees sigma
    x0 = run["high"][0]["x"]
    if method == "analytic_init":
        assert sigma0 == pytest.approx(float(ms.sigma(torch.tensor(900.0))), rel=1e-6)
        assert sigma0 < 1.0  # an earlier start than pure noise
        check_analytic_start(wan["high"], noise, stats, sigma0, x0, samples)
    elif method == "frameinit":
        assert sigma0 == 1.0
        torch.testing.assert_close(x0, noise.state(samples), atol=1e-5, rtol=1e-5)
    else:
        torch.testing.assert_close(x0, noise.generate_noise(run["latent"]), atol=1e-6, rtol=1e-6)
    # hand-over: the low-noise expert starts at the split sigma from exactly where the high expert's last step left x
    split = run["high_sigmas"][-1]
    assert torch.equal(run["low_sigmas"][0], split)
    assert float(run["low"][0]["t"][0]) == pytest.approx(float(split), rel=1e-6)
    handed = euler_step(run["high"][-1], run["high_sigmas"][-2], split)
    torch.testing.assert_close(run["low"][0]["x"].double(), handed, atol=2e-5, rtol=1e-5)
    # our NOISE feeds only the first expert: with another seed's noise on the first, the second expert's input
    # still equals the first's output (DisableNoise adds nothing)
    assert torch.isfinite(run["second"]["samples"]).all()
    again = two_experts(wan, noise, sigmas, split=2)
    assert torch.equal(run["second"]["samples"], again["second"]["samples"]), "same seed, same video"


def test_wan22_hand_over_ignores_the_second_noise(wan):
    """The second expert's start depends only on the first's output: RandomNoise of any seed there would change it,
    DisableNoise (the templates' add_noise disable) keeps it; our NOISE is drawn once, for the first expert."""
    sigmas = sigmas_of(wan["high"], steps=4)
    drawn = []

    class Counting:
        def __init__(self, inner):
            self.inner, self.seed = inner, inner.seed

        def generate_noise(self, latent):
            drawn.append(latent["samples"].shape)
            return self.inner.generate_noise(latent)

    noise = Counting(frameinit(wan["high"], static_layout(wan, wan["vae21"]), sigmas))
    run = two_experts(wan, noise, sigmas, split=2)
    assert len(drawn) == 1
    first_out = wan["low"].model.process_latent_in(run["first"]["samples"]).double()
    split = float(run["low_sigmas"][0])
    torch.testing.assert_close(run["low"][0]["x"].double(), (1.0 - split) * first_out, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------ Wan 2.2 5B TI2V (in-latent + mask)

def wan22_5b(wan, start_image=None):
    (latent,) = node("Wan22ImageToVideoLatent", vae=wan["vae22"], width=W5, height=H5, length=LENGTH, batch_size=1,
                     start_image=wan["image"] if start_image is None else start_image)
    return latent


def check_held_frames(model, latent, seen, out):
    """Frames the noise mask holds reach the model bit-identical to the encoded image at every step, and the
    sampled latent keeps them (core's inpainting path)."""
    mask = latent["noise_mask"]
    held = (mask[0, 0, :, 0, 0] == 0).nonzero().flatten().tolist()
    assert held == [0], mask[0, 0, :, 0, 0]
    image = model.model.process_latent_in(latent["samples"])[:, :, held]
    for call in seen:
        for half in call["x"].chunk(call["x"].shape[0]):
            assert torch.equal(half[:, :, held], image), "held frame not bit-identical at the model input"
    return held


@pytest.mark.parametrize("layout_kind", ["static", "camera"])
def test_wan22_5b_frameinit(wan, layout_kind):
    if layout_kind == "static":
        latent = wan22_5b(wan)
        layout = static_layout(wan, wan["vae22"], size=(H5, W5))
    else:
        layout, frames = camera_layout(wan, wan["vae22"], size=(H5, W5))
        latent = wan22_5b(wan, start_image=frames[:1])  # the layout's first frame is the conditioning image
    assert latent["samples"].shape == layout["samples"].shape == (1, 48, 3, H5 // 16, W5 // 16)
    sigmas = sigmas_of(wan["ti2v"])
    noise = frameinit(wan["ti2v"], layout, sigmas)
    out, seen = sample(wan["ti2v"], noise, sigmas, wan["pos"], wan["neg"], latent, cfg=2.0)
    held = check_held_frames(wan["ti2v"], latent, seen, out)
    free = [i for i in range(latent["samples"].shape[2]) if i not in held]
    z = noise.state(latent["samples"])
    for half in seen[0]["x"].chunk(2):
        torch.testing.assert_close(half[:, :, free], z[:, :, free], atol=1e-5, rtol=1e-5)
        xm, xv = per_frame(half[:, :, free])
        zm, zv = per_frame(z[:, :, free])
        torch.testing.assert_close(xm, zm, atol=1e-6, rtol=0)
        torch.testing.assert_close(xv, zv, atol=1e-5, rtol=1e-5)
    # the held frame of the sampled latent is the encoded image up to float rounding: core's own path (euler's last
    # step x + (x - x0)/σ·(0 - σ), then the Wan 2.2 latent format out of model space) is not bit-exact there, with
    # RandomNoise too (measured 1.8e-7; ours 1.5e-7)
    torch.testing.assert_close(out["samples"][:, :, held], latent["samples"][:, :, held], atol=1e-6, rtol=0)
    again, _ = sample(wan["ti2v"], frameinit(wan["ti2v"], layout, sigmas), sigmas, wan["pos"], wan["neg"], latent,
                      cfg=2.0)
    assert torch.equal(out["samples"], again["samples"]), "same seed, same video"


def test_wan22_5b_pyoco_held_frames(wan):
    latent = wan22_5b(wan)
    sigmas = sigmas_of(wan["ti2v"])
    (noise,) = node("ConsistI2VPYoCoNoise", seed=9)
    out, seen = sample(wan["ti2v"], noise, sigmas, wan["pos"], wan["neg"], latent)
    held = check_held_frames(wan["ti2v"], latent, seen, out)
    eps = noise.generate_noise(latent)
    torch.testing.assert_close(seen[0]["x"][:, :, held[-1] + 1:], eps[:, :, held[-1] + 1:], atol=1e-6, rtol=1e-6)
    # the model sees timestep 0 on the held frame (WAN22.process_timestep with the noise mask)
    assert torch.isfinite(out["samples"]).all()


def test_wan22_5b_analytic_init_leaves_held_frames_to_the_sampler(wan):
    """Analytic-Init on the in-latent family: the held frame stays the encoded image, the others start at x_M."""
    latent = wan22_5b(wan)
    (stats,) = node("CILStatistics", variance=0.8, resample="interpolate",
                    mean_latent=static_layout(wan, wan["vae22"], size=(H5, W5)))
    noise, sigmas = node("CILAnalyticInit", model=wan["ti2v"], statistics=stats, M=900.0, steps=2, schedule="auto",
                         seed=5, svd_formula="fixed")
    out, seen = sample(wan["ti2v"], noise, sigmas, wan["pos"], wan["neg"], latent)
    held = check_held_frames(wan["ti2v"], latent, seen, out)
    free = slice(held[-1] + 1, None)
    want = noise.state(latent["samples"])
    torch.testing.assert_close(seen[0]["x"][:, :, free], want[:, :, free].to(seen[0]["x"].dtype), atol=1e-5,
                               rtol=1e-5)


# --------------------------------------------------------------------------------------- wrong layouts refused

def test_layout_from_the_other_wan_vae_is_refused(wan):
    # Wan 2.1 I2V graph, layout from the Wan 2.2 VAE (48 channels, x16)
    pos, neg, latent = wan21_i2v(wan)
    sigmas = sigmas_of(wan["i2v"])
    wrong = frameinit(wan["i2v"], static_layout(wan, wan["vae22"]), sigmas)
    with pytest.raises(Exception, match=r"(?s)layout.*48 latent channels.*16.*VAE"):
        sample(wan["i2v"], wrong, sigmas, pos, neg, latent)
    # Wan 2.2 5B graph, layout from the Wan 2.1 VAE (16 channels, x8)
    latent5 = wan22_5b(wan)
    sigmas5 = sigmas_of(wan["ti2v"])
    wrong5 = frameinit(wan["ti2v"], static_layout(wan, wan["vae21"], size=(H5, W5)), sigmas5)
    with pytest.raises(Exception, match=r"(?s)layout.*16 latent channels.*48.*VAE"):
        sample(wan["ti2v"], wrong5, sigmas5, wan["pos"], wan["neg"], latent5)


def test_layout_with_the_wrong_stride_or_frames_is_refused(wan):
    pos, neg, latent = wan21_i2v(wan)
    sigmas = sigmas_of(wan["i2v"])
    big = frameinit(wan["i2v"], static_layout(wan, wan["vae21"], size=(H5, W5)), sigmas)  # 8x8 latent, video 4x4
    with pytest.raises(Exception, match=r"(?s)layout.*8x8.*4x4"):
        sample(wan["i2v"], big, sigmas, pos, neg, latent)
    (frames,) = node("ConsistI2VStaticLayout", image=wan["small"], frames=5)  # 2 latent frames, video has 3
    short = frameinit(wan["i2v"], node("VAEEncode", pixels=frames, vae=wan["vae21"])[0], sigmas)
    with pytest.raises(Exception, match=r"(?s)layout has 2 frame.*3"):
        sample(wan["i2v"], short, sigmas, pos, neg, latent)
