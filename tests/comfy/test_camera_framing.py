"""Camera nodes' optional inputs in real prompts: border avoidance, zoom centre, preview framing."""
import copy

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.images import write_gradient_png

pytestmark = pytest.mark.comfy


@pytest.fixture(scope="module")
def prompt(comfy):
    write_gradient_png(comfy.input_dir / "camera_wide.png", 160, 64, blue=90)
    move = {"move": "zoom", "pan_angle": 0.0, "pan_distance": 0.25, "zoom_scale": 0.5, "roll_degrees": 15.0,
            "perspective_corners": "-0.9,-0.9  0.9,-1.0  1.0,1.0  -1.0,0.9", "start": 0.0, "end": 1.0,
            "easing": "linear", "avoid_borders": True, "zoom_center_x": 0.3, "zoom_center_y": -0.2}
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "camera_wide.png"}},
        "2": {"class_type": "ConsistI2VCameraMove", "inputs": move},
        "4": {"class_type": "ConsistI2VCameraLayout",
              "inputs": {"image": ["1", 0], "camera_path": ["2", 0], "frames": 5, "width": 48, "height": 48,
                         "border": "reflect", "official_motion": "off"}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "cam_frame"}},
        "6": {"class_type": "ConsistI2VCameraPathPreview",
              "inputs": {"image": ["1", 0], "camera_path": ["2", 0], "frames": 5, "width": 48, "height": 48}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "cam_frame_preview"}},
    }


def test_zoom_out_inside_the_image_keeps_the_colour_ramp(comfy, prompt):
    outputs = comfy.run(prompt)
    frames = [torch.tensor(np.array(Image.open(comfy.output_dir / o["subfolder"] / o["filename"])),
                           dtype=torch.float32) for o in outputs["5"]["images"]]
    assert len(frames) == 5 and frames[0].shape == (48, 48, 3)
    for f in frames:  # red grows left to right: no mirrored strip anywhere
        assert bool((f[:, 1:, 0] >= f[:, :-1, 0] - 2).all())
    preview = Image.open(comfy.output_dir / outputs["7"]["images"][0]["subfolder"]
                         / outputs["7"]["images"][0]["filename"])
    assert preview.size == (160, 64)


def test_preview_needs_both_sizes(comfy, prompt):
    bad = copy.deepcopy(prompt)
    bad["6"]["inputs"]["height"] = 0
    del bad["5"]
    msg = comfy.error_of(bad)
    assert "width=48, height=0" in msg and "both" in msg
