"""TimeNoise Conditioning noises the conditional image and nothing else, in each family's own conditioning: Wan 2.1
I2V (only the frames concat_mask marks as given; clip_vision_output), the pack's DynamiCrafter / VideoCrafter1 (image
latent in model space on every frame, image tokens after the Resampler), text-only conditioning refused; the
custom parameters; a frames count that does not match the video refused."""
from __future__ import annotations

import math

import pytest
import torch

from tests.support.node_calls import call_node, capturing, node_class, pack_module, sample_advanced

pytestmark = pytest.mark.comfy

SCALE = 0.18215  # SD latent scale (DynamiCrafter's model space)


def timenoise(positive, negative, **kw):
    args = dict(preset="fixed_beta", beta=3.0, t=0.0, quantile=0.5, beta_m=100.0, a=5.0, mu_max=1.0,
                form="preset_default", target="concat_latent", apply_to="positive", frames=0, seed=1,
                set_augmentation_level=False)
    args.update(kw)
    return node_class("CILTimeNoiseConditioning").execute(positive, negative, **args).result


# ------------------------------------------------------------------------------------------------ Wan 2.1 I2V

def tiny_wan_vae(seed=0):
    """comfy.sd.VAE around a tiny Wan 2.1 VAE (dim 8; 16 latent channels, x8 in space, x4 in time), built at the
    file's width on ComfyUI 0.8 and 0.3.64 (which builds every Wan 2.1 VAE at dim 96): tests/support/tiny_family_wan."""
    from tests.support import tiny_family_wan

    return tiny_family_wan.build_tiny_vae("wan21", seed)


def tiny_wan_i2v(seed=0):
    import comfy.supported_models as sm

    from tests.support import tiny_models
    config = dict(tiny_models.unet_config("wan"), model_type="i2v", in_dim=36)
    model_config = sm.WAN21_I2V(config)
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({})
    model.diffusion_model.load_state_dict(tiny_models.random_state_dict(model.diffusion_model, seed), strict=False)
    return tiny_models._patcher(model)


@pytest.fixture(scope="module")
def wan_graph(comfy):
    """WanImageToVideo's outputs for a 9-frame video (3 latent frames) from one start image."""
    text = torch.randn(1, 4, 32, generator=torch.Generator().manual_seed(3))
    image = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(4))
    pos, neg, latent = call_node("WanImageToVideo", positive=[[text, {}]], negative=[[torch.zeros_like(text), {}]],
                                 vae=tiny_wan_vae(), width=32, height=32, length=9, batch_size=1,
                                 start_image=image)
    return pos, neg, latent


def test_wan_i2v_noises_only_the_given_frames(wan_graph):
    pos, neg, latent = wan_graph
    concat, mask = pos[0][1]["concat_latent_image"], pos[0][1]["concat_mask"]
    assert concat.shape[2] == 3 and mask[0, 0, :, 0, 0].tolist() == [0.0, 1.0, 1.0]  # frame 0 given
    out, out_neg = timenoise(pos, neg, beta=3.0)
    delta = (out[0][1]["concat_latent_image"] - concat).detach()
    assert torch.equal(delta[:, :, 1:], torch.zeros_like(delta[:, :, 1:])), "the grey padding frames stay as given"
    assert float(delta[:, :, 0].std()) == pytest.approx(3.0, rel=0.1)
    assert torch.equal(out[0][0], pos[0][0]) and out_neg is neg  # text untouched
    assert torch.equal(pos[0][1]["concat_latent_image"], concat)  # input not modified

    model = tiny_wan_i2v()
    patched, seen = capturing(model, lambda args: args["c"]["c_concat"].detach().clone())
    sample_advanced(patched, call_node("RandomNoise", noise_seed=0)[0], torch.tensor([1.0, 0.0]), out, neg, latent,
                    1.0)
    image = model.model.process_latent_in(out[0][1]["concat_latent_image"])
    torch.testing.assert_close(seen[0][:, 4:], image, atol=1e-5, rtol=1e-5)  # the model sees the noised frame


def test_wan_frames_must_match_its_latent_frames(wan_graph):
    pos, neg, _ = wan_graph
    timenoise(pos, neg, frames=3)  # the latent frame count passes
    with pytest.raises(ValueError, match=r"frames = 5 but the video has 3 frames \(latent frames of its "
                                         r"concat_latent_image\): set frames to 3, or 0"):
        timenoise(pos, neg, frames=5)


def test_clip_vision_output_is_the_image_embedding(comfy, wan_graph):
    from tests.support import tiny_models
    pos, neg, _ = wan_graph
    vision = tiny_models.build_tiny_clip_vision().encode_image(torch.rand(1, 32, 32, 3), crop=False)
    kept = {k: v.clone() for k, v in vars(vision).items() if isinstance(v, torch.Tensor)}
    cond = [[pos[0][0], dict(pos[0][1], clip_vision_output=vision)]]
    out, _ = timenoise(cond, neg, target="image_embedding", beta=2.0)
    noised = out[0][1]["clip_vision_output"]
    assert torch.equal(out[0][0], pos[0][0])  # text untouched
    assert torch.equal(out[0][1]["concat_latent_image"], pos[0][1]["concat_latent_image"])
    for key, value in kept.items():
        assert torch.equal(vars(vision)[key], value), "the input output object is not modified"
        assert float((noised[key] - value).std()) == pytest.approx(2.0, rel=0.25), key


# ------------------------------------------------------------------------------------------ text only (LTXV)

def test_text_only_conditioning_is_refused_not_noised(comfy):
    text = [[torch.randn(1, 4, 32), {"frame_rate": 25.0}]]  # LTXVConditioning's output: text + frame rate
    for target in ("image_embedding", "both"):
        with pytest.raises(ValueError, match=rf"target {target}: positive \(entry 0\) carries no "):
            timenoise(text, text, target=target)
    with pytest.raises(ValueError, match=r"target image_embedding: positive \(entry 0\) carries no image embedding, "
                                         r"only text conditioning \(never noised\); this conditioning supports no "
                                         r"target \(it holds no image\)"):
        timenoise(text, text, target="image_embedding")
    concat_only = [[text[0][0], {"concat_latent_image": torch.zeros(1, 4, 8, 8)}]]
    with pytest.raises(ValueError, match="this conditioning supports target concat_latent. Images come in"):
        timenoise(concat_only, concat_only, target="image_embedding")


# ------------------------------------------------------------------------------------ DynamiCrafter / VC1

def dc_conditioning(length=5):
    from tests.support import tiny_models
    text = [[torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(5)), {}]]
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(6))
    return call_node("CILDynamiCrafterConditioning", positive=text, negative=text,
                     clip_vision=tiny_models.build_tiny_clip_vision(), start_image=image,
                     vae=tiny_models.build_tiny_vae(), width=64, height=64, length=length, frame_stride=24)


def load_dc(models_dir, variant):
    from tests.support import tiny_models
    tiny_models.write_tiny_dynamicrafter(str(models_dir / f"{variant}.safetensors"), variant)
    return call_node("CILLoadDynamiCrafter", unet_name=f"{variant}.safetensors", model_type="auto",
                     weights="auto", weight_dtype="fp32")[0]


def capture_unet_image(patcher):
    """Record the image context (Resampler output + TimeNoise) each UNet call gets."""
    dm, seen = patcher.model.diffusion_model, []
    inner = dm.unet

    def unet(x, timesteps, text, image, *rest):
        seen.append((text.detach().clone(), image.detach().clone()))
        return inner(x, timesteps, text, image, *rest)
    dm.unet = unet
    return seen, lambda: setattr(dm, "unet", inner)


def test_dynamicrafter_image_latent_and_tokens_noised_text_untouched(models_dir):
    keys = pack_module("dynamicrafter.model")
    pos, neg, latent = dc_conditioning(length=5)
    beta = 2.5
    out, out_neg = timenoise(pos, neg, beta=beta, target="both", seed=7)
    extra = out[0][1]
    assert torch.equal(out[0][0], pos[0][0]) and out_neg is neg  # text untouched
    assert torch.equal(extra[keys.IMAGE_LATENT_KEY], pos[0][1][keys.IMAGE_LATENT_KEY])
    concat = extra[keys.CONCAT_KEY]
    clean = (pos[0][1][keys.IMAGE_LATENT_KEY][:1] * SCALE).repeat(5, 1, 1, 1)
    delta = concat - clean
    assert concat.shape == (5, 4, 8, 8) and float(delta.std()) == pytest.approx(beta, rel=0.1)
    assert not torch.allclose(delta[0], delta[1])  # independent noise per frame, as the official code
    token_beta, token_seed, per_element = extra[keys.TOKEN_NOISE_KEY]
    assert token_beta == beta and per_element

    patcher = load_dc(models_dir, "dynamicrafter")
    seen, restore = capture_unet_image(patcher)
    try:
        captured, concats = capturing(patcher, lambda args: args["c"]["c_concat"].detach().clone())
        sample_advanced(captured, call_node("RandomNoise", noise_seed=0)[0], torch.tensor([2.0, 0.0]), out, out,
                        latent, 1.0)
        torch.testing.assert_close(concats[0][:5], concat, atol=1e-6, rtol=0)  # the model sees the noised latent
        dm = patcher.model.diffusion_model
        tokens = pos[0][1][keys.CLIP_TOKENS_KEY]
        with torch.no_grad():
            projected = dm.image_proj_model(tokens)
        eps = torch.randn(projected.shape[1:], generator=torch.Generator("cpu").manual_seed(token_seed))
        text, image = seen[0]
        torch.testing.assert_close(image[:1], projected + beta * eps, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(text[:1], pos[0][0].float(), atol=0, rtol=0)  # the prompt reaches it as it was
        seen.clear()
        sample_advanced(patcher, call_node("RandomNoise", noise_seed=0)[0], torch.tensor([2.0, 0.0]), pos, pos,
                        latent, 1.0)
        torch.testing.assert_close(seen[0][1][:1], projected, atol=1e-5, rtol=1e-5)  # no noise without the node
    finally:
        restore()


def test_dynamicrafter_presets_reach_the_image_latent(models_dir):
    keys = pack_module("dynamicrafter.model")
    pos, neg, _ = dc_conditioning(length=5)
    out, _ = timenoise(pos, neg, preset="DynamiCrafter", target="concat_latent")
    level = 100.0 / (1.0 + math.exp(1.0))  # median at t = 0: beta_m·sigmoid(-mu_max)
    delta = out[0][1][keys.CONCAT_KEY] - (pos[0][1][keys.IMAGE_LATENT_KEY][:1] * SCALE)
    assert float(delta.std()) == pytest.approx(level, rel=0.1)
    out, _ = timenoise(pos, neg, preset="VideoCrafter1", target="image_embedding")
    assert keys.CONCAT_KEY not in out[0][1] and out[0][1][keys.TOKEN_NOISE_KEY][0] == pytest.approx(
        100.0 / (1.0 + math.exp(4.0)))
    with pytest.raises(ValueError, match="target concat_latent with preset VideoCrafter1: VideoCrafter1 takes the "
                                         "image only through its CLIP image tokens .*set target to image_embedding"):
        timenoise(pos, neg, preset="VideoCrafter1", target="concat_latent")
    with pytest.raises(ValueError, match=r"frames = 7 but the video has 5 frames \(CIL DynamiCrafter "
                                         r"Conditioning's length\): set frames to 5, or 0"):
        timenoise(pos, neg, frames=7)


def test_videocrafter1_gets_noised_tokens_and_refuses_a_noised_concat_latent(models_dir):
    keys = pack_module("dynamicrafter.model")
    pos, neg, latent = dc_conditioning(length=5)
    patcher = load_dc(models_dir, "videocrafter1")
    out, _ = timenoise(pos, neg, preset="VideoCrafter1", target="image_embedding", t=0.9)
    beta, seed, _ = out[0][1][keys.TOKEN_NOISE_KEY]
    seen, restore = capture_unet_image(patcher)
    try:
        sample_advanced(patcher, call_node("RandomNoise", noise_seed=0)[0], torch.tensor([2.0, 0.0]), out, out,
                        latent, 1.0)
    finally:
        restore()
    with torch.no_grad():
        projected = patcher.model.diffusion_model.image_proj_model(pos[0][1][keys.CLIP_TOKENS_KEY])
    eps = torch.randn(projected.shape[1:], generator=torch.Generator("cpu").manual_seed(seed))
    torch.testing.assert_close(seen[0][1][:1], projected + beta * eps, atol=1e-5, rtol=1e-5)
    out, _ = timenoise(pos, neg, target="concat_latent")
    with pytest.raises(ValueError, match="VideoCrafter1 takes the image only through its CLIP image tokens"):
        sample_advanced(patcher, call_node("RandomNoise", noise_seed=0)[0], torch.tensor([2.0, 0.0]), out, neg,
                        latent, 1.0)


# ------------------------------------------------------------------------------------- SVD, custom, bad input

def svd():
    from tests.support import tiny_models
    return tiny_models.tiny_conditioning("svd", frames=4, h=8, w=8)


def test_custom_parameters_and_named_presets(comfy):
    pos, neg, _ = svd()
    custom = dict(beta_m=10.0, a=2.0, mu_max=0.5, t=0.5, quantile=0.7, set_augmentation_level=True)
    out, _ = timenoise(pos, neg, preset="custom", **custom)
    mu = 2 * 0.5 * 0.5 ** 2.0 - 0.5
    z = math.sqrt(2) * torch.special.erfinv(torch.tensor(2 * 0.7 - 1, dtype=torch.float64)).item()
    assert out[0][1]["augmentation_level"] == pytest.approx(10.0 / (1.0 + math.exp(-(mu + z))), rel=1e-12)
    out, _ = timenoise(pos, neg, preset="SVD", **custom)  # a named preset keeps its official values
    mu = 2 * 0.5 ** 5 - 1.0
    assert out[0][1]["augmentation_level"] == pytest.approx(15.0 / (1.0 + math.exp(-(mu + z))), rel=1e-12)
    for label, value in (("beta_m", float("nan")), ("a", float("inf")), ("mu_max", float("nan")),
                         ("t", float("nan")), ("beta", float("nan"))):
        with pytest.raises(ValueError, match=rf"{label} = (nan|inf) is not a finite number"):
            timenoise(pos, neg, preset="custom", **{label: value})
    with pytest.raises(ValueError, match=r"beta_m = 0.0, a = 5.0: both must be above 0"):
        timenoise(pos, neg, preset="custom", beta_m=0.0)


def test_svd_frames_that_do_not_match_the_video_are_refused(comfy):
    pos, neg, latent = svd()  # a 4-frame video
    for frames in (7, 4096):
        with pytest.raises(ValueError, match=rf"frames = {frames} but the video has 4 frames \(the latent\): set "
                                             r"frames to 4, or 0"):
            timenoise(pos, neg, frames=frames, latent=latent)
        with pytest.raises(ValueError, match=rf"frames = {frames}: positive's conditioning does not say how many "
                                             r"frames the video has: connect latent"):
            timenoise(pos, neg, frames=frames)
    out, _ = timenoise(pos, neg, frames=4, latent=latent, form="per_element")
    assert out[0][1]["concat_latent_image"].shape[0] == 4


def test_beta_zero_passes_through_but_still_refuses_a_wrong_target(comfy):
    pos, neg, latent = svd()
    out, out_neg = timenoise(pos, neg, beta=0.0, frames=4, latent=latent)
    assert out is pos and out_neg is neg
    text = [[torch.randn(1, 4, 32), {}]]
    with pytest.raises(ValueError, match="target image_embedding: positive"):
        timenoise(text, text, beta=0.0, target="image_embedding")
    with pytest.raises(ValueError, match="frames = 7 but the video has 4 frames"):
        timenoise(pos, neg, beta=0.0, frames=7, latent=latent)
