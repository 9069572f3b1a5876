"""DynamiCrafter / VideoCrafter1 release key split, on the official full key sets (tests/fixtures/dynamicrafter,
generated from the official module definitions by scripts/gen_dynamicrafter_golden.py), and the converter."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kernels.checkpoints import CheckpointError, convert_file
from kernels.dynamicrafter_keys import PREFIX, module_state_dict, release_unet_state_dict

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "dynamicrafter"
FULL_KEYS = sorted(FIXTURES.glob("keys_*_full.json"))


def unet_keys(full: Path) -> set:
    return set(json.loads(full.with_name(full.name.replace("_full", "")).read_text()))


@pytest.mark.parametrize("full", FULL_KEYS, ids=[p.stem for p in FULL_KEYS])
def test_every_release_key_is_loaded_or_left_to_comfy_loaders(full):
    """A real release (UNet, projector, VAE, text/image encoders, schedule buffers) splits without stray keys
    into exactly the official UNet + projector key set."""
    keys = json.loads(full.read_text())
    sd = module_state_dict({k: torch.empty(0) for k in keys}, full.name)
    expected = {k[len(PREFIX):] if k.startswith(PREFIX) else k for k in unet_keys(full)}
    assert set(sd) == expected
    assert set(release_unet_state_dict({k: torch.empty(0) for k in keys}, full.name)) == unet_keys(full)


def test_fixtures_present():
    assert len(FULL_KEYS) == 3


def test_old_names_renamed_and_strays_refused():
    sd = module_state_dict({PREFIX + "framestride_embed.0.weight": torch.ones(1)}, "x")
    assert list(sd) == ["fps_embedding.0.weight"]
    with pytest.raises(ValueError, match=r"f.ckpt: 1 keys belong to no DynamiCrafter part: lora.weight"):
        module_state_dict({PREFIX + "out.2.weight": torch.ones(1), "lora.weight": torch.ones(1)}, "f.ckpt")


def release_like(full: Path, seed=0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(2, generator=gen) for k in json.loads(full.read_text())}


def test_converter_keeps_unet_and_projector_only(tmp_path):
    full = FIXTURES / "keys_dynamicrafter_512_full.json"
    sd = release_like(full)
    torch.save({"state_dict": sd, "global_step": 3}, tmp_path / "timenoise.ckpt")
    info = convert_file(tmp_path / "timenoise.ckpt", tmp_path / "dc.safetensors", arch="dynamicrafter", fp16=True)
    out = load_file(str(tmp_path / "dc.safetensors"))
    assert set(out) == unet_keys(full) and info["dtype"] == "float16"
    key = next(iter(out))
    torch.testing.assert_close(out[key].float(), sd[key].half().float())
    # the CLI does the same
    cli = subprocess.run([sys.executable, str(ROOT / "scripts" / "convert_checkpoint.py"), str(tmp_path / "timenoise.ckpt"),
                          str(tmp_path / "cli.safetensors"), "--arch", "dynamicrafter"], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert set(load_file(str(tmp_path / "cli.safetensors"))) == unet_keys(full)


def test_converter_refuses_other_architectures(tmp_path):
    torch.save({"state_dict": {"down_blocks.0.resnets.0.conv1.weight": torch.ones(1)}}, tmp_path / "svd.ckpt")
    with pytest.raises(CheckpointError, match=r"svd.ckpt: no 'model.diffusion_model.\*' keys.*looks like"):
        convert_file(tmp_path / "svd.ckpt", tmp_path / "o.safetensors", arch="dynamicrafter")
