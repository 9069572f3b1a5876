#!/usr/bin/env python3
"""Convert a training checkpoint to safetensors, safely (no ComfyUI needed).

    python scripts/convert_checkpoint.py IN OUT [--fp16] [--weights ema|state_dict|auto]
                                         [--arch svd_cil|dynamicrafter|as_is]

Pickles (.ckpt .pt .pth .bin) are read with ``torch.load(weights_only=True)``: a file that would run code is
refused. ``--weights auto`` takes the EMA weights when the checkpoint has them (SVD-CIL's ``ema_state``) else its
``state_dict``; DDP ``module.`` / deepspeed ``_forward_module.`` prefixes are dropped. ``--arch svd_cil`` renames
a diffusers SVD UNet (SVD-CIL's ``checkpoint-step-20000.ckpt``) to ComfyUI's SVD UNet keys, so that ComfyUI's
core "Load Diffusion Model" node (or the pack's "Load SVD-CIL UNet") reads the output; ``--arch dynamicrafter``
keeps the UNet and image projector of a DynamiCrafter / VideoCrafter1 (CIL) release; ``as_is`` keeps the keys.
Exit status 0 on success, 2 on a refused or unreadable input or an output that cannot be written (a folder, an
existing file without ``--overwrite``, a folder without write permission or room). The output appears only when
complete: the data is staged in an anonymous file of the output folder (Linux), so a killed run, even by SIGKILL,
leaves nothing; elsewhere a ``<output>.cdi2v-partial-…`` file that an error, Ctrl-C or SIGTERM removes and that the
next run into that folder removes after a SIGKILL.
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels.checkpoints import ARCHS, WEIGHTS, CheckpointError, check_output, convert_file  # noqa: E402


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds, so a named temporary file is removed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="checkpoint to read (.ckpt .pt .pth .bin .safetensors)")
    parser.add_argument("output", help="safetensors file to write")
    parser.add_argument("--fp16", action="store_true", help="store floating-point tensors as fp16")
    parser.add_argument("--weights", choices=WEIGHTS, default="auto", help="EMA or raw weights (default: auto)")
    parser.add_argument("--arch", choices=ARCHS, default="as_is",
                        help="svd_cil: diffusers SVD UNet -> ComfyUI SVD keys; dynamicrafter: UNet + image "
                             "projector of a DynamiCrafter/VideoCrafter1 release; as_is: keep keys (default)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, _exit_on_signal)
    out = Path(args.output)
    if out.resolve() == Path(args.input).resolve():
        print("error: the output would replace the input", file=sys.stderr)
        return 2
    if not args.overwrite and out.exists() and not out.is_dir():
        print(f"error: {out} exists (use --overwrite)", file=sys.stderr)
        return 2
    try:
        check_output(out, args.overwrite)  # before reading a multi-GB input
        info = convert_file(args.input, out, weights=args.weights, arch=args.arch, fp16=args.fp16,
                            overwrite=args.overwrite)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {info['output']}: {info['tensors']} tensors, {info['weights']} weights, {info['dtype']}, "
          f"arch {info['arch']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
