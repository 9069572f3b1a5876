"""Safe checkpoint reading, container unwrapping, safetensors writing and the CLI (kernels/checkpoints.py)."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from kernels.checkpoints import (HEAD_METADATA, NORM_EPS_METADATA, CheckpointError, convert_file, read_checkpoint,
                                 select_weights, strip_prefixes, write_safetensors)
from tests.support.pickles import SystemCall, WritesSentinel

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"


def small_sd(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {"conv.weight": torch.randn(4, 3, 3, 3, generator=gen), "conv.bias": torch.randn(4, generator=gen),
            "norm.weight": torch.ones(4), "steps": torch.arange(3)}


def assert_same(a: dict, b: dict):
    assert list(a) == list(b) or set(a) == set(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


# --- payloads that would run code -----------------------------------------------------------------------------

class CustomObject:
    pass


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_plain_tensor_pickle_loads(tmp_path, zip_format):
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": small_sd(), "global_step": 7, "optimizer": {"state": {}, "param_groups": [
        {"lr": 1e-5, "betas": (0.9, 0.999), "params": [0, 1]}]}}, path, _use_new_zipfile_serialization=zip_format)
    obj, metadata = read_checkpoint(path)
    assert obj["global_step"] == 7 and metadata == {}
    sd, taken = select_weights(obj, "auto", path.name)
    assert taken == "state_dict"
    assert_same(sd, small_sd())


@pytest.mark.parametrize("payload", [WritesSentinel, SystemCall], ids=["exec", "os.system"])
@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_pickle_that_runs_code_is_refused_without_running(tmp_path, payload, zip_format):
    sentinel = tmp_path / "SENTINEL"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": small_sd(), "x": payload(sentinel)}, path, _use_new_zipfile_serialization=zip_format)
    unsafe = (r"evil\.pt: contains Python objects that would run code; only plain tensor checkpoints load "
              r"\(it asks for (builtins\.exec|exec|posix\.system)\)")
    with pytest.raises(CheckpointError, match=unsafe):
        read_checkpoint(path)
    assert not sentinel.exists(), "the payload ran"


def test_the_exec_payload_really_runs_under_an_unsafe_load(tmp_path):
    """Control: the same file loaded the unsafe way does write the sentinel, so the test above is meaningful."""
    sentinel = tmp_path / "SENTINEL"
    path = tmp_path / "evil.pt"
    torch.save({"x": WritesSentinel(sentinel)}, path)
    torch.load(path, weights_only=False)
    assert sentinel.read_text() == "ran"


def test_custom_class_is_refused(tmp_path):
    path = tmp_path / "custom.pth"
    torch.save({"model": CustomObject(), "w": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match=r"custom\.pth: contains Python objects.*CustomObject"):
        read_checkpoint(path)


def test_raw_pickle_with_a_reduce_is_refused(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    path = tmp_path / "raw.bin"
    path.write_bytes(pickle.dumps(SystemCall(sentinel), protocol=2))
    with pytest.raises(CheckpointError, match="would run code"):
        read_checkpoint(path)
    assert not sentinel.exists()


# --- truncated / unreadable files ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["zip", "legacy", "safetensors"])
@pytest.mark.parametrize("keep", [0.5, 0.02])
def test_truncated_files_give_a_clear_error(tmp_path, kind, keep):
    full = tmp_path / ("full.safetensors" if kind == "safetensors" else "full.ckpt")
    sd = {"w": torch.randn(64, 64)}
    if kind == "safetensors":
        save_file(sd, str(full))
    else:
        torch.save({"state_dict": sd}, full, _use_new_zipfile_serialization=kind == "zip")
    data = full.read_bytes()
    cut = tmp_path / ("cut" + full.suffix)
    cut.write_bytes(data[:max(1, int(len(data) * keep))])
    with pytest.raises(CheckpointError, match=r"cut\.(ckpt|safetensors): .*(truncated|corrupt)"):
        read_checkpoint(cut)


def test_empty_missing_and_unknown_files(tmp_path):
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.ckpt: the file is empty"):
        read_checkpoint(tmp_path / "empty.ckpt")
    with pytest.raises(CheckpointError, match="nope.ckpt: no such file"):
        read_checkpoint(tmp_path / "nope.ckpt")
    (tmp_path / "weights.onnx").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unknown checkpoint type '.onnx'"):
        read_checkpoint(tmp_path / "weights.onnx")


# --- containers and prefixes -------------------------------------------------------------------------------------

def ema_of(sd):
    return {k: v + 1 if v.is_floating_point() else v for k, v in sd.items()}


def test_svd_cil_container_with_ddp_prefix_and_diffusers_ema():
    """checkpoint-step-20000.ckpt: {global_step, state_dict (DDP 'module.'), optimizer, ema_state (EMAModel)}."""
    sd = {k: v for k, v in small_sd().items() if v.is_floating_point()}
    ema = ema_of(sd)
    obj = {"global_step": 20000, "state_dict": {"module." + k: v for k, v in sd.items()},
           "optimizer": {"state": {}, "param_groups": []},
           "ema_state": {"decay": 0.9999, "min_decay": 0.0, "optimization_step": 20000, "update_after_step": 0,
                         "use_ema_warmup": False, "inv_gamma": 1.0, "power": 0.6667,
                         "shadow_params": list(ema.values())}}
    got, taken = select_weights(obj, "auto")
    assert taken == "ema"
    assert_same(got, ema)
    got, taken = select_weights(obj, "ema")
    assert taken == "ema"
    got, taken = select_weights(obj, "state_dict")
    assert taken == "state_dict"
    assert_same(got, sd)


def test_diffusers_ema_shape_mismatch_and_missing_names():
    sd = {"a.weight": torch.zeros(2, 3), "b.weight": torch.zeros(4)}
    bad = {"state_dict": sd, "ema_state": {"shadow_params": [torch.zeros(4), torch.zeros(2, 3)]}}
    with pytest.raises(CheckpointError, match=r"EMA tensor for 'a.weight' has shape \(4,\)"):
        select_weights(bad, "auto", "x.ckpt")
    short = {"state_dict": sd, "ema_state": {"shadow_params": [torch.zeros(2, 3)]}}
    with pytest.raises(CheckpointError, match="EMA has 1 tensors but the state_dict has 2"):
        select_weights(short, "auto", "x.ckpt")
    bare = {"ema_state": {"shadow_params": [torch.zeros(2, 3)]}}
    with pytest.raises(CheckpointError, match="no 'state_dict' to name them"):
        select_weights(bare, "auto", "x.ckpt")


def test_named_ema_dict_keeps_buffers_from_state_dict():
    sd = small_sd()
    ema = {k: v + 1 for k, v in sd.items() if v.is_floating_point()}
    got, taken = select_weights({"state_dict": sd, "ema_state": ema}, "auto")
    assert taken == "ema"
    assert_same(got, dict(ema, steps=sd["steps"]))


def test_deepspeed_module_container():
    sd = small_sd()
    got, taken = select_weights({"module": {"_forward_module." + k: v for k, v in sd.items()}}, "auto")
    assert taken == "state_dict"
    assert_same(got, sd)


def test_plain_state_dict_and_prefix_rules():
    sd = small_sd()
    assert_same(select_weights({"module." + k: v for k, v in sd.items()})[0], sd)
    assert_same(strip_prefixes({"module._forward_module." + k: v for k, v in sd.items()}), sd)
    mixed = {"module.a": torch.ones(1), "b": torch.ones(1)}
    assert set(strip_prefixes(mixed)) == {"module.a", "b"}  # only a prefix every key shares is dropped


def test_weight_selection_errors():
    with pytest.raises(CheckpointError, match="plain state dict without EMA weights"):
        select_weights(small_sd(), "ema", "f.safetensors")
    with pytest.raises(CheckpointError, match="no EMA weights .*the file has state_dict"):
        select_weights({"state_dict": small_sd()}, "ema", "f.ckpt")
    with pytest.raises(CheckpointError, match="no state dict inside .*the file has epoch, optimizer"):
        select_weights({"epoch": 3, "optimizer": {}}, "auto", "f.ckpt")
    with pytest.raises(CheckpointError, match="weights 'best' is unknown"):
        select_weights(small_sd(), "best")
    with pytest.raises(CheckpointError, match="holds a list"):
        select_weights([torch.ones(1)], "auto", "f.ckpt")


# --- writing ------------------------------------------------------------------------------------------------

def test_fp16_safetensors_are_contiguous_unshared_and_annotated(tmp_path):
    base = torch.randn(6, 5)
    sd = {"t": base.t(), "tied_a": base, "tied_b": base, "ints": torch.arange(4), "bf": torch.ones(3).bfloat16()}
    assert not sd["t"].is_contiguous()
    out = write_safetensors(sd, tmp_path / "o.safetensors", fp16=True, metadata={"cil_source": "x.ckpt"})
    got = load_file(str(out))
    assert got["t"].dtype == got["tied_a"].dtype == got["bf"].dtype == torch.float16
    assert got["ints"].dtype == torch.int64
    torch.testing.assert_close(got["t"].float(), base.t().half().float(), rtol=0, atol=0)
    with safe_open(str(out), framework="pt") as f:
        assert f.metadata()["cil_source"] == "x.ckpt"
    assert not (tmp_path / "o.safetensors.partial").exists()


def test_fp32_kept_when_not_fp16_and_overflow_refused(tmp_path):
    sd = {"w": torch.randn(3, 3, dtype=torch.float32)}
    got = load_file(str(write_safetensors(sd, tmp_path / "a.safetensors")))
    assert got["w"].dtype == torch.float32
    torch.testing.assert_close(got["w"], sd["w"], rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="'big' overflows fp16"):
        write_safetensors({"big": torch.tensor([1e6])}, tmp_path / "b.safetensors", fp16=True)
    with pytest.raises(CheckpointError, match="must end in .safetensors"):
        write_safetensors(sd, tmp_path / "c.ckpt")


def test_convert_file_end_to_end(tmp_path):
    sd = small_sd()
    src = tmp_path / "checkpoint-step-5.ckpt"
    torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}, "global_step": 5}, src)
    info = convert_file(src, tmp_path / "out.safetensors", weights="auto", arch="as_is", fp16=True)
    assert info["weights"] == "state_dict" and info["tensors"] == 4 and info["dtype"] == "float16,int64"
    got = load_file(info["output"])
    assert set(got) == set(sd)
    with safe_open(info["output"], framework="pt") as f:
        meta = f.metadata()
    assert meta["cil_source"] == src.name and meta["cil_weights"] == "state_dict" and meta["cil_dtype"] == "fp16"


def golden_case(name="svd_cil_tiny_xt_pattern"):
    folder = GOLDEN / name
    return folder, load_file(str(folder / "diffusion_pytorch_model.safetensors"))


def test_convert_file_svd_cil_records_eps_and_heads(tmp_path):
    folder, sd = golden_case()
    work = tmp_path / "svd"
    work.mkdir()
    (work / "config.json").write_text((folder / "config.json").read_text())
    src = work / "checkpoint-step-20000.ckpt"
    torch.save({"global_step": 20000, "state_dict": {"module." + k: v for k, v in sd.items()},
                "ema_state": {"decay": 0.9999, "shadow_params": list(sd.values())}}, src)
    info = convert_file(src, tmp_path / "svd_cil.safetensors", arch="svd_cil")
    assert info["weights"] == "ema"
    got = load_file(info["output"])
    assert "input_blocks.0.0.weight" in got and "conv_in.weight" not in got and len(got) == len(sd)
    with safe_open(info["output"], framework="pt") as f:
        meta = f.metadata()
    assert meta[HEAD_METADATA] == "16"
    assert "input_blocks.1.0.in_layers.0" in meta[NORM_EPS_METADATA]


def test_convert_file_refuses_other_architectures(tmp_path):
    src = tmp_path / "sd15.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1),
               "first_stage_model.encoder.conv_in.weight": torch.zeros(1)}, str(src))
    with pytest.raises(CheckpointError, match="sd15.safetensors: not an SVD-CIL UNet.*a full LDM/sgm checkpoint"):
        convert_file(src, tmp_path / "o.safetensors", arch="svd_cil")
    assert not (tmp_path / "o.safetensors").exists()


# --- the CLI ------------------------------------------------------------------------------------------------

def run_cli(*args):
    env = dict(os.environ, PYTHONPATH="")  # no ComfyUI, no repo on the path: the script finds kernels itself
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "convert_checkpoint.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=str(Path(args[0]).parent), timeout=120)


def test_cli_converts_without_comfyui(tmp_path):
    folder, sd = golden_case()
    src = tmp_path / "checkpoint-step-20000.ckpt"
    torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}, "ema_state": {
        "shadow_params": [v * 2 for v in sd.values()]}}, src)
    res = run_cli(src, tmp_path / "out.safetensors", "--fp16", "--weights", "state_dict", "--arch", "svd_cil")
    assert res.returncode == 0, res.stderr
    assert "state_dict weights, float16, arch svd_cil" in res.stdout
    got = load_file(str(tmp_path / "out.safetensors"))
    torch.testing.assert_close(got["input_blocks.0.0.weight"], sd["conv_in.weight"].half(), rtol=0, atol=0)
    res = run_cli(src, tmp_path / "out.safetensors")
    assert res.returncode == 2 and "exists (use --overwrite)" in res.stderr
    res = run_cli(src, tmp_path / "raw.safetensors", "--arch", "as_is")
    assert res.returncode == 0, res.stderr
    got = load_file(str(tmp_path / "raw.safetensors"))
    torch.testing.assert_close(got["conv_in.weight"], sd["conv_in.weight"] * 2, rtol=0, atol=0)  # auto = EMA


def test_cli_refuses_code_and_reports(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    src = tmp_path / "evil.ckpt"
    torch.save({"state_dict": small_sd(), "x": SystemCall(sentinel)}, src)
    res = run_cli(src, tmp_path / "o.safetensors")
    assert res.returncode == 2
    assert "evil.ckpt: contains Python objects that would run code" in res.stderr
    assert not sentinel.exists() and not (tmp_path / "o.safetensors").exists()
