"""Tiny random-weight models built from ComfyUI's own classes, for CPU tests.

Only the weights are fake: the configs are subclasses of ``comfy.supported_models`` entries with tiny
``unet_config``s, the models are ``comfy.model_base`` classes wrapped in ``comfy.model_patcher.ModelPatcher``,
the VAE is ``comfy.sd.VAE`` (a tiny AutoencoderKL) and the image encoder is ``comfy.clip_vision.ClipVisionModel``.

Import after ComfyUI is on ``sys.path`` and ``comfy.cli_args.args.cpu = True`` is set (ComfyUI is imported
lazily, inside the functions).

Kinds: ``svd`` (SVD_img2vid, EDM v-prediction, 4-D frames-as-batch latents), ``eps`` / ``v`` / ``flow``
(SD-style 4-D UNet), ``wan`` (Wan 2.1 T2V, flow, 5-D latents).
"""

import functools
import json
import os
import tempfile

import torch

KINDS = ("svd", "eps", "v", "flow", "wan")
METADATA_KEY = "cdi2v_tiny"

# Key prefixes of an SVD-style checkpoint (as in real svd_xt.safetensors; CLIP vision keys in HF layout).
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_VISION_PREFIX = "conditioner.embedders.0.open_clip.model.visual."

CONTEXT_DIM = 32  # UNet cross-attention width == tiny CLIP vision projection_dim
WAN_TEXT_DIM = 32

# Shared by every 4-D UNet kind (same keys model_detection.detect_unet_config produces).
_UNET_BASE = {
    "use_checkpoint": False,
    "image_size": 32,
    "use_spatial_transformer": True,
    "legacy": False,
    "out_channels": 4,
    "model_channels": 32,  # GroupNorm32 needs channels divisible by 32
    "num_res_blocks": [1, 1],
    "channel_mult": [1, 2],
    "transformer_depth": [1, 1],
    "transformer_depth_output": [1, 1, 1, 1],
    "transformer_depth_middle": 1,
    "context_dim": CONTEXT_DIM,
}

UNET_CONFIGS = {
    # SVD: 8 input channels (noise + concat_latent_image), adm = 3 x Timestep(256) from SVD_img2vid.encode_adm.
    "svd": dict(
        _UNET_BASE,
        channel_mult=[1, 1],  # keeps the checkpoint small (~0.9M UNet params; [1, 2] would be 2.1M)
        in_channels=8,
        num_classes="sequential",
        adm_in_channels=768,
        use_linear_in_transformer=True,
        extra_ff_mix_layer=True,
        use_spatial_context=True,
        merge_strategy="learned_with_images",
        merge_factor=0.0,
        video_kernel_size=[3, 1, 1],
        use_temporal_resblock=True,
        use_temporal_attention=True,
        disable_temporal_crossattention=False,
    ),
    "sd": dict(
        _UNET_BASE,
        in_channels=4,
        adm_in_channels=None,
        use_linear_in_transformer=False,
        use_temporal_resblock=False,
        use_temporal_attention=False,
    ),
    "wan": {
        "image_model": "wan2.1",
        "model_type": "t2v",
        "patch_size": [1, 2, 2],
        "in_dim": 16,
        "out_dim": 16,
        "dim": 32,
        "ffn_dim": 64,
        "freq_dim": 32,
        "text_dim": WAN_TEXT_DIM,
        "num_heads": 2,
        "num_layers": 1,
        "window_size": [-1, -1],
        "qk_norm": True,
        "cross_attn_norm": True,
        "eps": 1e-6,
    },
}

# SD-style KL VAE: 4 latent channels, 4 levels -> x8 downscale (loaded via comfy.sd.VAE(config=...)).
VAE_CONFIG = {
    "embed_dim": 4,
    "ddconfig": {
        "double_z": True, "z_channels": 4, "resolution": 64, "in_channels": 3, "out_ch": 3, "ch": 32,
        "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0,
    },
}

# Tiny CLIP ViT (comfy.clip_model.CLIPVisionModelProjection); image_embeds are [B, projection_dim].
# encode_image reads the penultimate layer, so at least 2 layers.
CLIP_VISION_CONFIG = {
    "attention_dropout": 0.0, "dropout": 0.0, "hidden_act": "gelu", "hidden_size": 32, "image_size": 32,
    "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 64, "layer_norm_eps": 1e-05,
    "model_type": "clip_vision_model", "num_attention_heads": 2, "num_channels": 3, "num_hidden_layers": 2,
    "patch_size": 8, "projection_dim": CONTEXT_DIM, "torch_dtype": "float32",
}


@functools.lru_cache(maxsize=None)
def _config_classes():
    """Tiny subclasses of ComfyUI's supported_models configs (only head sizes / model type differ)."""
    import comfy.model_base
    import comfy.supported_models as sm

    class TinySVD(sm.SVD_img2vid):
        # SVD_img2vid uses 64 head channels; 32-wide blocks need smaller heads.
        unet_extra_config = {"num_heads": -1, "num_head_channels": 16, "attn_precision": torch.float32}

    def sd_class(mtype):
        class TinySD(sm.SD15):
            unet_extra_config = {"num_heads": -1, "num_head_channels": 16}

            def model_type(self, state_dict, prefix=""):
                return mtype
        TinySD.__name__ = "TinySD_" + mtype.name
        return TinySD

    MT = comfy.model_base.ModelType
    return {
        "svd": TinySVD,
        "eps": sd_class(MT.EPS),
        "v": sd_class(MT.V_PREDICTION),
        "flow": sd_class(MT.FLOW),  # BaseModel picks CONST + ModelSamplingDiscreteFlow
        "wan": sm.WAN21_T2V,  # used as is: shift 8, model_base.WAN21 / WanModel
    }


def unet_config(kind):
    """A fresh copy of the tiny unet_config for ``kind``."""
    if kind not in KINDS:
        raise ValueError("unknown tiny model kind {!r}, expected one of {}".format(kind, KINDS))
    cfg = UNET_CONFIGS["sd" if kind in ("eps", "v", "flow") else kind]
    return json.loads(json.dumps(cfg))  # deep copy


def random_state_dict(module, seed=0):
    """Seeded random values for every parameter of ``module`` (buffers kept): fan-in scaled normal for
    matrices/convs, ones for 1-D ``*.weight`` (norm scales), zeros for biases, small normal otherwise.
    Values are fp16-representable, so fp16 checkpoint files reproduce them exactly."""
    gen = torch.Generator().manual_seed(seed)
    params = dict(module.named_parameters())
    out = {}
    for name, value in sorted(module.state_dict().items()):
        if name not in params or not value.is_floating_point():
            out[name] = value.detach().clone()
            continue
        shape = tuple(value.shape)
        if len(shape) >= 2:
            fan_in = max(1, value.numel() // shape[0])
            t = torch.randn(shape, generator=gen) * fan_in ** -0.5
        elif name.endswith("bias"):
            t = torch.zeros(shape)
        elif name.endswith("weight"):
            t = torch.ones(shape)
        else:
            t = torch.randn(shape, generator=gen) * 0.02
        out[name] = t.half().to(value.dtype)
    return out


def _model_config(kind, config=None):
    cfg_class = _config_classes()[kind]
    model_config = cfg_class(config if config is not None else unet_config(kind))
    model_config.set_inference_dtype(torch.float32, None)
    return model_config


def _patcher(model):
    import comfy.model_management as mm
    import comfy.model_patcher
    return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(),
                                            offload_device=mm.unet_offload_device())


def build_tiny_model(kind, seed=0):
    """ModelPatcher around a ComfyUI ``model_base`` model with a tiny config and random weights."""
    model = _model_config(kind).get_model({})
    model.diffusion_model.load_state_dict(random_state_dict(model.diffusion_model, seed))
    return _patcher(model)


def build_tiny_vae(seed=0):
    """``comfy.sd.VAE`` wrapping a tiny AutoencoderKL (4 latent channels, x8) with random weights."""
    import comfy.sd
    from comfy.ldm.models.autoencoder import AutoencoderKL
    template = AutoencoderKL(**json.loads(json.dumps(VAE_CONFIG)))  # only for the parameter shapes
    return comfy.sd.VAE(sd=random_state_dict(template, seed), config={"params": json.loads(json.dumps(VAE_CONFIG))})


@functools.lru_cache(maxsize=None)
def _clip_vision_json(config_json):
    # ClipVisionModel only takes a path to a JSON config.
    fd, path = tempfile.mkstemp(prefix="tiny_clip_vision_", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(config_json)
    return path


def _clip_vision(config=None, sd=None, seed=0):
    """ClipVisionModel with ``config``, loaded with ``sd`` (random weights from ``seed`` if None)."""
    import comfy.clip_vision
    cfg_json = json.dumps(config if config is not None else CLIP_VISION_CONFIG, sort_keys=True)
    clip_vision = comfy.clip_vision.ClipVisionModel(_clip_vision_json(cfg_json))
    if sd is None:
        sd = random_state_dict(clip_vision.model, seed)
    missing, _ = clip_vision.load_sd(sd)
    if missing:
        raise RuntimeError("tiny clip vision: missing keys {}".format(missing))
    return clip_vision


def build_tiny_clip_vision(seed=0):
    """``comfy.clip_vision.ClipVisionModel`` with a tiny ViT config and random weights."""
    return _clip_vision(seed=seed)


def tiny_conditioning(kind, frames=4, h=8, w=8, seed=0):
    """(positive, negative, latent) for ``comfy.sample.sample_custom``; ``latent`` is a LATENT dict, pass
    ``latent["samples"]``. h, w are latent sizes. svd mirrors SVD_img2vid_Conditioning's output (pooled
    clip-vision embedding [1,1,32] as cross-attn, concat_latent_image, fps/motion_bucket/augmentation; zeros
    for the negative); eps/v/flow use a [1,4,32] c_crossattn; wan gives 5-D [1,16,frames,h,w] and a
    [1,4,32] text context."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "svd":
        pooled = torch.randn(1, 1, CONTEXT_DIM, generator=gen)
        concat = torch.randn(1, 4, h, w, generator=gen)
        extra = {"motion_bucket_id": 127, "fps": 6, "augmentation_level": 0.0}
        positive = [[pooled, dict(extra, concat_latent_image=concat)]]
        negative = [[torch.zeros_like(pooled), dict(extra, concat_latent_image=torch.zeros_like(concat))]]
        return positive, negative, {"samples": torch.zeros(frames, 4, h, w)}
    if kind in ("eps", "v", "flow"):
        ctx = torch.randn(1, 4, CONTEXT_DIM, generator=gen)
        return [[ctx, {}]], [[torch.zeros_like(ctx), {}]], {"samples": torch.zeros(frames, 4, h, w)}
    if kind == "wan":
        ctx = torch.randn(1, 4, WAN_TEXT_DIM, generator=gen)
        return [[ctx, {}]], [[torch.zeros_like(ctx), {}]], {"samples": torch.zeros(1, 16, frames, h, w)}
    raise ValueError("unknown tiny model kind {!r}".format(kind))


def tiny_sigmas(model, steps=2, scheduler="karras"):
    """Sigmas from the model's own model_sampling (karras suits EDM/VP, use "simple" for flow)."""
    import comfy.samplers
    return comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler, steps)


# --- checkpoint file --------------------------------------------------------------------------------------

def write_tiny_checkpoint(path, kind="svd", seed=0):
    """Write an SVD-style checkpoint (UNet + VAE [+ CLIP vision for svd]) with random weights; the
    safetensors metadata marks it (``cdi2v_tiny``) and carries the configs as JSON strings."""
    from comfy.ldm.models.autoencoder import AutoencoderKL

    if kind not in ("svd", "eps", "v", "flow"):
        raise ValueError("checkpoints are SD-VAE based: kind must be svd, eps, v or flow, not {!r}".format(kind))
    cfg = unet_config(kind)
    model = _model_config(kind, cfg).get_model({})
    sd = {UNET_PREFIX + k: v for k, v in random_state_dict(model.diffusion_model, seed).items()}
    vae = AutoencoderKL(**json.loads(json.dumps(VAE_CONFIG)))
    sd.update({VAE_PREFIX + k: v for k, v in random_state_dict(vae, seed + 1).items()})
    metadata = {
        METADATA_KEY: kind,
        "cdi2v_tiny_seed": str(seed),
        "cdi2v_tiny_unet_config": json.dumps(cfg),
        "cdi2v_tiny_vae_config": json.dumps(VAE_CONFIG),
    }
    if kind == "svd":
        clip_vision = _clip_vision(seed=seed + 2)
        sd.update({CLIP_VISION_PREFIX + k: v for k, v in clip_vision.get_sd().items()})
        metadata["cdi2v_tiny_clip_vision_config"] = json.dumps(CLIP_VISION_CONFIG)
    sd = {k: v.detach().to(torch.float16) for k, v in sd.items()}  # fp16 like real SVD files
    return _save_weights(sd, path, metadata)


def tiny_checkpoint_metadata(path):
    """The file's safetensors metadata if it is a tiny checkpoint, else None (never raises)."""
    if not str(path).lower().endswith((".safetensors", ".sft")):
        return None
    try:
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception:
        return None
    return metadata if METADATA_KEY in metadata else None


def load_tiny_checkpoint(ckpt_path, output_vae=True, output_clip=True, output_clipvision=False,
                         embedding_directory=None, output_model=True, model_options={}, te_model_options={}):
    """Same signature and (model, clip, vae, clipvision) result as comfy.sd.load_checkpoint_guess_config.
    clip is always None (no text encoder); clipvision only for svd files."""
    import comfy.sd
    import comfy.utils

    metadata = tiny_checkpoint_metadata(ckpt_path)
    if metadata is None:
        raise ValueError("not a tiny checkpoint: {}".format(ckpt_path))
    kind = metadata[METADATA_KEY]
    sd = comfy.utils.load_torch_file(ckpt_path)

    model = vae = clip_vision = None
    if output_model:
        base = _model_config(kind, json.loads(metadata["cdi2v_tiny_unet_config"])).get_model(sd, UNET_PREFIX)
        base.load_model_weights(sd, UNET_PREFIX)
        model = _patcher(base)
    if output_vae:
        vae_sd = comfy.utils.state_dict_prefix_replace(sd, {VAE_PREFIX: ""}, filter_keys=True)
        vae = comfy.sd.VAE(sd=vae_sd, config={"params": json.loads(metadata["cdi2v_tiny_vae_config"])})
    if output_clipvision and "cdi2v_tiny_clip_vision_config" in metadata:
        cv_sd = comfy.utils.state_dict_prefix_replace(sd, {CLIP_VISION_PREFIX: ""}, filter_keys=True)
        clip_vision = _clip_vision(json.loads(metadata["cdi2v_tiny_clip_vision_config"]), cv_sd)
    return (model, None, vae, clip_vision)


# --- ConsistI2V UNet, SD 2.1 text encoder, VAE as separate files (the native ConsistI2V workflows) ----------

# 64-channel heads, 8 temporal heads, 32 groups: what the loader infers from a single file's tensor shapes.
CONSISTI2V_CONFIG = {
    "block_out_channels": [64, 64], "layers_per_block": 1, "attention_head_dim": [1, 1],
    "cross_attention_dim": CONTEXT_DIM, "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"], "norm_num_groups": 32, "n_temp_heads": 8, "n_frames": 4,
}
# Tiny OpenCLIP-H stand-in (SD 2.x text encoder layout, real tokenizer vocabulary, penultimate layer output).
TEXT_ENCODER_CONFIG = {
    "architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
    "eos_token_id": 49407, "hidden_act": "gelu", "hidden_size": CONTEXT_DIM, "initializer_factor": 1.0,
    "initializer_range": 0.02, "intermediate_size": 64, "layer_norm_eps": 1e-05, "max_position_embeddings": 77,
    "model_type": "clip_text_model", "num_attention_heads": 2, "num_hidden_layers": 3, "pad_token_id": 1,
    "projection_dim": CONTEXT_DIM, "torch_dtype": "float32", "vocab_size": 49408,
}
TINY_VAE_KEY = "cdi2v_tiny_vae"  # marker tensor: VAELoader passes no metadata on 0.3.64


def pack_module(name):
    """A submodule of this pack (e.g. ``consisti2v.model``): the copy ComfyUI registered if it is running (so
    classes match the nodes'), else imported from the pack folder under a private package name (relative imports
    need a package)."""
    import importlib
    import importlib.util
    import sys

    mapping = getattr(sys.modules.get("nodes"), "NODE_CLASS_MAPPINGS", {})
    if "ConsistI2VFrameInitNoise" in mapping:
        package = mapping["ConsistI2VFrameInitNoise"].__module__.rsplit(".nodes", 1)[0]
        return importlib.import_module("{}.{}".format(package, name))
    pkg_name = "cdi2v_pack"
    if pkg_name not in sys.modules:
        root = os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))
        spec = importlib.util.spec_from_file_location(pkg_name, os.path.join(root, "__init__.py"),
                                                      submodule_search_locations=[root])
        sys.modules[pkg_name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[pkg_name])
    return importlib.import_module("{}.{}".format(pkg_name, name))


def consisti2v_state_dict(config=None, seed=0):
    """Random weights (diffusers key names) for a ConsistI2V UNet; temporal mixing 0.5, analytic RoPE freqs."""
    config_mod, model_mod = pack_module("consisti2v.config"), pack_module("consisti2v.model")
    rope = pack_module("kernels.rope")
    cfg = config_mod.normalise_config(dict(CONSISTI2V_CONFIG if config is None else config))
    model_config = model_mod.ConsistI2VConfig({"consisti2v_config": cfg})
    model_config.set_inference_dtype(torch.float32, None)
    unet = model_config.get_model({}).diffusion_model
    sd = random_state_dict(unet, seed)
    for key, value in sd.items():
        if key.endswith(".alpha"):
            sd[key] = torch.full_like(value, 0.5)
        elif key.endswith("rotary_emb.freqs"):
            sd[key] = rope.analytic_freqs(4 * value.shape[0])
    return sd


def _save_weights(sd, path, metadata=None):
    """safetensors, or for a .ckpt name a plain ``{"state_dict": ...}`` pickle as the official releases."""
    sd = {k: v.contiguous() for k, v in sd.items()}
    if str(path).lower().endswith(".ckpt"):
        torch.save({"state_dict": sd, "global_step": 0}, path)
    else:
        import safetensors.torch
        safetensors.torch.save_file(sd, path, metadata=metadata)
    return path


def write_tiny_consisti2v(path, seed=0):
    """A single-file ConsistI2V UNet (no metadata marker: the pack's real loader reads it)."""
    return _save_weights(consisti2v_state_dict(seed=seed), path)


@functools.lru_cache(maxsize=None)
def _text_encoder_target(config_json):
    import types

    import comfy.sd1_clip
    from comfy.text_encoders import sd2_clip

    json_path = _clip_vision_json(config_json)

    class TinyClipH(comfy.sd1_clip.SDClipModel):
        def __init__(self, device="cpu", max_length=77, freeze=True, layer="penultimate", layer_idx=None,
                     dtype=None, model_options={}):
            super().__init__(device=device, freeze=freeze, layer="hidden", layer_idx=-2,
                             textmodel_json_config=json_path, dtype=dtype,
                             special_tokens={"start": 49406, "end": 49407, "pad": 0}, return_projected_pooled=True,
                             model_options=model_options)

    class TinySD2Clip(comfy.sd1_clip.SD1ClipModel):
        def __init__(self, device="cpu", dtype=None, model_options={}, **kwargs):
            super().__init__(device=device, dtype=dtype, model_options=model_options, clip_name="h",
                             clip_model=TinyClipH, **kwargs)

    return types.SimpleNamespace(clip=TinySD2Clip, tokenizer=sd2_clip.SD2Tokenizer, params={})


def _tiny_clip(config, embedding_directory=None):
    import comfy.sd
    return comfy.sd.CLIP(_text_encoder_target(json.dumps(config, sort_keys=True)),
                         embedding_directory=embedding_directory)


def write_tiny_text_encoder(path, seed=0):
    """A tiny SD 2.x text encoder file (transformers key names), marked in its metadata."""
    clip = _tiny_clip(TEXT_ENCODER_CONFIG)
    sd = random_state_dict(clip.cond_stage_model.clip_h.transformer, seed)
    metadata = {METADATA_KEY: "sd2_clip", "cdi2v_tiny_text_config": json.dumps(TEXT_ENCODER_CONFIG)}
    return _save_weights(sd, path, metadata)


def load_tiny_text_encoder(path, embedding_directory=None):
    """``comfy.sd.CLIP`` of a tiny text encoder file (what CLIPLoader returns for a real one)."""
    import comfy.utils
    metadata = tiny_checkpoint_metadata(path)
    clip = _tiny_clip(json.loads(metadata["cdi2v_tiny_text_config"]), embedding_directory)
    clip.load_sd(comfy.utils.load_torch_file(path, safe_load=True))
    return clip


def write_tiny_vae(path, seed=0):
    """A tiny SD VAE file with the marker key the tiny loader pack looks for."""
    from comfy.ldm.models.autoencoder import AutoencoderKL
    sd = random_state_dict(AutoencoderKL(**json.loads(json.dumps(VAE_CONFIG))), seed)
    sd[TINY_VAE_KEY] = torch.ones(1)
    return _save_weights(sd, path)


def write_tiny_clip_vision(path, seed=0):
    """A tiny CLIP ViT file (ComfyUI's clip-vision keys), marked so the tiny loader pack's CLIPVisionLoader
    wrapper builds it with the tiny config."""
    sd = _clip_vision(seed=seed).model.state_dict()
    metadata = {METADATA_KEY: "clip_vision", "cdi2v_tiny_clip_vision_config": json.dumps(CLIP_VISION_CONFIG)}
    return _save_weights(sd, path, metadata)


def load_tiny_clip_vision(path):
    """``comfy.clip_vision.ClipVisionModel`` of a tiny clip-vision file (what CLIPVisionLoader returns)."""
    import comfy.utils
    config = json.loads(tiny_checkpoint_metadata(path)["cdi2v_tiny_clip_vision_config"])
    return _clip_vision(config, comfy.utils.load_torch_file(path, safe_load=True))


# Tiny DynamiCrafter / VideoCrafter1 UNets that fit the tiny SD 2.x text encoder and the tiny CLIP ViT.
_DC_UNET = {
    "model_channels": 32, "out_channels": 4, "num_res_blocks": 1, "attention_resolutions": [1, 2],
    "channel_mult": [1, 2], "num_head_channels": 16, "transformer_depth": 1, "context_dim": CONTEXT_DIM,
    "use_linear": True, "temporal_conv": True, "temporal_attention": True, "temporal_selfatt_only": True,
    "use_relative_position": False, "use_causal_attention": False, "temporal_length": 16,
    "addition_attention": True,
}
_DC_PROJ = {"dim": 32, "depth": 1, "dim_head": 16, "heads": 2, "num_queries": 16,
            "embedding_dim": CLIP_VISION_CONFIG["hidden_size"], "output_dim": CONTEXT_DIM, "ff_mult": 2}
DYNAMICRAFTER_CONFIGS = {
    "dynamicrafter": {"variant": "dynamicrafter",
                      "unet": dict(_DC_UNET, in_channels=8, image_cross_attention=True, default_fs=24,
                                   fs_condition=True),
                      "image_proj": dict(_DC_PROJ, video_length=16)},
    "videocrafter1": {"variant": "videocrafter1",
                      "unet": dict(_DC_UNET, in_channels=4, use_image_attention=True, fps_cond=True),
                      "image_proj": dict(_DC_PROJ)},
}


def dynamicrafter_state_dict(variant="dynamicrafter", seed=0):
    """Random weights of a tiny DynamiCrafter / VideoCrafter1 UNet + image projector, keyed as the release
    checkpoints (``model.diffusion_model.*``, ``image_proj_model.*``)."""
    unet_mod = pack_module("dynamicrafter.unet")
    import comfy.ops
    unet = unet_mod.DynamiCrafterUNet(dynamicrafter_config=json.loads(json.dumps(DYNAMICRAFTER_CONFIGS[variant])),
                                      dtype=torch.float32, operations=comfy.ops.disable_weight_init)
    sd = random_state_dict(unet, seed)
    return {(k if k.startswith("image_proj_model.") else UNET_PREFIX + k): v for k, v in sd.items()}


def write_tiny_dynamicrafter(path, variant="dynamicrafter", seed=0):
    """A tiny release-layout DynamiCrafter / VideoCrafter1 file, read by the pack's real loader."""
    return _save_weights(dynamicrafter_state_dict(variant, seed), path)


def write_tiny_svd_cil(path, seed=0):
    """A tiny SVD UNet in ComfyUI keys (as CIL Convert Checkpoint writes SVD-CIL), head width in the metadata."""
    model_config = _model_config("svd", unet_config("svd"))
    model = model_config.get_model({})
    metadata = {pack_module("kernels.checkpoints").HEAD_METADATA: str(model_config.unet_config["num_head_channels"])}
    return _save_weights(random_state_dict(model.diffusion_model, seed), path, metadata)


def write_tiny_diffusion_model(path, seed=0):
    """The tiny stand-in a diffusion_models file name asks for (DynamiCrafter/VideoCrafter, SVD-CIL or
    ConsistI2V)."""
    name = os.path.basename(str(path)).lower()
    if "videocrafter" in name:
        return write_tiny_dynamicrafter(path, "videocrafter1", seed)
    if "dynamicrafter" in name:
        return write_tiny_dynamicrafter(path, "dynamicrafter", seed)
    if "svd" in name:
        return write_tiny_svd_cil(path, seed)
    return write_tiny_consisti2v(path, seed)


def write_tiny_statistics(path, seed=0):
    """Analytic-Init statistics in the released DynamiCrafter layout ([1, C, 16, h, w] mean, Tr(Cov)/d)."""
    gen = torch.Generator().manual_seed(seed)
    torch.save({"Expectation_X0": torch.randn(1, 4, 16, 8, 8, generator=gen) * 0.3,
                "Tr_Cov_d": torch.tensor(0.8)}, path)
    return path


# folder kind of a workflow's model file -> writer of a tiny stand-in
TINY_WRITERS = {
    "checkpoints": lambda path, seed=0: write_tiny_checkpoint(path, kind="svd", seed=seed),
    "diffusion_models": write_tiny_diffusion_model,
    "clip_vision": write_tiny_clip_vision,
    "cil_statistics": write_tiny_statistics,
    "text_encoders": write_tiny_text_encoder,
    "vae": write_tiny_vae,
}


# --- core model families (Wan, LTX, HunyuanVideo, Cosmos): one module each, tests/support/tiny_family_*.py ------
# A family module is imported by file path with this module as its global ``tiny_models``. It may define
#   FILE_WRITERS = {"real_file_name.safetensors": writer(path, seed=0)}: the tiny stand-in for each model file its
#       workflows name (consulted before the folder-wide TINY_WRITERS);
#   install_loaders(): wrap core loader functions so its tiny files load through core's own loader nodes (called
#       by tests/support/tiny_loader_pack on import).
_FAMILY_MODULES = []


def family_modules():
    """The tiny_family_*.py modules beside this file, imported once."""
    import glob
    import importlib.util
    import sys

    if not _FAMILY_MODULES:
        here = os.path.dirname(os.path.realpath(__file__))
        for path in sorted(glob.glob(os.path.join(here, "tiny_family_*.py"))):
            name = "cdi2v_" + os.path.splitext(os.path.basename(path))[0]
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            module.tiny_models = sys.modules[__name__]
            spec.loader.exec_module(module)
            _FAMILY_MODULES.append(module)
    return list(_FAMILY_MODULES)


def tiny_writer(file_name, folder):
    """``writer(path, seed=0)`` of the tiny stand-in for a model file: by its file name (family modules), else by
    its folder; None when nothing stands in for it."""
    for module in family_modules():
        writer = getattr(module, "FILE_WRITERS", {}).get(file_name)
        if writer is not None:
            return writer
    return TINY_WRITERS.get(folder)

