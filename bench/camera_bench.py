"""Camera layout generation cost: 16 frames at 512x512 against VAE-encoding the same batch (tiny VAE).

Interleaved medians in one process; quote the ratios. Run: .venv/bin/python bench/camera_bench.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernels import camera  # noqa: E402
from scripts.comfy_locate import put_comfyui_on_path_cpu  # noqa: E402
from tests.support.tiny_models import build_tiny_vae  # noqa: E402

FRAMES, SIZE = 16, 512
MOVES = {
    "pan": [camera.Move("pan", angle=30, distance=0.3)],
    "zoom_out": [camera.Move("zoom", scale=0.6)],
    "roll": [camera.Move("roll", angle=20)],
    "perspective": [camera.Move("perspective", corners=((-0.9, -0.9), (0.9, -1), (1, 1), (-1, 0.9)))],
}


def main(repeats: int = 5) -> int:
    root = put_comfyui_on_path_cpu("the tiny VAE")
    if root is None:
        return 2
    vae = build_tiny_vae()
    image = torch.rand(SIZE, SIZE, 3, generator=torch.Generator().manual_seed(0))
    batch = image[None].repeat(FRAMES, 1, 1, 1)
    fns = {name: (lambda m=m: camera.render(image, camera.path_matrices(m, FRAMES), SIZE, SIZE))
           for name, m in MOVES.items()}
    fns["vae_encode"] = lambda: vae.encode(batch)
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{FRAMES} frames at {SIZE}x{SIZE}, medians of {repeats} (interleaved), torch threads "
          f"{torch.get_num_threads()}")
    for name, t in med.items():
        ratio = "" if name == "vae_encode" else f"   / tiny-VAE encode = {t / med['vae_encode']:.3f}x"
        print(f"  {name:12s} {t * 1e3:9.1f} ms{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
