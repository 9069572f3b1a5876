"""Peak memory of ConsistI2V Long Video against the number of chunks (`python bench/longvideo_bench.py`).

Each chunk count runs in a fresh subprocess: boot ComfyUI in-process (CPU), build the tiny SVD model, run the
node twice with chunks=2 (loads and warms everything), then with N chunks, and report the process's peak RSS
(ru_maxrss) before and after, plus the size of the returned video. Printed as ratios to 2 chunks: the peak
should stay flat (finished chunks go to one preallocated CPU tensor; nothing per chunk is kept), growing only
by the video itself.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(chunks: int, frames: int, size: int, steps: int) -> dict:
    import torch

    from scripts.comfy_inprocess import InProcessComfy
    from scripts.comfy_locate import find_comfyui
    from tests.support import tiny_models  # before boot: ComfyUI's own tests/ package would shadow ours

    InProcessComfy(find_comfyui(), Path(tempfile.mkdtemp())).boot()
    import comfy.samplers
    import nodes

    model = tiny_models.build_tiny_model("svd")
    positive, negative, latent = tiny_models.tiny_conditioning("svd", frames=frames, h=size, w=size)
    sigmas = tiny_models.tiny_sigmas(model, steps=steps).float()
    node = nodes.NODE_CLASS_MAPPINGS["ConsistI2VLongVideo"]
    args = dict(model=model, positive=positive, negative=negative, latent=latent, sigmas=sigmas,
                sampler=comfy.samplers.sampler_object("euler"), cfg=2.0, seed=0, overlap=1, noise_timestep=850,
                timestep_scale="model_schedule", filter="gaussian", spatial_cutoff=0.25, temporal_cutoff=0.25,
                butterworth_order=4, noise_type="pyoco_mixed", pyoco_alpha=1.0, anchor_colour=True)
    with torch.inference_mode():
        for _ in range(2):  # warm up: model load, allocator arenas, the chained (k > 0) path
            node.execute(chunks=2, **args)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        video = node.execute(chunks=chunks, **args).args[0]["samples"]
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"chunks": chunks, "frames": video.shape[0], "peak_before_kib": before, "peak_kib": after,
            "video_kib": video.numel() * video.element_size() / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--frames", type=int, default=8, help="latent frames per chunk")
    parser.add_argument("--size", type=int, default=32, help="latent height = width")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child is not None:
        print(json.dumps(child(opts.child, opts.frames, opts.size, opts.steps)))
        return
    rows = []
    for n in opts.chunks:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--frames", str(opts.frames),
                              "--size", str(opts.size), "--steps", str(opts.steps)],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]
    print(f"tiny SVD, chunk latent {opts.frames}x4x{opts.size}x{opts.size}, {opts.steps} steps, CPU")
    print(f"{'chunks':>6} {'frames':>6} {'peak RSS ratio':>15} {'peak MiB':>9} {'growth MiB':>11} {'video MiB':>10}")
    for r in rows:
        growth = (r["peak_kib"] - r["peak_before_kib"]) / 1024
        print(f"{r['chunks']:>6} {r['frames']:>6} {r['peak_kib'] / base['peak_kib']:>15.3f} "
              f"{r['peak_kib'] / 1024:>9.1f} {growth:>11.1f} {r['video_kib'] / 1024:>10.2f}")
    print("peak RSS ratio: whole-process peak vs. the first row; growth: how far the N-chunk run raised the peak "
          "over the warm-up runs.")


if __name__ == "__main__":
    main()
