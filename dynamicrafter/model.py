"""DynamiCrafter / VideoCrafter1 image-to-video (and their CIL TimeNoise fine-tunes) as ComfyUI models:
model config (schedule and prediction of each release), a BaseModel that feeds the UNet its image latent, CLIP
image tokens and frame stride, DynamiCrafter's dynamic x0 rescale, and the safe loader behind the loader node."""
from __future__ import annotations

from pathlib import Path

import torch

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.supported_models_base

from ..kernels.checkpoints import CheckpointError, load_state_dict
from ..modelkit import build_patcher, requiring_fit
from .configs import PRESETS, detect, module_state_dict
from .unet import DynamiCrafterUNet

IMAGE_LATENT_KEY = "dynamicrafter_image_latent"   # [1, 4, h, w] VAE latent of the conditioning image (unscaled)
CLIP_TOKENS_KEY = "dynamicrafter_clip_tokens"     # [1, n, d] CLIP vision last_hidden_state
FS_KEY = "dynamicrafter_fs"                       # frame stride (DynamiCrafter) / fps (VideoCrafter1)
FRAMES_KEY = "dynamicrafter_frames"               # frames per video
# set by TimeNoise Conditioning: the noised concat latent per frame [frames, 4, h, w] in model space (scaled), and
# (beta, seed, per_element) of the noise added to the image tokens after the Resampler (inside the UNet)
CONCAT_KEY = "dynamicrafter_concat_latent"
TOKEN_NOISE_KEY = "dynamicrafter_token_noise"

TURNING_STEP = 400  # DynamiCrafter's scale_arr: linspace(1, base_scale, 400) then base_scale


def dynamic_scale(t: torch.Tensor, base_scale: float) -> torch.Tensor:
    """DynamiCrafter's latent scale s(t) at (continuous) timestep t: 1 → base_scale over t = 0…399."""
    return 1.0 + (base_scale - 1.0) * (t.clamp(0, TURNING_STEP - 1) / (TURNING_STEP - 1))


def next_sigma(sigma: torch.Tensor, sample_sigmas: torch.Tensor | None) -> torch.Tensor | None:
    """The sigma the sampler steps to from ``sigma``: the largest schedule entry below it (None if unknown)."""
    if sample_sigmas is None:
        return None
    s = sample_sigmas.to(sigma.device, torch.float32).reshape(-1)
    below = s[s < float(sigma.max()) * (1 - 1e-5)]
    return below.max() if below.numel() else None


class DynamiCrafterModel(comfy.model_base.BaseModel):
    def __init__(self, model_config, model_type=comfy.model_base.ModelType.V_PREDICTION, device=None):
        super().__init__(model_config, model_type, device=device, unet_model=DynamiCrafterUNet)
        self.base_scale = model_config.preset.get("base_scale")
        self.concat_image = model_config.unet_config["dynamicrafter_config"]["unet"]["in_channels"] > 4
        # VideoCrafter's DDIM rescales the last x0 to s = 1; DynamiCrafter's keeps the last step's scale
        self.rescale_last = model_config.preset["variant"] == "videocrafter1"

    def extra_conds(self, **kwargs):
        out = super().extra_conds(**kwargs)
        noise = kwargs["noise"]
        frames = int(kwargs.get(FRAMES_KEY, noise.shape[0]))
        if noise.shape[0] % frames:
            raise ValueError(f"the latent holds {noise.shape[0]} frames, not a multiple of length {frames}: sample "
                             "the latent that 'CIL DynamiCrafter Conditioning' outputs")
        image, noised = kwargs.get(IMAGE_LATENT_KEY), kwargs.get(CONCAT_KEY)
        if noised is not None and not self.concat_image:
            raise ValueError("TimeNoise Conditioning target concat_latent: VideoCrafter1 takes the image only through "
                             "its CLIP image tokens (it has no concat latent): set target to image_embedding")
        if image is not None and self.concat_image:  # VideoCrafter1 takes the image through CLIP only
            if image.shape[-2:] != noise.shape[-2:]:
                raise ValueError(f"image latent {tuple(image.shape[-2:])} and sampled latent "
                                 f"{tuple(noise.shape[-2:])} differ in size: sample the latent that "
                                 "'CIL DynamiCrafter Conditioning' outputs")
            if noised is None:
                image = self.process_latent_in(image[:1]).repeat(noise.shape[0], 1, 1, 1)
            elif noised.shape[0] != frames:
                raise ValueError(f"the TimeNoise concat latent holds {noised.shape[0]} frames but the video "
                                 f"{frames}: put TimeNoise Conditioning after CIL DynamiCrafter Conditioning")
            else:
                image = noised.repeat(noise.shape[0] // frames, 1, 1, 1)
            out["c_concat"] = comfy.conds.CONDNoiseShape(image)
        tokens = kwargs.get(CLIP_TOKENS_KEY)
        if tokens is not None:
            out["clip_image_tokens"] = comfy.conds.CONDRegular(tokens)
        if TOKEN_NOISE_KEY in kwargs:  # a constant: batched only with conds holding the same noise
            out["clip_token_noise"] = comfy.conds.CONDConstant(tuple(kwargs[TOKEN_NOISE_KEY]))
        out["num_video_frames"] = comfy.conds.CONDConstant(frames)
        if FS_KEY in kwargs:
            out["fs"] = comfy.conds.CONDConstant(int(kwargs[FS_KEY]))
        return out

    def rescale_factor(self, sigma: torch.Tensor, sigma_next: torch.Tensor | None) -> torch.Tensor | None:
        """The factor on x0 that reproduces the official dynamic rescale (trained on s(t)·z, its DDIM takes
        x0·r with r = s(t_next)/s(t) but keeps the model's noise). ComfyUI's samplers derive the noise from x0, so
        x0 is scaled by m = 1 + (r-1)·(1-ᾱ_t)/(1-ᾱ_t/ᾱ_next): exact for the ddpm sampler (= DDIM eta 1)."""
        if sigma_next is None:
            return None
        ms = self.model_sampling
        if float(sigma_next) > 0:
            scale_next = dynamic_scale(ms.timestep(sigma_next.reshape(1)).float(), self.base_scale)
        elif self.rescale_last:
            scale_next = torch.ones(1, device=sigma.device)
        else:
            return None
        r = scale_next / dynamic_scale(ms.timestep(sigma).float(), self.base_scale)
        ab = 1.0 / (1.0 + sigma.float() ** 2)
        ab_next = 1.0 / (1.0 + sigma_next.float().to(sigma.device) ** 2)
        return 1.0 + (r - 1.0) * (1.0 - ab) / (1.0 - ab / ab_next)


def dynamic_rescale(args: dict) -> torch.Tensor:
    """sampler_post_cfg_function (set by :func:`build_model` on models with a base_scale): the official dynamic x0
    rescale on the guided x0 (after CFG and guidance rescale, as the official DDIM), the next sigma read off the
    sampler's schedule."""
    model, denoised, sigma = args["model"], args["denoised"], args["sigma"]
    options = args["model_options"].get("transformer_options", {})
    factor = model.rescale_factor(sigma, next_sigma(sigma, options.get("sample_sigmas")))
    if factor is None:
        return denoised
    return denoised * factor.to(denoised.dtype).reshape(-1, *([1] * (denoised.dim() - 1)))


class DynamiCrafterConfig(comfy.supported_models_base.BASE):
    unet_config = {}
    unet_extra_config = {}
    latent_format = comfy.latent_formats.SD15
    memory_usage_factor = 2.0
    supported_inference_dtypes = [torch.float16, torch.bfloat16, torch.float32]

    def __init__(self, config: dict, preset: dict):
        super().__init__({"dynamicrafter_config": config, "attn_precision": torch.float32})
        self.preset = preset
        self.sampling_settings = {"beta_schedule": "linear", "linear_start": 0.00085, "linear_end": 0.012,
                                  "zsnr": bool(preset["zero_snr"])}

    def get_model(self, state_dict, prefix="", device=None):
        mtype = comfy.model_base.ModelType.V_PREDICTION if self.preset["prediction"] == "v" \
            else comfy.model_base.ModelType.EPS
        return DynamiCrafterModel(self, mtype, device=device)


def read_dynamicrafter(path: str | Path, weights: str = "auto") -> dict:
    path = Path(path)
    try:
        raw, _ = load_state_dict(path, weights, "as_is")
    except CheckpointError as err:
        raise ValueError(f"unet_name: {err}") from err
    return module_state_dict(raw, f"unet_name ({path.name})")


def resolve_preset(sd: dict, preset_name: str, source: str, name_hint: str | None = None) -> tuple[str, dict, dict]:
    """(preset name, module config, preset) for a state dict; ``auto`` picks the release the shapes (and a "1024"
    in the file name) say."""
    try:
        family, config = detect(sd, name_hint)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from err
    name = family if preset_name == "auto" else preset_name
    if name not in PRESETS:
        raise ValueError(f"model_type '{preset_name}' is unknown: use auto or one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    if preset["variant"] != config["variant"]:
        raise ValueError(f"{source}: model_type {name} is a {preset['variant']} model but the file holds a "
                         f"{config['variant']} UNet; pick auto or a {config['variant']} model_type")
    return name, config, preset


def build_model(sd: dict, config: dict, preset: dict, source: str, dtype: torch.dtype | None = None):
    """A ModelPatcher around a DynamiCrafterModel holding ``sd`` (strictly checked)."""
    patcher = build_patcher(DynamiCrafterConfig(config, preset), sd, dtype,
                            requiring_fit(sd, source, "the detected UNet"))
    if preset.get("base_scale"):
        patcher.set_model_sampler_post_cfg_function(dynamic_rescale)
    return patcher


def load_dynamicrafter(path: str | Path, preset_name: str = "auto", weights: str = "auto",
                       dtype: torch.dtype | None = None):
    """(ModelPatcher, preset name) of a DynamiCrafter / VideoCrafter1 (CIL) checkpoint file."""
    source = f"unet_name ({Path(path).name})"
    sd = read_dynamicrafter(path, weights)
    name, config, preset = resolve_preset(sd, preset_name, source, Path(path).name)
    return build_model(sd, config, preset, source, dtype), name
