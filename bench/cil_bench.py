"""Analytic-Init cost, as ratios measured side by side in one process (`make bench`).

For the latents of `bench/noise_bench.py` (4-D frames-as-batch 16x4x64x64 on the tiny SVD-style UNet, 5-D
1x16x21x60x104 on the tiny Wan model), times what the Analytic-Init node adds to a sampling run:
  - SIGMAS: placing M on the model's scale and building the schedule from σ_M;
  - NOISE: resampling released-shaped statistics (E[x0] [C, 16, 40, 64]) to the latent, drawing ε and solving for
    the NOISE in ComfyUI's noise scaling (what SamplerCustomAdvanced calls);
against torch.randn of the same shape (ComfyUI's RandomNoise) and one sampler step of the tiny model at cfg 1.
Timings interleave the contenders (A B A B ...) and report medians; quote the ratios, not seconds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.noise_bench import MODEL_FOR, SHAPES, interleaved, one_step, tiny_setup  # noqa: E402
from kernels import analytic_init as ai  # noqa: E402
from kernels.noise_objects import StartState  # noqa: E402
from scripts.comfy_locate import put_comfyui_on_path_cpu  # noqa: E402

M_FOR = {"svd": 100.0, "wan": 940.0}  # SVD: official sigma M; Wan: a timestep on its flow schedule


def bench(layout: str, repeats: int, steps: int) -> None:
    shape = SHAPES[layout]
    kind = MODEL_FOR[layout]
    model, positive, negative, latent = tiny_setup(layout)
    ms = model.get_model_object("model_sampling")
    process_in = model.get_model_object("latent_format").process_in
    channels = shape[1]
    released = torch.randn(channels, 16, 40, 64, generator=torch.Generator().manual_seed(0))  # DC-512's E shape
    stats = ai.Statistics(released, 0.808)
    M = M_FOR[kind]

    def sigmas_only():
        return ai.start_sigmas(ms, M, steps)

    sigmas = sigmas_only()
    start = StartState(ms, process_in, float(sigmas[0]), float(ms.sigma_max))
    noise = ai.AnalyticInitNoise(1, start, stats)

    def node():  # what the node + SamplerCustomAdvanced's generate_noise do together
        sig = ai.start_sigmas(ms, M, steps)
        n = ai.AnalyticInitNoise(1, StartState(ms, process_in, float(sig[0]), float(ms.sigma_max)), stats)
        return n.generate_noise(latent)

    eps = torch.randn(shape)
    med = interleaved({
        "randn": lambda: torch.randn(shape),
        "sigmas": sigmas_only,
        "noise": lambda: noise.generate_noise(latent),
        "node_total": node,
        "unet_step": one_step(model, positive, negative, latent, eps, sigmas),
    }, repeats)
    print(f"\n{layout} latent {shape}, tiny {kind}, M = {M:g}, {steps} steps (medians of {repeats}, interleaved)")
    for name, t in med.items():
        print(f"  {name:12s} {t * 1e3:9.2f} ms")
    for name in ("sigmas", "noise", "node_total"):
        print(f"  {name:10s} / randn = {med[name] / med['randn']:7.2f}x"
              f"   / one tiny {kind} step = {med[name] / med['unet_step']:.2e}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--layout", choices=[*SHAPES, "both"], default="both")
    args = parser.parse_args()
    root = put_comfyui_on_path_cpu("the tiny-model forward")
    if root is None:
        return 2
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, ComfyUI {root}")
    for layout in (SHAPES if args.layout == "both" else [args.layout]):
        bench(layout, args.repeats, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
