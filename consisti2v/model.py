"""ConsistI2V as a ComfyUI model: model config (epsilon, diffusers 'linear' betas = ComfyUI 'sqrt_linear'),
BaseModel with the first-frame conditioning, and the loader behind the loader node."""
from __future__ import annotations

import json
from pathlib import Path

import torch

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.supported_models_base
import comfy.utils

from ..modelkit import build_patcher
from .config import check_state_dict, infer_config, normalise_config, strip_prefix
from .unet import ConsistI2VUNet

FIRST_FRAME_KEY = "consisti2v_first_frame"
STRIDE_KEY = "consisti2v_frame_stride"


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
            out["first_frame"] = comfy.conds.CONDRegular(self.process_latent_in(first[:1]))
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


def read_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """State dict (safe loading only) and its normalised config: ``config.json`` beside the file, else inferred."""
    path = Path(path)
    if path.suffix not in (".safetensors", ".sft"):
        raise ValueError(f"unet_name: {path.name} is not a .safetensors file; convert pickled checkpoints to "
                         "safetensors first (pickles can run code)")
    try:
        sd = comfy.utils.load_torch_file(str(path), safe_load=True)
    except Exception as err:  # noqa: BLE001 - any reader failure means the file is unusable
        raise ValueError(f"unet_name: cannot read {path.name} as safetensors ({err}); the file may be truncated") \
            from err
    sd = strip_prefix(sd)
    config_file = path.with_name("config.json")
    if config_file.is_file():
        cfg = normalise_config(json.loads(config_file.read_text()), source=str(config_file))
    else:
        cfg = infer_config(sd)
    return sd, cfg


def build_model(sd: dict, cfg: dict, source: str, dtype: torch.dtype | None = None):
    """A ModelPatcher around a ConsistI2VModel holding ``sd`` (strictly checked)."""
    model_config = ConsistI2VConfig({"consisti2v_config": cfg})
    return build_patcher(model_config, sd, dtype, lambda expected: check_state_dict(expected, sd, source))


def load_consisti2v(path: str | Path, dtype: torch.dtype | None = None):
    sd, cfg = read_checkpoint(path)
    return build_model(sd, cfg, f"unet_name ({Path(path).name})", dtype)
