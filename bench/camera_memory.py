"""Camera Layout peak memory as a multiple of its output, each case in a fresh subprocess (ru_maxrss).

What is measured is the node's work after its inputs exist: the render plus the node's clamp to 0..1 (ours in
place; ``--old`` with the old node's copying ``.clamp``). The source image has the output's size (no prefilter).

Run: .venv/bin/python bench/camera_memory.py [--size 2048] [--frames 8] [--old /tmp/camera_old.py]
(``git show <commit>:kernels/camera.py > /tmp/camera_old.py`` gives an older kernel to compare with.)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MOVES = {"pan": ("pan", {"angle": 30.0, "distance": 0.3}),  # supersample 1
         "zoom_out": ("zoom", {"scale": 0.5, "avoid_borders": False})}  # views shrink the source: supersample 2


def _kernel(path: str | None):
    if path is None:
        sys.path.insert(0, str(ROOT))
        from kernels import camera
        return camera
    spec = importlib.util.spec_from_file_location("camera_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def measure(kernel: str | None, move: str, size: int, frames: int) -> dict:
    """One case, in this process: peak RSS growth of render + clamp over the output's bytes."""
    import torch

    camera = _kernel(kernel)
    torch.set_num_threads(1)
    image = torch.rand(size, size, 3, generator=torch.Generator().manual_seed(0))
    kind, args = MOVES[move]
    matrices = camera.path_matrices([camera.Move(kind, **args)], frames)
    camera.render(image[:16, :16], matrices, 16, 16)  # warm up torch's kernels outside the measurement
    base = _rss_bytes()
    out = camera.render(image, matrices, size, size)
    out = out.clamp(0, 1) if kernel else out.clamp_(0, 1)
    peak = _rss_bytes()
    output = out.numel() * out.element_size()
    return {"move": move, "size": size, "frames": frames, "output_gib": output / 2 ** 30,
            "peak_over_output": (peak - base) / output}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--old", help="an older kernels/camera.py to measure instead of ours")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.old, args.one, args.size, args.frames)))
        return 0
    label = f"old ({args.old})" if args.old else "ours"
    for move in MOVES:
        cmd = [sys.executable, __file__, "--one", move, "--size", str(args.size), "--frames", str(args.frames)]
        cmd += ["--old", args.old] if args.old else []
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(f"{label:>24}  {move:>8}  {r['frames']} x {r['size']}x{r['size']}  output {r['output_gib']:.3f} GiB"
              f"  peak {r['peak_over_output']:.2f}x output")
    return 0


if __name__ == "__main__":
    sys.exit(main())
