"""ConsistI2V Long Video on a tiny random-weight SVD model in an in-process ComfyUI.

A unet wrapper records the c_concat (conditioning image latent) the model sees in every call, so we can check
that chunk k is conditioned on exactly the last latent frame of chunk k-1 as stored in the output video.
"""
import copy

import pytest
import torch

from tests.support.images import write_gradient_png
from tests.support.node_calls import call_node, capturing, node_class

pytestmark = pytest.mark.comfy

T, H, W = 4, 8, 8
DEFAULTS = dict(cfg=2.0, seed=11, chunks=3, overlap=1, noise_timestep=850, timestep_scale="model_schedule",
                filter="gaussian", spatial_cutoff=0.25, temporal_cutoff=0.25, butterworth_order=4,
                noise_type="pyoco_mixed", pyoco_alpha=1.0, anchor_colour=False)


@pytest.fixture(scope="module")
def parts(comfy):
    import comfy.samplers
    from tests.support import tiny_models

    model = tiny_models.build_tiny_model("svd")
    positive, negative, latent = tiny_models.tiny_conditioning("svd", frames=T, h=H, w=W)
    sigmas = tiny_models.tiny_sigmas(model, steps=2).float()
    return dict(model=model, positive=positive, negative=negative, latent=latent, sigmas=sigmas,
                sampler=comfy.samplers.sampler_object("euler"))


def long_video(parts, model=None, **overrides):
    kwargs = dict(DEFAULTS, **overrides)
    args = dict(parts, **({"model": model} if model is not None else {}))
    return node_class("ConsistI2VLongVideo").execute(**args, **kwargs).args[0]["samples"]


def capturing_concat(model):
    return capturing(model, lambda args: args["c"]["c_concat"].detach().clone())


def conditions_seen(seen):
    """The distinct conditioning frames in call order (the non-zero, i.e. positive, rows of c_concat)."""
    frames = []
    for c in seen:
        rows = c[c.flatten(1).abs().sum(1) > 0]
        assert len(rows) > 0 and all(torch.equal(r, rows[0]) for r in rows)
        if not frames or not torch.equal(frames[-1], rows[0]):
            frames.append(rows[0])
    return frames


def test_node_is_registered_and_documented(comfy):
    schema = node_class("ConsistI2VLongVideo").define_schema()
    assert schema.node_id == "ConsistI2VLongVideo" and len(schema.description) > 40
    for inp in schema.inputs:
        assert inp.tooltip and len(inp.tooltip) > 15, inp.id


def test_each_chunk_is_conditioned_on_the_previous_last_latent(parts):
    model, seen = capturing_concat(parts["model"])
    video = long_video(parts, model=model)
    assert video.shape == (3 * (T - 1) + 1, 4, H, W) and torch.isfinite(video).all()
    frames = conditions_seen(seen)
    assert len(frames) == 3
    assert torch.equal(frames[0], parts["positive"][0][1]["concat_latent_image"][0])
    assert torch.equal(frames[1], video[T - 1])  # chunk 0's last frame, no VAE round trip
    assert torch.equal(frames[2], video[2 * (T - 1)])  # chunk 1's last frame
    # the negative keeps SVD's empty image in every chunk
    assert all(c.flatten(1).abs().sum(1).eq(0).any() for c in seen)


def test_anchor_colour_still_chains_on_the_stored_frames(parts):
    model, seen = capturing_concat(parts["model"])
    video = long_video(parts, model=model, anchor_colour=True)
    frames = conditions_seen(seen)
    assert torch.equal(frames[1], video[T - 1]) and torch.equal(frames[2], video[2 * (T - 1)])
    plain = long_video(parts)
    assert torch.equal(video[:T], plain[:T]) and not torch.equal(video[T:], plain[T:])


def test_same_seed_same_video_and_seeds_per_chunk(parts):
    a, b = long_video(parts), long_video(parts)
    assert torch.equal(a, b)
    other = long_video(parts, seed=12)
    assert not torch.equal(a, other)
    # chunk k uses seed + k: the first chunk of seed 12 is the second noise draw of seed 11 (different video)
    assert not torch.equal(a[:T], other[:T])


def test_one_chunk_equals_sampler_custom_advanced_with_frameinit(parts):
    import comfy.samplers

    video = long_video(parts, chunks=1)
    concat = parts["positive"][0][1]["concat_latent_image"]
    layout = {"samples": concat[:1].repeat(T, 1, 1, 1)}
    noise = call_node("ConsistI2VFrameInitNoise", model=parts["model"], layout=layout, sigmas=parts["sigmas"],
                  seed=DEFAULTS["seed"], noise_timestep=850, timestep_scale="model_schedule", filter="gaussian",
                  spatial_cutoff=0.25, temporal_cutoff=0.25, butterworth_order=4, drop_first_frame=False,
                  noise_type="pyoco_mixed", pyoco_alpha=1.0, official_filters=False)[0]
    guider = comfy.samplers.CFGGuider(parts["model"])
    guider.set_conds(parts["positive"], parts["negative"])
    guider.set_cfg(DEFAULTS["cfg"])
    ref = call_node("SamplerCustomAdvanced", noise=noise, guider=guider, sampler=parts["sampler"],
                sigmas=parts["sigmas"], latent_image=parts["latent"])[0]["samples"]
    assert video.shape == ref.shape
    torch.testing.assert_close(video, ref, atol=1e-6, rtol=0)


def test_camera_layout_slices(parts):
    g = torch.Generator().manual_seed(3)
    camera = {"samples": torch.randn(3 * (T - 1) + 1, 4, H, W, generator=g)}
    video = long_video(parts, camera_layout=camera)
    assert video.shape[0] == 10 and not torch.equal(video, long_video(parts))
    with pytest.raises(ValueError, match=r"camera_layout has 9 frame\(s\).*make 10"):
        long_video(parts, camera_layout={"samples": camera["samples"][:9]})


@pytest.mark.parametrize("overrides, match", [
    (dict(chunks=0), "chunks is 0"),
    (dict(overlap=T), "overlap is 4 but a chunk has only 4 frame"),
    (dict(spatial_cutoff=2.0), "spatial stop frequency"),
])
def test_bad_settings(parts, overrides, match):
    with pytest.raises(ValueError, match=match):
        long_video(parts, **overrides)


def test_conditioning_without_image_latent(parts):
    from tests.support import tiny_models

    positive, negative, _ = tiny_models.tiny_conditioning("eps", frames=T, h=H, w=W)
    with pytest.raises(ValueError, match="does not carry a conditioning image latent.*SVD_img2vid_Conditioning"):
        long_video(dict(parts, positive=positive, negative=negative))


def test_image_latent_size_mismatch(parts):
    latent = {"samples": torch.zeros(T, 4, H * 2, W)}
    with pytest.raises(ValueError, match="same width/height"):
        long_video(dict(parts, latent=latent))


# --- a real prompt ---------------------------------------------------------------------------------------

def svd_prompt(chunks=3, overlap=1, frames=T):
    return {
        "1": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": "svd_xt.safetensors"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "longvideo_test.png"}},
        "3": {"class_type": "SVD_img2vid_Conditioning", "inputs": {
            "clip_vision": ["1", 1], "init_image": ["2", 0], "vae": ["1", 2], "width": 64, "height": 64,
            "video_frames": frames, "motion_bucket_id": 127, "fps": 6, "augmentation_level": 0.0}},
        "4": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "5": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "karras", "steps": 2,
                                                         "denoise": 1.0}},
        "6": {"class_type": "ConsistI2VLongVideo", "inputs": dict(
            DEFAULTS, model=["1", 0], positive=["3", 0], negative=["3", 1], latent=["3", 2], sampler=["4", 0],
            sigmas=["5", 0], chunks=chunks, overlap=overlap)},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "SaveAnimatedWEBP", "inputs": {
            "images": ["7", 0], "filename_prefix": "longvideo", "fps": 6.0, "lossless": False, "quality": 80,
            "method": "default"}},
    }


@pytest.fixture(scope="module")
def tiny_files(comfy):
    from tests.support.tiny_models import write_tiny_checkpoint

    target = comfy.checkpoints / "svd_xt.safetensors"
    if not target.exists():
        write_tiny_checkpoint(str(target), kind="svd")
    write_gradient_png(comfy.input_dir / "longvideo_test.png")


def test_long_video_in_a_real_prompt(comfy, tiny_files):
    from PIL import Image

    outputs = comfy.run(svd_prompt())
    saved = [img for out in outputs.values() for img in out.get("images", [])]
    assert len(saved) == 1
    with Image.open(comfy.output_dir / saved[0].get("subfolder", "") / saved[0]["filename"]) as webp:
        assert webp.n_frames == 3 * (T - 1) + 1


@pytest.mark.parametrize("name, value, match", [("chunks", 0, "chunks"), ("overlap", T, "overlap is 4")])
def test_bad_input_in_a_real_prompt(comfy, tiny_files, name, value, match):
    prompt = svd_prompt()
    prompt["6"]["inputs"][name] = value
    assert match in comfy.error_of(copy.deepcopy(prompt))
