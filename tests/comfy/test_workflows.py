"""Every shipped workflow executes end-to-end in a real in-process ComfyUI on tiny models."""
import json

import pytest

from scripts.workflow_api import defs_from_input_types, to_api_prompt
from tests.support.workflows import WORKFLOWS, load, provide_tiny_files, shrink_for_cpu, skip_if_missing_nodes

pytestmark = pytest.mark.comfy


def test_workflows_exist():
    assert {p.stem for p in WORKFLOWS} >= {"svd_frameinit", "svd_pyoco", "svd_long_video", "svd_camera_pan",
                                           "svd_camera_zoom", "svd_camera_rotate", "svd_camera_perspective"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_is_well_formed(path):
    wf = load(path)
    assert wf["version"] and wf["nodes"] and wf["links"]
    for node in wf["nodes"]:
        assert {"id", "type", "pos", "size", "flags", "order", "mode", "properties"} <= set(node)
        if node["type"] not in ("Note", "MarkdownNote"):
            assert node["properties"].get("cnr_id") and node["properties"].get("ver"), node["type"]
    assert any(n["type"] == "MarkdownNote" for n in wf["nodes"]), "each workflow explains its knobs in a note"
    for entry in wf["models"]:
        # what the frontend's Missing Models dialog accepts for a download
        assert entry["url"].startswith(("https://huggingface.co/", "https://civitai.com/"))
        assert entry["name"].endswith((".safetensors", ".sft")) and entry["directory"]
    note = next(n for n in wf["nodes"] if n["type"] == "MarkdownNote")["widgets_values"][0]
    for entry in wf.get("extra", {}).get("cdi2v_manual_files", []):
        # files the dialog cannot download: the note says where to get them and where they go
        assert entry["url"].startswith("https://huggingface.co/") and entry["directory"]
        repo = "/".join(entry["url"].split("/")[3:5])
        assert entry["name"] in note and repo in note and entry["directory"] in note, entry


def api_prompt(comfy, wf):
    import nodes

    return to_api_prompt(wf, lambda kind: defs_from_input_types(nodes.NODE_CLASS_MAPPINGS[kind].INPUT_TYPES()))


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_executes_on_tiny_models(comfy, path):
    import nodes

    wf = load(path)
    skip_if_missing_nodes(wf, nodes.NODE_CLASS_MAPPINGS, path.stem)
    provide_tiny_files(wf, comfy.checkpoints, comfy.input_dir)
    prompt = shrink_for_cpu(api_prompt(comfy, wf), wf)
    outputs = comfy.run(prompt)
    saved = [img for out in outputs.values() for img in out.get("images", []) if img.get("type") == "output"]
    assert saved, f"no output images: {json.dumps(outputs)[:500]}"
    for img in saved:
        assert (comfy.output_dir / img.get("subfolder", "") / img["filename"]).stat().st_size > 0
