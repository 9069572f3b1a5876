"""Video Metrics / Video A/B Compare through the real server: a NaN video is refused (never scored as a perfect
still), labels are capped and the table's size does not grow with them, and the optical-flow loop stops on
ComfyUI's interrupt."""
from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

IMAGE = "example.png"  # the workflows' input image, written by the api fixture (a 96x64 gradient)


def frames(n: int, size: int | None = None) -> dict:
    """A prompt fragment: node "1" loads the image, "3" is it repeated n times (scaled to size x size first)."""
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": IMAGE}},
              "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bilinear",
                                                           "width": size or 96, "height": size or 64,
                                                           "crop": "disabled"}},
              "3": {"class_type": "RepeatImageBatch", "inputs": {"image": ["2", 0], "amount": n}}}
    return prompt


def spoiled(value: str, count: int) -> dict:
    """Node "4": four frames with ``count`` values of each replaced by ``value`` (test-only node)."""
    prompt = frames(4)
    prompt["4"] = {"class_type": "CDI2VTestNaNImage", "inputs": {"image": ["3", 0], "value": value, "count": count}}
    return prompt


def metrics_node(video, **inputs) -> dict:
    return {"class_type": "ConsistI2VVideoMetrics",
            "inputs": {"video": video, "fps": 6.0, "path_offset": 0, "flow_preset": "medium", **inputs}}


def compare_node(a, b, label_a="baseline", label_b="FrameInit", **inputs) -> dict:
    return {"class_type": "ConsistI2VVideoCompare",
            "inputs": {"video_a": a, "video_b": b, "fps": 6.0, "label_a": label_a, "label_b": label_b,
                       "flow_preset": "ultrafast", **inputs}}


@pytest.mark.parametrize("value, count, expected", [("nan", 5, "20 NaN/inf values (in 4 of 4 frames)"),
                                                     ("inf", 0, "73,728 NaN/inf values (in 4 of 4 frames)"),
                                                     ("-inf", 1, "4 NaN/inf values (in 4 of 4 frames)")])
def test_metrics_refuses_a_nan_video(api, value, count, expected):
    prompt = spoiled(value, count)
    prompt["5"] = metrics_node(["4", 0])
    msg = api.error_of(prompt)
    assert msg.startswith("ConsistI2VVideoMetrics: ValueError: video contains " + expected), msg
    assert "the sampling diverged" in msg and "perfect still video" in msg and "Fix the run" in msg


def test_compare_and_reference_refuse_nan(api):
    prompt = spoiled("nan", 1)
    prompt["5"] = compare_node(["3", 0], ["4", 0])
    assert "ValueError: video_b contains 4 NaN/inf values" in api.error_of(prompt)
    prompt = spoiled("nan", 2)
    prompt["5"] = metrics_node(["3", 0], reference=["4", 0])
    msg = api.error_of(prompt)
    assert "ValueError: reference contains 2 NaN/inf values: connect the image the video was conditioned on" in msg


def test_compare_caps_labels_and_bounds_the_table(api):
    prompt = frames(3)
    prompt["5"] = compare_node(["3", 0], ["3", 0], label_a="x" * 100_000)
    msg = api.error_of(prompt)
    assert ("ValueError: label_a is 100,000 characters long ('" + "x" * 37 + "...'); labels are at most 100 "
            "characters: shorten it") in msg
    assert len(msg) < 400, "the label is quoted shortened"

    sizes = {}
    for name, labels in {"short": ("a", "b"),
                         "longest": ("w" * 100, " ".join(["word"] * 20)),
                         "wrapped": ("one two three four five six seven eight nine ten eleven twelve", "b")}.items():
        prompt = frames(3)
        prompt["5"] = compare_node(["3", 0], ["3", 0], label_a=labels[0], label_b=labels[1])
        prompt["6"] = {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": f"cmp_{name}"}}
        prompt["7"] = {"class_type": "PreviewAny", "inputs": {"source": ["5", 1]}}
        out = api.run(prompt)["outputs"]
        image = out["6"]["images"][0]
        arr = np.asarray(Image.open(api.server.output_dir / image["subfolder"] / image["filename"]))
        sizes[name] = arr.shape
        report = out["7"]["text"][0]
        assert f"A = {labels[0]} (3 frames)" in report  # the report keeps the whole label on its first line
    line_h = 18  # one table line (glyph 5 + 4 at scale 2)
    assert sizes["short"][1] == sizes["longest"][1] == sizes["wrapped"][1] == 720  # width never grows
    assert sizes["longest"][0] == sizes["short"][0] + 4 * line_h  # at most 5 header lines (wrapped at 20)
    assert sizes["wrapped"][0] == sizes["short"][0] + 3 * line_h


def test_metrics_stops_on_interrupt(api, capsys):
    prompt = frames(400, size=256)  # ~400 DIS pairs of 256x256: tens of seconds on 2 CPU cores
    prompt["5"] = metrics_node(["3", 0], flow_preset="medium")
    start = time.monotonic()
    prompt_id = api.queue(prompt)
    api.started(prompt_id)
    time.sleep(5.0)  # load, scale, repeat and the checks take a few seconds on a loaded CPU: the flow loop runs
    sent = time.monotonic()
    api.interrupt()
    entry = api.wait(prompt_id, timeout_s=240)
    ended = time.monotonic()
    events = [event for event, _ in entry["status"]["messages"]]
    assert "execution_interrupted" in events and "execution_success" not in events, events
    assert entry["status"]["status_str"] == "error"
    with capsys.disabled():
        print(f"\nVideo Metrics interrupt: ended {ended - sent:.2f} s after POST /interrupt "
              f"(ran {sent - start:.1f} s before it)")
    assert ended - sent < 5.0
