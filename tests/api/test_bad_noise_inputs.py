"""The noise nodes through the real server, as a user's graph reaches them: a NaN/inf layout or start latent is
refused by name (never an all-NaN video), an error raised while the sampler draws the noise names the pack's node
and input at fault, an infinite first sigma is named with the fix, and a huge user string is echoed shortened."""
from __future__ import annotations

import copy
import re

import pytest

from tests.api.conftest import node_of


def id_of(prompt: dict, class_type: str) -> str:
    return next(k for k, n in prompt.items() if n["class_type"] == class_type)


def spoil(prompt: dict, target: str, input_name: str, value: str = "nan", count: int = 1) -> dict:
    """A copy where ``target``'s ``input_name`` IMAGE first passes the test-only NaN/inf node."""
    out = copy.deepcopy(prompt)
    out["90"] = {"class_type": "CDI2VTestNaNImage",
                 "inputs": {"image": out[target]["inputs"][input_name], "value": value, "count": count}}
    out[target]["inputs"][input_name] = ["90", 0]
    return out


def hand_made_sigmas(prompt: dict, text: str, *consumers: str) -> dict:
    """A copy whose ``consumers`` read ManualSigmas(text) as their ``sigmas`` (a hand-made schedule)."""
    out = copy.deepcopy(prompt)
    out["91"] = {"class_type": "ManualSigmas", "inputs": {"sigmas": text}}
    for class_type in consumers:
        node_of(out, class_type)["inputs"]["sigmas"] = ["91", 0]
    return out


INF_FIRST = "9" * 50 + ", 1.0, 0"  # 1e50 is inf in float32: the schedule [inf, 1, 0]


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_frameinit_refuses_a_non_finite_layout(api, value):
    prompt = api.prompt("svd_frameinit")
    msg = api.error_of(spoil(prompt, id_of(prompt, "VAEEncode"), "pixels", value))
    assert msg.startswith("ConsistI2VFrameInitNoise: ValueError: layout holds "), msg
    assert re.search(r"holds \d+ NaN and \d+ infinite value\(s\) \(of \d+\): it came out of an earlier node broken", msg)
    assert "rebuild the layout from a clean image" in msg


def test_static_layout_refuses_a_nan_image(api):
    prompt = api.prompt("svd_frameinit")
    msg = api.error_of(spoil(prompt, id_of(prompt, "ConsistI2VStaticLayout"), "image", "-inf"))
    assert msg.startswith("ConsistI2VStaticLayout: ValueError: image holds 0 NaN and 1 infinite value(s)"), msg
    assert "connect a clean image" in msg


def test_long_video_refuses_a_nan_start_latent(api):
    prompt = api.prompt("svd_long_video")
    msg = api.error_of(spoil(prompt, id_of(prompt, "SVD_img2vid_Conditioning"), "init_image"))
    assert msg.startswith("ConsistI2VLongVideo: ValueError: positive's concat_latent_image (the start latent of "
                          "chunk 1) holds "), msg
    assert "encode a clean image" in msg


def test_frameinit_layout_error_in_the_sampler_names_node_and_input(api):
    prompt = api.prompt("svd_frameinit")
    frames = node_of(prompt, "SVD_img2vid_Conditioning")["inputs"]["video_frames"]
    node_of(prompt, "ConsistI2VStaticLayout")["inputs"]["frames"] = frames + 2
    noise_id = id_of(prompt, "ConsistI2VFrameInitNoise")
    msg = api.error_of(prompt)
    assert msg.startswith(f"SamplerCustomAdvanced: ValueError: FrameInit Noise (ConsistI2V) (node {noise_id}) "
                          f"input 'layout': layout has {frames + 2} frame(s) but the sampled latent has {frames}"), msg


def test_pyoco_error_in_the_sampler_names_the_node(api):
    prompt = api.prompt("svd_pyoco")
    prompt["92"] = {"class_type": "EmptyLatentHunyuan3Dv2", "inputs": {"resolution": 8, "batch_size": 1}}  # 3-D
    node_of(prompt, "SamplerCustomAdvanced")["inputs"]["latent_image"] = ["92", 0]
    msg = api.error_of(prompt)
    assert msg.startswith(f"SamplerCustomAdvanced: ValueError: PYoCo Video Noise (ConsistI2V) (node "
                          f"{id_of(prompt, 'ConsistI2VPYoCoNoise')}), drawing the noise: latent_image is 3-D"), msg


def test_analytic_init_names_its_noise_input_and_the_frameinit_node_behind_it(api):
    prompt = api.prompt("svd_analytic_init")
    frameinit = node_of(api.prompt("svd_frameinit"), "ConsistI2VFrameInitNoise")
    init_id, image = id_of(prompt, "CILAnalyticInit"), node_of(prompt, "SVD_img2vid_Conditioning")["inputs"]
    prompt["93"] = {"class_type": "ConsistI2VStaticLayout",
                    "inputs": {"image": image["init_image"], "frames": image["video_frames"] + 1}}
    prompt["94"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["93", 0], "vae": image["vae"]}}
    model = prompt[init_id]["inputs"]["model"]
    prompt["96"] = {"class_type": "BasicScheduler",
                    "inputs": {"model": model, "scheduler": "karras", "steps": 2, "denoise": 1.0}}
    prompt["95"] = {"class_type": "ConsistI2VFrameInitNoise", "inputs": {
        **frameinit["inputs"], "model": model, "layout": ["94", 0], "sigmas": ["96", 0]}}
    prompt[init_id]["inputs"]["noise"] = ["95", 0]
    msg = api.error_of(prompt)
    assert msg.startswith(f"SamplerCustomAdvanced: ValueError: Analytic-Init (CIL) (node {init_id}) input 'noise': "
                          "FrameInit Noise (ConsistI2V) (node 95) input 'layout': layout has "), msg


@pytest.mark.parametrize("stem, class_type", [("svd_frameinit", "ConsistI2VFrameInitNoise"),
                                              ("svd_long_video", "ConsistI2VLongVideo")])
def test_infinite_first_sigma_is_named(api, stem, class_type):
    if "ManualSigmas" not in api.object_info:
        pytest.skip("this ComfyUI (0.3.64) has no ManualSigmas: no graph can hand-make an infinite first sigma")
    consumers = [class_type] + (["SamplerCustomAdvanced"] if stem == "svd_frameinit" else [])
    msg = api.error_of(hand_made_sigmas(api.prompt(stem), INF_FIRST, *consumers))
    assert msg.startswith(f"{class_type}: ValueError: sigmas: the first sigma is infinite (inf)"), msg
    assert "Start the schedule at a finite sigma, e.g. the model's sigma_max" in msg
    assert "must not hold inf or a number beyond float32" in msg


def test_a_huge_user_string_is_echoed_shortened(api):
    spec = api.object_info["CILConvertCheckpoint"]["input"]["required"]["ckpt_name"]
    sources = spec[0] if isinstance(spec[0], list) else spec[1]["options"]
    assert sources, "the test server has no model file for ckpt_name"
    source = sources[0]
    name = "../" + "x" * 19_000
    msg = api.error_of({"1": {"class_type": "CILConvertCheckpoint", "inputs": {
        "ckpt_name": source, "weights": "auto", "arch": "as_is", "fp16": True, "output_name": name,
        "overwrite": False}}})
    assert "output_name: '../" + "x" * 77 + "…' (19003 characters) must be a file name" in msg, msg[:500]
    assert len(msg) < 600
