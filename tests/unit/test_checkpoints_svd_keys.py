"""The diffusers SVD UNet -> ComfyUI key mapping (kernels/svd_keys.py) on the full-size SVD-XT key list.

The key/shape list was generated from diffusers' own UNetSpatioTemporalConditionModel (scripts/gen_svd_cil_golden.py);
the comparison with ComfyUI's own SVD model is in tests/comfy/test_svd_cil_model.py.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kernels.svd_keys import (SVDKeyError, convert_svd_unet, describe_keys, diffusers_norm_eps, is_comfy_svd,
                              is_diffusers_svd, svd_key_map)

pytestmark = pytest.mark.unit

KEYS = Path(__file__).resolve().parents[1] / "fixtures" / "svd_cil" / "svd_xt_unet_diffusers_keys.json"


@pytest.fixture(scope="module")
def xt():
    data = json.loads(KEYS.read_text())
    return data["config"], [k for k, _ in data["keys"]], {k: tuple(s) for k, s in data["keys"]}


def test_full_size_key_list_is_svd_xt(xt):
    config, keys, shapes = xt
    assert len(keys) == 1428
    assert sum(__import__("math").prod(s) for s in shapes.values()) == 1_524_623_082  # SVD's 1.52 B UNet
    assert config["block_out_channels"] == [320, 640, 1280, 1280] and shapes["conv_in.weight"] == (320, 8, 3, 3)


def test_mapping_is_injective_and_total(xt):
    _, keys, _ = xt
    mapping = svd_key_map(keys)
    assert set(mapping) == set(keys)
    assert len(set(mapping.values())) == len(keys)
    assert is_diffusers_svd(keys) and not is_comfy_svd(keys)
    assert is_comfy_svd(mapping.values()) and not is_diffusers_svd(mapping.values())


@pytest.mark.parametrize("diffusers_key, comfy_key", [
    ("conv_in.weight", "input_blocks.0.0.weight"),
    ("time_embedding.linear_2.bias", "time_embed.2.bias"),
    ("add_embedding.linear_1.weight", "label_emb.0.0.weight"),
    ("down_blocks.0.resnets.1.spatial_res_block.conv1.weight", "input_blocks.2.0.in_layers.2.weight"),
    ("down_blocks.0.resnets.0.temporal_res_block.conv2.weight", "input_blocks.1.0.time_stack.out_layers.3.weight"),
    ("down_blocks.0.downsamplers.0.conv.weight", "input_blocks.3.0.op.weight"),
    ("down_blocks.1.resnets.0.spatial_res_block.conv_shortcut.weight", "input_blocks.4.0.skip_connection.weight"),
    ("down_blocks.2.attentions.1.temporal_transformer_blocks.0.attn2.to_k.weight",
     "input_blocks.8.1.time_stack.0.attn2.to_k.weight"),
    ("down_blocks.3.resnets.1.time_mixer.mix_factor", "input_blocks.11.0.time_mixer.mix_factor"),
    ("mid_block.resnets.1.spatial_res_block.norm2.weight", "middle_block.2.out_layers.0.weight"),
    ("mid_block.attentions.0.time_pos_embed.linear_2.weight", "middle_block.1.time_pos_embed.2.weight"),
    ("up_blocks.0.upsamplers.0.conv.weight", "output_blocks.2.1.conv.weight"),
    ("up_blocks.1.upsamplers.0.conv.weight", "output_blocks.5.2.conv.weight"),
    ("up_blocks.3.attentions.2.proj_out.bias", "output_blocks.11.1.proj_out.bias"),
    ("up_blocks.2.resnets.0.spatial_res_block.time_emb_proj.weight", "output_blocks.6.0.emb_layers.1.weight"),
    ("conv_norm_out.weight", "out.0.weight"),
    ("conv_out.bias", "out.2.bias"),
])
def test_known_correspondences(xt, diffusers_key, comfy_key):
    assert svd_key_map(xt[1])[diffusers_key] == comfy_key


def test_unknown_keys_are_listed(xt):
    keys = xt[1] + ["down_blocks.0.attentions.0.lora_up.weight", "image_proj.weight"]
    with pytest.raises(SVDKeyError, match=r"2 keys are not part of a diffusers SVD UNet.*lora_up.*image_proj"):
        svd_key_map(keys)


def test_convert_keeps_values(xt):
    sd = {k: i for i, k in enumerate(xt[1])}
    out = convert_svd_unet(sd)
    assert sorted(out.values()) == sorted(sd.values())


def test_diffusers_norm_eps_covers_the_cross_attn_down_and_all_up_resnets(xt):
    eps = diffusers_norm_eps(xt[1])
    # 3 cross-attn down levels x 2 resnets + 4 up levels x 3 resnets, each spatial+temporal x norm1/norm2
    assert len(eps) == (3 * 2 + 4 * 3) * 4 and set(eps.values()) == {1e-6}
    assert "input_blocks.1.0.in_layers.0" in eps and "input_blocks.10.0.in_layers.0" not in eps  # DownBlock: 1e-5
    assert not any(k.startswith("middle_block") for k in eps)
    assert all(re.match(r"^(input|output)_blocks\.\d+\.0\.(time_stack\.)?(in|out)_layers\.0$", k) for k in eps)


def test_describe_keys():
    assert describe_keys(["model.diffusion_model.input_blocks.0.0.weight"]).startswith("a full LDM")
    assert describe_keys(["down_blocks.0.resnets.0.conv1.weight"]) == \
        "a diffusers UNet without SVD's spatio-temporal blocks"
    assert describe_keys(["foo"]) == "an unknown architecture"
