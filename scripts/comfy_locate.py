"""Find the ComfyUI checkout the tests run against.

Order: $COMFYUI_PATH, else a ComfyUI enclosing this pack (``<ComfyUI>/custom_nodes/<pack>``),
else comfy-cli's default ``~/comfy/ComfyUI``.
"""
from __future__ import annotations

import os
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[1]


def _is_comfyui(path: Path) -> bool:
    return (path / "main.py").is_file() and (path / "comfy").is_dir() and (path / "nodes.py").is_file()


def find_comfyui() -> Path | None:
    env = os.environ.get("COMFYUI_PATH")
    if env:
        path = Path(env).expanduser()
        return path if _is_comfyui(path) else None
    if PACK_ROOT.parent.name == "custom_nodes" and _is_comfyui(PACK_ROOT.parent.parent):
        return PACK_ROOT.parent.parent
    default = Path("~/comfy/ComfyUI").expanduser()
    return default if _is_comfyui(default) else None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def put_comfyui_on_path_cpu(needed_for: str):
    """Find ComfyUI, put it on sys.path and select the CPU (before model_management loads); None if absent."""
    import sys

    root = find_comfyui()
    if root is None:
        print(f"ComfyUI not found (set COMFYUI_PATH): {needed_for} needs it")
        return None
    sys.path.insert(0, str(root))
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    return root
