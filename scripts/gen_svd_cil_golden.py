"""Generate the SVD-CIL conversion fixtures from diffusers' own ``UNetSpatioTemporalConditionModel``.

Not part of the pack or its tests: run it by hand in a throw-away venv that has diffusers, e.g.

    python -m venv /tmp/dvenv && /tmp/dvenv/bin/pip install torch==2.14.1 diffusers transformers accelerate
    /tmp/dvenv/bin/python scripts/gen_svd_cil_golden.py

Writes (nothing is downloaded; no third-party code is copied into the repository):

* ``tests/fixtures/svd_cil/svd_xt_unet_diffusers_keys.json``: every state_dict key of the full-size SVD / SVD-XT
  UNet (instantiated on the meta device from the released ``unet/config.json`` values written below) with its
  shape, in ``state_dict()`` order (= ``parameters()`` order, which diffusers' EMAModel ``shadow_params`` follow).
* ``tests/fixtures/golden/svd_cil_<case>/``: a tiny random diffusers SVD UNet: ``config.json``,
  ``diffusion_pytorch_model.safetensors`` (diffusers key names, fp16-exact values stored as fp16) and
  ``case.safetensors`` (inputs in diffusers' layout and diffusers' fp32 output) + ``case.json``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from diffusers import UNetSpatioTemporalConditionModel
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
KEYS_JSON = ROOT / "tests" / "fixtures" / "svd_cil" / "svd_xt_unet_diffusers_keys.json"
GOLDEN = ROOT / "tests" / "fixtures" / "golden"

# stabilityai/stable-video-diffusion-img2vid-xt unet/config.json (the img2vid one differs only in num_frames 14).
# Every value that shapes a weight equals UNetSpatioTemporalConditionModel's defaults; sample_size and num_frames
# change no tensor.
SVD_XT_UNET_CONFIG = {
    "_class_name": "UNetSpatioTemporalConditionModel",
    "addition_time_embed_dim": 256,
    "block_out_channels": [320, 640, 1280, 1280],
    "cross_attention_dim": 1024,
    "down_block_types": ["CrossAttnDownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
                         "CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"],
    "in_channels": 8,
    "layers_per_block": 2,
    "num_attention_heads": [5, 10, 20, 20],
    "num_frames": 25,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": 768,
    "sample_size": 96,
    "transformer_layers_per_block": 1,
    "up_block_types": ["UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal",
                       "CrossAttnUpBlockSpatioTemporal"],
}

# Tiny cases: 32-channel blocks with 16-channel heads (the pack's tiny ComfyUI SVD uses num_head_channels 16),
# the real time-id embedding widths (ComfyUI's SVD_img2vid always embeds 3 x 256).
_TINY_BASE = {
    "_class_name": "UNetSpatioTemporalConditionModel", "addition_time_embed_dim": 256, "cross_attention_dim": 32,
    "in_channels": 8, "out_channels": 4, "projection_class_embeddings_input_dim": 768,
    "transformer_layers_per_block": 1, "num_frames": 3, "sample_size": 8,
}
CASES = {
    # the layout of the pack's tiny ComfyUI SVD (tests/support/tiny_models.py UNET_CONFIGS["svd"])
    "tiny_attn_both": dict(_TINY_BASE, block_out_channels=[32, 32], num_attention_heads=[2, 2], layers_per_block=1,
                           down_block_types=["CrossAttnDownBlockSpatioTemporal"] * 2,
                           up_block_types=["CrossAttnUpBlockSpatioTemporal"] * 2),
    # SVD's pattern: no attention in the deepest level, 2 resnets per down level (3 per up level)
    "tiny_xt_pattern": dict(_TINY_BASE, block_out_channels=[32, 32], num_attention_heads=[2, 2], layers_per_block=2,
                            down_block_types=["CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"],
                            up_block_types=["UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"]),
}
BATCH, FRAMES, H, W = 2, 3, 8, 8


def model_kwargs(config):
    return {k: v for k, v in config.items() if not k.startswith("_")}


def write_key_list():
    with torch.device("meta"):
        unet = UNetSpatioTemporalConditionModel(**model_kwargs(SVD_XT_UNET_CONFIG))
    names = [n for n, _ in unet.named_parameters()]
    sd = unet.state_dict()
    assert names == list(sd), "parameters() and state_dict() orders differ"
    out = {"source": "diffusers UNetSpatioTemporalConditionModel on the meta device, diffusers "
                     + __import__("diffusers").__version__,
           "config": SVD_XT_UNET_CONFIG,
           "keys": [[k, list(v.shape)] for k, v in sd.items()]}
    KEYS_JSON.parent.mkdir(parents=True, exist_ok=True)
    KEYS_JSON.write_text(json.dumps(out, indent=0) + "\n")
    print(f"{KEYS_JSON.relative_to(ROOT)}: {len(sd)} keys, {sum(v.numel() for v in sd.values()):,} parameters")


def random_weights(unet, seed):
    """Every tensor random (norm scales 1 + noise, biases and mix factors noise) so that a swapped mapping of
    two same-shape tensors changes the output; values fp16-exact."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, value in unet.state_dict().items():
        shape = tuple(value.shape)
        if len(shape) >= 2:
            t = torch.randn(shape, generator=gen) * (value.numel() // shape[0]) ** -0.5
        elif name.endswith("mix_factor"):
            t = torch.randn(shape, generator=gen)
        elif name.endswith("bias"):
            t = torch.randn(shape, generator=gen) * 0.1
        else:
            t = 1 + torch.randn(shape, generator=gen) * 0.1
        out[name] = t.half().float()
    return out


def write_case(name, config, seed):
    folder = GOLDEN / f"svd_cil_{name}"
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(**model_kwargs(config)).eval()
    sd = random_weights(unet, seed)
    unet.load_state_dict(sd)
    gen = torch.Generator().manual_seed(seed + 100)
    sample = torch.randn(BATCH, FRAMES, config["in_channels"], H, W, generator=gen)
    timestep = torch.tensor([0.25 * torch.log(torch.tensor(30.0)).item(), 0.25 * torch.log(torch.tensor(0.5)).item()])
    context = torch.randn(BATCH, 1, config["cross_attention_dim"], generator=gen)
    # [fps - 1, motion_bucket_id, noise_aug_strength] as diffusers' _get_add_time_ids orders them
    added_time_ids = torch.tensor([[5.0, 127.0, 0.02], [4.0, 20.0, 0.002]])
    with torch.no_grad():
        out = unet(sample, timestep, encoder_hidden_states=context, added_time_ids=added_time_ids,
                   return_dict=False)[0]
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file({k: v.half().contiguous() for k, v in sd.items()}, str(folder / "diffusion_pytorch_model.safetensors"))
    save_file({"sample": sample, "timestep": timestep, "encoder_hidden_states": context,
               "added_time_ids": added_time_ids, "out_sample": out.contiguous()}, str(folder / "case.safetensors"))
    meta = {"generator": "scripts/gen_svd_cil_golden.py", "diffusers": __import__("diffusers").__version__,
            "torch": torch.__version__, "seed": seed, "layout": "sample/out_sample [batch, frames, channels, h, w]",
            "params": sum(v.numel() for v in sd.values()),
            "out_abs_mean": float(out.abs().mean())}
    (folder / "case.json").write_text(json.dumps(meta, indent=2) + "\n")
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"{folder.relative_to(ROOT)}: {meta['params']:,} params, {size / 1e6:.2f} MB, |out| mean "
          f"{meta['out_abs_mean']:.4f}")
    assert size < 3e6, "golden folder over 3 MB"


if __name__ == "__main__":
    write_key_list()
    for i, (case, cfg) in enumerate(CASES.items()):
        write_case(case, cfg, seed=i)
    sys.exit(0)
