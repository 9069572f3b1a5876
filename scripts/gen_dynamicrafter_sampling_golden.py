"""Generate an end-to-end DDIM sampling golden by running the OFFICIAL DynamiCrafter sampler on the tiny golden model.

Not part of the pack or its tests, and no official code is copied into this repository: the official checkout
(thu-ml/cond-image-leakage ``examples/DynamiCrafter``, "CIL") is imported from the path given on the command line.
Nothing is downloaded. Helpers (float64 casts) are imported from ``gen_dynamicrafter_golden.py`` beside this file.

Regenerate (official env as in ``gen_dynamicrafter_golden.py``; needs the ``dynamicrafter_tiny_dynamicrafter`` golden)::

    /tmp/official_dc_venv/bin/python scripts/gen_dynamicrafter_sampling_golden.py \
        --cil-dynamicrafter /tmp/src/thu-ml+cond-image-leakage/examples/DynamiCrafter --out tests/fixtures

What runs (all official, CIL commit 5075e25d6a10ffe7f12f08836f6988a2850a40d3):

* ``lvdm.models.ddpm3dInference.LatentVisualDiffusion`` (the target of CIL's ``configs/inference_512_v1.0.yaml``)
  built from that config, with its ``unet_config`` / ``image_proj_stage_config`` params replaced by the tiny golden's
  (``config.json`` "unet" / "image_proj") and the first-stage VAE, text encoder and CLIP image embedder replaced by
  ``torch.nn.Identity`` (unused: latents and embeddings are fed directly). So the schedule buffers (zero-terminal-SNR
  ``alphas_cumprod``, ``scale_arr``) come from the official ``register_schedule`` / ``LatentDiffusion.__init__``.
  The tiny weights are loaded into ``model.model.diffusion_model`` and ``model.image_proj_model``.
* cond / uc built as ``scripts/evaluation/inference.py`` ``image_guided_synthesis_analytic`` does, and
  ``lvdm.models.samplers.ddim.DDIMSampler.sample`` called with the arguments that function passes.

The only changes to the official run: ``DDIMSampler.register_buffer`` (which moves every tensor to "cuda") keeps
tensors where they are (CPU run), ``lvdm.models.samplers.ddim.noise_like`` returns predetermined noises (stored), and
``p_sample_ddim`` / ``apply_model`` are wrapped to record their inputs and outputs.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_dynamicrafter_golden import TEXT_LEN, float64_patches, official  # noqa: E402  (our code)

SEED = 20240703
CASE = "dynamicrafter_tiny_dynamicrafter"  # the tiny model (weights + config) this golden runs
OUT_NAME = "dynamicrafter_sampling_tiny"
CONFIG = "configs/inference_512_v1.0.yaml"
DC_COMMIT = "c453369367122d7fbb0aa38f124e76dc8fe2a91c"
CIL_COMMIT = "5075e25d6a10ffe7f12f08836f6988a2850a40d3"

B, T, H, W, N_TOK = 1, 4, 6, 10, 9
SETTINGS = dict(S=5, ddpm_from=1000, unconditional_guidance_scale=7.5, guidance_rescale=0.7, eta=1.0,
                timestep_spacing="uniform_trailing", fs=24)


def build_model(repo: Path, golden: Path):
    from omegaconf import OmegaConf
    from safetensors.torch import load_file
    from utils.utils import instantiate_from_config

    tiny = json.loads((golden / "config.json").read_text())
    cfg = OmegaConf.load(repo / CONFIG).model
    assert cfg.target == "lvdm.models.ddpm3dInference.LatentVisualDiffusion", cfg.target
    p = cfg.params
    p.unet_config.params = OmegaConf.create(tiny["unet"])
    p.image_proj_stage_config.params = OmegaConf.create(tiny["image_proj"])
    for k in ("first_stage_config", "cond_stage_config", "img_cond_stage_config"):  # unused stand-ins
        p[k] = OmegaConf.create({"target": "torch.nn.Identity"})
    p.unet_config.params.use_checkpoint = False  # as inference.py sets
    model = instantiate_from_config(cfg).eval()

    sd = {k: v.float() for k, v in load_file(str(golden / "weights.safetensors")).items()}
    for prefix, mod in (("model.diffusion_model.", model.model.diffusion_model),
                        ("image_proj_model.", model.image_proj_model)):
        mod.load_state_dict({k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}, strict=True)
    assert all(k.startswith(("model.diffusion_model.", "image_proj_model.")) for k in sd)
    settings = {k: OmegaConf.to_container(p)[k] for k in (
        "rescale_betas_zero_snr", "parameterization", "linear_start", "linear_end", "timesteps", "conditioning_key",
        "uncond_type", "use_dynamic_rescale", "base_scale")}
    return model, tiny, settings


def run(model, ddim, inputs: dict, noises, dtype):
    """One official DDIM sampling run. Returns a dict of recorded tensors (in sampling order)."""
    import torch

    f = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in inputs.items()}
    with torch.no_grad():
        # inference.py: img_emb = image_proj_model(embedder(img)); cond_emb = get_learned_conditioning(prompts)
        img_emb = model.image_proj_model(f["clip_tokens"])
        uc_img_emb = model.image_proj_model(f["uc_clip_tokens"])  # official: embedder(zeros_like(img))
    context = torch.cat([f["text"], img_emb], dim=1)
    uc_context = torch.cat([f["uc_text"], uc_img_emb], dim=1)
    # both runs get the stored (float32-rounded) contexts, so the stored inputs are exactly what the UNet saw
    ctx32, uc_ctx32 = (c.float() for c in (context, uc_context)) if inputs.get("context") is None else (
        inputs["context"], inputs["uc_context"])
    img_cat_cond = f["z0"][:, :, None].repeat(1, 1, T, 1, 1)  # z[:,:,:1] repeated 'b c t h w -> b c (repeat t) h w'
    cond = {"c_crossattn": [ctx32.to(dtype)], "c_concat": [img_cat_cond]}
    uc = {"c_crossattn": [uc_ctx32.to(dtype)], "c_concat": [img_cat_cond]}  # uc keeps the image concat (hybrid)

    rec = {"x_in": [], "x_steps": [], "pred_x0": [], "index": [], "t": [], "v_cond": [], "v_uncond": []}
    queue = list(noises)

    def noise_like(shape, device, repeat=False):
        assert not repeat and tuple(shape) == tuple(queue[0].shape), shape
        return queue.pop(0).to(device=device, dtype=dtype)

    apply_model = model.apply_model
    calls = []

    def recording_apply_model(x, t, c, **kw):
        out = apply_model(x, t, c, **kw)
        calls.append((c is uc, out))
        return out

    class Sampler(ddim.DDIMSampler):
        def register_buffer(self, name, attr):  # official one moves every tensor to "cuda"
            setattr(self, name, attr)

        def p_sample_ddim(self, x, c, t, index, **kw):
            rec["x_in"].append(x.clone())
            x_prev, pred_x0 = super().p_sample_ddim(x, c, t, index, **kw)
            rec["x_steps"].append(x_prev.clone())
            rec["pred_x0"].append(pred_x0.clone())
            rec["index"].append(index)
            rec["t"].append(t.clone())
            (is_uc_a, va), (is_uc_b, vb) = calls[-2:]
            assert (is_uc_a, is_uc_b) == (False, True) and len(calls) == 2 * len(rec["index"])
            rec["v_cond"].append(va.clone())
            rec["v_uncond"].append(vb.clone())
            return x_prev, pred_x0

    saved_noise, model.apply_model = ddim.noise_like, recording_apply_model
    ddim.noise_like = noise_like
    try:
        sampler = Sampler(model)
        fs = torch.tensor([SETTINGS["fs"]] * B, dtype=torch.long)
        kwargs = {"unconditional_conditioning_img_nonetext": None}  # as image_guided_synthesis_analytic passes
        samples, x0_preds = sampler.sample(
            S=SETTINGS["S"], conditioning=cond, batch_size=B, shape=(4, T, H, W), verbose=False,
            unconditional_guidance_scale=SETTINGS["unconditional_guidance_scale"], unconditional_conditioning=uc,
            eta=SETTINGS["eta"], cfg_img=None, mask=None, x0=None, fs=fs,
            timestep_spacing=SETTINGS["timestep_spacing"], guidance_rescale=SETTINGS["guidance_rescale"],
            ddpm_from=SETTINGS["ddpm_from"], x_T=f["x_T"], log_every_t=1, **kwargs)
    finally:
        ddim.noise_like = saved_noise
        del model.apply_model
    assert not queue, "not every noise was drawn"
    # the sampler's own outputs agree with the recording
    assert torch.equal(samples, rec["x_steps"][-1])
    assert len(x0_preds) == SETTINGS["S"] + 1 and torch.equal(x0_preds[0], f["x_T"])
    assert all(torch.equal(a, b) for a, b in zip(x0_preds[1:], rec["pred_x0"]))
    assert torch.equal(rec["x_in"][0], f["x_T"])
    assert all(torch.equal(a, b) for a, b in zip(rec["x_in"][1:], rec["x_steps"][:-1]))
    rec = {k: (torch.stack(v) if isinstance(v[0], torch.Tensor) else v) for k, v in rec.items()}
    rec.update(sampler=sampler, context=ctx32, uc_context=uc_ctx32, samples=samples)
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cil-dynamicrafter", type=Path, required=True,
                    help="thu-ml/cond-image-leakage checkout's examples/DynamiCrafter")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "fixtures")
    args = ap.parse_args()
    repo = args.cil_dynamicrafter.resolve()
    sys.path.insert(0, str(repo))

    import numpy as np
    import torch
    from safetensors.torch import save_file
    import lvdm.models.samplers.ddim as ddim
    basics, net, _ = official("dynamicrafter")

    golden = args.out.resolve() / "golden"
    model, tiny, settings = build_model(repo, golden / CASE)
    assert type(model.model.diffusion_model) is net.UNetModel
    assert settings["rescale_betas_zero_snr"] and settings["parameterization"] == "v"

    gen = torch.Generator().manual_seed(SEED)
    rnd = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    ctx_dim, emb_dim = tiny["unet"]["context_dim"], tiny["image_proj"]["embedding_dim"]
    inputs = {
        "x_T": rnd(B, 4, T, H, W), "z0": rnd(B, 4, H, W),
        "text": rnd(B, TEXT_LEN, ctx_dim), "uc_text": rnd(B, TEXT_LEN, ctx_dim),
        "clip_tokens": rnd(B, N_TOK, emb_dim), "uc_clip_tokens": rnd(B, N_TOK, emb_dim),
    }
    noises = rnd(SETTINGS["S"], B, 4, T, H, W)

    # float64 run: UNet + Resampler in float64 (the official float32 casts relaxed as in gen_dynamicrafter_golden);
    # the schedule buffers and the sampler's per-step coefficients stay the official float32 values.
    unet32, proj32 = model.model.diffusion_model, model.image_proj_model
    unet64, proj64 = copy.deepcopy(unet32).double(), copy.deepcopy(proj32).double()
    unet64.dtype = torch.float64
    try:
        # float64 copies of the two networks; the schedule buffers stay the official float32 ones
        model.model.diffusion_model, model.image_proj_model = unet64, proj64
        with float64_patches(basics, net):
            r64 = run(model, ddim, inputs, noises, torch.float64)
    finally:
        model.model.diffusion_model, model.image_proj_model = unet32, proj32
    inputs.update(context=r64["context"], uc_context=r64["uc_context"])
    r32 = run(model, ddim, inputs, noises, torch.float32)  # untouched official float32 run, same inputs

    s = r64["sampler"]
    order = np.asarray(r64["index"])  # sampling order -> the sampler's ascending ddim index
    timesteps = torch.as_tensor(np.asarray(s.ddim_timesteps)[order].copy(), dtype=torch.int64)
    assert timesteps.tolist() == [999, 799, 599, 399, 199], timesteps
    assert all(torch.equal(t, torch.full((B,), int(ts))) for t, ts in zip(r64["t"], timesteps))
    as_t = lambda v: torch.as_tensor(np.asarray(v, dtype=np.float64))  # noqa: E731
    alphas, alphas_prev, sigmas = (as_t(getattr(s, n))[order] for n in ("ddim_alphas", "ddim_alphas_prev",
                                                                         "ddim_sigmas"))
    scale, scale_prev = s.ddim_scale_arr[order], s.ddim_scale_arr_prev[order]
    # what p_sample_ddim actually uses: torch.full(size, v) -> default dtype float32
    used = {n: torch.stack([torch.full((), v[i].item()) for i in range(len(order))])
            for n, v in (("alphas", alphas), ("alphas_prev", alphas_prev), ("sigmas", sigmas))}
    rescale = torch.full((len(order),), 1.0)
    for i in range(len(order)):
        rescale[i] = torch.full((), scale_prev[i].item()) / torch.full((), scale[i].item())
    ac = model.alphas_cumprod
    assert alphas_prev[-1].item() == ac[0].item() and sigmas[-1] > 0, "last step must land on alphas_cumprod[0]"
    assert ac[-1].item() == 0.0 and alphas[0].item() == 0.0  # zero terminal SNR

    dtypes = {n: f"{type(getattr(s, n)).__name__}:{getattr(getattr(s, n), 'dtype', None)}"
              for n in ("ddim_alphas", "ddim_alphas_prev", "ddim_sigmas", "ddim_scale_arr")}
    err = {k: ((r32[k].double() - r64[k]).abs().max().item(), r64[k].abs().max().item())
           for k in ("x_steps", "pred_x0")}
    for k, (e, mx) in err.items():
        assert torch.isfinite(r64[k]).all() and e < 1e-3 * max(mx, 1.0), (k, e, mx)
    # the documented step formula (config.json "step") re-derived from the recorded v-predictions
    x, dir_coef = inputs["x_T"].double(), (1 - used["alphas_prev"] - used["sigmas"] ** 2).sqrt()
    assert dir_coef[0].item() == 0.0  # t=999: exactly 0 in the official float32 coefficients
    for i, t in enumerate(timesteps.tolist()):
        vc, vu = r64["v_cond"][i], r64["v_uncond"][i]
        v = vu + 7.5 * (vc - vu)
        v = 0.7 * v * vc.std() / v.std() + 0.3 * v
        sa, s1a = model.sqrt_alphas_cumprod[t].double(), model.sqrt_one_minus_alphas_cumprod[t].double()
        px0 = (sa * x - s1a * v) * rescale[i].double()
        x = used["alphas_prev"][i].sqrt().double() * px0 + dir_coef[i].double() * (sa * v + s1a * x) \
            + used["sigmas"][i].double() * noises[i].double()
        assert (px0 - r64["pred_x0"][i]).abs().max() < 1e-12 and (x - r64["x_steps"][i]).abs().max() < 1e-12, i
        x = r64["x_steps"][i]
    # the conditioning matters: cond and uncond v-predictions differ
    assert (r64["v_cond"] - r64["v_uncond"]).abs().max() > 1e-2

    f32 = lambda v: v.float().contiguous()  # noqa: E731
    io = {k: f32(v) for k, v in inputs.items() if k not in ("context", "uc_context")}
    io.update(context=f32(r64["context"]), uc_context=f32(r64["uc_context"]),
              fs=torch.tensor([SETTINGS["fs"]] * B, dtype=torch.int64), noises=f32(noises),
              x_steps=f32(r64["x_steps"]), pred_x0=f32(r64["pred_x0"]),
              v_cond=f32(r64["v_cond"]), v_uncond=f32(r64["v_uncond"]),
              x_steps_fp32=f32(r32["x_steps"]), pred_x0_fp32=f32(r32["pred_x0"]),
              timesteps=timesteps, alphas=used["alphas"], alphas_prev=used["alphas_prev"], sigmas=used["sigmas"],
              alphas_f64=alphas.double(), alphas_prev_f64=alphas_prev.double(), sigmas_f64=sigmas.double(),
              scale=f32(scale), scale_prev=f32(scale_prev), rescale=rescale,
              alphas_cumprod=f32(ac), scale_arr=f32(model.scale_arr))

    layout = f"[B={B}, C=4, T={T}, H={H}, W={W}]"
    tensors = {
        "x_T": f"{layout} initial latent, DDIMSampler.sample(x_T=...)",
        "z0": f"[B, 4, H, W] image latent (stand-in for get_latent_z(video)[:, :, 0]); c_concat = z0 repeated over "
              f"T: z0[:, :, None].repeat(1, 1, T, 1, 1) -> {layout}, used in BOTH cond and uc",
        "text": "[B, 77, 64] text embedding (stand-in for get_learned_conditioning(prompts))",
        "uc_text": "[B, 77, 64] unconditional text embedding (official: get_learned_conditioning(['']), "
                   "uncond_type 'empty_seq')",
        "clip_tokens": f"[B, {N_TOK}, 48] stand-in for embedder(img) (FrozenOpenCLIPImageEmbedderV2)",
        "uc_clip_tokens": f"[B, {N_TOK}, 48] stand-in for embedder(zeros_like(img)) (official uc image tokens are "
                          "CLIP of a black image, not zeros)",
        "context": "[B, 77+64, 64] cond c_crossattn = cat([text, image_proj_model(clip_tokens)], 1) (float64 "
                   "Resampler, rounded to float32: exactly what both runs fed the UNet)",
        "uc_context": "[B, 77+64, 64] uc c_crossattn = cat([uc_text, image_proj_model(uc_clip_tokens)], 1)",
        "fs": "[B] int64 frame stride, passed as DDIMSampler.sample(fs=...) -> UNetModel(fs=...)",
        "noises": f"[S, {layout[1:]} the noise p_sample_ddim draws at step i (noise_like(x.shape)), "
                  "multiplied there by sigmas[i]",
        "x_steps": f"[S, {layout[1:]} x_prev returned by p_sample_ddim at step i (x_steps[-1] is the sample)",
        "pred_x0": f"[S, {layout[1:]} pred_x0 of step i AFTER the dynamic rescale (pred_x0 *= rescale[i]), as "
                   "used in x_prev and returned",
        "v_cond": f"[S, {layout[1:]} model output (v) with cond at step i",
        "v_uncond": f"[S, {layout[1:]} model output (v) with uc at step i",
        "x_steps_fp32": "as x_steps, untouched official float32 run on the same stored inputs/noises",
        "pred_x0_fp32": "as pred_x0, float32 run",
        "timesteps": "[S] int64 model timestep of step i (sampling order)",
        "alphas": "[S] float32 a_t of step i = alphas_cumprod[timesteps[i]] (value p_sample_ddim uses: "
                  "torch.full -> float32)",
        "alphas_prev": "[S] float32 a_prev of step i = alphas_cumprod[timesteps[i+1]], and alphas_cumprod[0] for "
                       "the last step",
        "sigmas": "[S] float32 sigma_t of step i = eta*sqrt((1-a_prev)/(1-a_t)*(1-a_t/a_prev))",
        "alphas_f64, alphas_prev_f64, sigmas_f64": "[S] float64: the sampler's ddim_alphas/_prev/_sigmas "
                                                    "arrays as it holds them (before torch.full's float32 cast)",
        "scale": "[S] ddim_scale_arr[index] = scale_arr[timesteps[i]]",
        "scale_prev": "[S] ddim_scale_arr_prev[index]: cat([scale_arr_asc[0:1], scale_arr_asc[:-1]]) over the "
                      "ASCENDING ddim timesteps (i.e. scale of the next-lower ddim timestep; the lowest step gets "
                      "its own scale)",
        "rescale": "[S] scale_prev / scale, the factor pred_x0 is multiplied by (dynamic rescale)",
        "alphas_cumprod": "[1000] the official schedule buffer (linear betas, zero-terminal-SNR rescaled; float32)",
        "scale_arr": "[1400] official dynamic-rescale table: cat(linspace(1.0, base_scale, 400), full(1000, "
                     "base_scale))",
    }
    config = {
        "case": OUT_NAME, "model_case": CASE, "unet": tiny["unet"], "image_proj": tiny["image_proj"],
        "shapes": {"B": B, "T": T, "H": H, "W": W, "clip_tokens": N_TOK, "S": SETTINGS["S"]},
        "model_settings": settings, "sampler_settings": SETTINGS,
        "timesteps": timesteps.tolist(),
        "official_call": (
            "DDIMSampler(model).sample(S=5, conditioning=cond, batch_size=1, shape=(4, T, H, W), verbose=False, "
            "unconditional_guidance_scale=7.5, unconditional_conditioning=uc, eta=1.0, cfg_img=None, mask=None, "
            "x0=None, fs=torch.tensor([24]), timestep_spacing='uniform_trailing', guidance_rescale=0.7, "
            "ddpm_from=1000, x_T=x_T, log_every_t=1, unconditional_conditioning_img_nonetext=None)"),
        "cond": "cond = {'c_crossattn': [context], 'c_concat': [z0 repeated over T]}; uc = {'c_crossattn': "
                "[uc_context], 'c_concat': [same z0 repeated]} (inference.py image_guided_synthesis_analytic); "
                "DiffusionWrapper 'hybrid': UNet(cat([x, c_concat], 1), t, context=c_crossattn, fs=fs)",
        "step": ("per step i (t = timesteps[i]): v_c = UNet(x, cond), v_u = UNet(x, uc); v = v_u + 7.5*(v_c - v_u); "
                 "v = 0.7*v*std(v_c)/std(v) + 0.3*v (std over all non-batch dims, unbiased); "
                 "e_t = sqrt(ac[t])*v + sqrt(1-ac[t])*x; pred_x0 = (sqrt(ac[t])*x - sqrt(1-ac[t])*v) * rescale[i]; "
                 "x = sqrt(a_prev)*pred_x0 + sqrt(1-a_prev-sigma^2)*e_t + sigma*noises[i] (e_t NOT rescaled; "
                 "a_prev, sigma, sqrt(a_prev), sqrt(1-a_prev-sigma^2) are float32 as the sampler uses them; "
                 "sqrt(ac[t]), sqrt(1-ac[t]) are the model's float32 sqrt_alphas_cumprod / "
                 "sqrt_one_minus_alphas_cumprod buffers). The generator re-derives x_steps/pred_x0 from "
                 "v_cond/v_uncond with this formula."),
        "last_step": "the last step (t=199) lands on alphas_prev = alphas_cumprod[0] (%.8f, not 1) and adds noise "
                     "(sigma %.6f); there is no final noise-free x0 step" % (ac[0].item(), sigmas[-1].item()),
        "first_step": "t=999 has alphas_cumprod = 0 (zero terminal SNR): pred_x0 = -v, e_t = x, "
                      "sigma = sqrt(1-a_prev), so sqrt(1-a_prev-sigma^2) is exactly 0 in the official float32 "
                      "coefficients (mathematically 0; beware: recomputing it in float64 from the float32-stored "
                      "alphas_prev/sigmas gives sqrt(4.8e-8) = 2.2e-4, a ~7e-4 error on x_steps[0])",
        "tensors": tensors,
        "precision": ("stored tensors float32 unless noted. x_steps/pred_x0/v_*: float64 run (UNet + Resampler in "
                      "float64 with the official GroupNorm/time-embedding float32 casts relaxed; sinusoids float32; "
                      "schedule buffers and per-step coefficients the official float32 values). "
                      + "; ".join(f"max|{k}_fp32 - {k}| = {e:.2e} (max|{k}| = {m:.3f})" for k, (e, m) in err.items())
                      + f". Sampler array types: {dtypes}"),
        "weights": f"none here: golden/{CASE}/weights.safetensors (fp16-exact; load as float32/float64)",
        "official_commit": {"cond-image-leakage (examples/DynamiCrafter: model, sampler, inference.py)": CIL_COMMIT,
                            "DynamiCrafter (UNet/Resampler code, same in CIL)": DC_COMMIT},
        "official_files": ["lvdm/models/ddpm3dInference.py LatentVisualDiffusion", "lvdm/models/samplers/ddim.py "
                           "DDIMSampler", "lvdm/models/utils_diffusion.py", CONFIG,
                           "scripts/evaluation/inference.py image_guided_synthesis_analytic"],
        "deviations": "DDIMSampler.register_buffer keeps tensors on CPU (official moves them to cuda); noise_like "
                      "returns the stored noises; VAE/text/image encoders are torch.nn.Identity stand-ins (unused)",
        "torch": torch.__version__, "seed": SEED, "generator": Path(__file__).name,
    }
    out_dir = golden / OUT_NAME
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in io.items()}, str(out_dir / "io.safetensors"))
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    print("timesteps", timesteps.tolist(), "alphas", used["alphas"].tolist(), "alphas_prev",
          used["alphas_prev"].tolist(), "sigmas", used["sigmas"].tolist(), "rescale", rescale.tolist())
    print("dtypes", dtypes, "err", err)
    print("|x_steps| max per step", r64["x_steps"].flatten(1).abs().max(1).values.tolist())
    print("|pred_x0| max per step", r64["pred_x0"].flatten(1).abs().max(1).values.tolist())
    for k, v in io.items():
        print(f"  {k}: {list(v.shape)} {v.dtype}")


if __name__ == "__main__":
    main()
