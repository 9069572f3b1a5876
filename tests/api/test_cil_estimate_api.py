"""CIL Estimate Statistics through a real server: a graph estimates statistics from its clips (SVD VAE), writes them
into models/cil_statistics and feeds Analytic-Init; a second prompt loads the written file with Load CIL Statistics
into Analytic-Init and samples; queued again, the estimate adds nothing and leaves the file as it was."""
from __future__ import annotations

import copy
import uuid


def id_of(prompt: dict, class_type: str) -> str:
    return next(k for k, n in prompt.items() if n["class_type"] == class_type)


def test_estimate_then_load_then_analytic_init(api):
    from safetensors import safe_open

    base = api.prompt("svd_analytic_init")
    loader, scale, init = (id_of(base, c) for c in ("ImageOnlyCheckpointLoader", "ImageScale", "CILAnalyticInit"))
    name = f"api_estimate_{uuid.uuid4().hex[:8]}.safetensors"
    first = copy.deepcopy(base)
    first["900"] = {"class_type": "ImageInvert", "inputs": {"image": [scale, 0]}}
    first["901"] = {"class_type": "ImageBatch", "inputs": {"image1": [scale, 0], "image2": ["900", 0]}}
    first["902"] = {"class_type": "CILEstimateStatistics", "inputs": {
        "model": [loader, 0], "file": name, "add_to_file": False, "frames_per_clip": 1, "image": ["901", 0],
        "vae": [loader, 2]}}
    first[init]["inputs"]["statistics"] = ["902", 0]
    entry = api.run(first)
    assert entry["status"]["status_str"] == "success"
    assert "2 clips (2 added, 0 already in it)" in entry["outputs"]["902"]["text"][0]
    path = api.server.extra["model_root"] / "cil_statistics" / name
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        assert f.get_tensor("Expectation_X0").shape[:3] == (1, 4, 1)
    assert (meta["family"], meta["clips"], meta["creator"]) == ("svd", "2", "CILEstimateStatistics")

    second = copy.deepcopy(base)
    second["903"] = {"class_type": "CILStatisticsLoader", "inputs": {
        "statistics_file": name, "resample": "interpolate", "data_scale": 1.0}}
    second[init]["inputs"]["statistics"] = ["903", 0]
    assert api.run(second)["status"]["status_str"] == "success"

    before = path.read_bytes(), path.stat().st_mtime_ns
    entry = api.run(first)  # the file changed since the first run, so the node runs again: nothing new to add
    assert "2 clips (0 added, 2 already in it)" in entry["outputs"]["902"]["text"][0]
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
