"""Tiny HunyuanVideo 1.5 I2V stand-ins (imported by ``tiny_models.family_modules()``, global ``tiny_models``).

- DiT (``hunyuanvideo1.5_720p_i2v_fp16.safetensors``): a ``comfy.ldm.hunyuan_video.model.HunyuanVideo`` state
  dict at a tiny width, NOT substituted: core's ``model_detection`` reads it and picks
  ``supported_models.HunyuanVideo15`` (``vision_in`` of width 1152, 32 + 32 + 1 input channels, shift 7).
- VAE (``hunyuanvideo15_vae_fp16.safetensors``): core builds it at a fixed width whatever the file says, so the
  ``comfy.sd.VAE`` wrapper builds the same classes (``hunyuan_video.vae_refiner`` Encoder/Decoder through
  core's own code path, x16 spatial / x4 causal temporal, 32 latent channels) with tiny block widths for files
  holding the marker key.
- Text encoders (``qwen_2.5_vl_7b_fp8_scaled`` + ``byt5_small_glyphxl_fp16``, DualCLIPLoader type
  hunyuan_video_15): built fixed-size by core, so the ``comfy.sd.load_clip`` wrapper builds core's
  ``HunyuanImageTEModel`` (Qwen2.5-VL + byT5) at a tiny size with core's HunyuanVideo15Tokenizer.
- Image encoder (``sigclip_vision_patch14_384.safetensors``): a tiny SigLIP (width 1152 = the DiT's
  ``vision_in``), through the tiny loader pack's CLIPVisionLoader wrapper (config in the file's metadata).
"""
from __future__ import annotations

import contextlib
import functools
import json

import torch

FAMILY = "hunyuan15"
MARKER = "cdi2v_tiny_family"  # metadata key of tiny text encoder files (not tiny_models.METADATA_KEY)
VAE_MARKER_KEY = "cdi2v_tiny_hunyuan15_vae"  # marker tensor (VAELoader passes no metadata on 0.3.64)

DIT_FILE = "hunyuanvideo1.5_720p_i2v_fp16.safetensors"
VAE_FILE = "hunyuanvideo15_vae_fp16.safetensors"
QWEN_FILE = "qwen_2.5_vl_7b_fp8_scaled.safetensors"
BYT5_FILE = "byt5_small_glyphxl_fp16.safetensors"
CLIP_VISION_FILE = "sigclip_vision_patch14_384.safetensors"

TEXT_DIM = 32  # tiny Qwen2.5 hidden size = the DiT's context_in_dim
VISION_DIM = 1152  # fixed by supported_models.HunyuanVideo15 (vision_in_dim)

# What model_detection derives from the state dict (hidden 128 -> 1 head of 128 = sum(axes_dim)).
DIT_CONFIG = {
    "image_model": "hunyuan_video", "in_channels": 65, "out_channels": 32, "patch_size": [1, 1, 1],
    "vec_in_dim": None, "axes_dim": [16, 56, 56], "meanflow": False, "context_in_dim": TEXT_DIM,
    "hidden_size": 128, "mlp_ratio": 4.0, "num_heads": 1, "depth": 1, "depth_single_blocks": 1, "theta": 256,
    "qkv_bias": True, "byt5": False, "guidance_embed": False, "use_cond_type_embedding": True,
    "vision_in_dim": VISION_DIM, "meanflow_sum": True,
}

# Core's ddconfig for the HunyuanVideo 1.5 VAE with tiny block widths (the last one a multiple of 2 x 32).
VAE_BLOCKS = [8, 16, 32, 64, 64]

QWEN_CONFIG = {"vocab_size": 152064, "hidden_size": TEXT_DIM, "intermediate_size": 32, "num_hidden_layers": 4,
               "num_attention_heads": 2, "num_key_value_heads": 1}
BYT5_CONFIG = {"d_ff": 32, "d_kv": 8, "d_model": 32, "dense_act_fn": "gelu_pytorch_tanh", "is_gated_act": True,
               "layer_norm_epsilon": 1e-06, "model_type": "t5", "num_heads": 2, "num_layers": 1,
               "relative_attention_num_buckets": 32, "vocab_size": 1510}

SIGCLIP_CONFIG = {"num_channels": 3, "hidden_act": "gelu_pytorch_tanh", "hidden_size": VISION_DIM, "image_size": 28,
                  "intermediate_size": 32, "model_type": "siglip_vision_model", "num_attention_heads": 2,
                  "num_hidden_layers": 2, "patch_size": 14, "image_mean": [0.5, 0.5, 0.5],
                  "image_std": [0.5, 0.5, 0.5]}


# --- DiT -------------------------------------------------------------------------------------------------------
def dit_state_dict(seed=0):
    import comfy.ops
    from comfy.ldm.hunyuan_video.model import HunyuanVideo

    model = HunyuanVideo(**json.loads(json.dumps(DIT_CONFIG)), dtype=torch.float32,
                         operations=comfy.ops.disable_weight_init)
    return tiny_models.random_state_dict(model, seed)


def write_dit(path, seed=0):
    """The DiT in ComfyUI keys, fp16 like the release; no marker: core detects it by its keys."""
    sd = {k: v.to(torch.float16) for k, v in dit_state_dict(seed).items()}
    return tiny_models._save_weights(sd, path)


def build_model(seed=0):
    """The tiny DiT through core's own state-dict loader (detection included): a ModelPatcher."""
    import comfy.sd
    return comfy.sd.load_diffusion_model_state_dict(dit_state_dict(seed))


# --- VAE -------------------------------------------------------------------------------------------------------
def _vae_ddconfig():
    return {"block_out_channels": list(VAE_BLOCKS), "in_channels": 3, "out_channels": 3, "num_res_blocks": 1,
            "ffactor_spatial": 16, "ffactor_temporal": 4, "downsample_match_channel": True,
            "upsample_match_channel": True, "z_channels": 32}


@contextlib.contextmanager
def _tiny_autoencoding_engine():
    """While core's VAE code builds the HunyuanVideo 1.5 VAE, give its Encoder/Decoder the tiny widths."""
    import comfy.sd

    real = comfy.sd.AutoencodingEngine

    def engine(*args, encoder_config=None, decoder_config=None, **kwargs):
        for cfg in (encoder_config, decoder_config):
            if cfg is not None and cfg.get("target", "").startswith("comfy.ldm.hunyuan_video.vae_refiner."):
                cfg["params"] = dict(cfg["params"], block_out_channels=list(VAE_BLOCKS), num_res_blocks=1)
        return real(*args, encoder_config=encoder_config, decoder_config=decoder_config, **kwargs)

    comfy.sd.AutoencodingEngine = engine
    try:
        yield
    finally:
        comfy.sd.AutoencodingEngine = real


def vae_state_dict(seed=0):
    from comfy.ldm.models.autoencoder import AutoencodingEngine
    cfg = _vae_ddconfig()
    engine = AutoencodingEngine(
        regularizer_config={"target": "comfy.ldm.models.autoencoder.EmptyRegularizer"},
        encoder_config={"target": "comfy.ldm.hunyuan_video.vae_refiner.Encoder", "params": cfg},
        decoder_config={"target": "comfy.ldm.hunyuan_video.vae_refiner.Decoder", "params": cfg})
    sd = tiny_models.random_state_dict(engine, seed)
    sd[VAE_MARKER_KEY] = torch.ones(1)
    return sd


def write_vae(path, seed=0):
    return tiny_models._save_weights({k: v.to(torch.float16) for k, v in vae_state_dict(seed).items()}, path)


def build_vae(seed=0):
    """The tiny VAE through ``comfy.sd.VAE`` (the loader wrapper must be installed: the in-process fixture)."""
    import comfy.sd
    return comfy.sd.VAE(sd=vae_state_dict(seed))


# --- text encoders ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _te_classes():
    import comfy.text_encoders.hunyuan_image as hi
    import comfy.text_encoders.llama as llama
    import comfy.text_encoders.qwen_vl as qwen_vl
    from comfy.text_encoders.hunyuan_video import HunyuanVideo15Tokenizer

    class TinyQwen25VLI(llama.Qwen25_7BVLI):
        """Core's Qwen2.5-VL with a tiny language model and vision tower (core fixes the tower at 1280 wide)."""
        def __init__(self, config_dict, dtype, device, operations):
            torch.nn.Module.__init__(self)
            config = llama.Qwen25_7BVLI_Config(**config_dict)
            self.num_layers = config.num_hidden_layers
            self.model = llama.Llama2_(config, device=device, dtype=dtype, ops=operations)
            self.visual = qwen_vl.Qwen2VLVisionTransformer(
                hidden_size=32, output_hidden_size=config.hidden_size, intermediate_size=32, num_heads=2,
                num_layers=1, device=device, dtype=dtype, ops=operations)
            self.dtype = dtype

    class TinyQwenModel(hi.Qwen25_7BVLIModel):
        def __init__(self, device="cpu", layer="hidden", layer_idx=-3, dtype=None, attention_mask=True,
                     model_options={}):
            import comfy.sd1_clip
            comfy.sd1_clip.SDClipModel.__init__(
                self, device=device, layer=layer, layer_idx=layer_idx, textmodel_json_config=dict(QWEN_CONFIG),
                dtype=dtype, special_tokens={"pad": 151643}, layer_norm_hidden_state=False,
                model_class=TinyQwen25VLI, enable_attention_masks=attention_mask,
                return_attention_masks=attention_mask, model_options=model_options)

    class TinyByT5(hi.ByT5SmallModel):
        def __init__(self, device="cpu", layer="last", layer_idx=None, dtype=None, model_options={}):
            import comfy.sd1_clip
            import comfy.text_encoders.t5
            comfy.sd1_clip.SDClipModel.__init__(
                self, device=device, layer=layer, layer_idx=layer_idx, textmodel_json_config=dict(BYT5_CONFIG),
                dtype=dtype, model_options=model_options, special_tokens={"end": 1, "pad": 0},
                model_class=comfy.text_encoders.t5.T5, enable_attention_masks=True, zero_out_masked=True)

    class TinyHunyuan15TE(hi.HunyuanImageTEModel):
        def __init__(self, device="cpu", dtype=None, model_options={}):
            super(hi.QwenImageTEModel, self).__init__(device=device, dtype=dtype, name="qwen25_7b",
                                                     clip_model=TinyQwenModel, model_options=model_options)
            self.byt5_small = TinyByT5(device=device, dtype=dtype, model_options=model_options)

    return TinyHunyuan15TE, HunyuanVideo15Tokenizer


def _clip(state_dicts=(), embedding_directory=None):
    import types

    import comfy.sd
    te, tokenizer = _te_classes()
    target = types.SimpleNamespace(clip=te, tokenizer=tokenizer, params={})
    clip = comfy.sd.CLIP(target, embedding_directory=embedding_directory)
    for sd in state_dicts:  # (0.3.64's CLIP takes no state_dict argument)
        missing, _ = clip.load_sd(sd)
        if missing:
            raise RuntimeError(f"tiny HunyuanVideo 1.5 text encoder: missing keys {missing}")
    return clip


def _te_state_dicts(seed=0):
    clip = _clip()
    model = clip.cond_stage_model
    qwen = {k: v for k, v in tiny_models.random_state_dict(model.qwen25_7b.transformer, seed).items()}
    byt5 = {k: v for k, v in tiny_models.random_state_dict(model.byt5_small.transformer, seed + 1).items()}
    return qwen, byt5


def write_qwen(path, seed=0):
    return tiny_models._save_weights(_te_state_dicts(seed)[0], path, {MARKER: "hunyuan15_qwen25"})


def write_byt5(path, seed=0):
    return tiny_models._save_weights(_te_state_dicts(seed)[1], path, {MARKER: "hunyuan15_byt5"})


def build_clip(seed=0):
    return _clip(_te_state_dicts(seed))


def _marker(path):
    if not str(path).lower().endswith((".safetensors", ".sft")):
        return None
    try:
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            return (f.metadata() or {}).get(MARKER)
    except Exception:
        return None


# --- image encoder ---------------------------------------------------------------------------------------------
def write_clip_vision(path, seed=0):
    sd = tiny_models._clip_vision(SIGCLIP_CONFIG, seed=seed).model.state_dict()
    metadata = {tiny_models.METADATA_KEY: "clip_vision", "cdi2v_tiny_clip_vision_config": json.dumps(SIGCLIP_CONFIG)}
    return tiny_models._save_weights(sd, path, metadata)


def build_clip_vision(seed=0):
    return tiny_models._clip_vision(SIGCLIP_CONFIG, seed=seed)


def core_has_hunyuan15() -> bool:
    import comfy.supported_models
    return hasattr(comfy.supported_models, "HunyuanVideo15")


def _or_placeholder(writer):
    """On a ComfyUI without HunyuanVideo 1.5 (0.3.64) its workflow is skipped, but a server that provides every
    shipped workflow's files still writes them: a placeholder file then (core's classes for the real one are
    missing there)."""
    @functools.wraps(writer)
    def write(path, seed=0):
        if core_has_hunyuan15():
            return writer(path, seed)
        return tiny_models._save_weights({"cdi2v_placeholder": torch.zeros(1)}, path,
                                         {MARKER: "placeholder: this ComfyUI has no HunyuanVideo 1.5"})
    return write


FILE_WRITERS = {name: _or_placeholder(writer) for name, writer in {
    DIT_FILE: write_dit, VAE_FILE: write_vae, QWEN_FILE: write_qwen, BYT5_FILE: write_byt5,
    CLIP_VISION_FILE: write_clip_vision,
}.items()}


def install_loaders():
    import comfy.sd

    if getattr(comfy.sd.load_clip, "_cdi2v_hunyuan15", False):
        return
    real_clip = comfy.sd.load_clip

    @functools.wraps(real_clip)
    def load_clip(ckpt_paths, embedding_directory=None, *args, **kwargs):
        marks = [_marker(p) for p in ckpt_paths]
        if marks and all(m in ("hunyuan15_qwen25", "hunyuan15_byt5") for m in marks):
            import comfy.utils
            return _clip([comfy.utils.load_torch_file(p, safe_load=True) for p in ckpt_paths], embedding_directory)
        return real_clip(ckpt_paths, embedding_directory, *args, **kwargs)

    load_clip._cdi2v_hunyuan15 = True
    comfy.sd.load_clip = load_clip

    Previous = comfy.sd.VAE

    class VAE(Previous):
        def __init__(self, sd=None, *args, **kwargs):
            if sd is not None and VAE_MARKER_KEY in sd:
                sd = {k: v for k, v in sd.items() if k != VAE_MARKER_KEY}
                with _tiny_autoencoding_engine():
                    super().__init__(sd, *args, **kwargs)
                return
            super().__init__(sd, *args, **kwargs)

    comfy.sd.VAE = VAE
