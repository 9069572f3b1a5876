"""Shipped workflows, with their model files replaced by tiny random-weight files of the same name."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from scripts.workflow_api import model_files

from scripts.comfy_locate import PACK_ROOT

from .images import write_gradient_png

WORKFLOWS = sorted((PACK_ROOT / "workflows").glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def images_named(workflow: dict) -> list[str]:
    return [n["widgets_values"][0] for n in workflow["nodes"] if n["type"] == "LoadImage"]


def provide_tiny_files(workflow: dict, checkpoints: Path, input_dir: Path) -> None:
    """Write a tiny stand-in for every model file the workflow names (in the model folder beside
    ``checkpoints``) and a test image for LoadImage."""
    from .tiny_models import tiny_writer

    for entry in model_files(workflow):
        writer = tiny_writer(entry["name"], entry.get("directory"))
        if writer is None:
            raise AssertionError(f"no tiny stand-in for {entry['directory']}/{entry['name']}")
        target = checkpoints.parent / entry["directory"] / entry["name"]
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            writer(str(target))
    for name in images_named(workflow):
        target = input_dir / name
        if not target.exists():
            write_gradient_png(target, 96, 64)


# The shipped workflows are sized for a GPU (SVD-XT: 1024x576, 25 frames, 20 steps). Even with the tiny model
# that is minutes per step on CPU (spatial attention over 72x128 latent tokens), so before POSTing, literal
# (non-linked) values of these inputs are shrunk in the API prompt. Frame counts are set to one common value so
# "Static Layout frames == SVD video_frames" still holds. CDI2V_FULL_SIZE=1 turns this off.
CPU_SHRINK = {
    "SVD_img2vid_Conditioning": {"width": 64, "height": 64, "video_frames": 4},
    "ImageScale": {"width": 64, "height": 64},
    "EmptyLatentImage": {"width": 64, "height": 64},
    "ConsistI2VConditioning": {"width": 64, "height": 64, "length": 4},
    "CILDynamiCrafterConditioning": {"width": 64, "height": 64, "length": 4},
    "ConsistI2VStaticLayout": {"frames": 4},
    "ConsistI2VCameraLayout": {"width": 64, "height": 64, "frames": 4},
    "ConsistI2VCameraPathPreview": {"frames": 4},
    "BasicScheduler": {"steps": 2},
    "CILAnalyticInit": {"steps": 2},
    "KSampler": {"steps": 2},
    "KSamplerAdvanced": {"steps": 2},
}


def missing_nodes(workflow: dict, available) -> list[str]:
    """Core node types the workflow declares it needs (``extra.cdi2v_requires_nodes``, e.g. a model family's
    conditioning node added after ComfyUI 0.3.64) that ``available`` (node type names) lacks."""
    return [n for n in (workflow.get("extra", {}).get("cdi2v_requires_nodes") or []) if n not in available]


def skip_if_missing_nodes(workflow: dict, available, name: str = "") -> None:
    """pytest.skip, naming the nodes, when this ComfyUI lacks a node the workflow declares it needs."""
    missing = missing_nodes(workflow, available)
    if missing:
        import pytest
        pytest.skip(f"{name or 'workflow'}: this ComfyUI has no {', '.join(missing)} node (the workflow needs it)")


def shrink_for_cpu(output: dict, workflow: dict | None = None) -> dict:
    """Copy of the API prompt with CPU_SHRINK applied; linked inputs (``[node, slot]``) are left alone. A workflow
    whose frame counts must agree otherwise (e.g. 4k+1 video frames for a causal video VAE) overrides entries in
    ``extra.cdi2v_cpu_shrink`` ({class_type: {input: value}})."""
    if os.environ.get("CDI2V_FULL_SIZE", "").lower() in ("1", "true", "yes"):
        return output
    table = {kind: dict(inputs) for kind, inputs in CPU_SHRINK.items()}
    for kind, inputs in ((workflow or {}).get("extra", {}).get("cdi2v_cpu_shrink") or {}).items():
        table.setdefault(kind, {}).update(inputs)
    out = copy.deepcopy(output)
    for node in out.values():
        for name, value in table.get(node.get("class_type"), {}).items():
            current = node.get("inputs", {}).get(name)
            if isinstance(current, (int, float)) and not isinstance(current, bool) and current > value:
                node["inputs"][name] = value
    return out
