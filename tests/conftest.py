"""Shared fixtures. Tiers: ``unit`` (pure kernels), ``comfy`` (in-process ComfyUI), ``browser``."""
from __future__ import annotations

import pytest

from scripts.comfy_locate import find_comfyui, in_ci

_MISSING = ("ComfyUI not found: set COMFYUI_PATH, install this pack under <ComfyUI>/custom_nodes, or "
            "export ComfyUI into ~/comfy/ComfyUI. SKIPPING the ComfyUI integration tier.")


def require_comfyui():
    root = find_comfyui()
    if root is None:
        if in_ci():
            pytest.fail(_MISSING.replace(" SKIPPING", " CI=true, so this FAILS instead of skipping"))
        print("\n" + "!" * 100 + "\n" + _MISSING + "\n" + "!" * 100)
        pytest.skip(_MISSING)
    return root


@pytest.fixture(scope="session")
def comfy(tmp_path_factory):
    """A booted in-process ComfyUI with this pack and the tiny-model loader pack registered."""
    from scripts.comfy_inprocess import InProcessComfy

    root = require_comfyui()
    return InProcessComfy(root, tmp_path_factory.mktemp("comfy")).boot()
