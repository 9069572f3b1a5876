"""Tiny LTXV (0.9.x) and LTX-2 (LTXAV, audio + video) checkpoints that ComfyUI's own loaders build.

Real LTX files carry their configuration in the safetensors metadata (``config``: ``transformer``, ``vae``,
``audio_vae``, ``vocoder``), and core reads it: ``model_detection`` updates the detected transformer config with it,
``comfy.sd.VAE`` builds the causal video VAE from ``config["vae"]``, ``AudioVAE`` its autoencoder and vocoder from
``config["audio_vae"]`` / ``config["vocoder"]``. So a tiny file with a tiny ``config`` loads through
CheckpointLoaderSimple / LTXVAudioVAELoader with NO substitution. Only the text encoders are fixed-size in core
(T5-XXL for LTXV, Gemma 3 12B for LTX-2): the tests feed conditioning tensors of the tiny transformer's caption
width; the LTX-2 workflow's Gemma file is replaced in ``comfy.sd.load_clip`` by core's own ``LTXAVTEModel`` /
``Gemma3_12B`` classes at a tiny size (``install_loaders``).

Sizes: 128 latent channels (LTXV latent format), VAE x32 spatial / x8 temporal (patch 4 + three compress_all),
transformer 2 heads x 16, 1 layer, caption width 32. Audio: 8 latent channels x 16 frequency bins (fixed in core's
LTXAV model), a 16-channel autoencoder and a 2-stage vocoder.
"""
from __future__ import annotations

import functools
import json
import os

import torch

# tests/support/tiny_models.py, set as this module's global by tiny_models.family_modules() before it runs
tiny_models = globals().get("tiny_models")

MARKER = "cdi2v_tiny_ltx"  # safetensors metadata key of every tiny LTX file (value: ltxv / ltx2 / gemma)
CAPTION = 32  # caption width of the tiny transformers (= text-encoder output width per modality)

LTXV_FILE = "ltx-video-2b-v0.9.5.safetensors"
LTX2_FILE = "ltx-2-19b-dev-fp8.safetensors"
GEMMA_FILE = "gemma_3_12B_it.safetensors"
T5_FILE = "t5xxl_fp16.safetensors"

_VAE = {
    "_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3, "latent_channels": 128,
    "encoder_blocks": [["compress_all", 1], ["compress_all", 1], ["compress_all", 1]],
    # core recognises an LTX VAE by decoder.up_blocks.0.res_blocks.0.conv1: the decoder starts with a res_x block
    "decoder_blocks": [["compress_all", 1], ["compress_all", 1], ["compress_all", 1], ["res_x", 1]],
    "scaling_factor": 1.0, "norm_layer": "pixel_norm", "patch_size": 4, "latent_log_var": "uniform",
    "use_quant_conv": False, "causal_decoder": False,
}
_LTXV_TRANSFORMER = {
    "num_attention_heads": 2, "attention_head_dim": 16, "cross_attention_dim": 32, "caption_channels": CAPTION,
    "num_layers": 1,
}
_LTX2_TRANSFORMER = dict(
    _LTXV_TRANSFORMER, audio_num_attention_heads=2, audio_attention_head_dim=8, audio_cross_attention_dim=16,
    audio_in_channels=128,
)
_AUDIO_ENCODER = {
    "ch": 8, "out_ch": 8, "ch_mult": [1, 2, 4], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0,
    "resamp_with_conv": True, "in_channels": 2, "resolution": 256, "z_channels": 8, "double_z": True,
    "attn_type": "vanilla", "mid_block_add_attention": False, "norm_type": "pixel", "causality_axis": "height",
    "mel_bins": 64,
}
_AUDIO_VAE = {
    "_class_name": "CausalAudioAutoencoder", "sampling_rate": 16000,
    "model": {"params": {"encoder": _AUDIO_ENCODER,
                         "decoder": dict(_AUDIO_ENCODER, out_ch=2, give_pre_end=False, tanh_out=False)}},
}
_VOCODER = {
    # x80 from 100 mel frames per second (16 kHz, hop 160): 8 kHz, a rate AAC (SaveVideo's audio codec) accepts
    "resblock_kernel_sizes": [3], "upsample_rates": [5, 4, 4], "upsample_kernel_sizes": [10, 8, 8],
    "resblock_dilation_sizes": [[1, 3, 5]], "upsample_initial_channel": 32, "stereo": True, "resblock": "1",
    "output_sample_rate": 8000,
}
CONFIGS = {
    "ltxv": {"transformer": _LTXV_TRANSFORMER, "vae": _VAE},
    "ltx2": {"transformer": _LTX2_TRANSFORMER, "vae": _VAE, "audio_vae": _AUDIO_VAE, "vocoder": _VOCODER},
}
UNET_PREFIX = "model.diffusion_model."


def _copy(value):
    return json.loads(json.dumps(value))


def has_ltx2() -> bool:
    """LTX-2 (LTXAV, the nested audio+video latent) exists in this ComfyUI (not in 0.3.64)."""
    import nodes
    return "LTXVConcatAVLatent" in nodes.NODE_CLASS_MAPPINGS


def _fix_statistics(sd: dict, prefix: str) -> None:
    """The VAEs' per-channel latent statistics are buffers: mean 0, std 1 (random ones would be garbage)."""
    for key in list(sd):
        if key.startswith(prefix + "per_channel_statistics."):
            name = key.rsplit(".", 1)[1]
            sd[key] = torch.ones_like(sd[key]) if name.startswith("std") or "over" in name else torch.zeros_like(sd[key])


def _transformer_sd(kind: str, seed: int) -> dict:
    import comfy.supported_models as sm
    cfg_class = sm.LTXAV if kind == "ltx2" else sm.LTXV
    unet_config = dict(_copy(CONFIGS[kind]["transformer"]), image_model="ltxav" if kind == "ltx2" else "ltxv")
    model_config = cfg_class(unet_config)
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({})
    sd = tiny_models.random_state_dict(model.diffusion_model, seed)
    # the timestep tables (scale_shift_table) of a real model are small: keep the random modulation mild
    for key in sd:
        if "scale_shift_table" in key:
            sd[key] = sd[key] * 0.1
    return {UNET_PREFIX + k: v for k, v in sd.items()}


def _vae_sd(seed: int) -> dict:
    from comfy.ldm.lightricks.vae.causal_video_autoencoder import VideoVAE
    sd = tiny_models.random_state_dict(VideoVAE(config=_copy(_VAE)), seed)
    _fix_statistics(sd, "")
    return sd


def _audio_sd(seed: int) -> dict:
    from comfy.ldm.lightricks.vae.causal_audio_autoencoder import CausalAudioAutoencoder
    from comfy.ldm.lightricks.vocoders.vocoder import Vocoder
    ae = tiny_models.random_state_dict(CausalAudioAutoencoder(config=_copy(_AUDIO_VAE)), seed)
    _fix_statistics(ae, "")
    voc = tiny_models.random_state_dict(Vocoder(config=_copy(_VOCODER)), seed + 1)
    out = {"audio_vae." + k: v for k, v in ae.items()}
    out.update({"vocoder." + k: v for k, v in voc.items()})
    return out


def checkpoint_state_dict(kind: str = "ltxv", seed: int = 0) -> dict:
    """All weights of a tiny LTXV / LTX-2 checkpoint, keyed as the released single files."""
    sd = _transformer_sd(kind, seed)
    sd.update({"vae." + k: v for k, v in _vae_sd(seed + 1).items()})
    if kind == "ltx2":
        sd.update(_audio_sd(seed + 2))
        sd.update(_text_projection_sd(seed + 4))
    return sd


def _core_has_ltxav() -> bool:
    import comfy.supported_models as sm
    return hasattr(sm, "LTXAV")


def _write_unavailable(path, what: str):
    """Where core has no LTX-2 (0.3.64) the shipped LTX-2 workflow is skipped, but the test servers still write a
    file for every model a workflow names: this one holds nothing a loader would take for a model."""
    return tiny_models._save_weights({"cdi2v_no_ltx2": torch.zeros(1)}, str(path),
                                     {MARKER: "unavailable", "why": f"this ComfyUI has no LTX-2 ({what})"})


def write_checkpoint(path, kind: str = "ltxv", seed: int = 0):
    """A tiny release-layout LTX checkpoint: transformer + video VAE (+ audio VAE, vocoder and text connectors for
    LTX-2), its configuration in the metadata as the real files have it."""
    if kind == "ltx2" and not _core_has_ltxav():
        return _write_unavailable(path, "supported_models.LTXAV")
    metadata = {"config": json.dumps(CONFIGS[kind]), MARKER: kind}
    return tiny_models._save_weights(checkpoint_state_dict(kind, seed), str(path), metadata)


@functools.cache
def _cached_file(kind: str, seed: int) -> str:
    import tempfile
    folder = tempfile.mkdtemp(prefix="cdi2v_tiny_ltx_")
    return write_checkpoint(os.path.join(folder, f"tiny_{kind}.safetensors"), kind, seed)


def load_checkpoint(kind: str = "ltxv", seed: int = 0):
    """(MODEL, VAE) of a tiny checkpoint loaded by core's own ``load_checkpoint_guess_config`` (as
    CheckpointLoaderSimple does)."""
    import comfy.sd
    model, _, vae, _ = comfy.sd.load_checkpoint_guess_config(_cached_file(kind, seed), output_vae=True,
                                                             output_clip=False)
    return model, vae


def load_audio_vae(seed: int = 0):
    """Core's AudioVAE of the tiny LTX-2 checkpoint (as LTXVAudioVAELoader builds it)."""
    import comfy.utils
    from comfy.ldm.lightricks.vae.audio_vae import AudioVAE
    sd, metadata = comfy.utils.load_torch_file(_cached_file("ltx2", seed), return_metadata=True)
    return AudioVAE(sd, metadata)


def text_conditioning(kind: str = "ltxv", tokens: int = 4, seed: int = 0):
    """(positive, negative) CONDITIONING as CLIPTextEncode gives it with core's LTX text encoders (T5 / Gemma both
    return an attention mask), at the tiny transformer's caption width (LTX-2: video + audio halves)."""
    gen = torch.Generator().manual_seed(seed)
    width = CAPTION * (2 if kind == "ltx2" else 1)
    ctx = torch.randn(1, tokens, width, generator=gen)
    mask = torch.ones(1, tokens, dtype=torch.long)
    return [[ctx, {"attention_mask": mask}]], [[torch.zeros_like(ctx), {"attention_mask": mask.clone()}]]


# --- Gemma 3 text encoder of LTX-2 (fixed 12B in core): core's classes at a tiny size --------------------------

_GEMMA = {
    "vocab_size": 320, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
    "num_key_value_heads": 1, "max_position_embeddings": 512,
}
_GEMMA_ATTRS = {"head_dim": 16, "sliding_attention": [8, False],
                "vision_config": {"num_channels": 3, "hidden_act": "gelu_pytorch_tanh", "hidden_size": 16,
                                  "image_size": 32, "intermediate_size": 32, "model_type": "siglip_vision_model",
                                  "num_attention_heads": 2, "num_hidden_layers": 1, "patch_size": 8},
                "mm_tokens_per_image": 4}
_CONNECTOR = {"attention_head_dim": 16, "num_attention_heads": 2, "num_layers": 1, "num_learnable_registers": 8,
              "cross_attention_dim": 32}


@functools.cache
def _te_classes():
    import dataclasses

    import comfy.sd1_clip
    from comfy.ldm.lightricks.embeddings_connector import Embeddings1DConnector
    from comfy.text_encoders import llama, lt

    @dataclasses.dataclass
    class TinyGemma3Config(llama.Gemma3_12B_Config):
        pass

    for name, value in _GEMMA_ATTRS.items():
        setattr(TinyGemma3Config, name, value)

    class TinyGemma3(llama.Gemma3_12B):
        """Core's Gemma3_12B module with a tiny config (its __init__ takes the fixed 12B dataclass)."""
        def __init__(self, config_dict, dtype, device, operations):
            torch.nn.Module.__init__(self)
            config = TinyGemma3Config(**config_dict)
            self.num_layers = config.num_hidden_layers
            self.model = llama.Llama2_(config, device=device, dtype=dtype, ops=operations)
            self.multi_modal_projector = llama.Gemma3MultiModalProjector(config, dtype, device, operations)
            self.vision_model = comfy.clip_model.CLIPVision(config.vision_config, dtype, device, operations)
            self.dtype = dtype
            self.image_size = config.vision_config["image_size"]

    class TinyGemma3Model(lt.Gemma3_12BModel):
        def __init__(self, device="cpu", layer="all", layer_idx=None, dtype=None, attention_mask=True,
                     model_options=None):
            model_options = model_options or {}
            comfy.sd1_clip.SDClipModel.__init__(
                self, device=device, layer=layer, layer_idx=layer_idx, textmodel_json_config=_copy(_GEMMA),
                dtype=dtype, special_tokens={"start": 2, "pad": 0}, layer_norm_hidden_state=False,
                model_class=TinyGemma3, enable_attention_masks=attention_mask, return_attention_masks=attention_mask,
                model_options=model_options)

    class TinyLTXAVTE(lt.LTXAVTEModel):
        """Core's LTXAVTEModel (Gemma -> projection -> video/audio connectors) at the tiny width."""
        def __init__(self, device="cpu", dtype=None, model_options=None):
            model_options = model_options or {}
            torch.nn.Module.__init__(self)
            self.dtypes = {dtype}
            self.gemma3_12b = TinyGemma3Model(device=device, dtype=dtype, model_options=model_options)
            operations = self.gemma3_12b.operations
            width = _GEMMA["hidden_size"]
            self.text_embedding_projection = operations.Linear(width * (_GEMMA["num_hidden_layers"] + 1), width,
                                                               bias=False, dtype=dtype, device=device)
            for name in ("audio_embeddings_connector", "video_embeddings_connector"):
                setattr(self, name, Embeddings1DConnector(split_rope=True, double_precision_rope=True, dtype=dtype,
                                                          device=device, operations=operations, **_CONNECTOR))

        def load_sd(self, sd):  # core tells the Gemma file by its 48th layer; the tiny one has 2
            if "model.layers.0.self_attn.q_norm.weight" in sd:
                return self.gemma3_12b.load_sd(sd)
            return super().load_sd(sd)

    class TinyGemmaTokenizer(lt.Gemma3_12BTokenizer):
        def __init__(self, embedding_directory=None, tokenizer_data=None):
            tokenizer_data = tokenizer_data or {}
            from comfy.text_encoders.spiece_tokenizer import SPieceTokenizer
            comfy.sd1_clip.SDTokenizer.__init__(
                self, tokenizer_data.get("spiece_model"), pad_with_end=False, embedding_size=_GEMMA["hidden_size"],
                embedding_key="gemma3_12b", tokenizer_class=SPieceTokenizer, has_end_token=False,
                pad_to_max_length=False, max_length=99999999, min_length=1,
                tokenizer_args={"add_bos": True, "add_eos": False}, tokenizer_data=tokenizer_data)

    class TinyLTXAVTokenizer(lt.LTXAVGemmaTokenizer):
        def __init__(self, embedding_directory=None, tokenizer_data=None):
            tokenizer_data = tokenizer_data or {}
            comfy.sd1_clip.SD1Tokenizer.__init__(self, embedding_directory=embedding_directory,
                                                 tokenizer_data=tokenizer_data, name="gemma3_12b",
                                                 tokenizer=TinyGemmaTokenizer)

    return TinyLTXAVTE, TinyLTXAVTokenizer


def _text_projection_sd(seed: int) -> dict:
    """The text projection and connectors that real LTX-2 checkpoints hold (read by LTXAVTEModel.load_sd)."""
    te_class, _ = _te_classes()
    te = te_class()
    sd = tiny_models.random_state_dict(te, seed)
    out = {"text_embedding_projection.aggregate_embed.weight": sd["text_embedding_projection.weight"]}
    for key, value in sd.items():
        if key.startswith(("video_embeddings_connector.", "audio_embeddings_connector.")):
            out[UNET_PREFIX + key] = value
    return out


def _spiece_model() -> bytes:
    """A tiny SentencePiece model (what a Gemma file's ``spiece_model`` tensor holds), trained here."""
    import io

    import sentencepiece as spm
    text = ["a close up of a person smiling at the camera in a diner with warm light and soft sound",
            "the camera slowly pushes in; ambient sounds, a friendly voice, clinking dishes, music",
            "low quality, blurry, distorted, static, watermark, worst quality, ugly"] * 20
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(text), model_writer=model, vocab_size=48,
                                   model_type="unigram", character_coverage=1.0, pad_id=0, unk_id=1, bos_id=2,
                                   eos_id=3, minloglevel=2)
    return model.getvalue()


def write_gemma(path, seed: int = 0):
    """A tiny Gemma 3 text-encoder file (core's Gemma3 key names + spiece_model), marked in its metadata."""
    if not _core_has_ltxav():
        return _write_unavailable(path, "LTX-2's Gemma 3 text encoder")
    te_class, _ = _te_classes()
    te = te_class()
    sd = tiny_models.random_state_dict(te.gemma3_12b.transformer, seed)
    sd["spiece_model"] = torch.frombuffer(bytearray(_spiece_model()), dtype=torch.uint8)
    return tiny_models._save_weights(sd, str(path), {MARKER: "gemma"})


def _marker(path):
    if not str(path).lower().endswith((".safetensors", ".sft")):
        return None
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get(MARKER)
    except Exception:  # noqa: BLE001  (not a readable safetensors file: not ours)
        return None


def load_tiny_ltxav_clip(paths, embedding_directory=None):
    """comfy.sd.CLIP of [tiny Gemma file, tiny LTX-2 checkpoint] built as core's LTXV clip type does it."""
    import types

    import comfy.sd
    import comfy.utils
    te_class, tokenizer_class = _te_classes()
    data = [comfy.utils.load_torch_file(p, safe_load=True) for p in paths]
    spiece = next((sd["spiece_model"] for sd in data if "spiece_model" in sd), None)
    target = types.SimpleNamespace(clip=te_class, tokenizer=tokenizer_class, params={})
    clip = comfy.sd.CLIP(target, embedding_directory=embedding_directory, tokenizer_data={"spiece_model": spiece})
    for sd in data:
        clip.load_sd({k: v for k, v in sd.items() if k != "spiece_model"})
    return clip


# --- T5-XXL of LTXV (fixed size in core): core's ltxv_te() with core's own config override ------------------------

T5_OVERRIDE = {"d_model": CAPTION, "num_layers": 1, "num_heads": 2, "d_kv": 16, "d_ff": 32}


def _t5_clip(state_dicts=(), embedding_directory=None):
    import types

    import comfy.sd
    from comfy.text_encoders import lt
    target = types.SimpleNamespace(clip=lt.ltxv_te(), tokenizer=lt.LTXVT5Tokenizer, params={})
    clip = comfy.sd.CLIP(target, embedding_directory=embedding_directory,
                         model_options={"t5xxl_model_config": dict(T5_OVERRIDE)})
    for sd in state_dicts:
        missing, _ = clip.load_sd(sd)
        if missing:
            raise RuntimeError(f"tiny LTXV T5-XXL: missing keys {missing}")
    return clip


def write_t5(path, seed: int = 0):
    """A tiny T5-XXL file (core's key names, the real tokenizer's vocabulary, width 32), marked in its metadata."""
    sd = tiny_models.random_state_dict(_t5_clip().cond_stage_model.t5xxl.transformer, seed)
    return tiny_models._save_weights(sd, str(path), {MARKER: "ltxv_t5"})


def install_loaders():
    """CLIPLoader / LTXAVTextEncoderLoader -> comfy.sd.load_clip: a tiny T5 or Gemma file builds core's text encoder
    class at the tiny size; every other file goes to the real loader."""
    import comfy.sd
    real = comfy.sd.load_clip
    if getattr(real, "_cdi2v_tiny_ltx", False):
        return

    @functools.wraps(real)
    def load_clip(ckpt_paths, embedding_directory=None, *args, **kwargs):
        if any(_marker(p) == "gemma" for p in ckpt_paths):
            return load_tiny_ltxav_clip(ckpt_paths, embedding_directory)
        if len(ckpt_paths) == 1 and _marker(ckpt_paths[0]) == "ltxv_t5":
            import comfy.utils
            return _t5_clip([comfy.utils.load_torch_file(ckpt_paths[0], safe_load=True)], embedding_directory)
        return real(ckpt_paths, embedding_directory, *args, **kwargs)

    load_clip._cdi2v_tiny_ltx = True
    comfy.sd.load_clip = load_clip


FILE_WRITERS = {
    LTX2_FILE: lambda path, seed=0: write_checkpoint(path, "ltx2", seed),
    LTXV_FILE: lambda path, seed=0: write_checkpoint(path, "ltxv", seed),
    GEMMA_FILE: write_gemma,
    T5_FILE: write_t5,
}
