"""DynamiCrafter UNet: our forward against the official implementation (parity, speed, activation memory).

Not run by the tests. Needs a checkout of Doubiiu/DynamiCrafter and a Python environment that runs its UNet and
Resampler (torch >= 2, einops, omegaconf, safetensors; see scripts/gen_dynamicrafter_golden.py); ComfyUI is found as
the tests find it.

    .venv/bin/python bench/dynamicrafter_bench.py --official-checkout DIR --official-python VENV/bin/python

Default preset "512": the official configs/inference_512_v1.0.yaml UNet + image Resampler (read from the checkout:
model_channels 320, Resampler dim 1024 depth 4 video_length 16), fp32, CPU; inputs one video of 8 frames at a 16x16
latent, text [1, 77, 1024], CLIP tokens [1, 257, 1280], fs 24, one timestep. With 8 frames the 256 image tokens
are not 8 x 16, so every frame attends to all of them (the official's non-per-frame branch); ``--frames 16`` takes
the per-frame branch the release samples with. "tiny" (a smoke test of the script, seconds) takes the per-frame
branch at the default 8 frames.

A child process in the official environment builds the official ``UNetModel`` + ``Resampler``, re-fills every
parameter at random (weights N(0, 1/fan_in), norm weights 1 + N(0, 0.2^2), biases N(0, 0.2^2), Resampler latents
N(0, 1): the official zero-initialised output layers would hide bugs), writes them in the release key layout
(``model.diffusion_model.*`` + ``image_proj_model.*``) with the inputs, and runs its forward (official call:
``context = cat(text, Resampler(clip tokens))``, x [B, 8, T, h, w]). This process loads the same file as users do
(``load_dynamicrafter(path, "auto", "auto", float32)``) and runs ``patcher.model.diffusion_model`` in ComfyUI's
layout (frames as batch [B*T, 8, h, w], per-frame text and CLIP tokens, ``num_video_frames``, ``fs``). The timed
loops alternate official / ours, one forward each; printed as by bench/consisti2v_bench.py: wall and CPU seconds
(median, minimum), ours/official, per-pair wall ratios, the output difference, each side's activation peak.

Quote the ratios, not seconds. The official side runs as its inference script configures it (``use_checkpoint:
True``: torch.utils.checkpoint around each transformer block, a no-op but for its bookkeeping without gradients;
attention by einsum without xformers). The 512 preset keeps both models resident (about 12 GB of RAM, 6 GB of disk
in the work folder; our loader briefly holds the file's tensors and the model, about 11 GB); about 5 minutes on 2 idle
cores with 5 pairs (each 512 forward takes about 6 s).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.consisti2v_bench import (CHILD_PREAMBLE, MARK, OfficialChild, boot_comfy, interleaved,  # noqa: E402
                                    peak_of, print_table)

PRESETS = {
    "512": "configs/inference_512_v1.0.yaml",  # read by the child from the official checkout
    # smoke test: 2 levels, attention at level 0 + middle; Resampler video_length 8 = the default frames (per-frame)
    "tiny": {"unet": {"in_channels": 8, "out_channels": 4, "model_channels": 32, "attention_resolutions": [1],
                      "num_res_blocks": 1, "channel_mult": [1, 2], "dropout": 0.1, "num_head_channels": 8,
                      "transformer_depth": 1, "context_dim": 64, "use_linear": True, "use_checkpoint": True,
                      "temporal_conv": True, "temporal_attention": True, "temporal_selfatt_only": True,
                      "use_relative_position": False, "use_causal_attention": False, "temporal_length": 16,
                      "addition_attention": True, "image_cross_attention": True, "default_fs": 24,
                      "fs_condition": True},
             "image_proj": {"dim": 64, "depth": 2, "dim_head": 16, "heads": 2, "num_queries": 16, "embedding_dim": 48,
                            "output_dim": 64, "ff_mult": 2, "video_length": 8}},
}
TIMESTEP, TEXT_TOKENS, CLIP_TOKENS = 500, 77, 257
WEIGHTS = "dynamicrafter_bench.safetensors"  # no "1024" in the name: the loader picks dynamicrafter_512

# ---------------------------------------------------------------------------------------------------------------
# The official side: this source runs in the official environment (it imports nothing from this repository).

OFFICIAL_CHILD = CHILD_PREAMBLE + r'''
from lvdm.modules.networks.openaimodel3d import UNetModel
from lvdm.modules.encoders.resampler import Resampler

config = args["config"]
if isinstance(config, str):
    from omegaconf import OmegaConf
    p = OmegaConf.load(Path(args["checkout"]) / config).model.params
    config = {"unet": OmegaConf.to_container(p.unet_config.params),
              "image_proj": OmegaConf.to_container(p.image_proj_stage_config.params)}
t0 = time.perf_counter()
torch.manual_seed(args["seed"])
unet, proj = UNetModel(**config["unet"]).eval(), Resampler(**config["image_proj"]).eval()
gen = torch.Generator().manual_seed(args["seed"] + 1)
with torch.no_grad():
    for mod in [*unet.modules(), *proj.modules()]:
        for name, p in mod.named_parameters(recurse=False):
            v = torch.randn(p.shape, generator=gen)
            if isinstance(mod, (torch.nn.GroupNorm, torch.nn.LayerNorm)) and name == "weight":
                v.mul_(0.2).add_(1)
            elif name != "latents":
                v.mul_(p[0].numel() ** -0.5 if p.dim() >= 2 else 0.2)
            p.copy_(v)
out = Path(args["out"])
sd = {f"model.diffusion_model.{k}": v for k, v in unet.state_dict().items()}
sd.update({f"image_proj_model.{k}": v for k, v in proj.state_dict().items()})
save_file(sd, str(out / args["weights"]))
del sd
build_s = time.perf_counter() - t0

b, f, s, u = args["batch"], args["frames"], args["latent"], config["unet"]
gen = torch.Generator().manual_seed(args["seed"] + 2)
inputs = {"x": torch.randn(b, u["in_channels"], f, s, s, generator=gen),
          "text": torch.randn(b, args["text_tokens"], u["context_dim"], generator=gen),
          "clip": torch.randn(b, args["clip_tokens"], config["image_proj"]["embedding_dim"], generator=gen),
          "timesteps": torch.full((b,), args["timestep"], dtype=torch.int64),
          "fs": torch.full((b,), args["fs"], dtype=torch.int64)}
save_file(inputs, str(out / "inputs.safetensors"))
emit(event="saved", build_s=build_s, config=config)

def forward():
    with torch.inference_mode():
        context = torch.cat([inputs["text"], proj(inputs["clip"])], dim=1)  # as LatentVisualDiffusion does
        return unet(inputs["x"], inputs["timesteps"], context=context, fs=inputs["fs"])

t0 = time.perf_counter()
ref, peak = peak_of(forward)
first_s = time.perf_counter() - t0
save_file({"out": ref.contiguous()}, str(out / "official_out.safetensors"))
emit(event="ready", first_s=first_s, peak_kib=peak, torch=torch.__version__, python=sys.version.split()[0],
     threads=torch.get_num_threads(), params=sum(p.numel() for m in (unet, proj) for p in m.parameters()))
for line in sys.stdin:
    if line.strip() != "run":
        break
    wall, cpu = timed(forward)
    emit(event="time", wall=wall, cpu=cpu)
'''


class DynamiCrafterChild(OfficialChild):
    """The official UNet + Resampler in its own environment (the stdin/stdout driving of OfficialChild)."""

    def __init__(self, python: str, checkout: Path, work: Path, opts):
        script = work / "official_child.py"
        script.write_text(OFFICIAL_CHILD)
        payload = {"checkout": str(checkout), "out": str(work), "threads": opts.threads, "seed": opts.seed,
                   "config": PRESETS[opts.preset], "batch": opts.batch, "frames": opts.frames, "latent": opts.latent,
                   "text_tokens": TEXT_TOKENS, "clip_tokens": CLIP_TOKENS, "timestep": TIMESTEP, "fs": opts.fs,
                   "weights": WEIGHTS, "mark": MARK}
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": str(opts.threads)}
        self.log = open(work / "official_child.log", "w")
        self.proc = subprocess.Popen([python, str(script), json.dumps(payload)], cwd=checkout, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)


def our_forward(unet, torch, x, timesteps, text, clip, fs):
    """Our UNet as ComfyUI calls it, on official-layout inputs: x [B,C,T,h,w] -> frames as batch and back."""
    b, c, n, h, w = x.shape
    with torch.inference_mode():
        out = unet(x.transpose(1, 2).reshape(b * n, c, h, w), timesteps.float().repeat_interleave(n),
                   context=text.repeat_interleave(n, 0), transformer_options={}, num_video_frames=n,
                   clip_image_tokens=clip.repeat_interleave(n, 0), fs=int(fs[0]))
    return out.reshape(b, n, -1, h, w).transpose(1, 2)


def parity_and_speed(opts, work: Path) -> None:
    child = DynamiCrafterChild(opts.official_python, opts.official_checkout.resolve(), work, opts)
    try:
        print(f"official child: building random {opts.preset} weights ...", flush=True)
        boot_comfy(work)  # meanwhile
        from tests.support.node_calls import pack_module
        import torch
        from safetensors.torch import load_file

        torch.set_num_threads(opts.threads)
        saved = child.read()
        print(f"  built + saved in {saved['build_s']:.1f} s; the official child runs its first forward while we "
              f"load the same file\n  official config: {json.dumps(saved['config'])}", flush=True)
        t0 = time.perf_counter()
        patcher, preset = pack_module("dynamicrafter.model").load_dynamicrafter(work / WEIGHTS, "auto", "auto",
                                                                                torch.float32)
        unet = patcher.model.diffusion_model.eval()
        load_s = time.perf_counter() - t0
        ready = child.read()
        print(f"  official: {ready['params'] / 1e6:.1f} M params; python {ready['python']}, torch {ready['torch']}, "
              f"threads {ready['threads']}\n  ours: loaded as {preset} in {load_s:.1f} s "
              f"({sum(p.numel() for p in unet.parameters()) / 1e6:.1f} M params); torch {torch.__version__}, "
              f"threads {torch.get_num_threads()}", flush=True)
        inputs = load_file(str(work / "inputs.safetensors"))
        ref = load_file(str(work / "official_out.safetensors"))["out"]
        args = [inputs[k] for k in ("x", "timesteps", "text", "clip", "fs")]
        call = lambda: our_forward(unet, torch, *args)  # noqa: E731
        t0 = time.perf_counter()
        out, our_peak = peak_of(call)
        our_first = time.perf_counter() - t0
        if out.shape != ref.shape:
            raise RuntimeError(f"output shapes differ: ours {tuple(out.shape)}, official {tuple(ref.shape)}")
        diff, scale = (out - ref).abs().max().item(), ref.abs().max().item()
        stats, pairs = interleaved(child, call, opts.repeats)
    finally:
        child.close()
    b, c, n, h, w = inputs["x"].shape
    per_frame = saved["config"]["image_proj"].get("video_length") == n
    print(f"\n== forward (Resampler + UNet), ours vs official: {opts.preset} preset, batch {b}, {n} frames, {h}x{w} "
          f"latent (x {tuple(inputs['x'].shape)}), fs {opts.fs}, t {TIMESTEP}, image context "
          f"{'per frame' if per_frame else 'all tokens every frame'}; fp32 CPU, {opts.threads} threads, "
          f"{opts.repeats} interleaved pairs ==")
    print_table(stats, ready["peak_kib"], our_peak)
    print("  per-pair wall ratio ours/official: " + ", ".join(f"{p:.3f}" for p in pairs)
          + f" (median {statistics.median(pairs):.3f}); first calls (not counted): official {ready['first_s']:.1f} s "
          f"(while we loaded), ours {our_first:.1f} s")
    print(f"  output max |ours - official| = {diff:.3e}; relative to max |official| ({scale:.3f}): "
          f"{diff / scale:.3e}; mean |official| {ref.abs().mean().item():.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official-checkout", type=Path, required=True,
                        help="a checkout of Doubiiu/DynamiCrafter (the folder holding lvdm/ and configs/)")
    parser.add_argument("--official-python", required=True, help="the python of an environment that runs it")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="512", help="model config (tiny: smoke test)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, both sides")
    parser.add_argument("--repeats", type=int, default=5, help="timed forward pairs, ours vs official")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--latent", type=int, default=16, help="latent height = width (a multiple of 8 for 512)")
    parser.add_argument("--batch", type=int, default=1, help="videos per forward")
    parser.add_argument("--fs", type=int, default=24, help="frame stride")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--work", type=Path, help="folder for the weights and inputs (default: a new temp folder; "
                        "the 512 weights take about 6 GB)")
    opts = parser.parse_args()
    if not (opts.official_checkout / "lvdm" / "modules" / "networks" / "openaimodel3d.py").is_file():
        parser.error(f"{opts.official_checkout} is not a DynamiCrafter checkout (no lvdm/modules/networks/"
                     "openaimodel3d.py)")
    work = opts.work or Path(tempfile.mkdtemp(prefix="dynamicrafter_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder {work}; official checkout {opts.official_checkout}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (other processes' load makes wall times noisy: compare ratios, minimums, CPU)",
          flush=True)
    started, ok = time.perf_counter(), False
    try:
        parity_and_speed(opts, work)
        ok = True
    finally:
        if opts.work is None and ok:
            shutil.rmtree(work)
        elif opts.work is None:
            for name in (WEIGHTS, "inputs.safetensors", "official_out.safetensors"):
                (work / name).unlink(missing_ok=True)
            print(f"failed: the official child's log is in {work}", file=sys.stderr)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
