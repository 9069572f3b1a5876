"""Camera Layout rendering: banded into a preallocated output (same pixels as a whole-frame render), bounded peak
memory, a per-frame callback, an up-front memory refusal and non-finite moves refused."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from kernels import camera

ROOT = Path(__file__).resolve().parents[2]
MOVES = {"pan": camera.Move("pan", angle=30, distance=0.3),
         "zoom_out": camera.Move("zoom", scale=0.3),  # no avoid_borders: views shrink the source, supersampled
         "roll": camera.Move("roll", angle=40, avoid_borders=True),
         "perspective": camera.Move("perspective", corners=((-0.9, -0.9), (0.9, -1), (1, 1), (-1, 0.9)))}


def whole_frame_render(image, matrices, height, width, border, s):
    """Reference: every frame's full float64 grid at once, frames joined at the end (the former renderer)."""
    hs, ws = height * s, width * s
    ys = (torch.arange(hs, dtype=torch.float64) + 0.5) / hs * 2 - 1
    xs = (torch.arange(ws, dtype=torch.float64) + 0.5) / ws * 2 - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([xx, yy, torch.ones_like(xx)], dim=-1).reshape(-1, 3)
    src = image.permute(2, 0, 1).unsqueeze(0).float()
    frames = []
    for m in matrices:
        mapped = pts @ m.T
        grid = (mapped[:, :2] / mapped[:, 2:]).reshape(1, hs, ws, 2)
        out = F.grid_sample(src, camera._fold(grid, border).float(), mode="bilinear", padding_mode="border",
                            align_corners=False)
        frames.append(F.avg_pool2d(out, s) if s > 1 else out)
    return torch.cat(frames).permute(0, 2, 3, 1)


@pytest.mark.parametrize("band", [camera.BAND_SAMPLES, 7])  # 7 samples: one output row per band
@pytest.mark.parametrize("name", list(MOVES))
@pytest.mark.parametrize("border", camera.BORDERS)
def test_banded_render_equals_the_whole_frame_render(monkeypatch, band, name, border):
    monkeypatch.setattr(camera, "BAND_SAMPLES", band)
    image = torch.rand(90, 130, 3, generator=torch.Generator().manual_seed(1))
    h, w = 21, 29
    matrices = camera.path_matrices([MOVES[name]], 3, aspect=w / h)
    s = camera.supersample_for(matrices, 90, 130, h, w)
    ours = camera.render(image, matrices, h, w, border)
    assert ours.dtype == torch.float32 and ours.shape == (3, h, w, 3)
    torch.testing.assert_close(ours, whole_frame_render(image, matrices, h, w, border, s), rtol=0, atol=1e-6)
    if name == "zoom_out":
        assert s > 1, "the zoom-out case must exercise supersampling"


def test_on_frame_is_called_after_every_frame_and_can_stop_the_render():
    image = torch.rand(16, 16, 3)
    matrices = camera.path_matrices([MOVES["pan"]], 6)
    seen = []
    camera.render(image, matrices, 16, 16, on_frame=seen.append)
    assert seen == list(range(6))

    class Stop(Exception):
        pass

    def stop_at_2(i):
        seen.append(i)
        if i == 2:
            raise Stop

    seen.clear()
    with pytest.raises(Stop):
        camera.render(image, matrices, 16, 16, on_frame=stop_at_2)
    assert seen == [0, 1, 2]
    seen.clear()
    with pytest.raises(Stop):
        camera.official_crops(image, 6, "pan_right", 8, 8, on_frame=stop_at_2)
    assert seen == [0, 1, 2]


def test_on_band_runs_before_every_band_so_a_large_frame_can_be_stopped(monkeypatch):
    monkeypatch.setattr(camera, "BAND_SAMPLES", 64)  # 16 px wide: 4 rows per band, 4 bands per frame
    bands = []
    camera.render(torch.rand(16, 16, 3), camera.path_matrices([MOVES["pan"]], 3), 16, 16, supersample=1,
                  on_band=lambda: bands.append(1))
    assert len(bands) == 3 * 4


def test_a_render_that_cannot_fit_is_refused_before_allocating():
    matrices = camera.path_matrices([MOVES["pan"]], 4096)
    need = camera.render_bytes(4096, 8192, 8192, 3)
    assert need >= 4096 * 8192 * 8192 * 3 * 4
    with pytest.raises(MemoryError, match=r"a 4096-frame 8192x8192 camera layout needs about 3072\.\d\d GiB of "
                                          r"memory but only 1\.00 GiB is free: lower frames, width or height"):
        camera.render(torch.rand(8, 8, 3), matrices, 8192, 8192, memory_limit=2 ** 30)
    with pytest.raises(MemoryError, match="a 4096-frame 8192x8192 official zoom_in layout needs about"):
        camera.official_crops(torch.rand(8, 8, 3), 4096, "zoom_in", 8192, 8192, memory_limit=2 ** 30)
    out = camera.render(torch.rand(8, 8, 3), matrices[:2], 16, 16, memory_limit=camera.render_bytes(2, 16, 16, 3))
    assert out.shape == (2, 16, 16, 3)  # exactly the estimate is allowed


@pytest.mark.parametrize("field, value", [("angle", math.nan), ("distance", math.nan), ("scale", math.inf),
                                          ("start", math.nan), ("center", (math.nan, 0.0))])
def test_a_non_finite_move_is_refused_naming_the_field(field, value):
    kind = "zoom" if field in ("scale", "center") else "pan"
    with pytest.raises(ValueError, match=f"camera move {field} .* is not a finite number"):
        camera.Move(kind, **{field: value}).check()


def test_peak_memory_stays_near_the_output():
    """In a fresh process: render + clamp of 8 frames of 1024x1024 peaks below 1.5x the output (was 3.8x)."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from bench.camera_memory import measure; "
            "print(json.dumps(measure(None, 'pan', 1024, 8)))")
    result = json.loads(subprocess.run([sys.executable, "-c", code, str(ROOT)], check=True, capture_output=True,
                                       text=True, timeout=300).stdout)
    assert result["peak_over_output"] < 1.5, result
