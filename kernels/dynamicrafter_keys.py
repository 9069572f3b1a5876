"""DynamiCrafter / VideoCrafter1 release checkpoints: which keys are the UNet and image projector, which are the
parts ComfyUI loads with its own loaders (pure python, no ComfyUI)."""
from __future__ import annotations

PREFIX = "model.diffusion_model."
RESAMPLER = "image_proj_model."
# parts of a full release checkpoint that ComfyUI loads with its own loaders (VAE, text and image encoders)
OTHER_PARTS = ("first_stage_model.", "cond_stage_model.", "embedder.", "model_ema.")
SCHEDULE_BUFFERS = {"betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                    "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
                    "posterior_mean_coef1", "posterior_mean_coef2", "scale_arr", "scale_arr_prev",
                    "logvar", "scale_factor", "lvlb_weights"}
OLD_NAMES = (("framestride_embed.", "fps_embedding."),)  # older DynamiCrafter checkpoints (the 256 release)


def _renamed(key: str) -> str:
    for old, new in OLD_NAMES:
        if key.startswith(old):
            return new + key[len(old):]
    return key


def module_state_dict(sd: dict, source: str = "state dict") -> dict:
    """Our module's keys from an official checkpoint's ``state_dict``: ``model.diffusion_model.*`` stripped,
    ``image_proj_model.*`` kept, the VAE / encoders / schedule buffers dropped (ComfyUI loads those itself), old
    names renamed. Unprefixed dicts (converted files) pass through; any other key of a release file is refused."""
    if not any(k.startswith(PREFIX) for k in sd):
        return {_renamed(k): v for k, v in sd.items()}
    out, stray = {}, []
    for key, value in sd.items():
        if key.startswith(PREFIX):
            out[_renamed(key[len(PREFIX):])] = value
        elif key.startswith(RESAMPLER):
            out[key] = value
        elif not (key.startswith(OTHER_PARTS) or key in SCHEDULE_BUFFERS):
            stray.append(key)
    if stray:
        raise ValueError(f"{source}: {len(stray)} keys belong to no DynamiCrafter part: {', '.join(stray[:6])}")
    return out


def release_unet_state_dict(sd: dict, source: str = "state dict") -> dict:
    """The UNet and image projector of a release checkpoint, in the release layout (``model.diffusion_model.*``,
    ``image_proj_model.*``): what the loader needs, a fraction of the 10 GB file."""
    if not any(k.startswith(PREFIX) for k in sd):
        raise ValueError(f"{source}: no 'model.diffusion_model.*' keys: not a DynamiCrafter / VideoCrafter1 "
                         "release checkpoint")
    return {(k if k.startswith(RESAMPLER) else PREFIX + k): v for k, v in module_state_dict(sd, source).items()}
