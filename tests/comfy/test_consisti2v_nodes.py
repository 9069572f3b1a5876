"""ConsistI2V nodes in a real ComfyUI: conditioning, sampling with CFG, output assembly, first-frame attention
(native model switches and the training-free SVD patch, checked against a pre-projection reference patch)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.support.node_calls import call_node, pack_module

pytestmark = pytest.mark.comfy

H = W = 64  # pixels -> 8x8 latents


@pytest.fixture(scope="module")
def tiny(comfy):
    from tests.support import tiny_models

    model_mod, config_mod = pack_module("consisti2v.model"), pack_module("consisti2v.config")
    cfg = config_mod.normalise_config(tiny_models.CONSISTI2V_CONFIG)
    model = model_mod.build_model(tiny_models.consisti2v_state_dict(seed=5), cfg, "tiny", torch.float32)
    gen = torch.Generator().manual_seed(1)
    text = torch.randn(1, 7, tiny_models.CONTEXT_DIM, generator=gen)
    image = torch.rand(1, 48, 80, 3, generator=gen)
    return dict(model=model, vae=tiny_models.build_tiny_vae(seed=2), positive=[[text, {}]],
                negative=[[torch.zeros_like(text), {}]], image=image)


def condition(tiny, **kw):
    args = dict(positive=tiny["positive"], negative=tiny["negative"], vae=tiny["vae"], start_image=tiny["image"],
                width=W, height=H, length=4, frame_stride=3)
    args.update(kw)
    return call_node("ConsistI2VConditioning", **args)


def sample(model, positive, negative, latent, seed=7, cfg=2.0, steps=2):
    import comfy.sample
    import comfy.samplers

    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "ddim_uniform", steps)
    noise = torch.randn(latent["samples"].shape, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        return comfy.sample.sample_custom(model, noise, cfg, comfy.samplers.sampler_object("ddim"), sigmas,
                                          positive, negative, latent["samples"], seed=seed)


def test_conditioning_stores_the_encoded_first_frame_and_stride(tiny):
    import comfy.utils

    pos, neg, latent = condition(tiny, length=5, frame_stride=4)
    assert latent["samples"].shape == (4, 4, H // 8, W // 8) and not latent["samples"].any()
    cropped = comfy.utils.common_upscale(tiny["image"].movedim(-1, 1), W, H, "bilinear", "center").movedim(1, -1)
    expected = tiny["vae"].encode(cropped)
    for cond in (pos, neg):
        torch.testing.assert_close(cond[0][1]["consisti2v_first_frame"], expected)
        assert cond[0][1]["consisti2v_frame_stride"] == 4


def test_sampling_and_prepending_the_first_frame(tiny):
    pos, neg, latent = condition(tiny)
    out = sample(tiny["model"], pos, neg, latent)
    assert out.shape == latent["samples"].shape and torch.isfinite(out).all()
    (full,) = call_node("ConsistI2VPrependFirstFrame", samples={"samples": out}, positive=pos)
    assert full["samples"].shape[0] == 4
    torch.testing.assert_close(full["samples"][0], pos[0][1]["consisti2v_first_frame"][0])
    torch.testing.assert_close(full["samples"][1:], out)


def test_the_first_frame_steers_the_video(tiny):
    pos, neg, latent = condition(tiny)
    other_pos, other_neg, _ = condition(tiny, start_image=1 - tiny["image"])
    a = sample(tiny["model"], pos, neg, latent)
    b = sample(tiny["model"], other_pos, other_neg, latent)
    assert (a - b).abs().max() > 1e-3


def unet_inputs(seed, videos=2, n=3):
    gen = torch.Generator().manual_seed(seed)
    return dict(x=torch.randn(videos * n, 4, 8, 8, generator=gen), first=torch.randn(videos, 4, 8, 8, generator=gen),
                t=torch.full((videos * n,), 400.0), context=torch.randn(videos, 7, 32, generator=gen)
                .repeat_interleave(n, 0), n=n)


def run(unet, d, rows=slice(None), first=slice(None), **settings):
    options = {"consisti2v_attention": settings} if settings else {}
    with torch.inference_mode():
        return unet(d["x"][rows], d["t"][rows], context=d["context"][rows], first_frame=d["first"][first],
                    num_video_frames=d["n"], frame_stride=3, transformer_options=options)


def test_cfg_batch_equals_each_video_alone(tiny):
    """Each CFG chunk uses its own frame 0: a batched [cond, uncond] call equals two single calls."""
    unet = tiny["model"].model.diffusion_model
    d = unet_inputs(3)
    both = run(unet, d)
    first = run(unet, d, rows=slice(0, 3), first=slice(0, 1))
    second = run(unet, d, rows=slice(3, 6), first=slice(1, 2))
    torch.testing.assert_close(both, torch.cat((first, second)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("settings", [dict(spatial=False), dict(temporal_window=False), dict(window_size=5)],
                         ids=["spatial_off", "window_off", "window_5"])
def test_each_attention_switch_changes_the_output(tiny, settings):
    unet = tiny["model"].model.diffusion_model
    d = unet_inputs(4)
    assert (run(unet, d) - run(unet, d, **settings)).abs().max() > 1e-4


def test_attention_node_sets_the_switches_on_a_clone(tiny):
    pos, neg, latent = condition(tiny)
    (off,) = call_node("ConsistI2VFirstFrameAttention", model=tiny["model"], spatial=False, temporal_window=False,
                       window_size=3)
    assert off.model_options["transformer_options"]["consisti2v_attention"]["spatial"] is False
    assert "consisti2v_attention" not in tiny["model"].model_options.get("transformer_options", {})
    assert (sample(tiny["model"], pos, neg, latent) - sample(off, pos, neg, latent)).abs().max() > 1e-4


# --- training-free patch on an SVD-style UNet --------------------------------------------------------------

def reference_patch(spatial, temporal_window, window=3):
    """The same attention as the official code builds it: extend the *normed* tokens before projection
    (attn1_patch) with frame 0's tokens (spatial) or frame 0's K x K window (temporal)."""
    def patch(n, context, value, extra):
        rows = extra["activations_shape"][0]
        chunks = len(extra["cond_or_uncond"])
        frames = rows // chunks
        h, w = extra["activations_shape"][-2:]
        if n.shape[0] == rows and spatial:
            first = n.view(chunks, frames, *n.shape[1:])[:, :1].expand(chunks, frames, *n.shape[1:])
            extra_tokens = first.reshape(n.shape)
        elif n.shape[0] == chunks * h * w and n.shape[0] != rows and temporal_window:
            c = n.shape[-1]
            first = n[:, 0].reshape(chunks, h, w, c).permute(0, 3, 1, 2)
            pad = window // 2
            win = F.pad(first, (pad,) * 4, mode="replicate").unfold(2, window, 1).unfold(3, window, 1)
            mask = torch.ones(window, window, dtype=torch.bool)
            mask[pad, pad] = False
            extra_tokens = win[:, :, :, :, mask].permute(0, 2, 3, 4, 1).reshape(chunks * h * w, -1, c)
        else:
            return n, context, value
        return n, torch.cat((context, extra_tokens), 1), torch.cat((value, extra_tokens), 1)
    return patch


@pytest.fixture(scope="module")
def svd(comfy):
    from tests.support import tiny_models

    model = tiny_models.build_tiny_model("svd")
    positive, negative, latent = tiny_models.tiny_conditioning("svd", frames=4, h=8, w=8)
    return dict(model=model, positive=positive, negative=negative, latent=latent)


def svd_sample(svd, model):
    import comfy.sample
    import comfy.samplers

    # moderate sigmas: at SVD's sigma_max (700) the tiny random model amplifies float32 rounding to ~1e-3
    sigmas = torch.tensor([10.0, 2.0, 0.0])
    noise = torch.randn(svd["latent"]["samples"].shape, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        return comfy.sample.sample_custom(model, noise, 2.0, comfy.samplers.sampler_object("euler"), sigmas,
                                          svd["positive"], svd["negative"], svd["latent"]["samples"], seed=3)


@pytest.mark.parametrize("spatial, temporal_window", [(True, False), (False, True), (True, True)],
                         ids=["spatial", "temporal_window", "both"])
def test_svd_patch_equals_the_official_style_reference(svd, spatial, temporal_window):
    (ours,) = call_node("ConsistI2VFirstFrameAttention", model=svd["model"], spatial=spatial,
                        temporal_window=temporal_window, window_size=3)
    ref = svd["model"].clone()
    ref.set_model_attn1_patch(reference_patch(spatial, temporal_window))
    a, b = svd_sample(svd, ours), svd_sample(svd, ref)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert (a - svd_sample(svd, svd["model"])).abs().max() > 1e-4


def test_svd_patch_with_both_switches_off_is_plain_attention(svd):
    (off,) = call_node("ConsistI2VFirstFrameAttention", model=svd["model"], spatial=False, temporal_window=False,
                       window_size=3)
    torch.testing.assert_close(svd_sample(svd, off), svd_sample(svd, svd["model"]), atol=1e-5, rtol=1e-5)


# --- bad input ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, words", [
    (dict(length=1), "length"),
    (dict(frame_stride=0), "frame_stride"),
    (dict(frame_stride=99), "frame_stride"),
    (dict(start_image=None), "start_image"),
    (dict(vae=None), "vae"),
    (dict(start_latent={"samples": torch.zeros(1, 16, 8, 8)}), "4-channel"),
])
def test_bad_conditioning_input_is_named(tiny, change, words):
    with pytest.raises(ValueError, match=words):
        condition(tiny, **change)


def test_negative_without_first_frame_is_named(tiny):
    pos, _, latent = condition(tiny)
    with pytest.raises(Exception, match="negative"):
        sample(tiny["model"], pos, tiny["negative"], latent)


def test_latent_of_another_size_is_named(tiny):
    pos, neg, _ = condition(tiny)
    with pytest.raises(Exception, match="ConsistI2V Conditioning"):
        sample(tiny["model"], pos, neg, {"samples": torch.zeros(3, 4, 6, 6)})


def test_attention_node_refuses_models_without_video_attention(comfy):
    from tests.support import tiny_models

    with pytest.raises(ValueError, match="model"):
        call_node("ConsistI2VFirstFrameAttention", model=tiny_models.build_tiny_model("eps"), spatial=True,
                  temporal_window=True, window_size=3)
    with pytest.raises(ValueError, match="window_size"):
        call_node("ConsistI2VFirstFrameAttention", model=tiny_models.build_tiny_model("svd"), spatial=True,
                  temporal_window=True, window_size=4)
