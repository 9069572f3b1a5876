"""Safe checkpoint reading, container unwrapping and safetensors writing (pure torch/safetensors, no ComfyUI).

* Pickled files (``.ckpt .pt .pth .bin``) are read only through ``torch.load(weights_only=True)``: tensors, dicts,
  lists and numbers load; a pickle that would import or call anything else (a custom class, ``os.system``, a
  lambda) is refused before anything runs, with a :class:`CheckpointError` naming the file.
* Containers (cil.md §4): ``{"state_dict": …}``, ``{"ema_state": …}`` (a name→tensor dict, or diffusers'
  ``EMAModel.state_dict()`` whose ``shadow_params`` list follows the model's ``parameters()`` order), deepspeed
  ``{"module": …}`` with ``_forward_module.`` keys, DDP ``module.`` keys; plain state dicts as they are.
* Writing: safetensors with contiguous, unshared tensors, optional fp16, and metadata naming the source.

Used by the ``CILConvertCheckpoint`` / ``CILLoadSVDCIL`` nodes and by ``scripts/convert_checkpoint.py``.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from . import safe_files
from .dynamicrafter_keys import release_unet_state_dict
from .svd_keys import SVDKeyError, convert_svd_unet, describe_keys, diffusers_norm_eps, is_comfy_svd, is_diffusers_svd
from .text import quoted

PICKLE_EXTENSIONS = (".ckpt", ".pt", ".pth", ".bin")
SAFETENSORS_EXTENSIONS = (".safetensors", ".sft")
EXTENSIONS = PICKLE_EXTENSIONS + SAFETENSORS_EXTENSIONS
WEIGHTS = ("auto", "ema", "state_dict")
ARCHS = ("svd_cil", "dynamicrafter", "as_is")
# container keys, in the order "auto" looks for them
EMA_KEYS = ("ema_state", "ema", "model_ema", "state_dict_ema", "ema_state_dict")
STATE_KEYS = ("state_dict", "model_state_dict", "model", "module")
STRIP_PREFIXES = ("_forward_module.", "module.")
# safetensors metadata of a converted SVD-CIL file: what a loader needs to reproduce diffusers' forward exactly
NORM_EPS_METADATA = "cil_diffusers_norm_eps"  # JSON {ComfyUI GroupNorm module: eps}
HEAD_METADATA = "cil_head_channels"  # attention head width (64 for every released SVD)
UNSAFE_MESSAGE = "contains Python objects that would run code; only plain tensor checkpoints load"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and says why."""


class UnsafePickleError(CheckpointError):
    """A pickle that would run code (refused unread); ``detail`` says what it asks for, e.g. 'builtins.exec'."""

    def __init__(self, message: str, detail: str):
        super().__init__(message)
        self.detail = detail


class OutputError(CheckpointError):
    """An output file that cannot be written; the message names the path and the fix."""


# --- reading ------------------------------------------------------------------------------------------------

def read_checkpoint(path: str | os.PathLike) -> tuple[object, dict]:
    """(object, safetensors metadata) of a checkpoint file. Safetensors give a flat dict; pickles give whatever
    plain container they hold. Never executes code from the file."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise CheckpointError(f"{name}: no such file ({path})")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_EXTENSIONS:
        return _read_safetensors(path)
    if suffix in PICKLE_EXTENSIONS:
        return _read_pickle(path), {}
    raise CheckpointError(f"{name}: unknown checkpoint type {quoted(suffix)}; use one of {', '.join(EXTENSIONS)}")


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            sd = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # noqa: BLE001 - any reader failure means the file is unusable
        raise CheckpointError(f"{path.name}: cannot read it as safetensors ({_short(err)}); the file is truncated "
                              "or not a safetensors file (re-download it)") from err
    return sd, metadata


def _read_pickle(path: Path) -> object:
    name = path.name
    if path.stat().st_size == 0:
        raise CheckpointError(f"{name}: the file is empty (truncated download?)")
    is_zip = zipfile.is_zipfile(path)
    if not is_zip and _looks_like_truncated_zip(path):
        raise CheckpointError(f"{name}: truncated or corrupt torch zip archive (no central directory); "
                              "re-download the file")
    try:
        # mmap keeps multi-GB checkpoints (optimizer state included) out of RAM until a tensor is used
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as err:
        text = str(err)
        if "Weights only load failed" in text and not _is_truncation(text):
            detail = _unsafe_detail(text)
            raise UnsafePickleError(f"{name}: {UNSAFE_MESSAGE} ({detail}). Convert it where you trust its source, "
                                    "or get a safetensors copy", detail) from err
        raise CheckpointError(f"{name}: truncated or corrupt pickle ({_short(err)}); re-download the file") from err
    except Exception as err:  # noqa: BLE001 - EOFError, IndexError, RuntimeError...: a cut or damaged file
        raise CheckpointError(f"{name}: truncated or corrupt checkpoint ({_short(err)}); re-download the file") \
            from err


def _looks_like_truncated_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"  # a zip's first record without a readable central directory


def _is_truncation(text: str) -> bool:
    return any(s in text for s in ("EOF", "ran out of input", "truncated", "pickle data was truncated"))


def _unsafe_detail(text: str) -> str:
    m = re.search(r"GLOBAL ([\w.]+)", text)
    if m:
        return f"it asks for {m.group(1)}"
    return "torch.load(weights_only=True) refused it"


def _short(err: BaseException, limit: int = 240) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[:limit] + "…"


# --- containers ---------------------------------------------------------------------------------------------

def _is_tensor_dict(obj) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def strip_prefixes(sd: dict) -> dict:
    """Drop ``_forward_module.`` (deepspeed) and ``module.`` (DDP) from the keys when every key has them."""
    changed = True
    while changed and sd:
        changed = False
        for prefix in STRIP_PREFIXES:
            if all(k.startswith(prefix) for k in sd):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                changed = True
    return sd


def _ema_from_shadow(ema: Mapping, state: dict | None, name: str) -> dict:
    """diffusers EMAModel state: ``shadow_params`` is a list in the model's parameters() order; names come from
    the checkpoint's own state_dict (same order for buffer-free models such as the SVD UNet; shapes checked)."""
    shadow = list(ema["shadow_params"])
    if state is None:
        raise CheckpointError(f"{name}: its EMA weights are a bare list (diffusers EMAModel 'shadow_params') and "
                              "there is no 'state_dict' to name them; use weights 'state_dict' or another file")
    keys = [k for k, v in state.items() if v.is_floating_point()]
    if len(keys) != len(shadow):
        raise CheckpointError(f"{name}: EMA has {len(shadow)} tensors but the state_dict has {len(keys)} "
                              "floating-point tensors; cannot pair them")
    out = dict(state)
    for key, value in zip(keys, shadow):
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(state[key].shape):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise CheckpointError(f"{name}: EMA tensor for {quoted(key)} has shape {shape}, the state_dict "
                                  f"{tuple(state[key].shape)}; the EMA does not follow the state_dict order")
        out[key] = value
    return out


def select_weights(obj, weights: str = "auto", name: str = "checkpoint") -> tuple[dict, str]:
    """(flat state dict with DDP/deepspeed prefixes stripped, which weights were taken: 'ema'/'state_dict')."""
    if weights not in WEIGHTS:
        raise CheckpointError(f"weights {quoted(weights)} is unknown: use one of {', '.join(WEIGHTS)}")
    if _is_tensor_dict(obj):
        if weights == "ema":
            raise CheckpointError(f"{name}: a plain state dict without EMA weights; use weights 'state_dict' "
                                  "(or 'auto')")
        return strip_prefixes(dict(obj)), "state_dict"
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name}: holds a {type(obj).__name__}, not a state dict or a checkpoint dict")

    state = next((obj[k] for k in STATE_KEYS if k in obj and _is_tensor_dict(obj[k])), None)
    state = strip_prefixes(dict(state)) if state is not None else None
    ema_key = next((k for k in EMA_KEYS if k in obj and obj[k] is not None), None)
    found = [str(k) for k in obj.keys()][:12]

    if weights in ("auto", "ema") and ema_key is not None:
        ema = obj[ema_key]
        if _is_tensor_dict(ema):
            sd = strip_prefixes(dict(ema))
            if state is not None:  # EMA dicts may hold only parameters: keep buffers from the state_dict
                sd = dict({k: v for k, v in state.items() if k not in sd}, **sd)
            return sd, "ema"
        if isinstance(ema, Mapping) and "shadow_params" in ema:
            return _ema_from_shadow(ema, state, name), "ema"
        raise CheckpointError(f"{name}: {quoted(ema_key)} is neither a name->tensor dict nor a diffusers EMAModel "
                              "state")
    if weights == "ema":
        raise CheckpointError(f"{name}: no EMA weights (looked for {', '.join(EMA_KEYS)}; the file has "
                              f"{', '.join(found)}); use weights 'state_dict'")
    if state is None:
        raise CheckpointError(f"{name}: no state dict inside (looked for {', '.join(STATE_KEYS)}; the file has "
                              f"{', '.join(found)})")
    return state, "state_dict"


def strip_unet_prefix(sd: dict) -> dict:
    """Drop a ``unet.`` / ``model.diffusion_model.`` prefix shared by every key."""
    for prefix in ("unet.", "model.diffusion_model."):
        if sd and all(k.startswith(prefix) for k in sd):
            return {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def convert_architecture(sd: dict, arch: str, name: str = "checkpoint") -> dict:
    """``as_is``: unchanged. ``svd_cil``: a diffusers SVD UNet (SVD-CIL) renamed to ComfyUI's SVD UNet keys (a
    file already in ComfyUI's layout passes through); ``dynamicrafter``: the UNet + image projector of a
    DynamiCrafter / VideoCrafter1 (CIL) release, without its VAE, encoders and schedule buffers. Anything else is
    refused, saying what it looks like."""
    if arch == "as_is":
        return sd
    if arch == "dynamicrafter":
        try:
            return release_unet_state_dict(sd, name)
        except ValueError as err:
            raise CheckpointError(f"{err}; it looks like {describe_keys(sd)}") from err
    if arch != "svd_cil":
        raise CheckpointError(f"arch {quoted(arch)} is unknown: use one of {', '.join(ARCHS)}")
    sd = strip_unet_prefix(sd)
    if is_comfy_svd(sd):
        return sd
    if not is_diffusers_svd(sd):
        raise CheckpointError(f"{name}: not an SVD-CIL UNet (diffusers UNetSpatioTemporalConditionModel keys); "
                              f"it looks like {describe_keys(sd)}. Pick arch 'as_is' to only re-save it")
    try:
        return convert_svd_unet(sd)
    except SVDKeyError as err:
        raise CheckpointError(f"{name}: {err}") from err


def load_state_dict(path, weights: str = "auto", arch: str = "as_is") -> tuple[dict, dict]:
    """Read, unwrap and convert a checkpoint: (state dict, info {source, weights, arch, metadata})."""
    path = Path(path)
    obj, metadata = read_checkpoint(path)
    sd, taken = select_weights(obj, weights, path.name)
    sd = convert_architecture(sd, arch, path.name)
    return sd, {"source": path.name, "weights": taken, "arch": arch, "metadata": metadata}


# --- writing ------------------------------------------------------------------------------------------------

def prepare_for_safetensors(sd: dict, fp16: bool = False, name: str = "checkpoint") -> dict:
    """Contiguous CPU tensors; floating tensors cast to fp16 if asked (refusing overflow). Tensors sharing memory
    are fine: ``write_safetensors`` writes each one's bytes."""
    out = {}
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{name}: {quoted(key)} is a {type(value).__name__}, not a tensor")
        t = value.detach().to("cpu")
        if fp16 and t.is_floating_point() and t.dtype != torch.float16:
            half = t.to(torch.float16)
            if not torch.isfinite(half).all() and torch.isfinite(t).all():
                raise CheckpointError(f"{name}: {quoted(key)} overflows fp16 (max |x| {t.abs().max().item():.4g}); "
                                      "save without fp16")
            t = half
        out[key] = t.contiguous()
    return out


def check_output(out_path, overwrite: bool = False) -> Path:
    """The output path, or a CheckpointError naming it and the fix: not .safetensors, a folder, an existing file
    (without overwrite), a parent that is a file."""
    out_path = Path(out_path)
    if out_path.is_dir():
        raise OutputError(f"{out_path}: is a folder; give the file to write, e.g. "
                              f"{out_path / 'model.safetensors'}")
    if out_path.suffix.lower() not in SAFETENSORS_EXTENSIONS:
        raise OutputError(f"{out_path.name}: the output must end in .safetensors")
    if not overwrite and os.path.lexists(out_path):
        raise OutputError(f"{out_path}: already exists; pick another name or allow overwriting it")
    parent = next((p for p in out_path.parents if os.path.lexists(p)), None)
    if parent is not None and not parent.is_dir():
        raise OutputError(f"{parent}: is a file, so {out_path} cannot be created; pick an output in a folder")
    return out_path


def _size(n: int) -> str:
    unit = next((u for u in ("GiB", "MiB", "KiB") if n >= 2 ** {"GiB": 30, "MiB": 20, "KiB": 10}[u]), "bytes")
    return f"{n} bytes" if unit == "bytes" else f"{n / 2 ** {'GiB': 30, 'MiB': 20, 'KiB': 10}[unit]:.2f} {unit}"


def write_safetensors(sd: dict, out_path, fp16: bool = False, metadata: dict | None = None,
                      overwrite: bool = False) -> Path:
    """Write ``sd`` as safetensors; returns the path. The data is staged in the target folder and appears under
    its name only when complete (``safe_files.staged_write``): a failed or killed write leaves nothing there, and
    an existing file is replaced only with ``overwrite``. Not enough free space is refused up front."""
    out_path = check_output(out_path, overwrite)
    tensors = prepare_for_safetensors(sd, fp16, out_path.name)
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta.setdefault("format", "pt")
    try:
        header, _, data_bytes = safe_files.safetensors_header(tensors, meta)
    except TypeError as err:
        raise CheckpointError(f"{out_path.name}: {err}; convert that tensor first") from err
    folder = out_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
    except OSError as err:
        raise OutputError(f"{folder}: cannot create or use this folder ({err.strerror or err}); pick an "
                              "output folder you can write to") from err
    need = len(header) + data_bytes
    if need > free:
        raise OutputError(f"{out_path}: needs {_size(need)} but {folder} has {_size(free)} free; free some space "
                              "or pick another folder")
    try:
        with safe_files.staged_write(out_path, overwrite) as f:
            safe_files.write_safetensors_to(f, tensors, meta)
    except FileExistsError as err:
        raise OutputError(f"{out_path}: already exists (nothing was overwritten); pick another name or allow "
                              "overwriting it") from err
    except OSError as err:
        raise OutputError(f"{out_path}: cannot write it ({err.strerror or err}); nothing was left behind. Pick "
                              "an output folder you can write to, with room for the file") from err
    return out_path


def head_channels_from_config(config: dict, source: str = "config.json") -> int:
    """Attention head width of a diffusers SVD UNet config.json (ComfyUI's SVD uses one width for every level)."""
    channels = config.get("block_out_channels", [320, 640, 1280, 1280])
    heads = config.get("num_attention_heads", [5, 10, 20, 20])
    heads = [heads] * len(channels) if isinstance(heads, int) else list(heads)
    widths = {c // h for c, h in zip(channels, heads) if h}
    if len(widths) != 1 or any(c % h for c, h in zip(channels, heads) if h):
        raise CheckpointError(f"{source}: block_out_channels {channels} / num_attention_heads {heads} give "
                              "different head widths per level; ComfyUI's SVD UNet needs one width")
    return widths.pop()


def svd_cil_metadata(raw: dict, in_path) -> dict:
    """Metadata for a converted SVD-CIL file: diffusers' resnet norm eps and the head width (from a config.json
    beside the input, else SVD's 64)."""
    meta = {}
    raw = strip_unet_prefix(raw)
    if is_diffusers_svd(raw):
        meta[NORM_EPS_METADATA] = json.dumps(diffusers_norm_eps(raw.keys()), sort_keys=True)
    head = head_channels_beside(in_path)
    if head is not None:
        meta[HEAD_METADATA] = str(head)
    return meta


def head_channels_beside(path) -> int | None:
    """Head width from a diffusers SVD UNet ``config.json`` next to ``path`` (the diffusers folder layout); None
    when there is none or it belongs to another model class."""
    config_file = Path(path).with_name("config.json")
    if not config_file.is_file():
        return None
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{config_file}: unreadable JSON ({_short(err)})") from err
    if not isinstance(config, dict) or config.get("_class_name", "UNetSpatioTemporalConditionModel") != \
            "UNetSpatioTemporalConditionModel" or "addition_time_embed_dim" not in config:
        return None
    return head_channels_from_config(config, str(config_file))


REQUEST_METADATA = "cil_request"  # JSON: the source file (name, size, mtime) and the settings of a conversion


def conversion_request(in_path, weights: str, arch: str, fp16: bool) -> str:
    """What identifies a conversion: the source file as it is now (name, size, mtime) and the settings."""
    st = Path(in_path).stat()
    return json.dumps({"source": Path(in_path).name, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                       "weights": weights, "arch": arch, "fp16": bool(fp16)}, sort_keys=True)


def is_conversion_of(out_path, in_path, weights: str, arch: str, fp16: bool) -> bool:
    """True when ``out_path`` is a file this converter wrote from ``in_path`` as it is now, with these settings
    (read from its safetensors header only)."""
    from safetensors import safe_open

    try:
        with safe_open(str(out_path), framework="pt", device="cpu") as f:
            recorded = (f.metadata() or {}).get(REQUEST_METADATA)
        return recorded == conversion_request(in_path, weights, arch, fp16)
    except Exception:  # noqa: BLE001 - not ours, unreadable, or gone: not this conversion
        return False


def convert_file(in_path, out_path, weights: str = "auto", arch: str = "as_is", fp16: bool = False,
                 overwrite: bool = False) -> dict:
    """Checkpoint -> safetensors. Returns {output, source, weights, arch, tensors, dtype}. An existing output is
    refused (before the input is read) unless ``overwrite``."""
    in_path = Path(in_path)
    if arch not in ARCHS:
        raise CheckpointError(f"arch {quoted(arch)} is unknown: use one of {', '.join(ARCHS)}")
    check_output(out_path, overwrite)
    obj, metadata_in = read_checkpoint(in_path)
    request = conversion_request(in_path, weights, arch, fp16)
    raw, taken = select_weights(obj, weights, in_path.name)
    extra = svd_cil_metadata(raw, in_path) if arch == "svd_cil" else {}
    sd = convert_architecture(raw, arch, in_path.name)
    if arch == "svd_cil":
        for key in (NORM_EPS_METADATA, HEAD_METADATA):  # re-converting a converted file keeps what it knew
            if key in metadata_in and key not in extra:
                extra[key] = metadata_in[key]
    metadata = {
        "cil_source": in_path.name, "cil_weights": taken,
        "cil_arch": {"svd_cil": "diffusers SVD UNet -> ComfyUI SVD UNet keys", "as_is": "as_is",
                     "dynamicrafter": "DynamiCrafter/VideoCrafter1 UNet + image projector (release keys)"}[arch],
        "cil_dtype": "fp16" if fp16 else "as stored", "cil_converter": "consistent-dynamic-i2v convert_checkpoint",
        **extra, REQUEST_METADATA: request,
    }
    path = write_safetensors(sd, out_path, fp16=fp16, metadata=metadata, overwrite=overwrite)
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in sd.values()})
    if fp16:
        dtypes = sorted({"float16" if d.startswith(("float", "bfloat")) else d for d in dtypes})
    return {"output": str(path), "source": in_path.name, "weights": taken, "arch": arch, "tensors": len(sd),
            "dtype": ",".join(dtypes)}
