"""ConsistI2V as a ComfyUI model: model config (epsilon, diffusers 'linear' betas = ComfyUI 'sqrt_linear'),
BaseModel with the first-frame conditioning, and the loader behind the loader node."""
from __future__ import annotations

from pathlib import Path

import torch

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.ops
import comfy.supported_models_base
import comfy.utils

from ..modelkit import build_patcher, meta_state_shapes, require_memory
from .config import check_state_dict, infer_config, normalise_config, read_config_file, strip_prefix
from .unet import ConsistI2VUNet

FIRST_FRAME_KEY = "consisti2v_first_frame"
STRIDE_KEY = "consisti2v_frame_stride"
# the first frame as the UNet sees it (model-input space, not scaled again): image guidance's noisy first frame
FIRST_FRAME_STATE_KEY = "consisti2v_first_frame_state"


class ConsistI2VModel(comfy.model_base.BaseModel):
    def __init__(self, model_config, model_type=comfy.model_base.ModelType.EPS, device=None):
        super().__init__(model_config, model_type, device=device, unet_model=ConsistI2VUNet)

    def extra_conds(self, **kwargs):
        out = super().extra_conds(**kwargs)
        first = kwargs.get(FIRST_FRAME_KEY)
        if first is not None:
            noise = kwargs["noise"]
            if first.shape[-2:] != noise.shape[-2:]:
                raise ValueError(f"first frame latent {tuple(first.shape[-2:])} and sampled latent "
                                 f"{tuple(noise.shape[-2:])} differ in size: sample the latent that "
                                 "'ConsistI2V Conditioning' outputs")
            state = kwargs.get(FIRST_FRAME_STATE_KEY)
            first = self.process_latent_in(first[:1]) if state is None else state[:1]
            out["first_frame"] = comfy.conds.CONDRegular(first)
            out["num_video_frames"] = comfy.conds.CONDConstant(noise.shape[0])
            out["frame_stride"] = comfy.conds.CONDConstant(kwargs.get(STRIDE_KEY, 3))
        return out


class ConsistI2VConfig(comfy.supported_models_base.BASE):
    unet_config = {}
    unet_extra_config = {}
    sampling_settings = {"beta_schedule": "sqrt_linear", "linear_start": 0.00085, "linear_end": 0.012}
    latent_format = comfy.latent_formats.SD15
    memory_usage_factor = 2.0
    supported_inference_dtypes = [torch.float16, torch.bfloat16, torch.float32]

    def get_model(self, state_dict, prefix="", device=None):
        return ConsistI2VModel(self, device=device)


INFERRED = "the tensor shapes"


def config_origin(path: str | Path) -> str:
    """Where the config of a weights file comes from: the ``config.json`` beside it, else its tensor shapes."""
    config_file = Path(path).with_name("config.json")
    return str(config_file) if config_file.is_file() else INFERRED


def read_checkpoint(path: str | Path, source: str | None = None) -> tuple[dict, dict]:
    """State dict (safe loading only, floating-point tensors only) and its normalised config (``config.json``
    beside the file, read and checked first; else inferred from the tensor shapes)."""
    path = Path(path)
    source = source or f"unet_name ({path.name})"
    if path.suffix not in (".safetensors", ".sft"):
        raise ValueError(f"{source}: {path.name} is not a .safetensors file; convert pickled checkpoints to "
                         "safetensors first (pickles can run code)")
    origin = config_origin(path)
    cfg = normalise_config(read_config_file(origin), origin) if origin != INFERRED else None
    try:
        sd = comfy.utils.load_torch_file(str(path), safe_load=True)
    except Exception as err:  # noqa: BLE001 - any reader failure means the file is unusable
        raise ValueError(f"{source}: cannot read {path.name} as safetensors ({err}); the file may be truncated") \
            from err
    sd = strip_prefix(sd)
    refuse_non_float(sd, source)
    return sd, (infer_config(sd, source) if cfg is None else cfg)


def refuse_non_float(sd: dict, source: str) -> None:
    """Integer / bool tensors would be copied into the float weights as plain numbers: a wrong video, silently."""
    bad = sorted(k for k, v in sd.items() if not v.is_floating_point())
    if bad:
        kinds = ", ".join(f"{k} is {str(sd[k].dtype).replace('torch.', '')}" for k in bad[:3])
        raise ValueError(f"{source}: {len(bad)} of {len(sd)} tensors are not floating point ({kinds}"
                         f"{', ...' if len(bad) > 3 else ''}): integer or quantised weights would load as wrong "
                         "numbers. Use the original fp32 / fp16 / bf16 diffusion_pytorch_model.safetensors")


def sized_check(sd: dict, cfg: dict, origin: str, source: str, dtype: torch.dtype | None):
    """Before anything is allocated: the UNet of ``cfg`` built on the meta device gives the parameter count (the
    weight dtype ComfyUI would pick, and the memory it needs, refused when more than is available) and the key
    shapes ``sd`` must fit. Returns (dtype, check for :func:`build_patcher`)."""
    params, shapes = meta_state_shapes(lambda device: ConsistI2VUNet(
        cfg, dtype=torch.float32, device=device, operations=comfy.ops.disable_weight_init))
    if dtype is None:
        dtype = comfy.model_management.unet_dtype(model_params=params,
                                                  supported_dtypes=ConsistI2VConfig.supported_inference_dtypes)
    held = sum(v.numel() * v.element_size() for v in sd.values())
    fix = (f"Check that {Path(origin).name} belongs to these weights (block_out_channels "
           f"{cfg['block_out_channels']}; the file holds {held / 1e9:.2f} GB of weights), or free memory"
           if origin != INFERRED else "Free memory, or pick weight_dtype fp16 / bf16")
    require_memory(params * dtype.itemsize, f"{source}: the UNet of {origin} ({params / 1e9:.2f} billion "
                   f"parameters as {str(dtype).replace('torch.', '')})", fix)
    check_state_dict(shapes, sd, source)
    return dtype, lambda expected: check_state_dict(expected, sd, source)


def build_model(sd: dict, cfg: dict, source: str, dtype: torch.dtype | None = None,
                origin: str = "its config"):
    """A ModelPatcher around a ConsistI2VModel holding ``sd`` (sized and strictly checked before allocation)."""
    dtype, check = sized_check(sd, cfg, origin, source, dtype)
    model_config = ConsistI2VConfig({"consisti2v_config": cfg})
    return build_patcher(model_config, sd, dtype, check)


def load_consisti2v(path: str | Path, dtype: torch.dtype | None = None, name: str | None = None):
    source = f"unet_name ({name or Path(path).name})"
    sd, cfg = read_checkpoint(path, source)
    return build_model(sd, cfg, source, dtype, config_origin(path))
