"""CIL Estimate Statistics: E[x0] and Tr(Cov)/d for Analytic-Init from the user's own clips, on any model family."""
from __future__ import annotations

import os
from pathlib import Path

import comfy.model_management
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io

from ..kernels import analytic_init as ai
from ..kernels import layout as lay
from ..kernels.checkpoints import CheckpointError, read_checkpoint
from .cil import CIL_CATEGORY, STATS_FOLDER, Statistics
from .common import quoted
from .families import family_of

DEFAULT_FILE = "my_statistics.safetensors"


def _first(value, default=None):
    """The single value of an input that ComfyUI hands over as a list (is_input_list)."""
    if isinstance(value, list):
        return value[0] if value else default
    return value


def stats_path(file: str) -> Path:
    """Where ``file`` is (an existing statistics file of that name in any models/cil_statistics folder) or will be
    written (the first such folder); a file name, optionally in a subfolder, never outside the folder."""
    name = str(file).strip().replace("\\", "/")
    if not name.lower().endswith(".safetensors"):
        name += ".safetensors"
    parts = [p for p in name.split("/") if p]
    if not parts or name.startswith("/") or any(p in ("..", ".") for p in parts) or ":" in name:
        raise ValueError(f"file: {quoted(file)} must be a file name (optionally in a subfolder) inside "
                         f"models/{STATS_FOLDER}, e.g. {DEFAULT_FILE}")
    existing = folder_paths.get_full_path(STATS_FOLDER, "/".join(parts))
    if existing is not None:
        return Path(existing)
    folder = Path(folder_paths.get_folder_paths(STATS_FOLDER)[0])
    path = folder.joinpath(*parts)
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"file: {quoted(name)} leads to {path.resolve()}, outside models/{STATS_FOLDER} (through a "
                         "symlink); pick a name that stays inside it")
    if path.is_dir():
        raise ValueError(f"file: {quoted(name)} is a folder in models/{STATS_FOLDER}; give a file name")
    return path


def _stat(path: Path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _split(total: int, per_clip: int, what: str) -> list[tuple[int, int]]:
    """(start, length) of each clip of ``per_clip`` items out of ``total`` (0: one clip of all)."""
    if per_clip <= 0:
        return [(0, total)]
    if total % per_clip:
        raise ValueError(f"frames_per_clip = {per_clip}: {what} has {total} frames, not a multiple of {per_clip}; "
                         f"make every clip {per_clip} frames long, or set frames_per_clip to 0 (one clip)")
    return [(i, per_clip) for i in range(0, total, per_clip)]


def _clips(latents, images, per_clip: int, fam) -> list[tuple[str, str, torch.Tensor]]:
    """(kind, label, tensor) of every clip: 'latent' clips as [k, C, h, w] / [1, C, T, h, w] raw latents,
    'image' clips as [F, H, W, 3] pixels; nothing is encoded or copied yet."""
    out = []
    for i, item in enumerate(latents):
        if not isinstance(item, dict) or "samples" not in item:
            raise ValueError(f"latent (item {i}): connect a LATENT (VAE Encode of your clips)")
        samples = item["samples"]
        if getattr(samples, "is_nested", False):  # LTX-2 audio+video: the video part comes first
            samples = samples.tensors[0]
        if not torch.is_tensor(samples) or samples.ndim not in (4, 5):
            shape = tuple(samples.shape) if torch.is_tensor(samples) else type(samples).__name__
            raise ValueError(f"latent (item {i}) is {shape}: a video latent must be 4-D [frames, C, h, w] or 5-D "
                             "[B, C, frames, h, w]")
        if samples.ndim == 5:
            for b in range(samples.shape[0]):
                out.append(("latent", f"latent (item {i}, clip {b})", samples[b:b + 1]))
        else:
            for j, (start, n) in enumerate(_split(samples.shape[0], per_clip, f"latent (item {i})")):
                out.append(("latent", f"latent (item {i}, clip {j})", samples[start:start + n]))
    for i, image in enumerate(images):
        if not torch.is_tensor(image) or image.ndim != 4 or image.shape[-1] < 3:
            shape = tuple(image.shape) if torch.is_tensor(image) else type(image).__name__
            raise ValueError(f"image (item {i}) is {shape}: connect an IMAGE batch [frames, H, W, 3] (a video)")
        for j, (start, n) in enumerate(_split(image.shape[0], per_clip, f"image (item {i})")):
            if fam.causal and (n - 1) % fam.t_stride:
                k = fam.t_stride
                raise ValueError(
                    f"image (item {i}, clip {j}) has {n} frames: {fam.label}'s causal video VAE encodes {k}k+1 "
                    f"frames (e.g. {k + 1}, {4 * k + 1}, {20 * k + 1}); trim the clips, or set frames_per_clip to "
                    f"{((n - 1) // k) * k + 1}")
            out.append(("image", f"image (item {i}, clip {j})", image[start:start + n]))
    return out


def _model_space(raw: torch.Tensor, process_in, channels, label: str, source: str) -> torch.Tensor:
    """A raw VAE latent clip (4-D frames-as-batch or 5-D [1, C, T, h, w]) as a model-space [C, T, h, w]."""
    if channels is not None and raw.shape[1] != channels:
        fix = ("connect this model's own VAE" if source == "vae" else "encode the clips with this model's VAE")
        raise ValueError(f"{label}: {source} gives {raw.shape[1]} latent channels but the model samples {channels}: "
                         f"{fix}")
    lay.check_finite(raw, label, "the clip came out of an earlier node broken; leave it out or encode it again")
    z = process_in(raw.detach().to("cpu", torch.float64).clone())  # float64: clips far from 0 keep their spread
    return z[0] if z.ndim == 5 else z.permute(1, 0, 2, 3)


class CILEstimateStatistics(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CILEstimateStatistics",
            display_name="CIL Estimate Statistics",
            category=CIL_CATEGORY,
            description=(
                "Estimates Analytic-Init statistics (E[x0] per latent position and Tr(Cov)/d) from your own clips for "
                "any model: the released files cover only DynamiCrafter, VideoCrafter1 and SVD. Give the clips as "
                "LATENTs (VAE Encode) or as IMAGE videos with the model's VAE; lists of clips stream through one at a "
                "time (progress bar; Cancel stops without writing). Saves a safetensors file in "
                "models/cil_statistics that records the model family, latent shape and clip count and that Load CIL "
                "Statistics reads; with add_to_file the same file takes more clips later (clips it already holds "
                "are skipped). Files this node did not write are never changed. All clips must have one size and "
                "frame count (the statistics are per position)."),
            inputs=[
                io.Model.Input("model", tooltip=(
                    "The model the statistics are for: its family is recorded (Analytic-Init refuses the file on "
                    "another family) and its latent format puts the clips into model space.")),
                io.String.Input("file", default=DEFAULT_FILE, tooltip=(
                    "The statistics file in models/cil_statistics ('.safetensors' is added if missing). A new name "
                    "starts a new estimate; an existing name needs add_to_file.")),
                io.Boolean.Input("add_to_file", default=False, tooltip=(
                    "Add these clips to the file if it exists (only a file this node wrote: it keeps running sums "
                    "and the clip count); clips already in it are skipped. Off: an existing file is refused "
                    "unless it already holds exactly these clips.")),
                io.Int.Input("frames_per_clip", default=0, min=0, max=100000, tooltip=(
                    "Split each IMAGE batch (video frames) or 4-D LATENT (frames as batch, SVD-style) into clips of "
                    "this many frames; 0 = each item is one clip. A 5-D LATENT [B, C, T, h, w] always gives one clip "
                    "per batch entry. Causal video VAEs (Wan, LTX, HunyuanVideo, Cosmos) encode 4k+1 (LTX: 8k+1) "
                    "frames.")),
                io.Latent.Input("latent", optional=True, tooltip=(
                    "Clips already encoded with the model's VAE (VAE Encode), one LATENT or a list of them.")),
                io.Image.Input("image", optional=True, tooltip=(
                    "Clips as pixel videos (e.g. a video loader), one IMAGE batch or a list; encoded one clip at a "
                    "time with vae. All clips must have the same size and frame count.")),
                io.Vae.Input("vae", optional=True, tooltip="The model's VAE, needed for the image input."),
            ],
            outputs=[Statistics.Output(display_name="STATISTICS"), io.String.Output(display_name="report")],
            is_input_list=True,
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, file=None, **_other):
        """The file as it is now: a deleted or replaced file runs the node again."""
        try:
            path = stats_path(_first(file, DEFAULT_FILE))
        except (ValueError, OSError, KeyError, IndexError):
            return float("nan")  # never equal: execute() runs and reports the error
        return str(path), _stat(path)

    @classmethod
    def execute(cls, model, file, add_to_file, frames_per_clip, latent=None, image=None, vae=None) -> io.NodeOutput:
        model, file = _first(model), str(_first(file, DEFAULT_FILE))
        add_to_file, per_clip = bool(_first(add_to_file, False)), int(_first(frames_per_clip, 0))
        latents, images = list(latent or []), list(image or [])
        vae = _first(vae)
        if per_clip < 0:
            raise ValueError(f"frames_per_clip = {per_clip}: use 0 (one clip per item) or a frame count")
        if not latents and not images:
            raise ValueError("no clips: connect latent (VAE Encode of your clips) or image (videos) with vae")
        if images and vae is None:
            raise ValueError("image is connected but vae is not: connect the model's VAE to encode the clips")
        fam = family_of(model)
        latent_format = model.get_model_object("latent_format")
        channels = getattr(latent_format, "latent_channels", None)
        clips = _clips(latents, images, per_clip, fam)
        path = stats_path(file)
        name = path.name

        previous = None
        if os.path.lexists(path):
            previous = cls._read_own(path, name)
            if previous.family != fam.key:
                raise ValueError(f"file: {quoted(name)} holds statistics for {ai.family_label(previous.family)} but "
                                 f"the model is {ai.family_label(fam.key)}: pick a new file name for this model")
        estimate = previous or ai.Estimate(ai.StatisticsAccumulator(), fam.key, [])
        seen = set(estimate.fingerprints)
        new = ai.Estimate(ai.StatisticsAccumulator(), fam.key, [])
        skipped = 0
        bar = comfy.utils.ProgressBar(len(clips))
        for kind, label, clip in clips:
            comfy.model_management.throw_exception_if_processing_interrupted()
            fp = ai.clip_fingerprint(clip)
            if fp in seen:
                skipped += 1
                bar.update(1)
                continue
            if previous is not None and not add_to_file:
                raise ValueError(f"file: {quoted(name)} already exists in {path.parent} and does not hold {label}: "
                                 "pick a new file name, or turn add_to_file on to add these clips to it")
            if kind == "image":
                lay.check_finite(clip, label, "the video came out of an earlier node broken; leave it out")
                raw, source = vae.encode(clip[..., :3]), "vae"
            else:
                raw, source = clip, "latent"
            z = _model_space(raw, latent_format.process_in, channels, label, source)
            shape = estimate.acc.shape or new.acc.shape
            if shape is not None and tuple(z.shape) != shape:
                where = f"the clips in {quoted(name)}" if estimate.acc.n else "the first clip"
                raise ValueError(f"{label} is a {_shape_text(z.shape)} latent but {where} {_shape_text(shape)}: "
                                 "statistics are per latent position, so every clip needs the same size and frame "
                                 "count; resize / trim the clips (or start a new file for this size)")
            new.acc.add(z)
            new.fingerprints.append(fp)
            seen.add(fp)
            bar.update(1)
        comfy.model_management.throw_exception_if_processing_interrupted()

        if new.acc.n:
            estimate.acc.merge(new.acc)
            estimate.fingerprints += new.fingerprints
            if estimate.acc.n < 2:
                raise ValueError(f"only {estimate.acc.n} clip in all: Tr(Cov)/d needs at least 2 different clips "
                                 "(many more for useful statistics); connect more clips")
            try:
                ai.write_estimate(path, estimate, overwrite=previous is not None)
            except FileExistsError:
                raise ValueError(f"file: {quoted(name)} appeared in {path.parent} while the node ran; nothing was "
                                 "written: run it again (or pick a new name)") from None
        stats = estimate.statistics(f"statistics_file {quoted(name)}")
        c, f, h, w = estimate.acc.shape
        report = (f"{path}: {estimate.acc.n} clips ({new.acc.n} added, {skipped} already in it) for "
                  f"{fam.label}, latent {c}x{f}x{h}x{w}; Tr(Cov)/d = {stats.variance:.6g}, mean of E[x0] = "
                  f"{float(stats.mean.mean()):.6g}")
        return io.NodeOutput(stats, report, ui={"text": [report]})

    @staticmethod
    def _read_own(path: Path, name: str) -> ai.Estimate:
        """The estimate in an existing file, which must be one this node wrote."""
        try:
            tensors, metadata = read_checkpoint(path)
        except CheckpointError as err:
            raise ValueError(f"file: {quoted(name)} exists and is not a readable statistics file ({err}); it is "
                             "never changed: pick a new file name") from None
        if not ai.is_estimate(metadata):
            raise ValueError(f"file: {quoted(name)} exists in {path.parent} and was not written by CIL Estimate "
                             "Statistics, so it is never changed: pick a new file name")
        return ai.estimate_from_tensors(tensors, metadata, f"file {quoted(name)}")


def _shape_text(shape) -> str:
    c, f, h, w = shape
    return f"{c}-channel {f}-frame {h}x{w}"
