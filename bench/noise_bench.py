"""Noise-generation cost, as ratios measured side by side in one process (`make bench`).

For a 4-D frames-as-batch latent (16x4x64x64) and a 5-D video latent (1x16x21x60x104):
  - PYoCo mixed noise and FrameInit NOISE (draw + FFT mix + start-state solve) against torch.randn of the
    same shape and against one forward step of the tiny test model (SVD-style UNet for 4-D, Wan for 5-D);
  - our FrameInit mix (one rfft pair) against the official algorithm's shape (two full FFTs, fftshift,
    mix, inverse shift, inverse FFT).
Timings interleave the contenders (A B A B ...) and report medians; quote the ratios, not seconds.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernels.noise_objects import FrameInitNoise, PYoCoNoise, StartState  # noqa: E402
from kernels.spectral import _applied_filter, frameinit_mix  # noqa: E402
from scripts.comfy_locate import put_comfyui_on_path_cpu  # noqa: E402
from tests.support.tiny_models import build_tiny_model, tiny_conditioning  # noqa: E402

SHAPES = {"4d": (16, 4, 64, 64), "5d": (1, 16, 21, 60, 104)}
MODEL_FOR = {"4d": "svd", "5d": "wan"}


def official_style_mix(noised, noise, dims):
    """The reference algorithm's structure: FFT both, shift, mix, unshift, inverse FFT, real part."""
    size = tuple(noised.shape[d] for d in dims)
    shape = [1] * noised.ndim
    for axis, d in enumerate(dims):
        shape[d] = size[axis]
    lpf = torch.fft.fftshift(_applied_filter(size, "gaussian", 0.25, 0.25, 4, False, "cpu", False)).reshape(shape)
    x = torch.fft.fftshift(torch.fft.fftn(noised, dim=dims), dim=dims)
    n = torch.fft.fftshift(torch.fft.fftn(noise, dim=dims), dim=dims)
    mixed = x * lpf + n * (1 - lpf)
    return torch.fft.ifftn(torch.fft.ifftshift(mixed, dim=dims), dim=dims).real


def interleaved(fns: dict, repeats: int) -> dict:
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up (filter cache, allocator)
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def tiny_setup(layout: str):
    """The tiny model for a layout and its (positive, negative, latent) at the layout's shape."""
    shape = SHAPES[layout]
    frames = shape[0] if len(shape) == 4 else shape[2]
    model = build_tiny_model(MODEL_FOR[layout])
    positive, negative, latent = tiny_conditioning(MODEL_FOR[layout], frames=frames, h=shape[-2], w=shape[-1])
    assert tuple(latent["samples"].shape) == shape, (latent["samples"].shape, shape)
    return model, positive, negative, latent


def one_step(model, positive, negative, latent, noise, sigmas):
    """A callable running one sampler step at cfg 1 = one model forward (plus ComfyUI's per-call setup)."""
    import comfy.sample
    import comfy.samplers

    sampler = comfy.samplers.sampler_object("euler")
    return lambda: comfy.sample.sample_custom(model, noise, 1.0, sampler, sigmas[:2], positive, negative,
                                              latent["samples"], disable_pbar=True)


def bench(layout: str, repeats: int) -> None:
    import comfy.samplers

    shape = SHAPES[layout]
    dims = (0, 2, 3) if len(shape) == 4 else (2, 3, 4)
    model, positive, negative, latent = tiny_setup(layout)
    ms = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "simple", 20).float()
    start = StartState(ms, model.get_model_object("latent_format").process_in, float(sigmas[0]),
                       float(ms.sigma_max))
    layout_latent = torch.randn(shape)
    frameinit = FrameInitNoise(seed=1, layout=layout_latent, start=start, sigma_tau=float(ms.percent_to_sigma(0.15)))
    pyoco = PYoCoNoise(seed=1)
    noised, noise = torch.randn(shape), torch.randn(shape)
    med = interleaved({
        "randn": lambda: torch.randn(shape),
        "pyoco": lambda: pyoco.generate_noise(latent),
        "frameinit": lambda: frameinit.generate_noise(latent),
        "mix_ours": lambda: frameinit_mix(noised, noise),
        "mix_official_style": lambda: official_style_mix(noised, noise, dims),
        "unet_step": one_step(model, positive, negative, latent, noise, sigmas),
    }, repeats)
    print(f"\n{layout} latent {shape} (medians of {repeats}, interleaved)")
    for name, t in med.items():
        print(f"  {name:20s} {t * 1e3:9.2f} ms")
    for name in ("pyoco", "frameinit"):
        print(f"  {name:10s} / randn     = {med[name] / med['randn']:7.2f}x"
              f"   / tiny {MODEL_FOR[layout]} forward = {med[name] / med['unet_step']:.1e}x")
    print(f"  FrameInit mix, ours / official-style = {med['mix_ours'] / med['mix_official_style']:.3f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--layout", choices=[*SHAPES, "both"], default="both")
    args = parser.parse_args()
    root = put_comfyui_on_path_cpu("the tiny-model forward")
    if root is None:
        return 2
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, ComfyUI {root}")
    for layout in (SHAPES if args.layout == "both" else [args.layout]):
        bench(layout, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
