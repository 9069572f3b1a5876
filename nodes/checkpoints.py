"""Safe checkpoint conversion and the SVD-CIL loader (cil.md §4)."""
from __future__ import annotations

import os
from pathlib import Path

import folder_paths
from comfy_api.latest import io

from ..kernels.checkpoints import EXTENSIONS, CheckpointError, OutputError, convert_file, is_conversion_of
from ..svd_cil.model import load_svd_cil
from .common import LOADER_CATEGORY, parse_weight_dtype, quoted, weight_dtype_input

FOLDERS = ("diffusion_models", "checkpoints")
ARCH_CHOICES = {"svd_cil_diffusers_unet": "svd_cil", "dynamicrafter_unet": "dynamicrafter", "as_is": "as_is"}
WEIGHT_CHOICES = ("auto", "ema", "state_dict")
WEIGHTS_TOOLTIP = (
    "Which weights of a training checkpoint: auto = the EMA weights when the file has them (SVD-CIL's "
    "'ema_state', used by the official inference), else its state_dict; ema = EMA only (error if absent); "
    "state_dict = the raw trained weights.")


def model_files() -> list[str]:
    """'<folder>/<name>' for every checkpoint-like file in models/diffusion_models and models/checkpoints."""
    out = []
    for folder in FOLDERS:
        try:
            names = folder_paths.get_filename_list(folder)
        except KeyError:
            continue
        out += [f"{folder}/{n}" for n in names if n.lower().endswith(EXTENSIONS)]
    return out


def resolve_model_file(choice: str, input_name: str) -> Path:
    folder, _, name = choice.partition("/")
    if folder not in FOLDERS or not name:
        raise ValueError(f"{input_name}: {quoted(choice)} must be 'diffusion_models/<file>' or 'checkpoints/<file>'")
    path = folder_paths.get_full_path(folder, name)
    if path is None:
        raise ValueError(f"{input_name}: {name} is not in models/{folder}")
    return Path(path)


def model_roots() -> list[Path]:
    """The real paths of every models/diffusion_models and models/checkpoints folder ComfyUI knows."""
    roots = []
    for folder in FOLDERS:
        try:
            roots += [Path(p).resolve() for p in folder_paths.get_folder_paths(folder)]
        except KeyError:
            continue
    return roots


def output_path(output_name: str) -> Path:
    """The file to write in the first models/diffusion_models folder; its real path (symlinks followed) must stay
    inside the models folders."""
    name = output_name.strip().replace("\\", "/")
    if not name.lower().endswith(".safetensors"):
        name += ".safetensors"
    parts = [p for p in name.split("/") if p]
    if not parts or name.startswith("/") or any(p in ("..", ".") for p in parts) or ":" in name:
        raise ValueError(f"output_name: {quoted(output_name)} must be a file name (optionally in a subfolder) "
                         "inside models/diffusion_models")
    path = Path(folder_paths.get_folder_paths("diffusion_models")[0]).joinpath(*parts)
    real = path.resolve()
    if not any(real.is_relative_to(root) for root in model_roots()):
        raise ValueError(f"output_name: {quoted(name)} leads to {real}, outside the models folders (through a "
                         "symlinked subfolder or file); pick a name that stays inside models/diffusion_models")
    if path.is_dir():
        raise ValueError(f"output_name: {quoted(name)} is a folder in models/diffusion_models; give a file name")
    return path


def _stat(path: Path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


class CILConvertCheckpoint(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CILConvertCheckpoint",
            display_name="CIL Convert Checkpoint to Safetensors",
            category="advanced/model_merging",
            description=(
                "Converts a training checkpoint (.ckpt/.pt/.pth/.bin pickle or .safetensors) into a safetensors "
                "file in models/diffusion_models. Pickles are read with torch.load(weights_only=True), so a file "
                "that would run code is refused. Unwraps state_dict / ema_state (diffusers EMAModel included) / "
                "deepspeed module and strips DDP 'module.' prefixes. With svd_cil_diffusers_unet the SVD-CIL "
                "UNet (diffusers keys) is renamed to ComfyUI's SVD keys, so the file also loads with the core "
                "'Load Diffusion Model' node. With dynamicrafter_unet a DynamiCrafter / VideoCrafter1 (CIL) release "
                "keeps only its UNet and image projector. Returns the written path. The file appears only when "
                "complete (a failed or killed conversion leaves nothing in the folder); an existing file is kept "
                "unless overwrite is on; the node runs again whenever the source or the output file changes (a "
                "deleted output is written again)."),
            inputs=[
                io.Combo.Input("ckpt_name", options=model_files(), tooltip=(
                    "The checkpoint to convert, from models/diffusion_models or models/checkpoints (e.g. SVD-CIL's "
                    "checkpoint-step-20000.ckpt).")),
                io.Combo.Input("weights", options=list(WEIGHT_CHOICES), default="auto", tooltip=WEIGHTS_TOOLTIP),
                io.Combo.Input("arch", options=list(ARCH_CHOICES), default="svd_cil_diffusers_unet", tooltip=(
                    "svd_cil_diffusers_unet: rename a diffusers UNetSpatioTemporalConditionModel (SVD-CIL, "
                    "SVD-naive-finetune) to ComfyUI's SVD UNet keys, refusing other architectures; "
                    "dynamicrafter_unet: keep only the UNet and image projector of a DynamiCrafter / VideoCrafter1 "
                    "(CIL) .ckpt (10 GB fp32 -> about 2.8 GB fp16), for Load DynamiCrafter; as_is: keep the keys, "
                    "only unwrap and re-save.")),
                io.Boolean.Input("fp16", default=True, tooltip=(
                    "Store floating-point tensors as fp16 (half the size; ComfyUI runs SVD in fp16/bf16 on GPUs "
                    "anyway). Off keeps the stored precision (SVD-CIL's EMA is fp32).")),
                io.String.Input("output_name", default="svd_cil_512.safetensors", tooltip=(
                    "File name written into models/diffusion_models ('.safetensors' is added if missing; a "
                    "subfolder is allowed, but not one that leads outside the models folders through a symlink).")),
                io.Boolean.Input("overwrite", default=False, tooltip=(
                    "Replace an existing file of that name; off refuses, so nothing is lost by accident. A file "
                    "that is already this conversion of this source (same source size and time, same settings) "
                    "is kept either way.")),
            ],
            outputs=[io.String.Output(display_name="path")],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, ckpt_name, output_name, **_other):
        """The source and target files as they are now: a deleted, replaced or new output runs the node again."""
        try:
            source, target = resolve_model_file(ckpt_name, "ckpt_name"), output_path(output_name)
        except (ValueError, OSError, KeyError, IndexError):
            return float("nan")  # never equal: execute() runs and reports the error
        return str(source), _stat(source), str(target), _stat(target)

    @classmethod
    def execute(cls, ckpt_name, weights, arch, fp16, output_name, overwrite=False) -> io.NodeOutput:
        if arch not in ARCH_CHOICES:
            raise ValueError(f"arch {quoted(arch)} is unknown: use one of {', '.join(ARCH_CHOICES)}")
        if weights not in WEIGHT_CHOICES:
            raise ValueError(f"weights {quoted(weights)} is unknown: use one of {', '.join(WEIGHT_CHOICES)}")
        source = resolve_model_file(ckpt_name, "ckpt_name")
        target = output_path(output_name)
        if os.path.lexists(target):
            if is_conversion_of(target, source, weights, ARCH_CHOICES[arch], fp16):
                text = f"{target} (already this conversion of {source.name}; kept)"
                return io.NodeOutput(str(target), ui={"text": [text]})
            if not overwrite:
                raise ValueError(f"output_name: {target.name} already exists in {target.parent}; pick another name "
                                 "or enable overwrite")
        if target.resolve() == source.resolve():
            raise ValueError("output_name: the output would replace the input file; pick another name")
        try:
            info = convert_file(source, target, weights=weights, arch=ARCH_CHOICES[arch], fp16=fp16,
                                overwrite=overwrite)
        except OutputError as err:
            raise ValueError(f"output_name: {err}") from err
        except CheckpointError as err:
            raise ValueError(f"ckpt_name: {err}") from err
        text = (f"{info['output']} ({info['tensors']} tensors, {info['weights']} weights, {info['dtype']}, "
                f"arch {arch})")
        return io.NodeOutput(info["output"], ui={"text": [text]})


class CILLoadSVDCIL(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CILLoadSVDCIL",
            display_name="Load SVD-CIL UNet",
            category=LOADER_CATEGORY,
            description=(
                "Loads an SVD-CIL UNet (GraceZhao/SVD-CIL-512, zhuhz22/SVD-CIL-watermark-free, SVD-naive-finetune: "
                "diffusers UNetSpatioTemporalConditionModel keys in a checkpoint-step-*.ckpt pickle or a "
                "safetensors file, or a file converted by 'CIL Convert Checkpoint') into ComfyUI's own SVD model. "
                "Use it with the core SVD nodes: take CLIP vision and VAE from svd.safetensors / "
                "svd_xt.safetensors through 'Image Only Checkpoint Loader', then SVD_img2vid_Conditioning "
                "(fps 5, motion 20, augmentation 0.002), VideoLinearCFGGuidance (min 1) and KSampler (cfg 3)."),
            inputs=[
                io.Combo.Input("unet_name", options=model_files(), tooltip=(
                    "The SVD-CIL file in models/diffusion_models or models/checkpoints. A diffusers config.json "
                    "beside it is read for the attention head width (default: SVD's 64).")),
                io.Combo.Input("weights", options=list(WEIGHT_CHOICES), default="auto", tooltip=WEIGHTS_TOOLTIP),
                weight_dtype_input(
                    "Weight precision. default lets ComfyUI pick for your device (fp16/bf16 on GPUs, fp32 on CPU)."),
                io.Boolean.Input("diffusers_norm_eps", default=True, tooltip=(
                    "Give the resnet GroupNorms the eps diffusers fine-tuned SVD-CIL with (1e-6 in most down/up "
                    "blocks; ComfyUI's SVD uses 1e-5). On reproduces the official diffusers forward; the "
                    "difference is tiny either way.")),
            ],
            outputs=[io.Model.Output(display_name="MODEL")],
        )

    @classmethod
    def execute(cls, unet_name, weights, weight_dtype, diffusers_norm_eps=True) -> io.NodeOutput:
        dtype = parse_weight_dtype(weight_dtype)
        if weights not in WEIGHT_CHOICES:
            raise ValueError(f"weights {quoted(weights)} is unknown: use one of {', '.join(WEIGHT_CHOICES)}")
        path = resolve_model_file(unet_name, "unet_name")
        return io.NodeOutput(load_svd_cil(path, weights, dtype, diffusers_norm_eps))
