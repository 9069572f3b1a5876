"""Cost of our NOISE objects' generate_noise on today's video latents, measured side by side in one run.

Latents (ComfyUI 0.8 shapes):
  wan21: Wan 2.1 14B, 81 frames 480p (832x480): [1, 16, 21, 60, 104], all zero (concat family: no image in it).
  ltx2:  LTX-2, 121 frames 768x512 at 25 fps: NestedTensor(video [1, 128, 16, 16, 24] with the encoded image in
         latent frame 0 under noise_mask 0, audio [1, 8, 121, 16]: 8 channels x 16 frequency bins, 25 latents/s from
         the audio VAE's 16 kHz / hop 160 / 4), a nested noise mask (video frame 0 held, audio free).
Model handles: core's ModelSamplingDiscreteFlow + CONST with the family's shift (Wan 8.0, LTX 2.37) and the
family's latent format process_in (Wan21 mean/std, LTXV identity), no model.
Contenders: torch.randn of the same shape(s); core's RandomNoise.generate_noise; PYoCo mixed; FrameInit (static
layout, pyoco_mixed, Gaussian filter, tau = timestep 850); Analytic-Init (E[x0] from the layout, variance 0.8, M =
timestep 900).
Time: interleaved medians (A B C ... repeated). Memory: each contender runs once in a fresh spawned process after
its inputs are built and one warm call (glibc's mmap threshold fixed at 256 KiB, so freed buffers leave the RSS);
the peak RSS is reset there (/proc/self/clear_refs 5) and its growth over the RSS before the second call is reported (torch's CPU allocations bypass tracemalloc), so the output tensor itself is included. Quote ratios: to randn and to the
latent's size in bytes (all parts).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.comfy_locate import put_comfyui_on_path_cpu

CASES = ("wan21", "ltx2")
CONTENDERS = ("randn", "core_random", "pyoco", "frameinit", "analytic")


def model_sampling(shift):
    import comfy.model_sampling as cms

    class Sampling(cms.ModelSamplingDiscreteFlow, cms.CONST):
        pass

    ms = Sampling()
    ms.set_parameters(shift=shift)
    return ms


def setup(case):
    """(input LATENT dict, {contender: callable}, latent bytes)."""
    import comfy.latent_formats as lf

    from kernels import analytic_init as ai
    from kernels.noise_objects import FrameInitNoise, PYoCoNoise, StartState

    g = torch.Generator().manual_seed(0)
    if case == "wan21":
        ms, fmt = model_sampling(8.0), lf.Wan21()
        video = torch.zeros(1, 16, 21, 60, 104)
        latent = {"samples": video}
        parts = [video]
    else:
        import comfy.nested_tensor as nt

        ms, fmt = model_sampling(2.37), lf.LTXAV()
        video = torch.zeros(1, 128, 16, 16, 24)
        video[:, :, 0] = torch.randn(1, 128, 16, 24, generator=g)
        audio = torch.zeros(1, 8, 121, 16)
        mask = torch.ones(1, 1, 16, 1, 1)
        mask[:, :, 0] = 0.0
        latent = {"samples": nt.NestedTensor((video, audio)),
                  "noise_mask": nt.NestedTensor((mask, torch.ones_like(audio)))}
        parts = [video, audio]
    layout = torch.randn(video.shape[:2] + (1,) + video.shape[3:], generator=g).repeat(1, 1, video.shape[2], 1, 1)
    sigma_max = float(ms.sigma_max)
    start = StartState(ms, fmt.process_in, sigma_max, sigma_max)
    frameinit = FrameInitNoise(seed=1, layout=layout, start=start, sigma_tau=float(ms.sigma(torch.tensor(850.0))))
    sigma_m = float(ms.sigma(torch.tensor(900.0)))
    stats = ai.statistics_from_latent(layout, 0.8)
    analytic = ai.AnalyticInitNoise(1, StartState(ms, fmt.process_in, sigma_m, sigma_max), stats)
    pyoco = PYoCoNoise(seed=1)

    import comfy.sample

    def core_random():
        return comfy.sample.prepare_noise(latent["samples"], 1)

    fns = {
        "randn": lambda: [torch.randn(p.shape) for p in parts],
        "core_random": core_random,
        "pyoco": lambda: pyoco.generate_noise(latent),
        "frameinit": lambda: frameinit.generate_noise(latent),
        "analytic": lambda: analytic.generate_noise(latent),
    }
    return latent, fns, sum(p.numel() * p.element_size() for p in parts)


def interleaved(fns, repeats):
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _status_kib(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status")


def _peak_child(case, name, threads, queue):
    put_comfyui_on_path_cpu("core's model sampling")
    torch.set_num_threads(threads)
    _, fns, _ = setup(case)
    fns[name]()  # warm (caches such as FrameInit's filter), as in the timings; freed memory goes back to the OS
    try:  # reset the peak RSS (VmHWM) to the current RSS (Linux >= 4.0), so the imports' peak does not hide ours
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        queue.put(None)
        return
    before = _status_kib("VmRSS")
    out = fns[name]()
    peak = _status_kib("VmHWM")
    del out
    queue.put((peak - before) * 1024)


def peak_bytes(case, name, threads):
    ctx = mp.get_context("spawn")
    # glibc: a fixed mmap threshold (no dynamic raise) makes every large buffer its own mapping, touched when used
    # and unmapped when freed, so RSS follows torch's live CPU memory
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(256 * 1024)
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_child, args=(case, name, threads, queue))
    proc.start()
    value = queue.get(timeout=600)
    proc.join()
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--case", choices=[*CASES, "both"], default="both")
    args = parser.parse_args()
    root = put_comfyui_on_path_cpu("core's model sampling and NestedTensor")
    if root is None:
        return 2
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, threads {threads}, ComfyUI {root}")
    for case in (CASES if args.case == "both" else [args.case]):
        latent, fns, nbytes = setup(case)
        shapes = [tuple(p.shape) for p in (latent["samples"].unbind() if case == "ltx2" else [latent["samples"]])]
        med = interleaved(fns, args.repeats)
        peaks = {name: peak_bytes(case, name, threads) for name in fns}
        print(f"\n{case}: parts {shapes}, {nbytes / 2**20:.2f} MiB (medians of {args.repeats}, interleaved)")
        print(f"  {'contender':12s} {'ms':>9s} {'x randn':>8s} {'peak MiB':>9s} {'x randn':>8s} {'x latent':>9s}")
        for name in fns:
            mem = ("n/a (no /proc/self/clear_refs)" if peaks[name] is None else
                   f"{peaks[name] / 2**20:9.2f} {peaks[name] / max(peaks['randn'] or 1, 1):8.2f} "
                   f"{peaks[name] / nbytes:9.2f}")
            print(f"  {name:12s} {med[name] * 1e3:9.2f} {med[name] / med['randn']:8.2f} {mem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
