"""FrameInit's camera presets and temporal padding as a user sends them: the shipped camera workflows through
POST /prompt."""
import json

import pytest

from tests.api.conftest import edited, node_of

PRESETS = {"svd_camera_pan": 750, "svd_camera_zoom": 750, "svd_camera_rotate": 700, "svd_camera_perspective": 700}


@pytest.mark.parametrize("stem", sorted(PRESETS))
def test_camera_workflows_carry_the_paper_frameinit_settings(api, stem):
    inputs = node_of(api.prompt(stem), "ConsistI2VFrameInitNoise")["inputs"]
    assert (inputs["noise_timestep"], inputs["timestep_scale"]) == (PRESETS[stem], "consisti2v_snr")
    assert (inputs["spatial_cutoff"], inputs["temporal_cutoff"], inputs["temporal_padding"]) == (0.5, 0.5, "mirror")


def test_consisti2v_camera_and_official_parity_run(api):
    inputs = node_of(api.prompt("consisti2v_camera"), "ConsistI2VFrameInitNoise")["inputs"]
    assert (inputs["noise_timestep"], inputs["timestep_scale"], inputs["temporal_padding"]) == (
        750, "model_schedule", "mirror")
    entry = api.run(edited(api.prompt("svd_camera_pan"), "ConsistI2VFrameInitNoise", temporal_padding="circular"))
    assert entry["status"]["status_str"] == "success" and entry["outputs"]


def test_unknown_temporal_padding_names_the_input_and_the_choices(api):
    """ComfyUI 0.8 refuses the value for the FrameInit branch (the rest of the graph, the path preview, still runs):
    the response's node_errors carry what the user sees on the node. ComfyUI 0.3.64 does not validate an optional
    combo; there the node itself refuses it when it runs, naming the input and the choices."""
    prompt = edited(api.prompt("svd_camera_pan"), "ConsistI2VFrameInitNoise", temporal_padding="wrap")
    status, body = api.post(prompt)
    msg = json.dumps(body)
    if body.get("node_errors") == {} and "prompt_id" in body:  # accepted unvalidated (ComfyUI 0.3.64)
        entry = api.wait(body["prompt_id"], 180.0)
        msg = next(f"{data.get('node_type')}: {data.get('exception_message', '').strip()}"
                   for event, data in entry["status"].get("messages", []) if event == "execution_error")
        assert msg == ("ConsistI2VFrameInitNoise: temporal_padding 'wrap' is unknown: use one of circular, reflect, "
                       "mirror"), msg
        return
    assert "temporal_padding" in msg and "'wrap' not in ['circular', 'reflect', 'mirror']" in msg, msg
