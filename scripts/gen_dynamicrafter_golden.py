"""Generate DynamiCrafter / VideoCrafter1 image-to-video UNet fixtures by running the OFFICIAL code.

Not part of the pack or its tests, and no official code is copied into this repository: the official checkouts are
imported from the paths given on the command line, each variant in its own subprocess (both have a top-level
``lvdm`` package). Nothing is downloaded (open_clip is built with ``pretrained=None`` on the meta device).

Regenerate (official env: torch 2.14.1 + the official code's imports)::

    python3 -m venv /tmp/official_dc_venv
    /tmp/official_dc_venv/bin/pip install torch==2.14.1 torchvision einops omegaconf open_clip_torch kornia \
        pytorch_lightning safetensors transformers opencv-python-headless
    /tmp/official_dc_venv/bin/python scripts/gen_dynamicrafter_golden.py \
        --dynamicrafter /tmp/src/Doubiiu+DynamiCrafter \
        --videocrafter /tmp/src/thu-ml+cond-image-leakage/examples/VideoCrafter --out tests/fixtures \
        --dynamicrafter-commit c453369367122d7fbb0aa38f124e76dc8fe2a91c \
        --videocrafter-commit 5075e25d6a10ffe7f12f08836f6988a2850a40d3

(the ``--*-commit`` values are only recorded in config.json; they default to ``git rev-parse HEAD`` of the checkout.)

(DynamiCrafter: github.com/Doubiiu/DynamiCrafter; VideoCrafter1 as shipped in thu-ml/cond-image-leakage
``examples/VideoCrafter``, whose UNet/attention/ip_resampler equal AILab-CVC/VideoCrafter's.)

Writes:

* ``<out>/golden/dynamicrafter_tiny_<case>/{config.json, weights.safetensors, io.safetensors}`` for the cases in
  ``CASES``: a tiny official ``UNetModel`` + image ``Resampler`` with every parameter re-filled at random (the official
  init zeroes output layers, which would hide bugs), under the real checkpoint's key names
  (``model.diffusion_model.*``, ``image_proj_model.*``; values are fp16-exact and stored as fp16 to keep the files
  small), and one forward pass (see ``DYNAMICRAFTER_README.md`` beside the goldens).
* ``<out>/dynamicrafter/keys_<name>.json`` (UNet + image_proj_model) and ``keys_<name>_full.json`` (the whole
  ``LatentVisualDiffusion`` state_dict) for the released configs: ``{checkpoint key: shape}``, sorted.
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

B = 2
TEXT_LEN = 77  # the official attention splits the context at a hard-coded 77 text tokens
SEED = 20240702

# Tiny official UNetModel kwargs. Level channels 32 and 64: at 32 channels GroupNorm(32) has one channel per group,
# which cancels the per-channel time/fs embedding a ResBlock adds before its out norm, so the 64-channel level (and
# middle block) is what makes timesteps / fs matter (checked below). Spatial + temporal transformers run at level 1
# and in the middle block; init_attn, temporal convs, Downsample and Upsample all run. 8-channel heads and no
# attention at level 2 keep each golden under 3 MB (init_attn is hard-coded to 8 heads x num_head_channels); the
# released configs' shapes are covered by the key fixtures.
_TINY = dict(out_channels=4, model_channels=32, attention_resolutions=[1], num_res_blocks=1, channel_mult=[1, 2],
             num_head_channels=8, transformer_depth=1, context_dim=64, use_linear=True, use_checkpoint=False,
             temporal_conv=True, temporal_attention=True, temporal_selfatt_only=True, use_relative_position=False,
             use_causal_attention=False, temporal_length=16, addition_attention=True)
_TINY_PROJ = dict(dim=64, depth=2, dim_head=16, heads=2, num_queries=16, embedding_dim=48, output_dim=64, ff_mult=2)

CASES = {
    # 512/1024-style: per-frame image tokens (Resampler video_length == T, so l_context == 77 + T*16)
    "dynamicrafter": dict(
        variant="dynamicrafter", T=4, H=6, W=10, n_tok=9, fs=[24, 7],
        unet=dict(_TINY, in_channels=8, dropout=0.1, image_cross_attention=True, default_fs=24, fs_condition=True),
        image_proj=dict(_TINY_PROJ, video_length=4),
        notes="DynamiCrafter 512/1024-style UNet (image_cross_attention, fs_condition, in_channels 4 noisy + 4 "
              "image-latent). Resampler video_length == T, so UNetModel.forward takes the per-frame branch: "
              "context[:, 77:] is split 'b (t l) c -> (b t) l c' (16 tokens per frame) and the text is "
              "repeat_interleave'd over frames. Latent 6x10 (3x5 after the Downsample)."),
    # 256-style: learnable image-attention scale, all image tokens for every frame (T != video_length)
    "dynamicrafter_learnable": dict(
        variant="dynamicrafter", T=3, H=4, W=6, n_tok=9, fs=[3, 10],
        unet=dict(_TINY, in_channels=8, dropout=0.1, image_cross_attention=True,
                  image_cross_attention_scale_learnable=True, default_fs=3, fs_condition=True),
        image_proj=dict(_TINY_PROJ, video_length=2),
        notes="DynamiCrafter 256-style UNet: image_cross_attention_scale_learnable (out = text_attn + "
              "(tanh(alpha)+1) * image_attn, alpha non-zero here). Resampler video_length 2 != T 3, so "
              "l_context (77+32) != 77+T*16 and the whole context (all 32 image tokens) is repeat_interleave'd to "
              "every frame. Latent 4x6 (2x3 after the Downsample)."),
    # VideoCrafter1 i2v (CIL's copy): no concat channels, fps kwarg, 16 image tokens for all frames
    "videocrafter1": dict(
        variant="videocrafter1", T=4, H=6, W=4, n_tok=9, fs=[24, 8],
        unet=dict(_TINY, in_channels=4, use_image_attention=True, fps_cond=True),
        image_proj=dict(_TINY_PROJ),
        notes="VideoCrafter1 i2v UNet (openaimodel3d_videocrafter.UNetModel, use_image_attention, fps_cond): "
              "called as UNetModel(x, timesteps, context=context, fps=fs); context = cat([text, "
              "ip_resampler.Resampler(clip_tokens)]) (16 tokens) repeat_interleave'd to every frame. "
              "Latent 6x4 (3x2 after the Downsample)."),
}

# released configs -> key fixture name (DynamiCrafter 1024's UNet/Resampler config equals 512's but for default_fs)
DC_CONFIGS = {"dynamicrafter_512": "configs/inference_512_v1.0.yaml",
              "dynamicrafter_256": "configs/inference_256_v1.0.yaml"}
DC_SAME_AS_512 = "configs/inference_1024_v1.0.yaml"
VC_CONFIGS = {"videocrafter1_i2v_512": "configs/inference_i2v_512_v1.0.yaml"}


def git_head(path: Path) -> str:
    r = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "unknown"


# ----------------------------------------------------------------------------------------------- worker (official env)
def official(variant: str):
    """Import the official modules of one variant (its checkout is first on sys.path)."""
    import lvdm.basics as basics
    if variant == "dynamicrafter":
        import lvdm.modules.networks.openaimodel3d as net
        from lvdm.modules.encoders.resampler import Resampler
    else:
        import lvdm.modules.networks.openaimodel3d_videocrafter as net
        from lvdm.modules.encoders.ip_resampler import Resampler
    return basics, net, Resampler


@contextmanager
def float64_patches(basics, net):
    """The two places where the official code forces float32, relaxed so a float64 run stays float64.

    ``GroupNormSpecific`` (ResBlock / out norms) computes in ``x.float()``: upcast only from half types. VideoCrafter1
    feeds ``timestep_embedding`` (always float32) to ``time_embed`` without a cast: cast it to float64 (DynamiCrafter
    already does ``.type(x.dtype)``). The sinusoid itself stays float32 as in the official code. (``UNetModel.dtype``,
    a plain attribute used for ``x.type(self.dtype)``, is set on the float64 copy by the caller.)"""
    import torch
    gn_forward, temb = basics.GroupNormSpecific.forward, net.timestep_embedding

    def gn(self, x):
        up = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        return torch.nn.GroupNorm.forward(self, up).type(x.dtype)

    basics.GroupNormSpecific.forward = gn
    net.timestep_embedding = lambda *a, **k: temb(*a, **k).double()
    try:
        yield
    finally:
        basics.GroupNormSpecific.forward, net.timestep_embedding = gn_forward, temb


def randomize(module, gen):
    """Re-fill every parameter (fp16-exact values): weights ~ N(0, 1/fan_in), norm weights 1 + N(0, 0.2^2),
    biases N(0, 0.2^2), Resampler latents N(0, 1), alpha +-U(0.3, 1) (official inits: 0 / zero_module / etc.)."""
    import torch
    with torch.no_grad():
        for mod in module.modules():
            for name, p in mod.named_parameters(recurse=False):
                r = torch.randn(p.shape, generator=gen, dtype=torch.float64)
                if name == "alpha":
                    v = (0.3 + 0.7 * torch.rand((), generator=gen, dtype=torch.float64)) * r.sign()
                elif name == "latents":
                    v = r
                elif isinstance(mod, (torch.nn.GroupNorm, torch.nn.LayerNorm)) and name == "weight":
                    v = 1 + 0.2 * r
                elif p.dim() >= 2:
                    v = r / (p[0].numel() ** 0.5)
                else:
                    v = 0.2 * r
                p.copy_(v.half().to(p.dtype))


def run_case(name: str, case: dict, out_dir: Path, commit: str):
    import torch
    from safetensors.torch import save_file
    basics, net, Resampler = official(case["variant"])
    gen = torch.Generator().manual_seed(SEED + sum(map(ord, name)))
    unet = net.UNetModel(**case["unet"]).eval()
    proj = Resampler(**case["image_proj"]).eval()
    randomize(unet, gen)
    randomize(proj, gen)

    T, H, W, cfg = case["T"], case["H"], case["W"], case["unet"]
    rnd = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    io = {
        "x": rnd(B, cfg["in_channels"], T, H, W),
        "timesteps": torch.tensor([17, 803], dtype=torch.int64),
        "text": rnd(B, TEXT_LEN, cfg["context_dim"]),
        "clip_tokens": rnd(B, case["n_tok"], case["image_proj"]["embedding_dim"]),
        "fs": torch.tensor(case["fs"], dtype=torch.int64),
    }
    fs_kw = "fs" if case["variant"] == "dynamicrafter" else "fps"

    def forward(u, p, dtype, inputs=io, context=None):
        f = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in inputs.items()}
        with torch.no_grad():
            image_emb = p(f["clip_tokens"])
            if context is None:
                context = torch.cat([f["text"], image_emb], dim=1)  # as LatentVisualDiffusion / inference.py do
            out = u(f["x"], f["timesteps"], context=context.to(dtype), **{fs_kw: f["fs"]})
        return image_emb, context, out

    unet64, proj64 = copy.deepcopy(unet).double(), copy.deepcopy(proj).double()
    unet64.dtype = torch.float64
    with float64_patches(basics, net):
        image_emb, context, _ = forward(unet64, proj64, torch.float64)
        # both UNet runs get the stored (float32-rounded) context, so `out` / `out_fp32` match the stored inputs
        _, _, out = forward(unet64, proj64, torch.float64, context=context.float())
    _, _, out32 = forward(unet, proj, torch.float32, context=context.float())  # untouched official float32 path

    per_frame = context.shape[1] == TEXT_LEN + T * 16
    assert per_frame == (name == "dynamicrafter"), (name, context.shape)
    assert out.shape == (B, cfg["out_channels"], T, H, W)
    err32 = (out32.double() - out).abs().max().item()
    assert err32 < 1e-3 * out.abs().max().item(), err32
    # every conditioning path must matter (no zero-initialised branch left)
    for key in ("fs", "clip_tokens", "text", "timesteps"):
        bumped = dict(io, **{key: io[key] + (1 if key in ("fs", "timesteps") else 0.5)})
        _, _, o = forward(unet, proj, torch.float32, bumped)
        assert (o - out32).abs().max() > 1e-2, (key, (o - out32).abs().max())

    io.update(image_emb=image_emb.float(), context=context.float(), out=out.float(), out_fp32=out32)
    case_dir = out_dir / "golden" / f"dynamicrafter_tiny_{name}"
    case_dir.mkdir(parents=True, exist_ok=True)
    weights = {f"model.diffusion_model.{k}": v.half().contiguous() for k, v in unet.state_dict().items()}
    weights.update({f"image_proj_model.{k}": v.half().contiguous() for k, v in proj.state_dict().items()})
    save_file(weights, str(case_dir / "weights.safetensors"))
    save_file({k: v.contiguous() for k, v in io.items()}, str(case_dir / "io.safetensors"))
    config = {
        "variant": case["variant"], "unet": cfg, "image_proj": case["image_proj"], "case": name,
        "shapes": {"B": B, "T": T, "H": H, "W": W, "clip_tokens": case["n_tok"]},
        "call": f"UNetModel.forward(x, timesteps, context=context, {fs_kw}=fs)",
        "per_frame_image_context": per_frame,
        "notes": case["notes"],
        "precision": f"out: float64 run (float32 GroupNorm/time-embedding casts relaxed, sinusoids still float32; "
                     f"Resampler softmax float32 as official) stored as float32; out_fp32: untouched official "
                     f"float32 UNet run on the stored inputs, max|out_fp32-out| = {err32:.2e}, "
                     f"max|out| = {out.abs().max().item():.3f}",
        "weights": "fp16-exact values stored as fp16 (load into float32/float64 losslessly)",
        "official_commit": commit, "torch": torch.__version__, "seed": SEED, "generator": Path(__file__).name,
    }
    (case_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"{name}: out {tuple(out.shape)} |out|max {out.abs().max():.3f} fp32-vs-fp64 {err32:.2e} "
          f"per_frame={per_frame} params={sum(v.numel() for v in weights.values())}")


def write_keys(path: Path, state_dict):
    items = sorted((k, list(v.shape)) for k, v in state_dict.items())
    path.write_text("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(s)}" for k, s in items) + "\n}\n")
    print(f"{path.name}: {len(items)} keys")


def build_full(repo: Path, cfg):
    """The whole official LatentVisualDiffusion on the meta device (schedule buffers on CPU), without weights."""
    import open_clip
    import torch
    import lvdm.models.ddpm3d as ddpm3d
    from utils.utils import instantiate_from_config

    create = open_clip.create_model_and_transforms

    def no_download(arch, *a, pretrained=None, **kw):
        return create(arch, *a, **dict(kw, pretrained=None, device="meta"))

    def on_meta(config):
        with torch.device("meta"):
            return instantiate_from_config(config)

    open_clip.create_model_and_transforms = no_download
    ddpm3d.instantiate_from_config, saved = on_meta, ddpm3d.instantiate_from_config
    try:
        return instantiate_from_config(cfg.model)
    finally:
        open_clip.create_model_and_transforms, ddpm3d.instantiate_from_config = create, saved


def run_keys(variant: str, repo: Path, out_dir: Path):
    import torch
    from omegaconf import OmegaConf
    _, net, Resampler = official(variant)
    configs = DC_CONFIGS if variant == "dynamicrafter" else VC_CONFIGS
    key_dir = out_dir / "dynamicrafter"
    key_dir.mkdir(parents=True, exist_ok=True)
    if variant == "dynamicrafter":
        a, b = (OmegaConf.load(repo / c).model.params for c in (DC_CONFIGS["dynamicrafter_512"], DC_SAME_AS_512))
        for k in ("unet_config", "image_proj_stage_config"):  # default_fs (24 vs 10) shapes no weight
            ca, cb = (OmegaConf.to_container(c[k]) for c in (a, b))
            ca["params"].pop("default_fs", None), cb["params"].pop("default_fs", None)
            assert ca == cb, k
    for name, rel in configs.items():
        cfg = OmegaConf.load(repo / rel)
        p = cfg.model.params
        with torch.device("meta"):
            unet = net.UNetModel(**OmegaConf.to_container(p.unet_config.params))
            if variant == "dynamicrafter":
                proj = Resampler(**OmegaConf.to_container(p.image_proj_stage_config.params))
            else:  # LatentVisualDiffusion.init_projector with the values its __init__ passes (finegrained: true)
                from lvdm.models.ddpm3d import LatentVisualDiffusion
                assert p.finegrained
                proj = LatentVisualDiffusion.init_projector(None, use_finegrained=True, num_tokens=16, input_dim=1024,
                                                            cross_attention_dim=1024, dim=1280)
        sd = {f"model.diffusion_model.{k}": v for k, v in unet.state_dict().items()}
        sd.update({f"image_proj_model.{k}": v for k, v in proj.state_dict().items()})
        write_keys(key_dir / f"keys_{name}.json", sd)
        full = build_full(repo, cfg).state_dict()
        sub = {k: list(v.shape) for k, v in full.items()
               if k.startswith(("model.diffusion_model.", "image_proj_model."))}
        assert sub == {k: list(v.shape) for k, v in sd.items()}, name
        write_keys(key_dir / f"keys_{name}_full.json", full)


def worker(variant: str, repo: Path, out_dir: Path, commit: str):
    sys.path.insert(0, str(repo))
    for name, case in CASES.items():
        if case["variant"] == variant:
            run_case(name, case, out_dir, commit)
    run_keys(variant, repo, out_dir)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dynamicrafter", type=Path, help="official DynamiCrafter checkout")
    ap.add_argument("--videocrafter", type=Path, help="cond-image-leakage examples/VideoCrafter checkout")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "fixtures")
    ap.add_argument("--dynamicrafter-commit", help="recorded in config.json (default: git HEAD of the checkout)")
    ap.add_argument("--videocrafter-commit", help="recorded in config.json (default: git HEAD of the checkout)")
    ap.add_argument("--worker", choices=["dynamicrafter", "videocrafter1"], help=argparse.SUPPRESS)
    ap.add_argument("--repo", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--commit", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.repo.resolve(), args.out.resolve(), args.commit)
    for variant, repo, commit in (("dynamicrafter", args.dynamicrafter, args.dynamicrafter_commit),
                                  ("videocrafter1", args.videocrafter, args.videocrafter_commit)):
        if repo is None:
            ap.error(f"--{variant.rstrip('1')} is required")
        # one subprocess per variant: both checkouts have a top-level `lvdm` (and `utils`) package
        subprocess.run([sys.executable, __file__, "--worker", variant, "--repo", str(repo), "--out", str(args.out),
                        "--commit", commit or git_head(repo)], check=True)


if __name__ == "__main__":
    main()
