"""Camera nodes inside real prompts: move -> layout -> VAE-free outputs, preview, and bad input."""
import copy

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.images import write_gradient_png

pytestmark = pytest.mark.comfy


@pytest.fixture(scope="module")
def prompt(comfy):
    write_gradient_png(comfy.input_dir / "camera_src.png", 96, 64, blue=90)
    move = {"move": "pan", "pan_angle": 0.0, "pan_distance": 0.25, "zoom_scale": 1.5, "roll_degrees": 15.0,
            "perspective_corners": "-0.9,-0.9  0.9,-1.0  1.0,1.0  -1.0,0.9", "start": 0.0, "end": 1.0,
            "easing": "linear"}
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "camera_src.png"}},
        "2": {"class_type": "ConsistI2VCameraMove", "inputs": dict(move)},
        "3": {"class_type": "ConsistI2VCameraMove",
              "inputs": dict(move, move="zoom", start=0.5, previous=["2", 0])},
        "4": {"class_type": "ConsistI2VCameraLayout",
              "inputs": {"image": ["1", 0], "camera_path": ["3", 0], "frames": 6, "width": 80, "height": 48,
                         "border": "reflect", "official_motion": "off"}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "cam_layout"}},
        "6": {"class_type": "ConsistI2VCameraPathPreview",
              "inputs": {"image": ["1", 0], "camera_path": ["3", 0], "frames": 6}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "cam_preview"}},
    }


def test_layout_and_preview_run(comfy, prompt):
    outputs = comfy.run(prompt)
    assert len(outputs["5"]["images"]) == 6 and len(outputs["7"]["images"]) == 1
    frames = [torch.tensor(np.array(Image.open(comfy.output_dir / o["subfolder"] / o["filename"])),
                           dtype=torch.float32) for o in outputs["5"]["images"]]
    assert frames[0].shape == (48, 80, 3)
    assert (frames[0] - frames[-1]).abs().mean() > 5  # the camera moved


@pytest.mark.parametrize("node, name, value, words", [
    ("3", "perspective_corners", "1,2 3", "must be 4 'x,y' pairs"),
    ("2", "move", "perspective", None),
    ("4", "frames", 1, "validation"),
])
def test_bad_camera_input(comfy, prompt, node, name, value, words):
    bad = copy.deepcopy(prompt)
    bad[node]["inputs"][name] = value
    if node == "3":
        bad[node]["inputs"]["move"] = "perspective"
    if name == "frames":  # every output must be invalid, else ComfyUI runs the valid ones
        bad["6"]["inputs"]["frames"] = value
    if words is None:  # a valid perspective with the default corners runs
        comfy.run(bad)
        return
    msg = comfy.error_of(bad)
    assert words in msg and (name in msg or "perspective" in msg)


def test_degenerate_keypoints_are_named(comfy, prompt):
    bad = copy.deepcopy(prompt)
    bad["2"]["inputs"].update(move="perspective", perspective_corners="-1,-1 0,0 1,1 -1,1")
    assert "degenerate" in comfy.error_of(bad)


@pytest.mark.parametrize("official_motion", ["off", "pan_right"])
def test_layout_reports_progress_per_frame(comfy, prompt, official_motion):
    import comfy.utils as comfy_utils  # not "import comfy.utils": that would shadow the fixture

    seen = []
    previous = comfy_utils.PROGRESS_BAR_HOOK

    def hook(value, total, preview, node_id=None):
        seen.append((value, total))
        if previous is not None:
            previous(value, total, preview, node_id=node_id)

    p = copy.deepcopy(prompt)
    p["4"]["inputs"].update(frames=7, official_motion=official_motion, width=48)  # a new size: not cached
    comfy_utils.set_progress_bar_global_hook(hook)
    try:
        comfy.run(p)
    finally:
        comfy_utils.set_progress_bar_global_hook(previous)
    assert [(v, t) for v, t in seen if t == 7] == [(i, 7) for i in range(1, 8)], seen
