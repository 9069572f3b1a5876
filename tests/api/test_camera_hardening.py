"""Camera nodes through the real server: NaN inputs, huge strings, empty batches, sizes that cannot fit,
and an interrupt during a long Camera Layout (issue 15)."""
from __future__ import annotations

import copy
import time

import pytest

from tests.api.conftest import node_of

NAN = float("nan")  # json.dumps writes it as the token NaN, which the server's json.loads accepts
CORNERS_EXAMPLE = "e.g. '-0.9,-0.9  0.9,-1  1,1  -1,0.9'"


@pytest.fixture(scope="module")
def move_inputs(api):
    """Camera Move's inputs as the shipped camera workflow sets them."""
    return copy.deepcopy(node_of(api.prompt("svd_camera_pan"), "ConsistI2VCameraMove")["inputs"])


def layout_prompt(move_inputs, *, image=None, extra=None, **layout) -> dict:
    """Load Image -> Camera Move -> Camera Layout -> Preview Image (plus ``extra`` nodes)."""
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {"class_type": "ConsistI2VCameraMove", "inputs": move_inputs},
        "3": {"class_type": "ConsistI2VCameraLayout", "inputs": {
            "image": image or ["1", 0], "camera_path": ["2", 0], "frames": 4, "width": 64, "height": 64,
            "border": "reflect", "official_motion": "off", **layout}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }
    prompt.update(extra or {})
    return prompt


@pytest.mark.parametrize("move, name", [("pan", "pan_angle"), ("pan", "pan_distance"), ("roll", "roll_degrees"),
                                        ("zoom", "zoom_scale"), ("zoom", "zoom_center_x"), ("pan", "start"),
                                        ("pan", "end")])
def test_a_nan_camera_input_is_named(api, move_inputs, move, name):
    msg = api.error_of(layout_prompt({**move_inputs, "move": move, name: NAN}))
    assert f"{name} is nan, not a number: set {name} to a finite value" in msg, msg


@pytest.mark.parametrize("name, value, words", [("roll_degrees", float("inf"), "bigger than max"),
                                                ("pan_distance", float("-inf"), "smaller than min")])
def test_an_infinite_camera_input_is_refused_before_running(api, move_inputs, name, value, words):
    msg = api.error_of(layout_prompt({**move_inputs, name: value}))  # json.dumps writes Infinity / -Infinity
    assert "validation" in msg.lower() and name in msg and words in msg, msg


@pytest.mark.parametrize("corners", ["nan,-0.9  0.9,-1.0  1.0,1.0  -1.0,0.9", "-0.9,-0.9  0.9,inf  1,1  -1,0.9"])
def test_a_non_finite_keypoint_is_named(api, move_inputs, corners):
    msg = api.error_of(layout_prompt({**move_inputs, "move": "perspective", "perspective_corners": corners}))
    assert f"perspective_corners '{corners}' has a value that is not a finite number" in msg, msg
    assert CORNERS_EXAMPLE in msg


def test_a_huge_keypoint_string_is_quoted_shortened(api, move_inputs):
    corners = "1,1 " * 5000  # 20,000 characters
    msg = api.error_of(layout_prompt({**move_inputs, "move": "perspective", "perspective_corners": corners}))
    assert "perspective_corners '1,1 1,1" in msg and "(20000 characters) must be 4 'x,y' pairs" in msg, msg
    assert len(msg) < 400, f"the message echoes the string: {len(msg)} characters"


def _undecodable_video(path) -> None:
    """An MP4 whose one video packet decodes to no frame (a damaged file): Load Video -> Get Video Components
    gives an IMAGE batch of 0 images."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()
        packet = av.Packet(b"\x00\x00\x01\xb6" + bytes(16))
        packet.stream, packet.time_base, packet.pts, packet.dts = stream, stream.time_base, 0, 0
        packet.is_keyframe = True
        container.mux(packet)


@pytest.mark.parametrize("node", ["ConsistI2VCameraLayout", "ConsistI2VCameraPathPreview"])
def test_an_empty_image_batch_is_named(api, move_inputs, node):
    _undecodable_video(api.server.input_dir / "cdi2v_no_frames.mp4")
    extra = {"10": {"class_type": "LoadVideo", "inputs": {"file": "cdi2v_no_frames.mp4"}},
             "11": {"class_type": "GetVideoComponents", "inputs": {"video": ["10", 0]}}}
    prompt = layout_prompt(move_inputs, image=["11", 0], extra=extra)
    if node == "ConsistI2VCameraPathPreview":
        prompt["3"] = {"class_type": node, "inputs": {"image": ["11", 0], "camera_path": ["2", 0], "frames": 4,
                                                      "width": 0, "height": 0}}
    msg = api.error_of(prompt)
    assert f"{node}: ValueError: image is an empty IMAGE batch (shape (0, 3, 0, 0)): connect at least one image" \
        in msg, msg


def test_nan_pixels_are_refused(api, move_inputs):
    extra = {"10": {"class_type": "CDI2VTestNaNImage", "inputs": {"image": ["1", 0], "value": "nan", "count": 1}}}
    msg = api.error_of(layout_prompt(move_inputs, image=["10", 0], extra=extra))
    assert "image has NaN or inf pixels: connect an image with finite values" in msg, msg


def test_a_layout_too_big_for_memory_is_refused_with_the_estimate(api, move_inputs):
    msg = api.error_of(layout_prompt(move_inputs, frames=4096, width=8192, height=8192))
    # 4096 frames x 8192 x 8192 x 3 float32 = 3072 GiB
    assert "ConsistI2VCameraLayout: MemoryError: a 4096-frame 8192x8192 camera layout needs about 3072." in msg, msg
    assert "GiB is free: lower frames, width or height" in msg


def test_an_official_layout_too_big_for_memory_is_refused(api, move_inputs):
    msg = api.error_of(layout_prompt(move_inputs, frames=4096, width=8192, height=8192, official_motion="zoom_in"))
    assert "a 4096-frame 8192x8192 official zoom_in layout needs about" in msg and "lower frames" in msg, msg


def test_a_static_layout_too_big_for_memory_is_refused(api):
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact",
                                                     "width": 4096, "height": 4096, "crop": "disabled"}},
        "3": {"class_type": "ConsistI2VStaticLayout", "inputs": {"image": ["2", 0], "frames": 4096}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }
    msg = api.error_of(prompt)  # 4096 x 4096 x 4096 x 3 float32 = 768 GiB
    assert "ConsistI2VStaticLayout: MemoryError: a 4096-frame 4096x4096 static layout needs about 768.00 GiB" \
        in msg and "lower frames or the image size" in msg, msg


def test_an_interrupt_stops_a_long_camera_layout_within_seconds(api, move_inputs):
    # 100 frames of 512x512 from a 2048x2048 image with a 4x zoom: 4x4 supersampling, minutes on CPU
    extra = {"10": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bilinear",
                                                           "width": 2048, "height": 2048, "crop": "disabled"}}}
    moves = {**move_inputs, "move": "zoom", "zoom_scale": 4.0}
    prompt_id = api.queue(layout_prompt(moves, image=["10", 0], extra=extra, frames=100, width=512, height=512))
    api.started(prompt_id)
    time.sleep(3.0)  # well into the per-frame render
    t0 = time.monotonic()
    api.server.post_json("/interrupt", {})
    entry = api.wait(prompt_id, timeout_s=120)
    latency = time.monotonic() - t0
    print(f"\ninterrupt -> prompt ended in {latency:.2f} s")
    events = [event for event, _ in entry["status"]["messages"]]
    assert "execution_interrupted" in events, entry["status"]
    assert latency < 5.0, f"the layout ran on for {latency:.1f} s after the interrupt"
