"""DynamiCrafter / VideoCrafter1 as ComfyUI models: the loader node on release-style files, ComfyUI's
parametrisation around the official UNet output (golden), the full release key set, dynamic rescale, conditioning
and bad input. Golden cases: ``tests/fixtures/golden/dynamicrafter_tiny_*`` (official code, see
scripts/gen_dynamicrafter_golden.py)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.support.node_calls import call_node, pack_module
from tests.support.pickles import SystemCall

pytestmark = pytest.mark.comfy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN = FIXTURES / "golden"
CASES = sorted(p for p in GOLDEN.glob("dynamicrafter_tiny_*") if p.is_dir())


def load(name, model_type="auto", weights="auto"):
    (patcher,) = call_node("CILLoadDynamiCrafter", unet_name=name, model_type=model_type, weights=weights,
                           weight_dtype="fp32")
    return patcher


def golden_weights(case: Path) -> dict:
    return {k: v.float() for k, v in load_file(str(case / "weights.safetensors")).items()}


def comfy_rows(case: Path):
    """The golden inputs in ComfyUI's layout: frames of each video as batch rows, per-row conditioning."""
    io = load_file(str(case / "io.safetensors"))
    b, c_in, t, h, w = io["x"].shape
    rows = lambda v: v.repeat_interleave(t, dim=0)  # noqa: E731
    frames = io["x"].transpose(1, 2).reshape(b * t, c_in, h, w)
    return dict(noisy=frames[:, :4], concat=frames[:, 4:] if c_in > 4 else None, steps=rows(io["timesteps"]),
                text=rows(io["text"]), tokens=rows(io["clip_tokens"]), fs=rows(io["fs"]), t=t,
                ref=io["out"].transpose(1, 2).reshape(b * t, -1, h, w))


def apply(patcher, d, sigma, x, transformer_options=None):
    kw = dict(c_crossattn=d["text"], transformer_options=transformer_options or {}, clip_image_tokens=d["tokens"],
              fs=d["fs"], num_video_frames=d["t"])
    if d["concat"] is not None:
        kw["c_concat"] = d["concat"]
    with torch.inference_mode():
        return patcher.model.apply_model(x, sigma, **kw)


def post_cfg(patcher, denoised, sigma, x, sample_sigmas):
    """The loader's sampler_post_cfg_functions (dynamic rescale) on a guided x0, as ComfyUI's sampling calls them."""
    args = {"denoised": denoised, "model": patcher.model, "sigma": sigma, "input": x,
            "model_options": {"transformer_options": {"sample_sigmas": sample_sigmas}}}
    for fn in patcher.model_options.get("sampler_post_cfg_function", []):
        args["denoised"] = fn(args)
    return args["denoised"]


def expected_denoised(ms, sigma, x, out, v_prediction):
    s = sigma.reshape(-1, 1, 1, 1)
    if v_prediction:
        return x / (s ** 2 + 1) - out * s / (s ** 2 + 1).sqrt()
    return x - out * s


# --- the loader and ComfyUI's parametrisation around the official UNet ------------------------------------

def write_containers(folder: Path, sd: dict) -> list[str]:
    """The same weights as a safetensors copy, an official {'state_dict'} .ckpt with the parts ComfyUI loads
    elsewhere, a deepspeed {'module': {'_forward_module.': ...}} pickle, and the convert node's output."""
    save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / "copy.safetensors"))
    extra = {"first_stage_model.decoder.conv_out.weight": torch.zeros(3), "cond_stage_model.model.ln_final.weight":
             torch.zeros(2), "embedder.model.visual.proj": torch.zeros(2), "betas": torch.zeros(1000),
             "scale_arr": torch.ones(1000)}
    torch.save({"state_dict": dict(sd, **extra), "global_step": 1}, folder / "release.ckpt")
    torch.save({"module": {"_forward_module." + k: v for k, v in sd.items()}}, folder / "deepspeed.ckpt")
    call_node("CILConvertCheckpoint", ckpt_name="diffusion_models/release.ckpt", weights="auto",
              arch="dynamicrafter_unet", fp16=False, output_name="converted")
    return ["copy.safetensors", "release.ckpt", "deepspeed.ckpt", "converted.safetensors"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_loaded_model_gives_the_official_output_through_comfy_parametrisation(models_dir, case):
    names = write_containers(models_dir, golden_weights(case))
    d = comfy_rows(case)
    for name in names:
        patcher = load(name)
        ms = patcher.model.model_sampling
        v_pred = patcher.model.model_type.name == "V_PREDICTION"
        assert v_pred == (json.loads((case / "config.json").read_text())["variant"] == "dynamicrafter"
                          and "alpha" not in " ".join(golden_weights(case)))
        sigma = ms.sigma(d["steps"].float())
        assert torch.equal(ms.timestep(sigma).round().long(), d["steps"])
        x = d["noisy"] * (sigma.reshape(-1, 1, 1, 1) ** 2 + 1).sqrt()  # VE state whose model input is the golden x
        denoised = apply(patcher, d, sigma, x)
        torch.testing.assert_close(denoised, expected_denoised(ms, sigma, x, d["ref"], v_pred), atol=2e-5,
                                   rtol=1e-5, msg=f"{case.name} via {name}")


def test_model_type_choice_sets_schedule_and_rescale(models_dir):
    case = GOLDEN / "dynamicrafter_tiny_dynamicrafter"
    save_file(golden_weights(case), str(models_dir / "dc.safetensors"))
    auto, p1024 = load("dc.safetensors"), load("dc.safetensors", "dynamicrafter_1024")
    assert auto.model.base_scale == 0.7 and p1024.model.base_scale == 0.3
    ms = auto.model.model_sampling
    assert float(ms.sigmas[-1]) > 4000  # zero terminal SNR (ComfyUI's 4.9e-8 stand-in for alphā_999 = 0)
    with pytest.raises(ValueError, match="videocrafter1 model_type .* dynamicrafter UNet|is a videocrafter1 model"):
        load("dc.safetensors", "videocrafter1_512")


# --- DynamiCrafter's dynamic x0 rescale ---------------------------------------------------------------------

def official_scale_arr(base):
    return np.concatenate([np.linspace(1.0, base, 400), np.full(1000, base)])


def official_ddim_eta1(x, x0, ab, ab_prev, r, n):
    """One step of the official DDIM (eta 1) with DynamiCrafter's dynamic rescale, in VP space: x0·r, the
    model's own noise kept (lvdm/models/samplers/ddim.py p_sample_ddim)."""
    e = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
    var = (1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)
    return ab_prev.sqrt() * r * x0 + (1 - ab_prev - var).sqrt() * e + var.sqrt() * n


def test_dynamic_rescale_with_comfy_ddpm_sampler_equals_official_ddim(models_dir):
    """Several steps of ComfyUI's own ddpm sampler step on the loaded model (x0 rescaled from the sampler's
    schedule) land where the official DDIM eta 1 with dynamic rescale lands, same noise."""
    from comfy.k_diffusion.sampling import DDPMSampler_step

    case = GOLDEN / "dynamicrafter_tiny_dynamicrafter"
    save_file(golden_weights(case), str(models_dir / "dc.safetensors"))
    patcher = load("dc.safetensors")
    ms = patcher.model.model_sampling
    d = comfy_rows(case)
    arr = official_scale_arr(0.7)
    steps = [419, 399, 299, 199, 99, 19]  # a trailing grid crossing the rescale ramp (t < 400), then t = 0
    sigmas = torch.cat([ms.sigma(torch.tensor(steps, dtype=torch.float32)), torch.zeros(1)])
    gen = torch.Generator().manual_seed(0)
    x_ours = x_ref = torch.randn(d["noisy"].shape, generator=gen)  # VP state at t = 419
    for i, t in enumerate(steps):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        ab, ab_prev = 1 / (1 + sigma ** 2), 1 / (1 + sigma_next ** 2)
        n = torch.randn(x_ref.shape, generator=gen)
        rows = torch.full((x_ref.shape[0],), float(sigma))
        # official: plain x0 from the same model
        x0 = apply(patcher, d, rows, x_ref / ab.sqrt())
        r = arr[steps[i + 1]] / arr[t] if i + 1 < len(steps) else 1.0
        x_ref = official_ddim_eta1(x_ref, x0, ab, ab_prev, r, n) if sigma_next > 0 else x0
        # ours: ComfyUI's ddpm step on the model's x0, which sees the sampler's sigmas
        x_ve = x_ours / ab.sqrt()
        denoised = post_cfg(patcher, apply(patcher, d, rows, x_ve), rows, x_ve, sigmas)
        x_ours = DDPMSampler_step(x_ours, sigma, sigma_next, (x_ve - denoised) / sigma, lambda *_: n)
    assert any(arr[a] != arr[b] for a, b in zip(steps, steps[1:]))
    torch.testing.assert_close(x_ours, x_ref, atol=2e-5, rtol=1e-5)
    # the rescale is not a no-op here (the check above can fail)
    rows = torch.full((x_ref.shape[0],), float(sigmas[2]))
    plain = apply(patcher, d, rows, x_ref)
    assert (post_cfg(patcher, plain, rows, x_ref, sigmas) / plain).mean() > 1.01
    assert torch.equal(post_cfg(patcher, plain, rows, x_ref, None), plain)


def test_videocrafter_rescales_its_last_x0_to_scale_one(models_dir):
    case = GOLDEN / "dynamicrafter_tiny_videocrafter1"
    save_file(golden_weights(case), str(models_dir / "vc.safetensors"))
    patcher = load("vc.safetensors")
    assert patcher.model.base_scale == 0.7  # use_scale, scale_b 0.7 in the official i2v config
    ms = patcher.model.model_sampling
    d = comfy_rows(case)
    sigma = ms.sigma(torch.full((d["noisy"].shape[0],), 1.0))
    x = d["noisy"] * (sigma[0] ** 2 + 1).sqrt()
    plain = apply(patcher, d, sigma, x)
    last = post_cfg(patcher, plain, sigma, x, torch.tensor([float(sigma[0]), 0.0]))
    arr = official_scale_arr(patcher.model.base_scale)
    torch.testing.assert_close(last, plain / arr[1], atol=1e-6, rtol=1e-5)  # to alphā = 1: m = r = 1/s(1)


# --- conditioning -------------------------------------------------------------------------------------------

def tiny_parts():
    from tests.support import tiny_models
    return tiny_models.build_tiny_vae(), tiny_models.build_tiny_clip_vision()


def test_conditioning_node_feeds_latent_tokens_and_stride(comfy):
    vae, vision = tiny_parts()
    image = torch.rand(1, 48, 80, 3)
    text = [[torch.randn(1, 77, 32), {}]]
    pos, neg, latent = call_node("CILDynamiCrafterConditioning", positive=text, negative=text, clip_vision=vision,
                                 start_image=image, vae=vae, width=128, height=64, length=5, frame_stride=17)
    assert latent["samples"].shape == (5, 4, 8, 16) and not latent["samples"].any()
    model = pack_module("dynamicrafter.model")
    resized = pack_module("nodes.common").fit_image(image, 128, 64)
    p, n = pos[0][1], neg[0][1]
    torch.testing.assert_close(p[model.IMAGE_LATENT_KEY], vae.encode(resized)[:1])
    torch.testing.assert_close(n[model.IMAGE_LATENT_KEY], p[model.IMAGE_LATENT_KEY])
    torch.testing.assert_close(p[model.CLIP_TOKENS_KEY], vision.encode_image(resized, crop=False)["last_hidden_state"])
    gray = vision.encode_image(torch.full_like(resized, 0.5), crop=False)["last_hidden_state"]
    torch.testing.assert_close(n[model.CLIP_TOKENS_KEY], gray)
    assert not torch.allclose(gray, p[model.CLIP_TOKENS_KEY])
    assert p[model.FS_KEY] == 17 and p[model.FRAMES_KEY] == 5
    with pytest.raises(ValueError, match=r"width/height: 120×64 must be multiples of 64 pixels"):
        call_node("CILDynamiCrafterConditioning", positive=text, negative=text, clip_vision=vision,
                  start_image=image, vae=vae, width=120, height=64, length=5, frame_stride=17)


@pytest.mark.parametrize("variant", ["dynamicrafter", "videocrafter1"])
def test_extra_conds_concat_only_for_dynamicrafter(models_dir, variant):
    from tests.support import tiny_models
    tiny_models.write_tiny_dynamicrafter(str(models_dir / f"{variant}.safetensors"), variant)
    patcher = load(f"{variant}.safetensors")
    model = pack_module("dynamicrafter.model")
    image = torch.randn(1, 4, 4, 6)
    noise = torch.randn(6, 4, 4, 6)
    conds = patcher.model.extra_conds(noise=noise, **{model.IMAGE_LATENT_KEY: image, model.FRAMES_KEY: 3,
                                                      model.FS_KEY: 9, model.CLIP_TOKENS_KEY: torch.randn(1, 5, 32)})
    assert ("c_concat" in conds) == (variant == "dynamicrafter")
    if variant == "dynamicrafter":
        concat = conds["c_concat"].cond
        torch.testing.assert_close(concat, (image * 0.18215).repeat(6, 1, 1, 1))
    assert conds["num_video_frames"].cond == 3 and conds["fs"].cond == 9
    with pytest.raises(ValueError, match="not a multiple of length 4"):
        patcher.model.extra_conds(noise=noise, **{model.FRAMES_KEY: 4})


# --- bad input ----------------------------------------------------------------------------------------------

def test_bad_files_are_refused_with_the_input_named(models_dir, tmp_path):
    from tests.support import tiny_models
    case = GOLDEN / "dynamicrafter_tiny_dynamicrafter"
    sd = golden_weights(case)
    tiny_models.write_tiny_consisti2v(str(models_dir / "consisti2v.safetensors"))
    with pytest.raises(ValueError, match=r"unet_name \(consisti2v.safetensors\)"):
        load("consisti2v.safetensors")
    torch.save({"state_dict": sd}, models_dir / "full.ckpt")
    data = (models_dir / "full.ckpt").read_bytes()
    (models_dir / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"unet_name: cut.ckpt: truncated"):
        load("cut.ckpt")
    sentinel = tmp_path / "SENTINEL"
    with open(models_dir / "evil.ckpt", "wb") as f:
        pickle.dump({"state_dict": {"x": SystemCall(sentinel)}}, f)
    with pytest.raises(ValueError, match=r"unet_name: evil.ckpt: contains Python objects that would run code"):
        load("evil.ckpt")
    assert not sentinel.exists()
    missing = {k: v for k, v in sd.items() if "output_blocks.1" not in k}
    save_file(missing, str(models_dir / "missing.safetensors"))
    with pytest.raises(ValueError, match=r"missing.safetensors.*missing keys: .*output_blocks\.1"):
        load("missing.safetensors")
    stray = dict(sd, **{"some_other_model.weight": torch.ones(1)})
    save_file(stray, str(models_dir / "stray.safetensors"))
    with pytest.raises(ValueError, match=r"some_other_model.weight"):
        load("stray.safetensors")
    with pytest.raises(ValueError, match="model_type 'sdxl' is unknown"):
        load("full.ckpt", "sdxl")


# --- guidance rescale ---------------------------------------------------------------------------------------

def official_rescale(denoised_c, denoised_u, x, sigma, scale, phi, frames, v_pred):
    """lvdm rescale_noise_cfg on the official [B, C, T, H, W] model outputs (std over all but the batch)."""
    s = sigma.view(-1, 1, 1, 1)
    if v_pred:
        out_c, out_u = [(x / (s ** 2 + 1) - d) * (s ** 2 + 1).sqrt() / s for d in (denoised_c, denoised_u)]
    else:
        out_c, out_u = [(x - d) / s for d in (denoised_c, denoised_u)]
    cfg = out_u + scale * (out_c - out_u)
    video = lambda t: t.reshape(-1, frames, *t.shape[1:]).transpose(1, 2)  # noqa: E731  [B, C, T, H, W]
    std = lambda t: video(t).std(dim=[1, 2, 3, 4], keepdim=True)  # noqa: E731
    mixed = phi * video(cfg) * (std(out_c) / std(cfg)) + (1 - phi) * video(cfg)
    out = mixed.transpose(1, 2).reshape(cfg.shape)
    return x / (s ** 2 + 1) - out * s / (s ** 2 + 1).sqrt() if v_pred else x - out * s


@pytest.mark.parametrize("variant", ["dynamicrafter", "videocrafter1"])
def test_guidance_rescale_is_the_official_per_video_rescale(models_dir, variant):
    from tests.support import tiny_models
    tiny_models.write_tiny_dynamicrafter(str(models_dir / f"{variant}.safetensors"), variant)
    patcher = load(f"{variant}.safetensors")
    v_pred = variant == "dynamicrafter"
    gen = torch.Generator().manual_seed(3)
    x, c, u = (torch.randn(6, 4, 5, 7, generator=gen) * k for k in (4.0, 1.0, 1.3))
    sigma = torch.full((6,), 3.7)
    args = {"input": x, "cond_denoised": c, "uncond_denoised": u, "cond_scale": 7.5, "sigma": sigma,
            "cond": x - c, "uncond": x - u}
    for frames in (3, 0):
        (patched,) = call_node("CILGuidanceRescale", model=patcher, multiplier=0.7, frames_per_video=frames)
        got = x - patched.model_options["sampler_cfg_function"](dict(args))
        expected = official_rescale(c, u, x, sigma, 7.5, 0.7, frames or 6, v_pred)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    per_frame = official_rescale(c, u, x, sigma, 7.5, 0.7, 1, v_pred)
    assert not torch.allclose(got, per_frame, atol=1e-3)  # per-video std is not per-frame std
    (patched,) = call_node("CILGuidanceRescale", model=patcher, multiplier=0.7, frames_per_video=4)
    with pytest.raises(ValueError, match="frames_per_video: the latent holds 6 frames, not a multiple of 4"):
        patched.model_options["sampler_cfg_function"](dict(args))


def test_ksampler_runs_the_dynamic_rescale_inside_the_ramp(models_dir):
    """In real KSampler sampling (ddpm, simple) the post-CFG rescale sees the sampler's sigmas and scales x0 only
    on steps whose next timestep lies in the 0..399 ramp."""
    from tests.support import tiny_models
    model = pack_module("dynamicrafter.model")
    tiny_models.write_tiny_dynamicrafter(str(models_dir / "dc.safetensors"), "dynamicrafter")
    patcher = load("dc.safetensors").clone()
    (rescale,) = patcher.model_options["sampler_post_cfg_function"]
    seen = []

    def spy(args):
        out = rescale(args)
        seen.append((float(args["sigma"][0]), float((out / args["denoised"]).mean())))
        return out

    patcher.model_options["sampler_post_cfg_function"] = [spy]
    gen = torch.Generator().manual_seed(0)
    values = {model.IMAGE_LATENT_KEY: torch.randn(1, 4, 8, 8, generator=gen), model.FS_KEY: 24, model.FRAMES_KEY: 4}
    cond = [[torch.randn(1, 77, 32, generator=gen), dict(values, **{model.CLIP_TOKENS_KEY: torch.randn(1, 5, 32)})]]
    uncond = [[torch.zeros(1, 77, 32), dict(values, **{model.CLIP_TOKENS_KEY: torch.zeros(1, 5, 32)})]]
    (latent,) = call_node("KSampler", model=patcher, seed=0, steps=5, cfg=3.0, sampler_name="ddpm",
                          scheduler="simple", positive=cond, negative=uncond,
                          latent_image={"samples": torch.zeros(4, 4, 8, 8)}, denoise=1.0)
    assert torch.isfinite(latent["samples"]).all()
    ms = patcher.model.model_sampling
    steps = [round(float(ms.timestep(torch.tensor(s)))) for s, _ in seen]
    assert steps == [999, 799, 599, 399, 199]
    ratios = [r for _, r in seen]
    assert ratios[:3] == [1.0, 1.0, 1.0] and ratios[3] > 1.0 and ratios[4] == 1.0  # only 399 -> 199 is in the ramp


# --- a whole sampling run against the official DDIM sampler -----------------------------------------------

SAMPLING = GOLDEN / "dynamicrafter_sampling_tiny"


def official_video(v: torch.Tensor) -> torch.Tensor:
    """[1, C, T, h, w] -> ComfyUI's frames-as-batch [T, C, h, w]."""
    return v[0].transpose(0, 1).contiguous()


def comfy_sampling(patcher, g, first: int, start_vp: torch.Tensor, noises: list):
    """ComfyUI's own ddpm sampler (= DDIM eta 1) from timestep g["timesteps"][first] to 0, the official per-step
    noises fed through its noise_sampler; returns the VP states after each step and the final model-space x0."""
    import comfy.sample
    import comfy.samplers
    from comfy.k_diffusion.sampling import sample_ddpm

    model = pack_module("dynamicrafter.model")
    ms = patcher.model.model_sampling
    frames = g["x_T"].shape[2]
    values = {model.IMAGE_LATENT_KEY: g["z0"] / 0.18215, model.FS_KEY: int(g["fs"][0]), model.FRAMES_KEY: frames}
    positive = [[g["text"], dict(values, **{model.CLIP_TOKENS_KEY: g["clip_tokens"]})]]
    negative = [[g["uc_text"], dict(values, **{model.CLIP_TOKENS_KEY: g["uc_clip_tokens"]})]]
    sigmas = torch.tensor([float(ms.sigma(torch.tensor(float(t)))) for t in g["timesteps"][first:]] + [0.0])
    queue = [official_video(n) for n in noises]
    sampler = comfy.samplers.KSAMPLER(sample_ddpm, extra_options={"noise_sampler": lambda *_: queue.pop(0)})
    s0 = float(sigmas[0])
    # ComfyUI starts from x = noise·σ0, or noise·sqrt(1+σ0²) at the schedule's top (then x's VP state is the noise)
    noise = start_vp if s0 >= float(ms.sigma_max) * (1 - 1e-5) else start_vp * (1 + s0 ** 2) ** 0.5 / s0
    states = []
    out = comfy.sample.sample_custom(
        patcher, noise, 7.5, sampler, sigmas, positive, negative, torch.zeros_like(noise),
        callback=lambda i, denoised, x, total: states.append(x / (1 + sigmas[i] ** 2).sqrt()), disable_pbar=True,
        seed=0)
    assert not queue, "every official noise was used"
    return states[1:], out * 0.18215


def sampling_model(models_dir):
    save_file(golden_weights(GOLDEN / "dynamicrafter_tiny_dynamicrafter"), str(models_dir / "dc.safetensors"))
    (patcher,) = call_node("CILGuidanceRescale", model=load("dc.safetensors"), multiplier=0.7, frames_per_video=0)
    return patcher


def test_sampling_run_equals_the_official_ddim_sampler(models_dir):
    """CFG 7.5 + guidance rescale 0.7 + DDIM eta 1 with DynamiCrafter's dynamic rescale, from t = 799 down the
    official trailing grid (799, 599, 399, 199): every state equals the official sampler's, and ComfyUI's last step
    to 0 gives the official last x0 (the official sampler then re-noises it to alphā_0, a step ComfyUI leaves out)."""
    g = load_file(str(SAMPLING / "io.safetensors"))
    states, out = comfy_sampling(sampling_model(models_dir), g, 1, official_video(g["x_steps"][0]),
                                 list(g["noises"][1:4]))
    assert g["rescale"][3] > 1.2  # the 399 -> 199 step rescales x0: this run covers the ramp
    for k, state in enumerate(states, start=1):
        torch.testing.assert_close(state, official_video(g["x_steps"][k]), atol=2e-4, rtol=1e-4, msg=f"step {k}")
    torch.testing.assert_close(out, official_video(g["pred_x0"][4]), atol=2e-4, rtol=1e-4)


def test_first_step_from_pure_noise_is_close_to_official(models_dir):
    """At t = 999 the official zero-SNR schedule has alphā = 0 exactly, so its first DDIM step keeps none of the
    predicted noise (coefficient sqrt(1 - alphā_prev - σ²) = 0). ComfyUI's zsnr stand-in alphā = 4.9e-8 makes that
    coefficient sqrt((1 - alphā_prev)(alphā_t/alphā_prev - alphā_t)) ≈ 1.6e-3: the first state differs by ~5e-3
    (of values up to ~4), the rest of the run is exact (test above)."""
    g = load_file(str(SAMPLING / "io.safetensors"))
    g["timesteps"] = g["timesteps"][:2]  # 999 -> 799, then 799 -> 0
    states, _ = comfy_sampling(sampling_model(models_dir), g, 0, official_video(g["x_T"]), [g["noises"][0]])
    err = (states[0] - official_video(g["x_steps"][0])).abs().max()
    assert err < 1e-2, err
