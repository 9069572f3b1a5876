"""FrameInit at the ends of a clip: how well the low band of a camera layout still follows the requested path.

FrameInit keeps the low band (3-D Gaussian low-pass over frames, height, width) of a layout video. The FFT is
circular in time, so the end of a camera move wraps into its start. Here each camera workflow's move is
rendered at latent size (a multi-scale random texture stands in for the VAE latent), low-passed with each
temporal padding, upsampled x4 and measured with the pack's camera fit (kernels.metrics: DIS flow, similarity
fit, RMS distance to the requested path's motion in px per frame at the measured size). Reported: the first
and the last frame pair, the middle pairs' mean, and the requested motion there.

Run: .venv/bin/python bench/frameinit_padding_bench.py            (about 6 min on 2 cores)
     .venv/bin/python bench/frameinit_padding_bench.py --cutoffs  (the cutoff comparison of the camera presets)
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernels import camera, metrics, spectral  # noqa: E402

CORNERS = ((-0.9, -0.9), (0.9, -1.0), (1.0, 1.0), (-1.0, 0.9))  # the workflows' perspective default


def moves(easing: str) -> dict:
    """The camera workflows' moves (svd_camera_pan/zoom/rotate/perspective defaults)."""
    return {
        "pan": [camera.Move("pan", angle=0, distance=0.25, easing=easing, avoid_borders=True)],
        "zoom": [camera.Move("zoom", scale=1.5, easing=easing, avoid_borders=True)],
        "rotate": [camera.Move("roll", angle=15, easing=easing, avoid_borders=True)],
        "perspective": [camera.Move("perspective", corners=CORNERS, easing=easing, avoid_borders=True)],
    }


def texture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(1, 3, h, w)
    for s in (4, 8, 16, 32):
        n = torch.rand(1, 3, h // s + 2, w // s + 2, generator=g)
        out += F.interpolate(n, size=(h, w), mode="bicubic", align_corners=False) / 4
    return out[0].permute(1, 2, 0).clamp(0, 1).contiguous()


def measure(path: list, frames: int, h: int, w: int, padding: str, d_s: float, d_t: float, up: int = 4):
    """Per-pair camera error (px/frame at h*up x w*up) of the low-passed layout, and the requested motion."""
    m = camera.path_matrices(path, frames, aspect=w / h)
    layout = camera.render(texture(4 * h, 4 * w), m, h, w)  # [T, h, w, 3], the "latent" video
    x = layout.permute(0, 3, 1, 2)  # [T, C, H, W]: FrameInit's 4-D layout
    mean = x.mean()
    low = spectral.lowpass(x - mean, d_s=d_s, d_t=d_t, temporal_padding=padding) + mean
    video = F.interpolate(low, scale_factor=up, mode="bicubic", align_corners=False).clamp(0, 1)
    res = metrics.measure(video.permute(0, 2, 3, 1).contiguous(), path_matrices=m)
    return res.error_pairs, res.requested_motion_pairs


def row(name, err, req):
    mid = err[1:-1].mean()
    return (f"  {name:22s} first {err[0]:6.3f} (of {req[0]:6.3f})   last {err[-1]:6.3f} (of {req[-1]:6.3f})   "
            f"middle {mid:6.3f} (of {req[1:-1].mean():6.3f})")


def cutoffs() -> int:
    """Mean camera error over all pairs, 25 frames, ease_in_out, mirror: D0 0.25, d_s 0.25 + d_t 0.5, D0 0.5."""
    print("svd_camera_* layouts (25 frames, latent 72x128), ease_in_out, mirror: mean camera error px/frame")
    for move, path in moves("ease_in_out").items():
        for d in ((0.25, 0.25), (0.25, 0.5), (0.5, 0.5)):
            err, req = measure(path, 25, 72, 128, "mirror", *d)
            print(f"  {move:12s} d_s {d[0]} d_t {d[1]}: {err.mean():.3f} (of {req.mean():.3f})", flush=True)
    return 0


def main() -> int:
    if "--cutoffs" in sys.argv:
        return cutoffs()
    settings = [("svd_camera_* (25 frames, latent 72x128)", 25, 72, 128),
                ("consisti2v_camera (16 frames, latent 32x32)", 16, 32, 32)]
    for easing in ("linear", "ease_in_out"):
        for title, frames, h, w in settings:
            print(f"\n{title}, easing {easing}, D0 0.5: camera error px/frame (requested motion)")
            for move, path in moves(easing).items():
                for padding in spectral.TEMPORAL_PADDINGS:
                    err, req = measure(path, frames, h, w, padding, 0.5, 0.5)
                    print(row(f"{move} {padding}", err, req), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
