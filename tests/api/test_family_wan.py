"""The Wan workflows through a real server's POST /prompt (tiny Wan files loaded by core's UNETLoader, CLIPLoader type
wan, VAELoader, CLIPVisionLoader): each writes its video, and a layout encoded with the wrong Wan VAE comes back as
an error that names the layout and the fix."""
import copy

import pytest

from tests.api.conftest import node_of
from tests.support.workflows import WORKFLOWS, load, skip_if_missing_nodes

FRAMES = 9  # the CPU shrink of the Wan workflows (4k + 1 video frames)


def _skip_without_nodes(api, stem):
    path = next(p for p in WORKFLOWS if p.stem == stem)
    skip_if_missing_nodes(load(path), api.object_info, stem)


def saved_video(api, entry):
    from PIL import Image

    saved = [img for out in entry["outputs"].values() for img in out.get("images", [])
             if img.get("type") == "output"]
    assert len(saved) == 1, entry["outputs"]
    path = api.server.output_dir / saved[0].get("subfolder", "") / saved[0]["filename"]
    assert path.stat().st_size > 0
    with Image.open(path) as video:
        return path, getattr(video, "n_frames", 1), video.size


@pytest.mark.parametrize("stem, prefix, size", [
    ("wan22_a14b_analytic_init", "Wan22_A14B_AnalyticInit", 64),
    ("wan22_5b_camera_pan", "Wan22_5B_FrameInit_pan", 64),
    ("wan21_i2v_pyoco", "Wan21_I2V_PYoCo", 64),
])
def test_wan_workflow_writes_its_video(api, stem, prefix, size):
    _skip_without_nodes(api, stem)
    entry = api.run(api.prompt(stem))
    assert entry["status"]["status_str"] == "success"
    path, frames, (w, h) = saved_video(api, entry)
    assert path.name.startswith(prefix)
    assert frames == FRAMES and (w, h) == (size, size)  # every video frame of the 4k+1 clip, decoded by the Wan VAE


def test_wan22_5b_layout_from_the_wan21_vae_is_refused(api):
    """The 5B model samples 48-channel x16 latents: a camera layout encoded with the Wan 2.1 VAE (16 channels, x8) is
    refused before sampling, naming the FrameInit node's layout input and the fix."""
    _skip_without_nodes(api, "wan22_5b_camera_pan")
    prompt = copy.deepcopy(api.prompt("wan22_5b_camera_pan"))
    prompt["9001"] = {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}}
    layout_id = node_of(prompt, "ConsistI2VFrameInitNoise")["inputs"]["layout"][0]
    prompt[layout_id]["inputs"]["vae"] = ["9001", 0]
    msg = api.error_of(prompt)
    assert "layout" in msg and "16 latent channels" in msg and "48" in msg and "VAE" in msg, msg
