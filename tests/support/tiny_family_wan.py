"""Tiny random-weight Wan files (Wan 2.1 I2V 14B, Wan 2.2 A14B I2V experts, Wan 2.2 5B TI2V, both Wan VAEs, UMT5-XXL)
that load through ComfyUI's own loader nodes (UNETLoader, VAELoader, CLIPLoader type wan, CLIPVisionLoader).

What core builds from the file and what is substituted (ComfyUI 0.8.0 / 0.3.64, read from comfy/model_detection.py,
comfy/ldm/wan/model.py, comfy/sd.py):

- **DiT**: ``model_detection`` reads dim, ffn_dim, layers, in/out channels and the model type (i2v: ``img_emb.*`` keys)
  from the state dict, but builds two parts at a fixed size whatever the file says: the text projection
  (``text_dim`` 4096, UMT5-XXL's width) and the CLIP-vision projection ``img_emb`` (1280 inputs, CLIP-H's width).
  Tiny files carry the marker key ``cdi2v_tiny_wan``; for them the UNETLoader path runs unchanged except that those
  two parts are built at the file's width (the same core classes, ``WanModel`` / ``MLPProj``). Heads: core takes
  dim // 128, so the tiny DiTs are 128 wide (one head).
- **VAE**: 0.8 builds the Wan 2.1 VAE at the file's width (``decoder.head.0.gamma``), 0.3.64 at 96; both build the
  Wan 2.2 VAE at 160 (decoder 256). Tiny VAE files carry the marker key ``cdi2v_tiny_wan_vae``; where core would
  build another width, the same core class (``comfy.ldm.wan.vae.WanVAE`` / ``vae2_2.WanVAE``) is built at the
  file's width. On 0.8 the Wan 2.1 VAE is not substituted at all (:data:`SUBSTITUTED` records what was).
- **UMT5-XXL**: core's ``comfy.text_encoders.wan`` always builds the XXL config (4096 wide, 256k vocabulary). Tiny
  files (metadata ``cdi2v_tiny = umt5``) become a ``comfy.sd.CLIP`` with core's ``WanT5Tokenizer`` and a tiny
  ``comfy.text_encoders.t5.T5`` (UMT5 layout) of core's ``SDClipModel``; the file holds its own small sentencepiece
  model under ``spiece_model``, as the real file does.
- **CLIP vision H**: the shared tiny CLIP ViT of ``tiny_models`` (hidden 32), which the tiny Wan 2.1 I2V DiT's
  ``img_emb`` takes.

Import this module through ``tiny_models.family_modules()`` (it gets ``tiny_models`` as a global) or directly.
"""
from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import tempfile

import torch

try:
    tiny_models  # noqa: B018  (set by tiny_models.family_modules() before the module runs)
except NameError:  # imported directly (tests)
    from tests.support import tiny_models  # noqa: F401

DIT_MARKER = "cdi2v_tiny_wan"          # marker key of tiny DiT files (UNETLoader passes no metadata on 0.3.64)
VAE_MARKER = "cdi2v_tiny_wan_vae"      # marker key of tiny Wan VAE files
TEXT_KIND = "umt5"                     # tiny_models.METADATA_KEY value of tiny UMT5 files
TEXT_DIM = 32                          # tiny UMT5 width = the tiny DiTs' text_dim
CLIP_DIM = None                        # tiny CLIP vision hidden size: tiny_models.CLIP_VISION_CONFIG (read lazily)

# What detection reads from a Wan DiT file; dim >= 128 because core sets num_heads = dim // 128.
_DIT = {"dim": 128, "ffn_dim": 256, "num_layers": 1, "freq_dim": 256, "patch_size": (1, 2, 2), "num_heads": 1,
        "window_size": (-1, -1), "qk_norm": True, "cross_attn_norm": True, "eps": 1e-6, "text_dim": TEXT_DIM,
        "image_model": "wan2.1"}
DIT_CONFIGS = {
    "wan21_i2v": dict(_DIT, model_type="i2v", in_dim=36, out_dim=16),     # Wan 2.1 I2V 14B (img_emb, clip vision)
    "wan22_i2v": dict(_DIT, model_type="t2v", in_dim=36, out_dim=16),     # Wan 2.2 A14B I2V expert (no img_emb)
    "wan22_5b": dict(_DIT, model_type="t2v", in_dim=48, out_dim=48),      # Wan 2.2 5B TI2V
}
VAE_CONFIGS = {
    # Wan 2.1 VAE: 16 channels, x8 space, x4 time (causal)
    "wan21": {"dim": 8, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
              "temperal_downsample": [False, True, True], "dropout": 0.0},
    # Wan 2.2 VAE: 48 channels, x16 space (x8 + 2x2 patchify), x4 time (causal)
    "wan22": {"dim": 8, "dec_dim": 16, "z_dim": 48, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
              "temperal_downsample": [False, True, True], "dropout": 0.0},
}
# tiny UMT5 (core's t5.T5 in the UMT5 layout: a relative attention bias in every layer)
UMT5_CONFIG = {"d_ff": 64, "d_kv": 16, "d_model": TEXT_DIM, "dense_act_fn": "gelu_pytorch_tanh", "is_gated_act": True,
               "layer_norm_epsilon": 1e-06, "model_type": "umt5", "num_heads": 2, "num_layers": 1,
               "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "eos_token_id": 1,
               "pad_token_id": 0, "vocab_size": None}  # vocab_size: the tiny sentencepiece model's

SUBSTITUTED = []  # (part, core's width, the file's width) for each substitution made, newest last


def _clip_dim():
    return tiny_models.CLIP_VISION_CONFIG["hidden_size"]


def _wan_model_class():
    import comfy.ldm.wan.model
    return comfy.ldm.wan.model


# --- DiT -------------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _dit_at_file_size(sd):
    """Core builds WanModel's text projection at 4096 inputs and img_emb at 1280: build them at the file's width."""
    import comfy.model_detection

    wan = _wan_model_class()
    text_dim = int(sd["text_embedding.0.weight"].shape[1])
    img_dim = int(sd["img_emb.proj.0.weight"].shape[0]) if "img_emb.proj.0.weight" in sd else None
    real_detect, real_proj = comfy.model_detection.detect_unet_config, wan.MLPProj

    def detect_unet_config(state_dict, key_prefix, *args, **kwargs):
        config = real_detect(state_dict, key_prefix, *args, **kwargs)
        if config is not None and config.get("image_model") == "wan2.1":
            SUBSTITUTED.append(("wan_dit.text_dim", config.get("text_dim", 4096), text_dim))
            config = dict(config, text_dim=text_dim)
        return config

    def mlp_proj(in_dim, out_dim, *args, **kwargs):
        if img_dim is not None and in_dim != img_dim:
            SUBSTITUTED.append(("wan_dit.img_emb", in_dim, img_dim))
            in_dim = img_dim
        return real_proj(in_dim, out_dim, *args, **kwargs)

    comfy.model_detection.detect_unet_config, wan.MLPProj = detect_unet_config, mlp_proj
    try:
        yield
    finally:
        comfy.model_detection.detect_unet_config, wan.MLPProj = real_detect, real_proj


def dit_state_dict(kind, seed=0):
    """Random weights of a tiny Wan DiT of ``kind`` (DIT_CONFIGS) in core's key names, with the marker key."""
    import comfy.ops

    wan = _wan_model_class()
    config = dict(DIT_CONFIGS[kind])
    model = wan.WanModel(**config, operations=comfy.ops.disable_weight_init)
    if model.img_emb is not None:  # the tiny CLIP vision's width instead of CLIP-H's 1280
        model.img_emb = wan.MLPProj(_clip_dim(), config["dim"],
                                    operation_settings={"operations": comfy.ops.disable_weight_init})
    sd = tiny_models.random_state_dict(model, seed)
    sd[DIT_MARKER] = torch.ones(1)
    return sd


def write_tiny_dit(path, kind, seed=0):
    return tiny_models._save_weights(dit_state_dict(kind, seed), path)


def load_tiny_dit(kind, seed=0):
    """MODEL of a tiny Wan DiT through core's loader (load_diffusion_model_state_dict, model detection)."""
    import comfy.sd
    sd = dit_state_dict(kind, seed)
    if getattr(comfy.sd.load_diffusion_model_state_dict, "_cdi2v_tiny_wan", False):
        return comfy.sd.load_diffusion_model_state_dict(sd)
    return _load_dit(comfy.sd.load_diffusion_model_state_dict, sd)


def _load_dit(real, sd, *args, **kwargs):
    sd = {k: v for k, v in sd.items() if k != DIT_MARKER}
    with _dit_at_file_size(sd):
        return real(sd, *args, **kwargs)


# --- VAEs -------------------------------------------------------------------------------------------------------

def _vae_template(kind):
    import comfy.ldm.wan.vae
    import comfy.ldm.wan.vae2_2
    config = json.loads(json.dumps(VAE_CONFIGS[kind]))
    return (comfy.ldm.wan.vae2_2.WanVAE if kind == "wan22" else comfy.ldm.wan.vae.WanVAE)(**config)


def vae_state_dict(kind, seed=0):
    sd = tiny_models.random_state_dict(_vae_template(kind), seed)
    sd[VAE_MARKER] = torch.ones(1)
    return sd


def write_tiny_vae(path, kind, seed=0):
    return tiny_models._save_weights(vae_state_dict(kind, seed), path)


def _vae_widths(sd):
    """(module, {argument: width}) the file was built with."""
    import comfy.ldm.wan.vae
    import comfy.ldm.wan.vae2_2
    if "decoder.upsamples.0.upsamples.0.residual.2.weight" in sd:  # core's own Wan 2.2 test
        return comfy.ldm.wan.vae2_2, {"dim": int(sd["encoder.conv1.weight"].shape[0]),
                                      "dec_dim": int(sd["decoder.head.0.gamma"].shape[0])}
    return comfy.ldm.wan.vae, {"dim": int(sd["decoder.head.0.gamma"].shape[0])}


@contextlib.contextmanager
def _vae_at_file_size(sd):
    """Where core would build the Wan VAE at another width than the file's, build the same class at the file's."""
    module, widths = _vae_widths(sd)
    real = module.WanVAE

    def build(*args, **kwargs):
        core = {k: kwargs.get(k, 256 if k == "dec_dim" else None) for k in widths}
        if core != widths:
            SUBSTITUTED.append((module.__name__ + ".WanVAE", core, dict(widths)))
            kwargs.update(widths)
        return real(*args, **kwargs)

    module.WanVAE = build
    try:
        yield
    finally:
        module.WanVAE = real


def build_tiny_vae(kind="wan21", seed=0):
    """``comfy.sd.VAE`` of a tiny Wan VAE (``wan21``: 16 channels x8; ``wan22``: 48 channels x16), on 0.8 and 0.3.64."""
    import comfy.sd
    sd = vae_state_dict(kind, seed)
    del sd[VAE_MARKER]
    with _vae_at_file_size(sd):
        return comfy.sd.VAE(sd=sd)


# --- UMT5 text encoder ------------------------------------------------------------------------------------------

TOKENIZER_TEXT = ("a tiny random model draws a cat walking on the beach at sunset while the camera pans slowly to "
                  "the right; the white dragon warrior stands still, eyes full of determination. 0123456789 "
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ ,.;:!?'\"()-_/")


@functools.lru_cache(maxsize=None)
def spiece_model() -> bytes:
    """A small character-level sentencepiece model with UMT5's special ids (pad 0, eos 1, unk 2)."""
    import sentencepiece as spm
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter([TOKENIZER_TEXT] * 4), model_writer=out, model_type="char",
                                   vocab_size=len(set(TOKENIZER_TEXT)) + 3, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   character_coverage=1.0, num_threads=1, minloglevel=2, hard_vocab_limit=False)
    return out.getvalue()


def _umt5_config():
    import sentencepiece as spm
    size = spm.SentencePieceProcessor(model_proto=spiece_model()).get_piece_size()
    return dict(UMT5_CONFIG, vocab_size=size)


@functools.lru_cache(maxsize=None)
def _text_target(config_json):
    import types

    import comfy.sd1_clip
    import comfy.text_encoders.t5
    import comfy.text_encoders.wan

    fd, json_path = tempfile.mkstemp(prefix="tiny_umt5_", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(config_json)

    class TinyUMT5Model(comfy.sd1_clip.SDClipModel):  # core's UMT5XXlModel with a tiny config
        def __init__(self, device="cpu", layer="last", layer_idx=None, dtype=None, model_options={}):
            super().__init__(device=device, layer=layer, layer_idx=layer_idx, textmodel_json_config=json_path,
                             dtype=dtype, special_tokens={"end": 1, "pad": 0}, model_class=comfy.text_encoders.t5.T5,
                             enable_attention_masks=True, zero_out_masked=True, model_options=model_options)

    class TinyWanT5Model(comfy.sd1_clip.SD1ClipModel):  # core's WanT5Model
        def __init__(self, device="cpu", dtype=None, model_options={}, **kwargs):
            super().__init__(device=device, dtype=dtype, model_options=model_options, name="umt5xxl",
                             clip_model=TinyUMT5Model, **kwargs)

    return types.SimpleNamespace(clip=TinyWanT5Model, tokenizer=comfy.text_encoders.wan.WanT5Tokenizer, params={})


def _tiny_clip(config, spiece, embedding_directory=None):
    import comfy.sd
    return comfy.sd.CLIP(_text_target(json.dumps(config, sort_keys=True)), embedding_directory=embedding_directory,
                         tokenizer_data={"spiece_model": spiece})


def write_tiny_umt5(path, seed=0):
    config = _umt5_config()
    spiece = torch.frombuffer(bytearray(spiece_model()), dtype=torch.uint8)
    clip = _tiny_clip(config, spiece)
    sd = tiny_models.random_state_dict(clip.cond_stage_model.umt5xxl.transformer, seed)
    sd["spiece_model"] = spiece.clone()
    metadata = {tiny_models.METADATA_KEY: TEXT_KIND, "cdi2v_tiny_text_config": json.dumps(config)}
    return tiny_models._save_weights(sd, path, metadata)


def load_tiny_umt5(path, embedding_directory=None):
    """``comfy.sd.CLIP`` of a tiny UMT5 file (what CLIPLoader type wan returns for the real one)."""
    import comfy.utils
    config = json.loads(tiny_models.tiny_checkpoint_metadata(path)["cdi2v_tiny_text_config"])
    sd = comfy.utils.load_torch_file(path, safe_load=True)
    clip = _tiny_clip(config, sd.pop("spiece_model"), embedding_directory)
    clip.load_sd(sd)
    return clip


def build_tiny_umt5(seed=0):
    fd, path = tempfile.mkstemp(prefix="tiny_umt5_", suffix=".safetensors")
    os.close(fd)
    try:
        write_tiny_umt5(path, seed)
        return load_tiny_umt5(path)
    finally:
        os.remove(path)


# --- the files the Wan workflows name (core's template names and URLs) ------------------------------------------

FILE_WRITERS = {
    "wan2.1_i2v_480p_14B_fp16.safetensors": lambda path, seed=0: write_tiny_dit(path, "wan21_i2v", seed),
    "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors": lambda path, seed=0: write_tiny_dit(path, "wan22_i2v", seed),
    "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors":
        lambda path, seed=0: write_tiny_dit(path, "wan22_i2v", seed + 100),
    "wan2.2_ti2v_5B_fp16.safetensors": lambda path, seed=0: write_tiny_dit(path, "wan22_5b", seed),
    "wan_2.1_vae.safetensors": lambda path, seed=0: write_tiny_vae(path, "wan21", seed),
    "wan2.2_vae.safetensors": lambda path, seed=0: write_tiny_vae(path, "wan22", seed),
    "umt5_xxl_fp8_e4m3fn_scaled.safetensors": write_tiny_umt5,
}


def install_loaders():
    """Wrap core's loader functions (chained to whatever wrapped them before) for the tiny Wan files."""
    import comfy.sd

    real_dit = comfy.sd.load_diffusion_model_state_dict
    if not getattr(real_dit, "_cdi2v_tiny_wan", False):
        @functools.wraps(real_dit)
        def load_diffusion_model_state_dict(sd, *args, **kwargs):
            if DIT_MARKER in sd:
                return _load_dit(real_dit, sd, *args, **kwargs)
            return real_dit(sd, *args, **kwargs)

        load_diffusion_model_state_dict._cdi2v_tiny_wan = True
        comfy.sd.load_diffusion_model_state_dict = load_diffusion_model_state_dict

    real_clip = comfy.sd.load_clip
    if not getattr(real_clip, "_cdi2v_tiny_wan", False):
        @functools.wraps(real_clip)
        def load_clip(ckpt_paths, embedding_directory=None, *args, **kwargs):
            if len(ckpt_paths) == 1:
                metadata = tiny_models.tiny_checkpoint_metadata(ckpt_paths[0]) or {}
                if metadata.get(tiny_models.METADATA_KEY) == TEXT_KIND:
                    return load_tiny_umt5(ckpt_paths[0], embedding_directory)
            return real_clip(ckpt_paths, embedding_directory, *args, **kwargs)

        load_clip._cdi2v_tiny_wan = True
        comfy.sd.load_clip = load_clip

    base_vae = comfy.sd.VAE
    if not getattr(base_vae, "_cdi2v_tiny_wan", False):
        class VAE(base_vae):
            _cdi2v_tiny_wan = True

            def __init__(self, sd=None, *args, **kwargs):
                if sd is not None and VAE_MARKER in sd:
                    sd = {k: v for k, v in sd.items() if k != VAE_MARKER}
                    with _vae_at_file_size(sd):
                        return super().__init__(sd, *args, **kwargs)
                super().__init__(sd, *args, **kwargs)

        comfy.sd.VAE = VAE
