"""ConsistI2V Guider through the real server: image guidance runs in the shipped FrameInit workflow, and each way
of wiring it wrong comes back naming the input and the fix."""
from __future__ import annotations

import copy

from tests.api.conftest import edited, node_of

STEM = "consisti2v_frameinit"


def node_id(prompt: dict, class_type: str) -> str:
    return next(k for k, n in prompt.items() if n["class_type"] == class_type)


def image_guided(api) -> dict:
    return edited(api.prompt(STEM), "ConsistI2VGuider", cfg_image=2.0)


def test_image_guidance_runs_in_the_shipped_workflow(api):
    prompt = image_guided(api)
    guider = node_of(prompt, "ConsistI2VGuider")["inputs"]
    assert guider["cfg_text"] == 7.5 and guider["noise"][0] == node_id(prompt, "ConsistI2VFrameInitNoise")
    entry = api.run(prompt)
    assert entry["status"]["status_str"] == "success" and entry["outputs"]


def test_bad_guider_inputs_are_named(api):
    nan = edited(api.prompt(STEM), "ConsistI2VGuider", cfg_image=float("nan"))
    msg = api.error_of(nan)
    assert "cfg_image is nan" in msg and "finite" in msg, msg

    unplugged = image_guided(api)
    del node_of(unplugged, "ConsistI2VGuider")["inputs"]["noise"]
    msg = api.error_of(unplugged)
    assert "noise:" in msg and "connect the NOISE that feeds SamplerCustomAdvanced" in msg, msg

    plain_negative = image_guided(api)
    cond = node_of(plain_negative, "ConsistI2VConditioning")["inputs"]
    node_of(plain_negative, "ConsistI2VGuider")["inputs"]["negative"] = cond["negative"]
    msg = api.error_of(plain_negative)
    assert "negative:" in msg and "'ConsistI2V Conditioning'" in msg, msg

    no_first = image_guided(api)  # a FrameInit noise whose layout lacks the first frame has none to give
    node_of(no_first, "ConsistI2VFrameInitNoise")["inputs"]["drop_first_frame"] = False
    length = node_of(no_first, "ConsistI2VConditioning")["inputs"]["length"]
    node_of(no_first, "ConsistI2VStaticLayout")["inputs"]["frames"] = length - 1
    msg = api.error_of(no_first)
    assert "ConsistI2V Guider input 'noise'" in msg and "turn drop_first_frame on" in msg, msg

    other_noise = image_guided(api)
    noise_id = node_id(other_noise, "ConsistI2VFrameInitNoise")
    twin = copy.deepcopy(other_noise[noise_id])
    twin["inputs"]["seed"] = int(twin["inputs"]["seed"]) + 1
    other_noise["9999"] = twin
    node_of(other_noise, "ConsistI2VGuider")["inputs"]["noise"] = ["9999", 0]
    msg = api.error_of(other_noise)
    assert "ConsistI2V Guider input 'noise'" in msg and "connect the same NOISE node to both" in msg, msg
