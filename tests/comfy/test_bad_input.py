"""Bad input in a real prompt gives a clear error naming the input and the fix."""
import copy

import pytest

from scripts.workflow_api import defs_from_input_types, to_api_prompt
from tests.support.workflows import WORKFLOWS, load, provide_tiny_files, shrink_for_cpu

pytestmark = pytest.mark.comfy

FRAMEINIT = next(p for p in WORKFLOWS if p.stem == "svd_frameinit")


@pytest.fixture(scope="module")
def base_prompt(comfy):
    import nodes

    wf = load(FRAMEINIT)
    provide_tiny_files(wf, comfy.checkpoints, comfy.input_dir)
    prompt = to_api_prompt(wf, lambda k: defs_from_input_types(nodes.NODE_CLASS_MAPPINGS[k].INPUT_TYPES()))
    return shrink_for_cpu(prompt)


def node_of(prompt, class_type):
    return next(n for n in prompt.values() if n["class_type"] == class_type)


def test_base_prompt_runs(comfy, base_prompt):
    comfy.run(base_prompt)


def test_layout_frame_mismatch(comfy, base_prompt):
    prompt = copy.deepcopy(base_prompt)
    node_of(prompt, "ConsistI2VStaticLayout")["inputs"]["frames"] = 3
    msg = comfy.error_of(prompt)
    assert "layout has 3 frame(s) but the sampled latent has 4" in msg and "frame count" in msg


def test_single_image_layout(comfy, base_prompt):
    prompt = copy.deepcopy(base_prompt)
    node_of(prompt, "ConsistI2VStaticLayout")["inputs"]["frames"] = 1
    assert "single image latent" in comfy.error_of(prompt)


def test_layout_size_mismatch(comfy, base_prompt):
    prompt = copy.deepcopy(base_prompt)
    scale_id = node_of(prompt, "ConsistI2VStaticLayout")["inputs"]["image"][0]
    prompt["900"] = {"class_type": "ImageScale", "inputs": {"image": [scale_id, 0], "upscale_method": "bilinear",
                                                             "width": 32, "height": 64, "crop": "center"}}
    node_of(prompt, "ConsistI2VStaticLayout")["inputs"]["image"] = ["900", 0]
    assert "resize the layout images to 64x64 pixels" in comfy.error_of(prompt)


def test_single_sigma(comfy, base_prompt):
    prompt = copy.deepcopy(base_prompt)
    sched_id = node_of(prompt, "ConsistI2VFrameInitNoise")["inputs"]["sigmas"][0]
    prompt["901"] = {"class_type": "SplitSigmas", "inputs": {"sigmas": [sched_id, 0], "step": 100}}
    node_of(prompt, "ConsistI2VFrameInitNoise")["inputs"]["sigmas"] = ["901", 1]
    assert "sigmas is empty or has a single value" in comfy.error_of(prompt)


@pytest.mark.parametrize("name, value", [("spatial_cutoff", 1.5), ("temporal_cutoff", -0.5),
                                         ("butterworth_order", 0), ("pyoco_alpha", -1.0)])
def test_out_of_range_filter_parameters_are_rejected_before_running(comfy, base_prompt, name, value):
    prompt = copy.deepcopy(base_prompt)
    node_of(prompt, "ConsistI2VFrameInitNoise")["inputs"][name] = value
    msg = comfy.error_of(prompt)
    assert "validation" in msg and name in msg


def test_unknown_filter_is_rejected(comfy, base_prompt):
    prompt = copy.deepcopy(base_prompt)
    node_of(prompt, "ConsistI2VFrameInitNoise")["inputs"]["filter"] = "triangle"
    msg = comfy.error_of(prompt)
    # 0.8 rejects unknown combo values while validating; 0.3.64 lets V3 combos through to the node's own check
    assert "filter" in msg and ("validation" in msg or "filter 'triangle' is unknown" in msg)
