"""ConsistI2V Guider: the official text / image guidance on ComfyUI's SamplerCustomAdvanced.

Golden: ``tests/fixtures/golden/consisti2v_guidance_<mode>/`` holds the OFFICIAL pipeline's run
(``ConditionalAnimationPipeline.__call__``, FrameInit + PYoCo from a seed, DDIM, the tiny golden UNet) in each
guidance mode it selects from its two scales; ``scripts/gen_consisti2v_guidance_golden.py`` wrote it. Each case is
replayed here through the real nodes (Conditioning, FrameInit Noise, the guider, SamplerCustomAdvanced, ddim):
every UNet call's first frames, every guided epsilon, every DDIM state and the result must match.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.support.node_calls import call_node, capturing, pack_module

pytestmark = pytest.mark.comfy

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CASES = sorted(p for p in GOLDEN.glob("consisti2v_guidance_*") if p.is_dir())


def test_golden_cases_present():
    assert {json.loads((c / "config.json").read_text())["official_mode"] for c in CASES} >= {None, "text", "both"}


def load_model(cfg):
    model_mod = pack_module("consisti2v.model")
    return model_mod.load_consisti2v(GOLDEN / cfg["unet_case"] / "diffusion_pytorch_model.safetensors",
                                     torch.float32)


def setup(case: Path, model=None):
    """The golden case as ComfyUI nodes: conditioning, static layout, FrameInit noise, sigmas, the guider."""
    cfg = json.loads((case / "config.json").read_text())
    io = load_file(str(case / "io.safetensors"))
    model = model or load_model(cfg)
    scale = cfg["vae_scaling_factor"]
    raw_first = io["first_frame_latent"] / scale  # ComfyUI keeps latents unscaled; the model scales them in
    emb = io["embeddings"]
    size = cfg["latent_size"] * 8
    pos, neg, latent = call_node("ConsistI2VConditioning", positive=[[emb[1:2], {}]], negative=[[emb[0:1], {}]],
                                 start_latent={"samples": raw_first}, width=size, height=size,
                                 length=cfg["video_length"], frame_stride=cfg["frame_stride"])
    (sigmas,) = call_node("BasicScheduler", model=model, scheduler="ddim_uniform", steps=cfg["steps"], denoise=1.0)
    fi = cfg["frameinit"]
    (noise,) = call_node("ConsistI2VFrameInitNoise", model=model,
                         layout={"samples": raw_first.repeat(cfg["video_length"], 1, 1, 1)}, sigmas=sigmas,
                         seed=cfg["seed"], noise_timestep=fi["noise_level"], timestep_scale="model_schedule",
                         filter=fi["method"], spatial_cutoff=fi["d_s"], temporal_cutoff=fi["d_t"],
                         butterworth_order=4, drop_first_frame=True, noise_type=cfg["noise_sampling_method"],
                         pyoco_alpha=cfg["noise_alpha"], official_filters=True)
    return {"cfg": cfg, "io": io, "model": model, "pos": pos, "neg": neg, "latent": latent, "sigmas": sigmas,
            "noise": noise}


def run(s, cfg_text=None, cfg_image=None):
    """SamplerCustomAdvanced with the ConsistI2V guider; returns (output LATENT, UNet calls, guided epsilons)."""
    patched, calls = capturing(s["model"], lambda a: {"x": a["input"].clone(), "t": a["timestep"].clone(),
                                                          "first": a["c"]["first_frame"].clone(),
                                                          "order": list(a["cond_or_uncond"])})
    (guider,) = call_node("ConsistI2VGuider", model=patched, positive=s["pos"], negative=s["neg"],
                          cfg_text=s["cfg"]["guidance_scale_txt"] if cfg_text is None else cfg_text,
                          cfg_image=s["cfg"]["guidance_scale_img"] if cfg_image is None else cfg_image,
                          noise=s["noise"])
    eps, predict = [], guider.predict_noise

    def record(x, timestep, model_options={}, seed=None):  # noqa: B006 (ComfyUI's signature)
        denoised = predict(x, timestep, model_options, seed)
        eps.append((x - denoised) / timestep.reshape(-1, 1, 1, 1))
        return denoised

    guider.predict_noise = record
    import comfy.samplers

    with torch.inference_mode():
        out = call_node("SamplerCustomAdvanced", noise=s["noise"], guider=guider,
                        sampler=comfy.samplers.sampler_object("ddim"), sigmas=s["sigmas"],
                        latent_image=s["latent"])[0]
    return out, calls, eps


def official_layout(frames):
    """[F, C, h, w] frames-as-batch -> the official [1, C, F, h, w]."""
    return frames.transpose(0, 1).unsqueeze(0)


def close(ours, ref, rel=2e-6):
    """float32 agreement: the DDIM states grow to ~30 on the tiny random model, so atol scales with them."""
    torch.testing.assert_close(ours, ref, atol=rel * max(1.0, float(ref.abs().max())) + 1e-6, rtol=1e-4)


def by_branch(call, branches):
    """Input states and first frames of one UNet call, in the order of the official batch (ComfyUI may batch the
    conds in any order; ``cond_or_uncond`` holds each chunk's cond index)."""
    assert sorted(call["order"]) == list(range(branches))
    frames = call["x"].shape[0] // branches
    rows = [call["order"].index(b) for b in range(branches)]
    x = torch.cat([call["x"][r * frames:(r + 1) * frames] for r in rows])
    first = torch.cat([call["first"][r * frames:r * frames + 1] for r in rows])
    return x, first, frames


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_guidance_mode_reproduces_the_official_pipeline(comfy, case):
    s = setup(case)
    cfg, io = s["cfg"], s["io"]
    out, calls, eps = run(s)
    model_sampling = s["model"].get_model_object("model_sampling")
    assert len(calls) == len(eps) == cfg["steps"]
    for i, call in enumerate(calls):
        x, first, frames = by_branch(call, cfg["unet_batch_per_call"])
        sigma = call["t"][:1]
        assert round(float(model_sampling.timestep(sigma))) == cfg["timesteps"][i]
        k = float(model_sampling.calculate_input(sigma, torch.ones(1)))
        close(official_layout(x[:frames] * k), io[f"step{i}_x"])  # the DDIM state
        # the first frame of every branch: x_T frame 0 in the official "both" mode's unconditional branch
        torch.testing.assert_close(first.unsqueeze(2), io[f"call{i}_first"], atol=1e-5, rtol=1e-5)
        # the guided epsilon the official scheduler stepped with, as sigma * eps (eps = (x - denoised) / sigma
        # magnifies the state's float error 30x at the last sigma); CFG 7.5 magnifies the UNet's 1e-6 error 10x
        close(official_layout(eps[i]) * float(sigma), io[f"step{i}_eps"] * float(sigma), rel=2e-5)
    close(official_layout(out["samples"] * cfg["vae_scaling_factor"]), io[f"step{cfg['steps'] - 1}_prev"])


def test_image_mode_feeds_the_start_noise_first_frame_not_the_clean_one(comfy, monkeypatch):
    """The official "both" unconditional branch sees x_T frame 0 (the frame FrameInit Noise drops), the same at
    every step; the other branches see the clean latent. Feeding the clean frame instead must miss the golden."""
    case = next(c for c in CASES if c.name.endswith("_both"))
    s = setup(case)
    io = s["io"]
    noise = s["noise"]
    full = type(noise)(**{**noise.__dict__, "drop_first_frame": False})
    dropped = full.state(torch.zeros(s["latent"]["samples"].shape[0] + 1, *s["latent"]["samples"].shape[1:]))[:1]
    clean = s["model"].get_model_object("latent_format").process_in(s["pos"][0][1]["consisti2v_first_frame"])
    assert (dropped - clean).abs().max() > 0.5
    out, calls, _ = run(s)
    for call in calls:
        _, first, _ = by_branch(call, 3)
        torch.testing.assert_close(first[:1], dropped, atol=1e-6, rtol=0)
        torch.testing.assert_close(first[1:], clean.expand(2, -1, -1, -1), atol=1e-6, rtol=0)

    guidance = pack_module("nodes.consisti2v_guidance")
    monkeypatch.setattr(guidance, "noisy_first_frame", lambda *args: clean)
    wrong, calls, _ = run(s)
    _, first, _ = by_branch(calls[0], 3)
    torch.testing.assert_close(first[:1], clean)
    ref = io["step3_prev"]
    miss = float((official_layout(wrong["samples"] * s["cfg"]["vae_scaling_factor"]) - ref).abs().max())
    hit = float((official_layout(out["samples"] * s["cfg"]["vae_scaling_factor"]) - ref).abs().max())
    assert miss > 1000 * hit and miss > 1e-2, (miss, hit)


def test_image_guidance_refuses_another_model_and_conditioning_without_the_first_frame(comfy):
    from tests.support import tiny_models

    case = next(c for c in CASES if c.name.endswith("_both"))
    s = setup(case)
    svd = tiny_models.build_tiny_model("svd")
    args = {"positive": s["pos"], "negative": s["neg"], "cfg_text": 7.5, "cfg_image": 2.0, "noise": s["noise"]}
    with pytest.raises(ValueError, match="model: image guidance .* needs the ConsistI2V model .* set cfg_image to 1"):
        call_node("ConsistI2VGuider", model=svd, **args)
    plain = [[s["pos"][0][0], {}]]
    with pytest.raises(ValueError, match="positive: .* connect the positive output of 'ConsistI2V Conditioning'"):
        call_node("ConsistI2VGuider", model=s["model"], **{**args, "positive": plain})
    (guider,) = call_node("ConsistI2VGuider", model=svd, **{**args, "cfg_image": 1.0})  # text CFG: any model
    assert guider.mode == "text"
