"""A real ComfyUI server with this pack, the tiny-model loader pack and a tiny stand-in for every model file and
input image the shipped workflows name; prompts POSTed to it the way the frontend does.

Used by the browser tier (frontend + server) and the API tier (``tests/api``: bad input, interrupts and errors
sent through ``POST /prompt`` exactly as a user's graph reaches the server).
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from scripts.comfy_locate import PACK_ROOT
from scripts.workflow_api import model_files
from tests.support.images import write_gradient_png
from tests.support.server import ComfyServer, comfy_server

TINY_LOADER_PACK = PACK_ROOT / "tests" / "support" / "tiny_loader_pack"
IMAGE_LOADERS = {"LoadImage": ("image", 0), "LoadImageMask": ("image", 0)}
RUN_TIMEOUT_S = 180.0


def all_nodes(wf: dict) -> list[dict]:
    """Top-level nodes plus the nodes inside subgraph definitions."""
    nodes = list(wf.get("nodes", []))
    for sg in (wf.get("definitions") or {}).get("subgraphs", []) or []:
        nodes.extend(sg.get("nodes", []))
    return nodes


def subgraph_ids(wf: dict) -> set[str]:
    return {sg.get("id") for sg in (wf.get("definitions") or {}).get("subgraphs", []) or [] if sg.get("id")}


def widget(node: dict, name: str, index: int):
    wv = node.get("widgets_values")
    if isinstance(wv, dict):
        return wv.get(name)
    if isinstance(wv, list) and len(wv) > index:
        return wv[index]
    return None


def required_files(wf: dict) -> tuple[dict[tuple[str, str], str], set[str]]:
    """({(folder kind, filename): tiny kind}, {input image names}): the model files the workflow declares (as the
    in-process tier provides them; a loader naming an undeclared file fails validation) and its input images."""
    models = {(e["directory"], e["name"]): "svd" if e["directory"] == "checkpoints" else e["directory"]
              for e in model_files(wf)}
    images: set[str] = set()
    for node in all_nodes(wf):
        t = node.get("type")
        if t in IMAGE_LOADERS:
            name, idx = IMAGE_LOADERS[t]
            value = widget(node, name, idx)
            if isinstance(value, str) and value:
                images.add(value.split(" [")[0])  # "name.png [input]" annotated form
    return models, images


_WRITE_MODELS_SCRIPT = r"""
import json, sys
comfy_root, support_dir, jobs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[:0] = [comfy_root, support_dir]  # as tiny_loader_pack does: ComfyUI has its own `tests` package
import comfy.cli_args
comfy.cli_args.args.cpu = True      # before comfy.model_management is imported (it probes CUDA)
import comfy.model_management  # noqa: F401
import os
from tiny_models import tiny_writer, write_tiny_checkpoint
for path, folder, kind in jobs:
    writer = tiny_writer(os.path.basename(path), folder)
    if folder == "checkpoints" and writer is tiny_writer(None, folder):
        write_tiny_checkpoint(path, kind=kind, seed=0)
    else:
        writer(path)
    print("wrote", kind, path)
"""


def write_models(comfy_root: Path, models: dict[tuple[str, str], str], model_root: Path) -> None:
    """Write tiny checkpoints for the named model files.

    ``write_tiny_checkpoint`` imports ``comfy``; it runs in a child process (cwd = the ComfyUI checkout) so this
    pytest process never imports ComfyUI (the in-process ``comfy`` tier must set ``args.cpu`` before its first
    ``comfy`` import).
    """
    if not models:
        return
    if not (PACK_ROOT / "tests" / "support" / "tiny_models.py").is_file():
        pytest.fail(f"workflows name model files {sorted(n for _, n in models)} but tests/support/tiny_models.py "
                    "is missing", pytrace=False)
    jobs = []
    for (folder, name), kind in sorted(models.items()):
        path = model_root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        jobs.append((str(path), folder, kind))
    proc = subprocess.run([sys.executable, "-c", _WRITE_MODELS_SCRIPT, str(comfy_root),
                           str(PACK_ROOT / "tests" / "support"),
                           json.dumps(jobs)], cwd=str(comfy_root), capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")})
    if proc.returncode != 0:
        pytest.fail(f"writing tiny checkpoints failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                    f"{proc.stderr[-6000:]}", pytrace=False)


@contextlib.contextmanager
def pack_server(comfy_root: Path, work: Path, workflows, *, settings: dict | None = None) -> Iterator[ComfyServer]:
    """Start a CPU ComfyUI server providing every model file and input image that ``workflows`` name."""
    model_root, input_dir, output_dir = work / "models", work / "input", work / "output"
    for d in (model_root / "checkpoints", input_dir, output_dir):
        d.mkdir(parents=True, exist_ok=True)
    models: dict = {}
    images: set = {"cdi2v_browser_baseline.png"}
    for wf_path in workflows:
        m, i = required_files(json.loads(Path(wf_path).read_text(encoding="utf-8")))
        models.update(m)
        images |= i
    write_models(comfy_root, models, model_root)
    for name in images:
        write_gradient_png(input_dir / name)
    node_dirs = [PACK_ROOT]
    if TINY_LOADER_PACK.is_dir():
        node_dirs.append(TINY_LOADER_PACK)
    elif models:
        pytest.fail(f"workflows need model files but {TINY_LOADER_PACK} is missing", pytrace=False)
    model_dirs = {kind: model_root / kind for kind in {"checkpoints", *(f for f, _ in models)}}
    with comfy_server(comfy_root, node_dirs, model_dirs, input_dir, output_dir,
                      log_path=work / "server.log", settings=settings) as srv:
        srv.extra["model_root"] = model_root
        yield srv


def queue(server, output: dict, workflow: dict | None = None) -> str:
    status, body = server.post_json("/prompt", {
        "prompt": output,
        "client_id": f"cdi2v-browser-{uuid.uuid4().hex[:8]}",
        "extra_data": {"extra_pnginfo": {"workflow": workflow}} if workflow else {},
    })
    assert status == 200 and isinstance(body, dict) and body.get("prompt_id"), (
        f"POST /prompt -> HTTP {status}: {json.dumps(body, indent=1)[:4000]}\n"
        f"--- server log tail ---\n{server.log_tail()}")
    return body["prompt_id"]


def wait_history(server, prompt_id: str, timeout_s: float = RUN_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout_s
    entry = None
    while time.monotonic() < deadline:
        try:
            hist = server.get_json(f"/history/{prompt_id}")
        except (urllib.error.URLError, OSError, ValueError):
            hist = {}
        entry = hist.get(prompt_id)
        status = (entry or {}).get("status") or {}
        if status.get("status_str") == "success" and status.get("completed", True):
            return entry
        if status.get("status_str") == "error":
            break
        if server.proc.poll() is not None:
            break
        time.sleep(0.5)
    if server.proc.poll() is None:  # do not leave a long prompt running in front of the next test
        server.post_json("/interrupt", {})
        server.post_json("/queue", {"clear": True})
    messages = ((entry or {}).get("status") or {}).get("messages")
    pytest.fail(
        f"prompt {prompt_id} did not succeed within {timeout_s:.0f}s "
        f"(server exit code {server.proc.poll()}).\nstatus messages: {json.dumps(messages, indent=1)[:6000]}\n"
        f"--- server log tail ---\n{server.log_tail()}", pytrace=False)
