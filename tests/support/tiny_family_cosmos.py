"""Tiny Cosmos Predict2 I2V stand-ins (imported by ``tiny_models.family_modules()``, global ``tiny_models``).

- DiT (``cosmos_predict2_2B_video2world_480p_16fps.safetensors``): a ``comfy.ldm.cosmos.predict2.MiniTrainDIT``
  state dict at a tiny width, NOT substituted: core's ``model_detection`` reads it (17 input channels = 16 +
  the inverted-mask channel) and picks ``supported_models.CosmosI2VPredict2`` (``model_base.CosmosPredict2``,
  COSMOS_RFLOW sampling, sigma 0.002..80, Wan 2.1 latent format). Detection fixes the cross-attention width at
  1024 (the old T5-XXL's width) and, for a width other than 2048/5120, the MiniTrainDIT defaults (10 blocks,
  16 heads): width 192 gives heads of 12 (the 3-D RoPE needs more than 8).
- VAE (``wan_2.1_vae.safetensors``): core reads the Wan 2.1 VAE's width from the file, so a tiny one loads
  unsubstituted. The Wan family module's writer is used when it has one (tests/support/tiny_family_wan.py);
  this module's own minimal one otherwise.
- Text encoder (``oldt5_xxl_fp8_e4m3fn_scaled.safetensors``, CLIPLoader type cosmos): core builds the old
  T5-XXL at a fixed size, so the ``comfy.sd.load_clip`` wrapper builds core's ``cosmos.te()`` with core's
  config override (``t5xxl_model_config``): 1 layer, small heads, still 1024 wide with the full vocabulary.
"""
from __future__ import annotations

import functools
import json

import torch

FAMILY = "cosmos_predict2"
MARKER = "cdi2v_tiny_family"

DIT_FILE = "cosmos_predict2_2B_video2world_480p_16fps.safetensors"
VAE_FILE = "wan_2.1_vae.safetensors"
T5_FILE = "oldt5_xxl_fp8_e4m3fn_scaled.safetensors"

# What model_detection derives for a 192-wide I2V file (cosmos_predict2 branch).
DIT_CONFIG = {
    "max_img_h": 240, "max_img_w": 240, "max_frames": 128, "in_channels": 17, "out_channels": 16,
    "patch_spatial": 2, "patch_temporal": 1, "model_channels": 192, "concat_padding_mask": True,
    "crossattn_emb_channels": 1024, "pos_emb_cls": "rope3d", "pos_emb_learnable": True,
    "pos_emb_interpolation": "crop", "min_fps": 1, "max_fps": 30, "use_adaln_lora": True, "adaln_lora_dim": 256,
    "extra_h_extrapolation_ratio": 1.0, "extra_w_extrapolation_ratio": 1.0, "extra_t_extrapolation_ratio": 1.0,
    "rope_enable_fps_modulation": False,
}
TEXT_DIM = 1024  # fixed by detection (crossattn_emb_channels)

WAN_VAE_DIM = 8  # core: dim = decoder.head.0.gamma.shape[0]
T5_OVERRIDE = {"num_layers": 1, "num_heads": 2, "d_kv": 16, "d_ff": 32}


# --- DiT -------------------------------------------------------------------------------------------------------
def dit_state_dict(seed=0):
    import comfy.ops
    from comfy.ldm.cosmos.predict2 import MiniTrainDIT

    model = MiniTrainDIT(**json.loads(json.dumps(DIT_CONFIG)), dtype=torch.float32,
                         operations=comfy.ops.disable_weight_init)
    return tiny_models.random_state_dict(model, seed)


def write_dit(path, seed=0):
    sd = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in dit_state_dict(seed).items()}
    return tiny_models._save_weights(sd, path)


def build_model(seed=0):
    """The tiny DiT through core's own state-dict loader (detection included): a ModelPatcher."""
    import comfy.sd
    return comfy.sd.load_diffusion_model_state_dict(dit_state_dict(seed))


# --- Wan 2.1 VAE -----------------------------------------------------------------------------------------------
def _own_wan_vae_state_dict(seed=0):
    from comfy.ldm.wan.vae import WanVAE
    vae = WanVAE(dim=WAN_VAE_DIM, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                 temperal_downsample=[False, True, True], image_channels=3, dropout=0.0)
    return tiny_models.random_state_dict(vae, seed)


def _wan_module_writer():
    """The Wan family module's writer of the Wan 2.1 VAE file, if that module has one."""
    for module in tiny_models.family_modules():
        if getattr(module, "FAMILY", None) == FAMILY:
            continue
        writer = getattr(module, "FILE_WRITERS", {}).get(VAE_FILE)
        if writer is not None:
            return writer
    return None


def write_vae(path, seed=0):
    other = _wan_module_writer()
    if other is not None:
        return other(path, seed=seed)
    return tiny_models._save_weights(_own_wan_vae_state_dict(seed), path)


def build_vae(seed=0, tmp_dir=None):
    """The tiny Wan 2.1 VAE as VAELoader builds it (core detection from the written file)."""
    import os
    import tempfile

    import comfy.sd
    import comfy.utils
    fd, path = tempfile.mkstemp(suffix=".safetensors", dir=tmp_dir)
    os.close(fd)
    try:
        write_vae(path, seed)
        return comfy.sd.VAE(sd=comfy.utils.load_torch_file(path, safe_load=True))
    finally:
        os.remove(path)


# --- old T5-XXL ------------------------------------------------------------------------------------------------
def _clip(state_dicts=(), embedding_directory=None):
    import types

    import comfy.sd
    import comfy.text_encoders.cosmos as cosmos
    target = types.SimpleNamespace(clip=cosmos.te(), tokenizer=cosmos.CosmosT5Tokenizer, params={})
    clip = comfy.sd.CLIP(target, embedding_directory=embedding_directory,
                         model_options={"t5xxl_model_config": dict(T5_OVERRIDE)})
    for sd in state_dicts:  # (0.3.64's CLIP takes no state_dict argument)
        missing, _ = clip.load_sd(sd)
        if missing:
            raise RuntimeError(f"tiny old T5-XXL: missing keys {missing}")
    return clip


@functools.lru_cache(maxsize=2)
def _t5_state_dict(seed=0):
    clip = _clip()
    return tiny_models.random_state_dict(clip.cond_stage_model.t5xxl.transformer, seed)


def write_t5(path, seed=0):
    sd = {k: v.to(torch.float16) for k, v in _t5_state_dict(seed).items()}
    return tiny_models._save_weights(sd, path, {MARKER: "cosmos_oldt5"})


def build_clip(seed=0):
    return _clip([_t5_state_dict(seed)])


def _marker(path):
    if not str(path).lower().endswith((".safetensors", ".sft")):
        return None
    try:
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            return (f.metadata() or {}).get(MARKER)
    except Exception:
        return None


FILE_WRITERS = {DIT_FILE: write_dit, VAE_FILE: write_vae, T5_FILE: write_t5}


def install_loaders():
    import comfy.sd

    if getattr(comfy.sd.load_clip, "_cdi2v_cosmos", False):
        return
    real_clip = comfy.sd.load_clip

    @functools.wraps(real_clip)
    def load_clip(ckpt_paths, embedding_directory=None, *args, **kwargs):
        if len(ckpt_paths) == 1 and _marker(ckpt_paths[0]) == "cosmos_oldt5":
            import comfy.utils
            return _clip([comfy.utils.load_torch_file(ckpt_paths[0], safe_load=True)], embedding_directory)
        return real_clip(ckpt_paths, embedding_directory, *args, **kwargs)

    load_clip._cdi2v_cosmos = True
    comfy.sd.load_clip = load_clip
