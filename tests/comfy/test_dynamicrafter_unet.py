"""The native DynamiCrafter / VideoCrafter1 UNet and image Resampler: golden parity with the official modules,
the full-size official key sets, config detection from shapes, CFG batches, frame counts and the learnable
image-attention scale.

Golden cases: every ``tests/fixtures/golden/dynamicrafter_tiny_*`` folder (official config.json, weights in
checkpoint key names, one official forward in io.safetensors). Key sets: ``tests/fixtures/dynamicrafter/keys_*.json``.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.support.node_calls import pack_module

pytestmark = pytest.mark.comfy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN_PREFIX = "dynamicrafter_tiny_"
CASES = sorted(p for p in (FIXTURES / "golden").glob(GOLDEN_PREFIX + "*") if p.is_dir())
EXPECTED_CASES = {"dynamicrafter", "dynamicrafter_learnable", "videocrafter1"}
# preset -> official key fixture (tests/fixtures/dynamicrafter/keys_<name>.json and keys_<name>_full.json)
KEY_FIXTURES = {"dynamicrafter_512": "dynamicrafter_512", "dynamicrafter_256": "dynamicrafter_256",
                "videocrafter1_512": "videocrafter1_i2v_512"}
KEY_PRESETS = list(KEY_FIXTURES)
PREFIX = "model.diffusion_model."
ATOL = 1e-5

# UNet kwargs that tensor shapes determine (the rest, e.g. default_fs or temporal_length, come from the preset)
SHAPE_KEYS = ["in_channels", "out_channels", "model_channels", "attention_resolutions", "num_res_blocks",
              "channel_mult", "num_head_channels", "transformer_depth", "context_dim", "use_linear", "temporal_conv",
              "temporal_attention", "addition_attention", "image_cross_attention",
              "image_cross_attention_scale_learnable", "fs_condition", "use_image_attention", "fps_cond",
              "tempspatial_aware", "temporal_transformer_depth"]


def unet_mod():
    return pack_module("dynamicrafter.unet")


def configs_mod():
    return pack_module("dynamicrafter.configs")


def strip(sd: dict) -> dict:
    return {k[len(PREFIX):] if k.startswith(PREFIX) else k: v for k, v in sd.items()}


def build(config, sd=None, dtype=torch.float32, device=None, operations=None):
    import comfy.ops

    model = unet_mod().DynamiCrafterUNet(config, dtype=dtype, device=device,
                                         operations=operations or comfy.ops.disable_weight_init)
    if sd is not None:
        model.load_state_dict(sd, strict=True)
    return model.eval()


def load_case(case: Path):
    config = json.loads((case / "config.json").read_text())
    return config, strip(load_file(str(case / "weights.safetensors"))), load_file(str(case / "io.safetensors"))


def comfy_inputs(io: dict) -> dict:
    """The official 5-D inputs in ComfyUI's layout: frames as batch, every cond repeated per frame."""
    b, c, t, h, w = io["x"].shape
    rows = lambda v: v.repeat_interleave(t, dim=0)  # noqa: E731
    return dict(x=io["x"].transpose(1, 2).reshape(b * t, c, h, w), timesteps=rows(io["timesteps"]).float(),
                context=rows(io["text"]), num_video_frames=t, clip_image_tokens=rows(io["clip_tokens"]),
                fs=rows(io["fs"]) if "fs" in io else None)


def run(model, d: dict, **extra):
    with torch.inference_mode():
        return model(d["x"], d["timesteps"], context=d["context"], num_video_frames=d["num_video_frames"],
                     clip_image_tokens=d["clip_image_tokens"], fs=d["fs"], **extra)


def official_layout(out, frames):
    return out.unflatten(0, (-1, frames)).transpose(1, 2)


def max_diff(a, b) -> float:
    return (a.float() - b.float()).abs().max().item()


# --- tiny random models (for properties that need no reference) ---------------------------------------------------

def tiny_config(variant="dynamicrafter", learnable=False, video_length=16):
    unet = {"in_channels": 8 if variant == "dynamicrafter" else 4, "out_channels": 4, "model_channels": 32,
            "attention_resolutions": [2, 1], "num_res_blocks": 1, "channel_mult": [1, 2], "num_head_channels": 16,
            "transformer_depth": 1, "context_dim": 24, "use_linear": True, "temporal_conv": True,
            "temporal_attention": True, "temporal_length": 16, "addition_attention": True}
    proj = {"dim": 32, "depth": 1, "dim_head": 16, "heads": 2, "num_queries": 16, "embedding_dim": 20,
            "output_dim": 24, "ff_mult": 2}
    if variant == "dynamicrafter":
        unet.update(image_cross_attention=True, image_cross_attention_scale_learnable=learnable, default_fs=24,
                    fs_condition=True)
        proj["video_length"] = video_length
    else:
        unet.update(use_image_attention=True, fps_cond=True)
    return {"variant": variant, "unet": unet, "image_proj": proj}


def tiny_model(config, seed=0):
    model = build(config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (0.2 if p.dim() > 1 else 0.1))
            if "norm" in name and name.endswith("weight"):
                p.add_(1.0)
    return model


def tiny_inputs(config, videos=2, frames=16, h=8, w=8, seed=1):
    gen = torch.Generator().manual_seed(seed)
    u, p = config["unet"], config["image_proj"]
    per_frame = lambda v: v.repeat_interleave(frames, dim=0)  # noqa: E731
    return dict(x=torch.randn(videos * frames, u["in_channels"], h, w, generator=gen),
                timesteps=per_frame(torch.tensor([901.0, 17.0, 500.0][:videos])),
                context=per_frame(torch.randn(videos, 77, u["context_dim"], generator=gen)), num_video_frames=frames,
                clip_image_tokens=per_frame(torch.randn(videos, 5, p["embedding_dim"], generator=gen)),
                fs=per_frame(torch.tensor([24, 5, 10][:videos])))


def video(d: dict, i: int) -> dict:
    """Video ``i`` of a frames-as-batch input dict."""
    t = d["num_video_frames"]
    return {k: v[i * t:(i + 1) * t] if torch.is_tensor(v) else v for k, v in d.items()}


# --- golden parity -----------------------------------------------------------------------------------------------

def test_golden_cases_present():
    names = {p.name[len(GOLDEN_PREFIX):] for p in CASES}
    assert EXPECTED_CASES <= names, f"missing golden cases: {sorted(EXPECTED_CASES - names)}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_official_forward(comfy, case):
    config, sd, io = load_case(case)
    model = build(config, sd)
    with torch.inference_mode():
        image_emb = model.image_proj_model(io["clip_tokens"])
    assert max_diff(image_emb, io["image_emb"]) <= ATOL
    # the official context is [text, resampled image] along the tokens
    assert max_diff(torch.cat((io["text"], io["image_emb"]), dim=1), io["context"]) == 0
    d = comfy_inputs(io)
    out = official_layout(run(model, d), d["num_video_frames"])
    assert out.shape == io["out"].shape
    assert max_diff(out, io["out"]) <= ATOL
    with torch.inference_mode():
        raw = model.forward_official(io["x"], io["timesteps"], io["context"], fs=io.get("fs"))
    assert max_diff(raw, io["out"]) <= ATOL


# --- full-size key sets --------------------------------------------------------------------------------------------

def official_shapes(name, full=False):
    path = FIXTURES / "dynamicrafter" / f"keys_{KEY_FIXTURES[name]}{'_full' if full else ''}.json"
    assert path.is_file(), f"missing key fixture {path}"
    return {k: tuple(s) for k, s in json.loads(path.read_text()).items()}


@pytest.mark.parametrize("name", KEY_PRESETS)
def test_preset_module_has_the_official_keys_and_shapes(comfy, name):
    preset = configs_mod().PRESETS[name]
    model = build(preset, dtype=torch.float16, device="meta")
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    official = strip(official_shapes(name))
    assert sorted(set(official) - set(ours)) == []
    assert sorted(set(ours) - set(official)) == []
    assert {k: (ours[k], s) for k, s in official.items() if ours[k] != s} == {}


def test_presets_follow_the_official_yamls(comfy):
    presets = configs_mod().PRESETS
    assert set(presets) == {"dynamicrafter_512", "dynamicrafter_1024", "dynamicrafter_256", "videocrafter1_512"}
    expect = {  # prediction, zero-SNR, default fs, base_scale (VideoCrafter: use_scale, scale_b), pixel size, tokens per image
        "dynamicrafter_512": ("v", True, 24, 0.7, [320, 512], 256),
        "dynamicrafter_1024": ("v", True, 10, 0.3, [576, 1024], 256),
        "dynamicrafter_256": ("eps", False, 3, None, [256, 256], 256),
        "videocrafter1_512": ("eps", False, 16, 0.7, [320, 512], 16),
    }
    for name, (pred, zsnr, fs, base, res, tokens) in expect.items():
        p = presets[name]
        proj = p["image_proj"]
        assert (p["prediction"], p["zero_snr"], p["default_fs"], p["base_scale"], p["resolution"]) == \
               (pred, zsnr, fs, base, res), name
        assert proj["num_queries"] * (proj.get("video_length") or 1) == tokens, name
        assert p["scale_factor"] == 0.18215
    assert presets["dynamicrafter_256"]["unet"]["image_cross_attention_scale_learnable"] is True
    assert not presets["dynamicrafter_512"]["unet"].get("image_cross_attention_scale_learnable", False)


# --- detection -----------------------------------------------------------------------------------------------------

def assert_same_shape_config(found: dict, expected: dict):
    assert found["variant"] == expected["variant"]
    u, e = found["unet"], expected["unet"]
    wrong = {k: (u.get(k), e[k]) for k in SHAPE_KEYS if k in e and u.get(k) != e[k]
             and not (k == "attention_resolutions" and sorted(u[k]) == sorted(e[k]))}
    assert wrong == {}
    fp, ep = found["image_proj"], expected["image_proj"]
    for k in ("dim", "depth", "embedding_dim", "output_dim", "ff_mult"):
        assert fp[k] == ep[k], k
    assert (fp["heads"], fp["dim_head"]) == (ep["heads"], ep["dim_head"])
    assert fp["num_queries"] * (fp.get("video_length") or 1) == ep["num_queries"] * (ep.get("video_length") or 1)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_detect_reads_the_golden_config(comfy, case):
    config, sd, io = load_case(case)
    name, found = configs_mod().detect(sd)
    assert_same_shape_config(found, config)
    expected_name = {"videocrafter1": "videocrafter1_512"}.get(config["variant"]) or (
        "dynamicrafter_256" if config["unet"].get("image_cross_attention_scale_learnable") else "dynamicrafter_512")
    assert name == expected_name
    # the detected config runs the checkpoint to the official output
    d = comfy_inputs(io)
    out = official_layout(run(build(found, sd), d), d["num_video_frames"])
    assert max_diff(out, io["out"]) <= ATOL
    # an official checkpoint's prefixed keys are accepted as they are
    raw = load_file(str(case / "weights.safetensors"))
    assert configs_mod().detect(raw) == (name, found)


@pytest.mark.parametrize("name", KEY_PRESETS)
def test_detect_reads_full_size_checkpoints(comfy, name):
    C = configs_mod()
    official = official_shapes(name)
    meta = {k: torch.empty(s, device="meta") for k, s in official.items()}
    found_name, found = C.detect(strip(meta))
    assert found_name == name
    preset = C.PRESETS[name]
    assert found["variant"] == preset["variant"]
    assert {k: found["unet"].get(k) for k in preset["unet"]} == preset["unet"]
    assert found["image_proj"] == preset["image_proj"]
    ours = build(preset, dtype=torch.float16, device="meta").state_dict()
    assert C.detect(ours)[0] == name
    if name == "dynamicrafter_512":  # 512 and 1024 share every shape: the file name decides
        assert C.detect(meta, name_hint="dynamicrafter_1024_v1/model.ckpt")[0] == "dynamicrafter_1024"


@pytest.mark.parametrize("name", KEY_PRESETS)
def test_whole_official_checkpoints_are_read(comfy, name):
    """A LatentVisualDiffusion state_dict (VAE, CLIP, schedule buffers too): detect ignores the rest, and
    module_state_dict keeps exactly our module's keys; the 256 release's ``framestride_embed`` is renamed."""
    C = configs_mod()
    full = {k: torch.empty(s, device="meta") for k, s in official_shapes(name, full=True).items()}
    assert any(k.startswith("first_stage_model.") for k in full)
    ours = build(C.PRESETS[name], dtype=torch.float16, device="meta").state_dict()
    if name == "dynamicrafter_256":
        full = {k.replace("fps_embedding.", "framestride_embed."): v for k, v in full.items()}
    found_name, found = C.detect(full)
    assert found_name == name
    assert found["unet"]["fps_cond" if name.startswith("videocrafter") else "fs_condition"] is True
    kept = C.module_state_dict(full)
    assert {k: tuple(v.shape) for k, v in kept.items()} == {k: tuple(v.shape) for k, v in ours.items()}


def comfy_unet_state_dict(kind):
    import comfy.model_detection

    base = {"use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True, "legacy": False,
            "adm_in_channels": None, "in_channels": 4, "out_channels": 4, "model_channels": 320,
            "num_res_blocks": [2, 2, 2, 2], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
            "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1,
            "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], "num_head_channels": -1}
    if kind == "sd15":
        cfg = {**base, "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8,
               "use_temporal_attention": False, "use_temporal_resblock": False}
    else:
        cfg = {**base, "in_channels": 8, "num_head_channels": 64, "num_heads": -1, "context_dim": 1024,
               "adm_in_channels": 768, "num_classes": "sequential", "use_linear_in_transformer": True,
               "use_temporal_resblock": True, "use_temporal_attention": True, "disable_temporal_crossattention": False,
               "merge_strategy": "learned_with_images", "video_kernel_size": [3, 1, 1], "extra_ff_mix_layer": True}
    model_config = comfy.model_detection.model_config_from_unet_config(cfg)
    with torch.device("meta"):
        return model_config.get_model({}, device="meta").diffusion_model.state_dict()


@pytest.mark.parametrize("kind, words", [
    ("sd15", ["image_proj_model", "to_k_ip", "temporal layers", "SD1.x"]),
    ("svd", ["image_proj_model", "to_k_ip", "Stable Video Diffusion"]),
])
def test_detect_rejects_other_unets(comfy, kind, words):
    with pytest.raises(ValueError, match="not a DynamiCrafter / VideoCrafter1 UNet") as err:
        configs_mod().detect(comfy_unet_state_dict(kind))
    for w in words:
        assert w in str(err.value)


def test_detect_names_a_missing_resampler(comfy):
    sd = tiny_model(tiny_config()).state_dict()
    assert configs_mod().detect(sd)[0] == "dynamicrafter_512"
    without = {k: v for k, v in sd.items() if not k.startswith("image_proj_model.")}
    with pytest.raises(ValueError) as err:
        configs_mod().detect(without)
    assert "image_proj_model" in str(err.value) and "to_k_ip" not in str(err.value)


# --- batching, frame counts, image scale ---------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["dynamicrafter", "videocrafter1"])
def test_cfg_batch_equals_each_video_alone(comfy, variant):
    config = tiny_config(variant)
    model = tiny_model(config)
    d = tiny_inputs(config, videos=3, frames=4)
    together = run(model, d)
    alone = torch.cat([run(model, video(d, i)) for i in range(3)])
    assert max_diff(together, alone) <= ATOL
    # the videos really differ (context, image, timestep and fs are per video)
    assert max_diff(alone[:4], alone[4:8]) > 1e-2


def test_conds_given_once_per_video_equal_conds_per_frame(comfy):
    config = tiny_config()
    model = tiny_model(config)
    d = tiny_inputs(config, videos=2, frames=3)
    t = d["num_video_frames"]
    once = {**d, **{k: d[k][::t] for k in ("timesteps", "context", "clip_image_tokens", "fs")}}
    assert max_diff(run(model, once), run(model, d)) == 0


def captured_contexts(model, d):
    """Each spatial attn2's context through an attn2 patch (ComfyUI passes the full [text, image] context)."""
    seen = []

    def patch(n, context, value, extra):
        seen.append(context.clone())
        return n, context, value

    run(model, d, transformer_options={"patches": {"attn2_patch": [patch]}})
    return seen


@pytest.mark.parametrize("frames", [16, 5, 1])
def test_dynamicrafter_image_context_per_frame_only_at_16_frames(comfy, frames):
    """Official rule: with 77 + T*16 context tokens frame i sees image tokens [16 i, 16 i + 16); otherwise (T != 16
    with the 16-frame Resampler) every frame sees all 256 image tokens."""
    config = tiny_config()
    model = tiny_model(config)
    d = tiny_inputs(config, videos=2, frames=frames)
    with torch.inference_mode():
        image = model.image_proj_model(d["clip_image_tokens"][::frames])
    assert image.shape[1] == 256
    contexts = captured_contexts(model, d)
    assert len(contexts) == 7  # one per spatial transformer: 2 input, 1 middle, 4 output
    text = d["context"]
    for ctx in contexts:
        assert ctx.shape[0] == 2 * frames
        assert max_diff(ctx[:, :77], text) == 0
        for v in range(2):
            for i in range(frames):
                expect = image[v, 16 * i:16 * (i + 1)] if frames == 16 else image[v]
                assert max_diff(ctx[v * frames + i, 77:], expect) == 0


def test_any_frame_count_runs_and_frames_interact(comfy):
    for variant in ("dynamicrafter", "videocrafter1"):
        config = tiny_config(variant)
        model = tiny_model(config)
        d = tiny_inputs(config, videos=1, frames=7, h=16, w=8)
        out = run(model, d)
        assert out.shape == (7, 4, 16, 8) and torch.isfinite(out).all()
        # temporal layers: changing the last frame moves the first frame's output
        d2 = {**d, "x": d["x"].clone()}
        d2["x"][-1] += 1.0
        assert max_diff(run(model, d2)[0], out[0]) > 1e-4


def test_learnable_alpha_scales_the_image_attention(comfy):
    config = tiny_config(learnable=True)
    model = tiny_model(config)
    alphas = [m for n, m in model.named_parameters() if n.endswith("attn2.alpha")]
    assert len(alphas) == 7
    d = tiny_inputs(config, videos=1, frames=4)
    other = {**d, "clip_image_tokens": d["clip_image_tokens"] + 1.0}
    assert max_diff(run(model, d), run(model, other)) > 1e-3
    with torch.no_grad():
        for a in alphas:
            a.fill_(-30.0)  # tanh(-30) + 1 == 0: the image branch is switched off
    assert max_diff(run(model, d), run(model, other)) == 0
    # and the non-learnable model has no alpha but the same image branch at scale 1
    plain = build(tiny_config(learnable=False))
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.endswith("alpha")})
    with torch.no_grad():
        for a in alphas:
            a.zero_()  # tanh(0) + 1 == 1
    assert max_diff(run(model, d), run(plain, d)) <= 1e-6


def test_fs_condition_and_default(comfy):
    config = tiny_config()
    model = tiny_model(config)
    d = tiny_inputs(config, videos=1, frames=2)
    assert max_diff(run(model, {**d, "fs": None}), run(model, {**d, "fs": 24})) == 0  # default_fs
    assert max_diff(run(model, {**d, "fs": 3}), run(model, {**d, "fs": 24})) > 1e-4
    vc = tiny_model(tiny_config("videocrafter1"))
    dv = tiny_inputs(tiny_config("videocrafter1"), videos=1, frames=2)
    assert max_diff(run(vc, {**dv, "fs": None}), run(vc, {**dv, "fs": torch.tensor([16.0, 16.0])})) == 0


def test_bad_sizes_and_frame_counts_are_named(comfy):
    config = tiny_config()
    model = tiny_model(config)
    with pytest.raises(ValueError, match="multiple of 2 .*multiple of 16 pixels"):
        run(model, tiny_inputs(config, videos=1, frames=2, h=9, w=8))
    d = tiny_inputs(config, videos=1, frames=4)
    with pytest.raises(ValueError, match="not a whole number of 3-frame videos"):
        run(model, {**d, "num_video_frames": 3})
    with pytest.raises(ValueError, match="clip_image_tokens"):
        run(model, {**d, "clip_image_tokens": None})


def test_comfy_hooks_wrappers_and_patches(comfy):
    import comfy.patcher_extension

    config = tiny_config()
    model = tiny_model(config)
    d = tiny_inputs(config, videos=1, frames=2)
    blocks, calls = [], []

    def input_patch(h, opts):
        blocks.append(opts["block"])
        return h

    def output_patch(h, skip, opts):
        blocks.append(opts["block"])
        return h, skip

    def wrapper(executor, *args, **kwargs):
        calls.append(kwargs.get("num_video_frames"))
        return executor(*args, **kwargs) * 2

    options = {"patches": {"input_block_patch": [input_patch], "output_block_patch": [output_patch]}}
    comfy.patcher_extension.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test",
                                                 wrapper, options, is_model_options=False)
    plain = run(model, d)
    wrapped = run(model, d, transformer_options=options)
    assert calls == [2]
    assert max_diff(wrapped, 2 * plain) == 0
    n_in, n_out = len(model.input_blocks), len(model.output_blocks)
    assert blocks == [("input", i) for i in range(n_in)] + [("output", i) for i in range(n_out)]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_follows_fp32(comfy, dtype):
    import comfy.ops

    config = tiny_config(learnable=True)
    model = tiny_model(config)
    d = tiny_inputs(config, videos=2, frames=3)
    ref = run(model, d)
    half = build(config, dtype=dtype)
    half.load_state_dict(model.state_dict())
    dh = {k: v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() and k != "timesteps" else v
          for k, v in d.items()}
    out = run(half, dh)
    assert out.dtype == dtype
    assert max_diff(out, ref) <= 0.05 * ref.abs().max().item()
    # weights stored in half precision, computed in fp32 (ComfyUI manual_cast)
    cast = build(copy.deepcopy(config), dtype=dtype, operations=comfy.ops.manual_cast)
    cast.load_state_dict(model.state_dict())
    out = run(cast, d)
    assert out.dtype == torch.float32
    assert max_diff(out, ref) <= 0.05 * ref.abs().max().item()
