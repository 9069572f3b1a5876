"""Fixtures of the in-process ComfyUI tier."""
from __future__ import annotations

import pytest


@pytest.fixture()
def models_dir(comfy, monkeypatch, tmp_path):
    """A private models/diffusion_models, first in the lists of diffusion_models and checkpoints (so the convert
    node writes there and loaders see it)."""
    import folder_paths

    dm = tmp_path / "diffusion_models"
    dm.mkdir()
    for kind in ("diffusion_models", "checkpoints"):
        paths, exts = folder_paths.folder_names_and_paths[kind]
        monkeypatch.setitem(folder_paths.folder_names_and_paths, kind, ([str(dm)] + list(paths), exts))
    return dm
