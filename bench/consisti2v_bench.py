"""ConsistI2V UNet: our forward against the official implementation, and the first-frame patches' overhead.

Not run by the tests. Needs a checkout of TIGER-AI-Lab/ConsistI2V and a Python environment that runs it (diffusers
0.21.2, huggingface_hub<0.26, einops, beartype, safetensors, torch >= 2); ComfyUI is found as the tests find it.

    .venv/bin/python bench/consisti2v_bench.py --official-checkout DIR --official-python VENV/bin/python

1. Parity and speed (default: SD 2.1 channels, 8 frames including the clean conditioning one, 32x32 latent, one
   video, fp32, CPU). A child process in the official environment builds the official UNet with random weights
   (default init after a fixed seed, norm affines perturbed, every temporal ``alpha`` drawn from (0.15, 0.85) and
   ``frame_stride_embedding.linear_2`` randomised, so that every temporal path runs), writes config.json +
   diffusion_pytorch_model.safetensors (``save_pretrained``) and the inputs, and runs its forward. This process
   loads the same files through our loader (``load_consisti2v``) and runs our raw UNet on the same inputs. The two
   timed loops alternate, one forward each in turn (official, ours, official, ours, ...), so machine drift hits
   both; printed: wall and CPU seconds (median, minimum) and ours/official, the per-pair wall ratios, the output
   difference, and each side's activation peak (resident memory during its first forward above the level before).
2. Patch overhead on our model (default 16 frames, 16x16 latent): the four settings of
   ``transformer_options["consisti2v_attention"]`` (both first-frame patches on = the default, spatial off,
   temporal window off, both off), in a fresh process with the same weights; step time (interleaved rounds) and
   activation peak, as ratios to "both off" (plain attention).

Quote the ratios, not seconds. On a shared CPU other processes' load slows single calls (the minimum and CPU
seconds suffer least from it). Peaks are Linux resident-set figures (VmHWM reset through /proc/self/clear_refs
after malloc_trim), so they include allocator slack; n/a elsewhere. The sd21 preset keeps both models resident
(about 12 GB of RAM, 5 GB of disk in the work folder); a default run takes about 10 minutes on 2 idle cores.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import inspect
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRESETS = {
    # SD 2.1-base channels, as the released ConsistI2V UNet (consisti2v.md §1.1)
    "sd21": {"block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "attention_head_dim": [5, 10, 20, 20],
             "cross_attention_dim": 1024, "norm_num_groups": 32,
             "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
             "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3},
    # smoke test of the script itself (seconds)
    "tiny": {"block_out_channels": [32, 64], "layers_per_block": 1, "attention_head_dim": [2, 4],
             "cross_attention_dim": 32, "norm_num_groups": 32,
             "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
             "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"]},
}
CONSISTI2V_FLAGS = {"use_linear_projection": True, "n_temp_heads": 8, "use_temporal": True,
                    "first_frame_condition_mode": "concat", "augment_temporal_attention": True,
                    "temp_pos_embedding": "rotary", "use_frame_stride_condition": True}
PATCH_SETTINGS = {  # name -> (spatial, temporal_window)
    "both on (default)": (True, True),
    "spatial off": (False, True),
    "temporal_window off": (True, False),
    "both off": (False, False),
}
TIMESTEP, FRAME_STRIDE, TEXT_TOKENS = 500, 3, 77
MARK = "@@bench "  # prefix of the protocol lines a child writes to stdout

# ---------------------------------------------------------------------------------------------------------------
# Peak resident memory of one call (Linux): give freed heap back, reset the high-water mark, run, read it.


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _status_kib(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def release():
    """Collect garbage and hand freed heap back to the system (glibc)."""
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def peak_of(fn):
    """(result, KiB the resident set rose above its level before ``fn``, or None where it cannot be measured)."""
    release()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set
        before = _status_kib("VmRSS")
    except OSError:
        before = None
    result = fn()
    after = _status_kib("VmHWM")
    return result, (after - before if before is not None and after is not None else None)


# ---------------------------------------------------------------------------------------------------------------
# The official side: this source runs in the official environment (it imports nothing from this repository).

# the start of every official child script: arguments, the checkout on sys.path, torch, the measuring helpers
CHILD_PREAMBLE = r'''from __future__ import annotations
import ctypes, gc, json, math, re, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
sys.path.insert(0, args["checkout"])
import torch
from safetensors.torch import save_file
torch.set_num_threads(args["threads"])
MARK = args["mark"]
''' + "\n".join(inspect.getsource(f) for f in (_libc, _status_kib, release, timed, peak_of)) + r'''

def emit(**kw):
    print(MARK + json.dumps(kw), flush=True)
'''

OFFICIAL_CHILD = CHILD_PREAMBLE + r'''
import diffusers
from consisti2v.models.videoldm_unet import VideoLDMUNet3DConditionModel

out = Path(args["out"])
torch.manual_seed(args["seed"])
t0 = time.perf_counter()
model = VideoLDMUNet3DConditionModel(**args["config"]).eval()
gen = torch.Generator().manual_seed(args["seed"] + 1)
with torch.no_grad():
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.GroupNorm, torch.nn.LayerNorm)) and module.weight is not None:
            module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape, generator=gen))
            module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
    for name, p in model.named_parameters():
        if name.endswith(".alpha"):
            p.copy_(0.15 + 0.7 * torch.rand(p.shape, generator=gen))
    lin = model.frame_stride_embedding.linear_2
    bound = 1 / math.sqrt(lin.weight.shape[1])
    for p in (lin.weight, lin.bias):
        p.copy_((2 * torch.rand(p.shape, generator=gen) - 1) * bound)
model.save_pretrained(str(out), safe_serialization=True)
build_s = time.perf_counter() - t0

b, f, s, cfg = args["batch"], args["frames"], args["latent"], args["config"]
gen = torch.Generator().manual_seed(args["seed"] + 2)
inputs = {
    "sample": torch.randn(b, cfg["in_channels"], f - 1, s, s, generator=gen),
    "first_frame_latents": torch.randn(b, cfg["in_channels"], 1, s, s, generator=gen),
    "encoder_hidden_states": torch.randn(b, args["tokens"], cfg["cross_attention_dim"], generator=gen),
}
save_file(inputs, str(out / "inputs.safetensors"))
emit(event="saved", build_s=build_s)
timestep = torch.tensor(args["timestep"], dtype=torch.int64)

def forward():
    with torch.inference_mode():
        return model(inputs["sample"], timestep, encoder_hidden_states=inputs["encoder_hidden_states"],
                     first_frame_latents=inputs["first_frame_latents"], frame_stride=args["frame_stride"]).sample

t0 = time.perf_counter()
ref, peak = peak_of(forward)
first_s = time.perf_counter() - t0
save_file({"out": ref.contiguous()}, str(out / "official_out.safetensors"))
emit(event="ready", first_s=first_s, peak_kib=peak, torch=torch.__version__,
     diffusers=diffusers.__version__, python=sys.version.split()[0], threads=torch.get_num_threads(),
     params=sum(p.numel() for p in model.parameters()))
for line in sys.stdin:
    if line.strip() != "run":
        break
    wall, cpu = timed(forward)
    emit(event="time", wall=wall, cpu=cpu)
'''


class OfficialChild:
    """The official UNet in its own environment, driven one forward at a time over stdin/stdout."""

    def __init__(self, python: str, checkout: Path, work: Path, opts, config: dict):
        script = work / "official_child.py"
        script.write_text(OFFICIAL_CHILD)
        payload = {"checkout": str(checkout), "out": str(work), "threads": opts.threads, "seed": opts.seed,
                   "config": config, "batch": opts.batch, "frames": opts.frames, "latent": opts.latent,
                   "tokens": TEXT_TOKENS, "timestep": TIMESTEP, "frame_stride": FRAME_STRIDE, "mark": MARK}
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": str(opts.threads)}
        self.log = open(work / "official_child.log", "w")
        self.proc = subprocess.Popen([python, str(script), json.dumps(payload)], cwd=checkout, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)

    def read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
        self.proc.wait()
        raise RuntimeError(f"the official child exited ({self.proc.returncode}); see {self.log.name}")

    def run_once(self) -> tuple[float, float]:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        msg = self.read()
        return msg["wall"], msg["cpu"]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=120)
        self.log.close()


# ---------------------------------------------------------------------------------------------------------------
# Our side.


def boot_comfy(work: Path):
    """ComfyUI in-process on CPU (as the tests do; its folders under ``work``); returns the pack's
    consisti2v.model module, torch and the ComfyUI root."""
    import torch

    from scripts.comfy_inprocess import InProcessComfy
    from scripts.comfy_locate import find_comfyui
    from tests.support.node_calls import pack_module  # before boot: ComfyUI's tests/ would shadow ours

    root = find_comfyui()
    if root is None:
        raise SystemExit("ComfyUI not found (set COMFYUI_PATH)")
    logging.disable(logging.WARNING)  # ComfyUI's own optional nodes failing to import (no torchaudio) is noise here
    try:
        InProcessComfy(root, Path(tempfile.mkdtemp(prefix="comfy_", dir=work))).boot()
    finally:
        logging.disable(logging.NOTSET)
    return pack_module("consisti2v.model"), torch, root


def our_forward(unet, torch, sample, first, text, attention=None):
    """Our raw UNet on official-layout inputs: sample [B,4,F-1,h,w], first [B,4,1,h,w], text [B,n,d]."""
    b, c, n, h, w = sample.shape
    x = sample.permute(0, 2, 1, 3, 4).reshape(b * n, c, h, w)
    options = {} if attention is None else {"consisti2v_attention": attention}
    with torch.inference_mode():
        out = unet(x, torch.full((b * n,), float(TIMESTEP)), context=text.repeat_interleave(n, 0),
                   transformer_options=options, first_frame=first[:, :, 0], num_video_frames=n,
                   frame_stride=torch.full((b * n,), float(FRAME_STRIDE)))
    return out.reshape(b, n, c, h, w).permute(0, 2, 1, 3, 4)


def load_ours(pkg, torch, work: Path):
    patcher = pkg.load_consisti2v(work / "diffusion_pytorch_model.safetensors", dtype=torch.float32)
    return patcher, patcher.model.diffusion_model.eval()


def mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.0f}"


def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.3f}"


def parity_and_speed(opts, work: Path, config: dict) -> None:
    child = OfficialChild(opts.official_python, opts.official_checkout.resolve(), work, opts, config)
    try:
        print(f"official child: building random {opts.preset} weights ...", flush=True)
        pkg, torch, comfy_root = boot_comfy(work)  # meanwhile
        torch.set_num_threads(opts.threads)
        saved = child.read()
        print(f"  built + saved in {saved['build_s']:.1f} s; the official child runs its first forward while we "
              "load the same files", flush=True)
        from safetensors.torch import load_file

        patcher, unet = load_ours(pkg, torch, work)
        ready = child.read()
        print(f"  official: {ready['params'] / 1e6:.1f} M params; its environment: python {ready['python']}, torch "
              f"{ready['torch']}, diffusers {ready['diffusers']}, threads {ready['threads']}", flush=True)
        inputs = load_file(str(work / "inputs.safetensors"))
        ref = load_file(str(work / "official_out.safetensors"))["out"]
        call = lambda: our_forward(unet, torch, inputs["sample"], inputs["first_frame_latents"],  # noqa: E731
                                   inputs["encoder_hidden_states"])
        t0 = time.perf_counter()
        out, our_peak = peak_of(call)
        our_first = time.perf_counter() - t0
        diff = (out - ref).abs().max().item()
        scale = ref.abs().max().item()
        print(f"  ours: torch {torch.__version__}, ComfyUI {comfy_root}, threads {torch.get_num_threads()}")
        stats, pairs = interleaved(child, call, opts.repeats)
    finally:
        child.close()
    shape = tuple(inputs["sample"].shape)
    print(f"\n== forward, ours vs official: {opts.preset} channels, {opts.frames} frames ({opts.frames - 1} noisy + "
          f"the clean first), {opts.latent}x{opts.latent} latent, batch {opts.batch} (sample {shape}), fp32 CPU, "
          f"{opts.threads} threads, {opts.repeats} interleaved pairs ==")
    print_table(stats, ready["peak_kib"], our_peak)
    print(f"  per-pair wall ratio ours/official: median {statistics.median(pairs):.3f}, min {min(pairs):.3f}, max "
          f"{max(pairs):.3f}; first calls (not counted): official {ready['first_s']:.1f} s (while we loaded), ours "
          f"{our_first:.1f} s")
    print(f"  output max |ours - official| = {diff:.3e}; relative to max |official| ({scale:.3f}): "
          f"{diff / scale:.3e}")


def interleaved(child, call, repeats: int) -> tuple[dict, list]:
    """Time the official child's forward and ``call`` strictly alternately (A B A B ...: a burst of load rarely hits
    one side twice): ({side: summary}, per-pair wall ratios ours/official)."""
    runs = {"official": child.run_once, "ours": lambda: timed(call)}
    times = {"official": [], "ours": []}  # (wall, cpu) per call
    for i in range(repeats):
        for side in ("official", "ours"):
            times[side].append(runs[side]())
        print(f"  pair {i + 1}/{repeats}: official {times['official'][-1][0]:.2f} s, ours "
              f"{times['ours'][-1][0]:.2f} s (wall); load average {os.getloadavg()[0]:.1f}", flush=True)
    pairs = [o[0] / r[0] for o, r in zip(times["ours"], times["official"])]
    return {side: summary(v) for side, v in times.items()}, pairs


def print_table(stats: dict, official_peak, our_peak) -> None:
    """Wall/CPU medians and minima and activation peaks of both sides, and ours/official."""
    print(f"  {'':16s} {'wall median':>11s} {'wall min':>9s} {'CPU median':>11s} {'CPU min':>9s} {'act. peak MiB':>14s}")
    for side, peak in (("official", official_peak), ("ours", our_peak)):
        print(f"  {side:16s} " + " ".join(f"{v:{w}.2f}" for v, w in zip(stats[side], (11, 9, 11, 9)))
              + f" {mib(peak):>14s}")
    print(f"  {'ours / official':16s} " + " ".join(f"{o / r:{w}.3f}" for o, r, w in
                                                 zip(stats["ours"], stats["official"], (11, 9, 11, 9)))
          + f" {ratio(our_peak, official_peak):>14s}")


def summary(calls: list) -> tuple[float, float, float, float]:
    """(wall median, wall min, CPU median, CPU min) of (wall, cpu) pairs."""
    wall, cpu = [c[0] for c in calls], [c[1] for c in calls]
    return statistics.median(wall), min(wall), statistics.median(cpu), min(cpu)


def patch_child(opts, work: Path) -> None:
    """Runs in a fresh process: the four attention settings on our model, timed interleaved."""
    pkg, torch, _ = boot_comfy(work)
    torch.set_num_threads(opts.threads)
    _, unet = load_ours(pkg, torch, work)
    cfg = unet.config
    gen = torch.Generator().manual_seed(opts.seed + 3)
    b, f, s = opts.batch, opts.patch_frames, opts.patch_latent
    sample = torch.randn(b, cfg["in_channels"], f - 1, s, s, generator=gen)
    first = torch.randn(b, cfg["in_channels"], 1, s, s, generator=gen)
    text = torch.randn(b, TEXT_TOKENS, cfg["cross_attention_dim"], generator=gen)
    calls = {name: (lambda sp=sp, tw=tw: our_forward(unet, torch, sample, first, text,
                                                     {"spatial": sp, "temporal_window": tw, "window_size": 3}))
             for name, (sp, tw) in PATCH_SETTINGS.items()}
    peaks, outs = {}, {}
    for name, fn in calls.items():  # warm-up, one per setting, measured for memory
        outs[name], peaks[name] = peak_of(fn)
        print(MARK + json.dumps({"event": "warm", "setting": name}), flush=True)
    effect = {name: (outs[name] - outs["both off"]).abs().max().item() for name in calls}
    times = {name: [] for name in calls}
    names = list(calls)
    for i in range(opts.patch_repeats):  # rotated each round: every setting takes every place, none twice in a row
        for name in names[i % len(names):] + names[:i % len(names)]:
            times[name].append(timed(calls[name]))
        print(MARK + json.dumps({"event": "round", "i": i + 1}), flush=True)
    print(MARK + json.dumps({"event": "done", "times": times, "peaks": peaks, "effect": effect,
                             "shape": list(sample.shape)}), flush=True)


def patch_overhead(opts, work: Path) -> None:
    cmd = [sys.executable, __file__, "--patch-child", str(work), *sys.argv[1:]]
    with open(work / "patch_child.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=log,
                                env={**os.environ, "OMP_NUM_THREADS": str(opts.threads)})
    result = None
    for line in proc.stdout:
        if line.startswith(MARK):
            msg = json.loads(line[len(MARK):])
            if msg["event"] == "done":
                result = msg
            else:
                print(f"  patch run: {msg['event']} {msg.get('setting', msg.get('i'))}; load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    if proc.wait() != 0 or result is None:
        raise RuntimeError(f"the patch-overhead child failed ({proc.returncode}); see {work / 'patch_child.log'}")
    times, peaks = result["times"], result["peaks"]
    stats = {name: summary(v) for name, v in times.items()}
    base = stats["both off"]
    smaller = " (smaller than the mid-size latent: 16 frames at 32x32 is too slow on this CPU)" \
        if opts.patch_latent < opts.latent else ""
    print(f"\n== first-frame patches, our UNet: {opts.preset} channels, {opts.patch_frames} frames, "
          f"{opts.patch_latent}x{opts.patch_latent} latent{smaller}, batch {opts.batch} (sample "
          f"{tuple(result['shape'])}), fp32 CPU, {opts.threads} threads, {opts.patch_repeats} interleaved rounds ==")
    print(f"  {'':20s} {'step time, seconds':^41s}   {'step time / both off':^33s}   {'act. peak':^17s}")
    print(f"  {'setting':20s} {'wall med':>9s} {'wall min':>9s} {'CPU med':>9s} {'CPU min':>9s}   "
          f"{'wall med':>8s} {'wall min':>8s} {'CPU med':>7s} {'CPU min':>7s}   {'MiB':>5s} {'/ off':>6s}   "
          f"{'max|out - both off|':>19s}")
    for name in PATCH_SETTINGS:
        row = stats[name]
        print(f"  {name:20s} " + " ".join(f"{v:9.2f}" for v in row) + "   "
              + " ".join(f"{v / b:{w}.3f}" for v, b, w in zip(row, base, (8, 8, 7, 7)))
              + f"   {mib(peaks[name]):>5s} {ratio(peaks[name], peaks['both off']):>6s}   "
              f"{result['effect'][name]:19.3e}")
    print("  act. peak: resident memory a step adds above the loaded model (first call of each setting); the last "
          "column shows that each setting changes the output.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official-checkout", type=Path, required=True,
                        help="a checkout of TIGER-AI-Lab/ConsistI2V (the folder holding consisti2v/)")
    parser.add_argument("--official-python", required=True, help="the python of an environment that runs it")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, both sides")
    parser.add_argument("--repeats", type=int, default=4, help="timed forward pairs, ours vs official")
    parser.add_argument("--frames", type=int, default=8, help="frames including the clean first (= n_frames)")
    parser.add_argument("--latent", type=int, default=32, help="latent height = width")
    parser.add_argument("--batch", type=int, default=1, help="videos per forward")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="sd21", help="channels (tiny: smoke test)")
    parser.add_argument("--patch-frames", type=int, default=16)
    parser.add_argument("--patch-latent", type=int, default=16, help="latent size of the patch-overhead part")
    parser.add_argument("--patch-repeats", type=int, default=4, help="timed rounds over the four settings")
    parser.add_argument("--skip-patches", action="store_true", help="only ours vs official")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--work", type=Path, help="folder for the weights and inputs (default: a new temp folder; "
                        "the sd21 weights take about 5 GB)")
    parser.add_argument("--patch-child", type=Path, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.patch_child is not None:
        patch_child(opts, opts.patch_child)
        return 0
    if not (opts.official_checkout / "consisti2v" / "models" / "videoldm_unet.py").is_file():
        parser.error(f"{opts.official_checkout} is not a ConsistI2V checkout (no consisti2v/models/videoldm_unet.py)")
    config = {**PRESETS[opts.preset], **CONSISTI2V_FLAGS, "in_channels": 4, "out_channels": 4,
              "sample_size": opts.latent, "n_frames": opts.frames}
    work = opts.work or Path(tempfile.mkdtemp(prefix="consisti2v_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder {work}; official checkout {opts.official_checkout}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (other processes' load makes wall times noisy: compare ratios, minimums, CPU)",
          flush=True)
    started = time.perf_counter()
    ok = False
    try:
        parity_and_speed(opts, work, config)  # our model is freed on return, before the patch process loads its own
        release()
        if not opts.skip_patches:
            print("\npatch overhead (fresh process, same weights) ...", flush=True)
            patch_overhead(opts, work)
        ok = True
    finally:
        if opts.work is None and ok:
            shutil.rmtree(work)
        elif opts.work is None:
            for name in ("diffusion_pytorch_model.safetensors", "inputs.safetensors", "official_out.safetensors"):
                (work / name).unlink(missing_ok=True)
            print(f"failed: the children's logs are in {work}", file=sys.stderr)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
