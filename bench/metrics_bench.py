"""Video-metrics cost: 16 frames at 512x320 against VAE-decoding the same video with the tiny test VAE.

The video is a camera layout (pan + zoom) of a random texture, so the flow has real work to do. Contenders are
timed interleaved in one process (``interleaved`` from noise_bench) and reported as medians; quote the ratios.
Run: .venv/bin/python bench/metrics_bench.py [--repeats N]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.noise_bench import interleaved  # noqa: E402
from kernels import camera, flow, metrics  # noqa: E402
from scripts.comfy_locate import put_comfyui_on_path_cpu  # noqa: E402
from tests.support.tiny_models import build_tiny_vae  # noqa: E402

FRAMES, WIDTH, HEIGHT = 16, 512, 320


def video() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    tex = torch.zeros(1, 3, HEIGHT, WIDTH)
    for s in (4, 8, 16, 32):
        tex += torch.nn.functional.interpolate(torch.rand(1, 3, HEIGHT // s + 2, WIDTH // s + 2, generator=g),
                                               size=(HEIGHT, WIDTH), mode="bicubic", align_corners=False) / 4
    path = camera.path_matrices([camera.Move("pan", angle=20, distance=0.2), camera.Move("zoom", scale=1.3)],
                                FRAMES, aspect=WIDTH / HEIGHT)
    return camera.render(tex[0].permute(1, 2, 0).clamp(0, 1), path, HEIGHT, WIDTH), path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if put_comfyui_on_path_cpu("the tiny VAE") is None:
        return 2
    vae = build_tiny_vae()
    frames, path = video()
    latent = vae.encode(frames)  # [16, 4, 40, 64]: what VAE Decode gets from the sampler
    ref = frames[:1]
    gray = flow.gray_u8(frames)
    fns = {
        "vae_decode": lambda: vae.decode(latent),
        "metrics_all": lambda: metrics.measure(frames, ref, 6.0, path),
        "metrics_fast": lambda: metrics.measure(frames, ref, 6.0, path, preset="fast"),
        "dis_flow": lambda: flow.dis_flow(gray),
        "ssim_psnr": lambda: (metrics.ssim_per_frame(frames, ref[0]), metrics.psnr_per_frame(frames, ref[0])),
    }
    flows = flow.dis_flow(gray)
    fns["camera_fit"] = lambda: metrics.fit_similarity(flows)
    med = interleaved(fns, args.repeats)
    m = metrics.measure(frames, ref, 6.0, path)
    print(f"{FRAMES} frames at {WIDTH}x{HEIGHT}, medians of {args.repeats} (interleaved), torch threads "
          f"{torch.get_num_threads()}, latent {tuple(latent.shape)}")
    for name, t in med.items():
        ratio = "" if name == "vae_decode" else f"   / tiny-VAE decode = {t / med['vae_decode']:.2f}x"
        print(f"  {name:13s} {t * 1e3:9.1f} ms{ratio}")
    print(f"  sanity: camera error {m.camera_error:.4f} px/frame, motion {m.motion:.2f} px/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
