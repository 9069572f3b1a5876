"""Video Metrics and A/B Compare nodes inside real prompts: a camera layout measured against its own path."""
import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.node_calls import call_node

pytestmark = pytest.mark.comfy

W, H, FRAMES = 96, 64, 6


def write_texture_png(path, width=W, height=H, seed=0):
    """A smooth random RGB texture (optical flow needs detail in every direction; a linear gradient has none
    along its iso-lines)."""
    g = torch.Generator().manual_seed(seed)
    img = torch.zeros(1, 3, height, width)
    for s in (4, 8, 16):
        img += torch.nn.functional.interpolate(torch.rand(1, 3, height // s + 2, width // s + 2, generator=g),
                                               size=(height, width), mode="bicubic", align_corners=False) / 3
    arr = (img[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


MOVE = {"move": "pan", "pan_angle": 0.0, "pan_distance": 0.25, "zoom_scale": 1.5, "roll_degrees": 15.0,
        "perspective_corners": "-0.9,-0.9  0.9,-1.0  1.0,1.0  -1.0,0.9", "start": 0.0, "end": 1.0,
        "easing": "linear"}


@pytest.fixture(scope="module")
def prompt(comfy):
    write_texture_png(comfy.input_dir / "metrics_src.png")
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "metrics_src.png"}},
        "2": {"class_type": "ConsistI2VCameraMove", "inputs": dict(MOVE)},
        "3": {"class_type": "ConsistI2VCameraLayout",
              "inputs": {"image": ["1", 0], "camera_path": ["2", 0], "frames": FRAMES, "width": W, "height": H,
                         "border": "reflect", "official_motion": "off"}},
        "4": {"class_type": "ImageFromBatch", "inputs": {"image": ["3", 0], "batch_index": 0, "length": 1}},
        "5": {"class_type": "ConsistI2VVideoMetrics",
              "inputs": {"video": ["3", 0], "fps": 6.0, "reference": ["4", 0], "camera_path": ["2", 0],
                         "path_offset": 0, "flow_preset": "medium"}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "metrics_plot"}},
        "7": {"class_type": "PreviewAny", "inputs": {"source": ["5", 1]}},
        "8": {"class_type": "PreviewAny", "inputs": {"source": ["5", 11]}},
        "9": {"class_type": "ConsistI2VStaticLayout", "inputs": {"image": ["4", 0], "frames": FRAMES}},
        "10": {"class_type": "ConsistI2VVideoCompare",
               "inputs": {"video_a": ["9", 0], "video_b": ["3", 0], "fps": 6.0, "label_a": "still",
                          "label_b": "pan", "reference": ["4", 0], "flow_preset": "fast"}},
        "11": {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": "metrics_table"}},
        "12": {"class_type": "PreviewAny", "inputs": {"source": ["10", 2]}},
    }


def _text(outputs, node):
    return outputs[node]["text"][0]


def test_metrics_and_compare_run_in_a_prompt(comfy, prompt):
    outputs = comfy.run(prompt)
    plot = outputs["6"]["images"][0]
    img = np.array(Image.open(comfy.output_dir / plot["subfolder"] / plot["filename"]))
    assert img.ndim == 3 and img.shape[1] == 720 and img.shape[0] > 600
    assert outputs["5"]["images"], "the metrics node previews its plot"
    report = _text(outputs, "7")
    assert "camera (requested)  pan x +0.2" in report and "motion" in report
    assert 0 <= float(_text(outputs, "8")) < 0.1  # camera_error: the layout follows its own path
    assert float(_text(outputs, "12")) > 0.5  # motion_change: the pan moves, the static layout does not
    table = outputs["11"]["images"][0]
    assert (comfy.output_dir / table["subfolder"] / table["filename"]).stat().st_size > 0


def test_metrics_numbers_from_the_node(comfy):
    g = torch.Generator().manual_seed(1)
    big = torch.nn.functional.interpolate(torch.rand(1, 3, 30, 40, generator=g), size=(120, 160), mode="bicubic",
                                          align_corners=False)[0].permute(1, 2, 0).clamp(0, 1)
    video = torch.stack([big[20:84, 10 + 2 * i:106 + 2 * i] for i in range(FRAMES)])  # 2 px/frame, camera right
    out = call_node("ConsistI2VVideoMetrics", video=video, fps=6.0, reference=video[:1])
    plot, report, motion, dyn, flicker, ssim, psnr, pan_x, pan_y, zoom, roll, error = out
    assert plot.shape[0] == 1 and plot.shape[-1] == 3 and plot.dtype == torch.float32
    assert motion == pytest.approx(2.0, rel=0.03)
    assert pan_x * W == pytest.approx(2.0 * (FRAMES - 1), rel=0.03)
    assert abs(pan_y) < 0.01 and zoom == pytest.approx(1, abs=0.01) and abs(roll) < 0.2
    assert dyn == 1.0 and 0 < flicker < 1 and 0 < ssim <= 1 and psnr > 0 and error == -1.0
    assert isinstance(report, str) and "per frame" in report

    still = video[:1].repeat(FRAMES, 1, 1, 1)
    out = call_node("ConsistI2VVideoCompare", video_a=still, video_b=video, fps=6.0, label_a="still", label_b="pan")
    table, text, d_motion, d_dyn, d_flicker, d_ssim, d_psnr, ab_ssim = out
    assert d_motion == pytest.approx(2.0, rel=0.03) and d_dyn == 1.0 and d_flicker < 0 and d_ssim < 0
    assert 0 < ab_ssim < 1 and "still" in text and table.shape[-1] == 3


def test_path_offset_for_dropped_first_frame(comfy):
    """drop_first_frame: the layout has one frame more than the video; path_offset 1 aligns them."""
    from tests.support.node_calls import node_class, pack_module

    camera = pack_module("kernels.camera")
    path = (camera.Move("pan", angle=90, distance=0.3, easing="ease_in"),)
    g = torch.Generator().manual_seed(2)
    img = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 24, generator=g), size=(H, W), mode="bicubic",
                                          align_corners=False)[0].permute(1, 2, 0).clamp(0, 1)
    layout = node_class("ConsistI2VCameraLayout").execute(img[None], path, FRAMES + 1, W, H, "reflect", "off").args[0]
    video = layout[1:]
    aligned = call_node("ConsistI2VVideoMetrics", video=video, fps=6.0, camera_path=path, path_offset=1)[-1]
    shifted = call_node("ConsistI2VVideoMetrics", video=video, fps=6.0, camera_path=path, path_offset=0)[-1]
    assert aligned < 0.1 < shifted


def _with(prompt, **changes):
    bad = copy.deepcopy(prompt)
    for key, value in changes.items():
        bad[key] = value
    return bad


def test_single_frame_is_refused(comfy, prompt):
    bad = _with(prompt)
    bad["5"]["inputs"]["video"] = ["4", 0]
    bad = {k: v for k, v in bad.items() if k in ("1", "2", "3", "4", "5", "6")}
    msg = comfy.error_of(bad)
    assert "video has 1 frame(s)" in msg and "at least 2" in msg


def test_mismatched_sizes_are_refused(comfy, prompt):
    bad = _with(prompt, **{"20": {"class_type": "ImageScale", "inputs": {
        "image": ["3", 0], "upscale_method": "bilinear", "width": 48, "height": 32, "crop": "disabled"}}})
    bad["10"]["inputs"]["video_b"] = ["20", 0]
    bad = {k: v for k, v in bad.items() if k in ("1", "2", "3", "4", "9", "10", "11", "20")}
    msg = comfy.error_of(bad)
    assert "video_a is 96x64 but video_b is 48x32" in msg and "same size" in msg


def test_non_rgb_video_is_refused(comfy, prompt):
    bad = _with(prompt, **{"21": {"class_type": "JoinImageWithAlpha", "inputs": {"image": ["3", 0],
                                                                                  "alpha": ["1", 1]}}})
    bad["5"]["inputs"]["video"] = ["21", 0]
    bad = {k: v for k, v in bad.items() if k in ("1", "2", "3", "4", "5", "6", "21")}
    msg = comfy.error_of(bad)
    assert "video has 4 channels" in msg and "RGB" in msg


def test_fps_is_validated(comfy, prompt):
    bad = {k: v for k, v in copy.deepcopy(prompt).items() if k in ("1", "2", "3", "4", "5", "6")}
    bad["5"]["inputs"]["fps"] = 0.0
    assert "fps" in comfy.error_of(bad)


def test_schema_outputs(comfy):
    from tests.support.node_calls import node_class

    schema = node_class("ConsistI2VVideoMetrics").define_schema()
    names = [o.display_name for o in schema.outputs]
    assert names[:3] == ["plot", "report", "motion"] and names[-1] == "camera_error" and schema.is_output_node
    compare = node_class("ConsistI2VVideoCompare").define_schema()
    assert [o.display_name for o in compare.outputs][-1] == "ssim_a_to_b"
    json.dumps(node_class("ConsistI2VVideoMetrics").INPUT_TYPES(), default=str)
