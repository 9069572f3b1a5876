"""The native ConsistI2V model: golden parity with the official UNet, loading, bad checkpoints, LoRA.

Every ``tests/fixtures/golden/consisti2v_unet_*`` folder is a case (official config.json + weights + one forward);
it is loaded through the pack's loader node from a ComfyUI model folder, exactly as a user's download would be.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.support.node_calls import call_node, pack_module

pytestmark = pytest.mark.comfy

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CASES = sorted(p for p in GOLDEN.glob("consisti2v_unet_*") if p.is_dir())
WEIGHTS = "diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def golden_folder(comfy):
    import folder_paths

    folder_paths.add_model_folder_path("diffusion_models", str(GOLDEN))
    return GOLDEN


def load_case_model(case: Path):
    (patcher,) = call_node("ConsistI2VModelLoader", unet_name=f"{case.name}/{WEIGHTS}", weight_dtype="fp32")
    return patcher


def frames_as_batch(case: Path):
    """The case's inputs in ComfyUI's layout: [b*(F-1), 4, h, w] latents, per-row timestep/context/stride."""
    c = load_file(str(case / "case.safetensors"))
    b, ch, n, h, w = c["sample"].shape
    rows = lambda t: t.repeat_interleave(n, dim=0)  # noqa: E731
    return dict(x=c["sample"].transpose(1, 2).reshape(b * n, ch, h, w), first=c["first_frame_latents"][:, :, 0],
                t=rows(c["timestep"]), context=rows(c["encoder_hidden_states"]), stride=rows(c["frame_stride"]),
                n=n, ref=c["out_sample"], shape=(b, n, ch, h, w))


def to_official_layout(out, shape):
    return out.reshape(shape).transpose(1, 2)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_unet_matches_official_forward(golden_folder, case):
    unet = load_case_model(case).model.diffusion_model
    d = frames_as_batch(case)
    with torch.inference_mode():
        out = unet(d["x"], d["t"], context=d["context"], first_frame=d["first"], num_video_frames=d["n"],
                   frame_stride=d["stride"])
    torch.testing.assert_close(to_official_layout(out, d["shape"]), d["ref"], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_comfy_model_sampling_gives_the_official_epsilon(golden_folder, case):
    """Through ComfyUI's BaseModel at sigma(t) on the model's own schedule: input scaling, the discrete timestep
    and the epsilon parametrisation reproduce the raw official call."""
    model = load_case_model(case).model
    d = frames_as_batch(case)
    t = int(d["t"][0])
    assert torch.all(d["t"] == t), "the golden case has one timestep"
    sigma = model.model_sampling.sigma(torch.tensor(float(t)))
    x = d["x"] * torch.sqrt(1 + sigma ** 2)  # model-space state whose c_in-scaled input is the raw sample
    with torch.inference_mode():
        denoised = model.apply_model(x, sigma.expand(x.shape[0]), c_crossattn=d["context"], first_frame=d["first"],
                                     num_video_frames=d["n"], frame_stride=int(d["stride"][0]))
    eps = (x - denoised) / sigma
    torch.testing.assert_close(to_official_layout(eps, d["shape"]), d["ref"], atol=1e-5, rtol=1e-4)


def test_schedule_is_consisti2v_sqrt_linear(golden_folder):
    import comfy.model_sampling

    model = load_case_model(CASES[0]).model
    ms = model.model_sampling
    assert float(ms.sigma(torch.tensor(850.0))) == pytest.approx(10.849, abs=2e-3)
    assert float(ms.sigma(torch.tensor(981.0))) == pytest.approx(22.572, abs=2e-3)
    assert isinstance(ms, comfy.model_sampling.EPS)


def test_rope_frequencies_come_from_the_checkpoint(tmp_path, comfy):
    from tests.support import tiny_models

    sd = tiny_models.consisti2v_state_dict(seed=3)
    key = next(k for k in sd if k.endswith("attn1.rotary_emb.freqs"))
    sd[key] = sd[key] * 0.5 + 0.25
    path = tmp_path / "unet.safetensors"
    save_file(sd, str(path))
    model = pack_module("consisti2v.model").load_consisti2v(path, torch.float32)
    loaded = model.model.diffusion_model.state_dict()[key]
    torch.testing.assert_close(loaded, sd[key])


def tiny_inputs(seed=0, n=3, h=8, w=8, batch=2):
    from tests.support.tiny_models import CONTEXT_DIM

    gen = torch.Generator().manual_seed(seed)
    return dict(x=torch.randn(batch * n, 4, h, w, generator=gen), first=torch.randn(batch, 4, h, w, generator=gen),
                t=torch.full((batch * n,), 500.0), context=torch.randn(batch, 7, CONTEXT_DIM, generator=gen)
                .repeat_interleave(n, 0), n=n)


def run_unet(unet, d, **options):
    with torch.inference_mode():
        return unet(d["x"], d["t"], context=d["context"], first_frame=d["first"], num_video_frames=d["n"],
                    frame_stride=3, transformer_options=options)


def test_single_file_config_is_inferred_from_shapes(tmp_path, comfy):
    from tests.support import tiny_models

    config_mod, model_mod = pack_module("consisti2v.config"), pack_module("consisti2v.model")
    sd = tiny_models.consisti2v_state_dict(seed=1)
    single = tmp_path / "single" / "consisti2v.safetensors"
    folder = tmp_path / "folder" / WEIGHTS
    for p in (single, folder):
        p.parent.mkdir()
        save_file(sd, str(p))
    (folder.parent / "config.json").write_text(json.dumps(tiny_models.CONSISTI2V_CONFIG))
    _, inferred = model_mod.read_checkpoint(single)
    assert inferred == config_mod.normalise_config(tiny_models.CONSISTI2V_CONFIG)
    d = tiny_inputs()
    a = run_unet(model_mod.load_consisti2v(single, torch.float32).model.diffusion_model, d)
    b = run_unet(model_mod.load_consisti2v(folder, torch.float32).model.diffusion_model, d)
    torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_training_checkpoint_prefix_and_unused_keys_are_accepted(tmp_path, comfy):
    from tests.support import tiny_models

    sd = tiny_models.consisti2v_state_dict(seed=2)
    wrapped = {f"module.{k}": v for k, v in sd.items()}
    wrapped["module.down_blocks.0.conv3ds.0.time_emb_proj.weight"] = torch.zeros(64, 256)
    wrapped["module.down_blocks.0.tempo_attns.0.transformer_blocks.0.attn1.rotary_bias.relative_attention_bias"
            ".weight"] = torch.zeros(32, 8)
    path = tmp_path / "train.safetensors"
    save_file(wrapped, str(path))
    model = pack_module("consisti2v.model").load_consisti2v(path, torch.float32)
    key = "down_blocks.0.resnets.0.conv1.weight"
    torch.testing.assert_close(model.model.diffusion_model.state_dict()[key], sd[key])


def write(tmp_path, sd, name="bad.safetensors"):
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


@pytest.mark.parametrize("damage, words", [
    ("missing", ["missing keys", "down_blocks.0.tempo_attns.0.alpha"]),
    ("unexpected", ["unexpected keys", "down_blocks.0.extra_layer.weight"]),
    ("shape", ["shape mismatches", "conv_in.weight"]),
    ("not_consisti2v", ["no temporal layers"]),
])
def test_bad_checkpoints_are_named(tmp_path, comfy, damage, words):
    from tests.support import tiny_models

    sd = tiny_models.consisti2v_state_dict(seed=0)
    if damage == "missing":
        del sd["down_blocks.0.tempo_attns.0.alpha"]
    elif damage == "unexpected":
        sd["down_blocks.0.extra_layer.weight"] = torch.zeros(3)
    elif damage == "shape":
        sd["conv_in.weight"] = torch.zeros(64, 4, 1, 1)
    else:
        sd = {k: v for k, v in sd.items() if ".conv3ds." not in k and ".tempo_attns." not in k}
    with pytest.raises(ValueError) as err:
        pack_module("consisti2v.model").load_consisti2v(write(tmp_path, sd), torch.float32)
    for w in words:
        assert w in str(err.value)


def test_truncated_pickle_and_foreign_config_are_refused(tmp_path, comfy):
    from tests.support import tiny_models

    model_mod = pack_module("consisti2v.model")
    good = write(tmp_path, tiny_models.consisti2v_state_dict(seed=0), "good.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated"):
        model_mod.load_consisti2v(truncated)
    pickle = tmp_path / "unet.ckpt"
    torch.save({"state_dict": {}}, pickle)
    with pytest.raises(ValueError, match="not a .safetensors file"):
        model_mod.load_consisti2v(pickle)
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**tiny_models.CONSISTI2V_CONFIG,
                                                    "first_frame_condition_mode": "conv2d"}))
    (folder / WEIGHTS).write_bytes(good.read_bytes())
    with pytest.raises(ValueError, match="first_frame_condition_mode"):
        model_mod.load_consisti2v(folder / WEIGHTS)


def test_sd21_style_lora_keys_reach_the_spatial_layers(tmp_path, comfy):
    import comfy.lora
    import comfy.sd
    from tests.support import tiny_models

    path = write(tmp_path, tiny_models.consisti2v_state_dict(seed=0), "unet.safetensors")
    model = pack_module("consisti2v.model").load_consisti2v(path, torch.float32)
    name = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    target = "diffusion_model.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    assert comfy.lora.model_lora_keys_unet(model.model, {})[name] == target
    gen = torch.Generator().manual_seed(0)
    down, up = torch.randn(2, 64, generator=gen), torch.randn(64, 2, generator=gen)
    lora = {f"{name}.lora_down.weight": down, f"{name}.lora_up.weight": up, f"{name}.alpha": torch.tensor(2.0)}
    patched, _ = comfy.sd.load_lora_for_models(model, None, lora, 0.5, 0)
    before = model.model.state_dict()[target].clone()
    patched.patch_model()
    try:
        after = patched.model.state_dict()[target].clone()
    finally:
        patched.unpatch_model()
    torch.testing.assert_close(after, before + 0.5 * (up @ down), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("h, w, n", [(9, 11, 2), (5, 8, 6)], ids=["odd_9x11_3frames", "5x8_7frames"])
def test_any_latent_size_and_frame_count(tmp_path, comfy, h, w, n):
    from tests.support import tiny_models

    path = write(tmp_path, tiny_models.consisti2v_state_dict(seed=0), "unet.safetensors")
    unet = pack_module("consisti2v.model").load_consisti2v(path, torch.float32).model.diffusion_model
    d = tiny_inputs(n=n, h=h, w=w)
    out = run_unet(unet, d)
    assert out.shape == d["x"].shape and torch.isfinite(out).all()


def test_bf16_weights_run_close_to_fp32(tmp_path, comfy):
    from tests.support import tiny_models

    path = write(tmp_path, tiny_models.consisti2v_state_dict(seed=0), "unet.safetensors")
    load = pack_module("consisti2v.model").load_consisti2v
    d = tiny_inputs()
    ref = run_unet(load(path, torch.float32).model.diffusion_model, d)
    low_model = load(path, torch.bfloat16).model
    with torch.inference_mode():
        low = low_model.diffusion_model(d["x"].bfloat16(), d["t"], context=d["context"].bfloat16(),
                                        first_frame=d["first"].bfloat16(), num_video_frames=d["n"], frame_stride=3)
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).abs().max() < 0.05 * ref.abs().max()


def test_size_is_counted_exactly_before_allocation_and_refused_when_memory_is_short(tmp_path, comfy, monkeypatch):
    import comfy.ops
    from tests.support import tiny_models

    config_mod, model_mod, modelkit = (pack_module(m) for m in ("consisti2v.config", "consisti2v.model", "modelkit"))
    unet_mod = pack_module("consisti2v.unet")
    sd = tiny_models.consisti2v_state_dict(seed=0)
    cfg = config_mod.normalise_config(tiny_models.CONSISTI2V_CONFIG)
    count, shapes = modelkit.meta_state_shapes(lambda device: unet_mod.ConsistI2VUNet(
        cfg, dtype=torch.float32, device=device, operations=comfy.ops.disable_weight_init))
    assert shapes == {k: v.shape for k, v in sd.items()}
    assert count == sum(v.numel() for v in sd.values())  # exact: the estimate is the real parameter count
    path = write(tmp_path, sd, "unet.safetensors")
    monkeypatch.setattr(modelkit, "available_memory", lambda: count * 4 - 1)  # one byte short at fp32

    def never(*_, **__):
        raise AssertionError("the model was built although it cannot fit")
    monkeypatch.setattr(model_mod.ConsistI2VModel, "__init__", never)
    with pytest.raises(ValueError) as err:
        model_mod.load_consisti2v(path, torch.float32)
    for words in ("unet_name (unet.safetensors): the UNet of the tensor shapes", f"{count / 1e9:.2f} billion",
                  "as float32", "GB of memory available", "Free memory, or pick weight_dtype fp16 / bf16"):
        assert words in str(err.value)
    monkeypatch.setattr(modelkit, "available_memory", lambda: count * 2)  # fits at fp16: only the fit is checked
    with pytest.raises(AssertionError, match="the model was built"):
        model_mod.load_consisti2v(path, torch.float16)


def test_available_memory_honours_a_cgroup_limit(tmp_path, comfy, monkeypatch):
    import psutil

    modelkit = pack_module("modelkit")
    limit, usage, stat = tmp_path / "memory.max", tmp_path / "memory.current", tmp_path / "memory.stat"
    limit.write_text("1000000000\n")
    usage.write_text("700000000\n")
    stat.write_text("anon 500000000\ninactive_file 100000000\n")
    monkeypatch.setattr(pack_module("kernels.memory"), "CGROUP_FILES", ((str(limit), str(usage), "inactive_file"),))
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("VM", (), {"available": 10 ** 12})())
    assert modelkit.available_memory() == 1000000000 - 700000000 + 100000000  # page cache counts as free
    limit.write_text("max\n")
    assert modelkit.available_memory() == 10 ** 12
