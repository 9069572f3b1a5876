"""The DynamiCrafter / VideoCrafter1 image-to-video 3-D UNet (VideoCrafter lineage, ``openaimodel3d``) in ComfyUI style.

Parameter names are the official checkpoint's (``model.diffusion_model.`` stripped; the image Resampler is the
``image_proj_model`` submodule), so checkpoints load without conversion. Layers come from ``operations`` (ComfyUI
casting/offload); spatial and temporal transformer blocks are ComfyUI's ``BasicTransformerBlock`` (spatial ones get
all attention patches), attention goes through ComfyUI's optimized attention. Latents are frames-as-batch
``[B*T, C, h, w]`` (frames of a video contiguous), which is also the official internal layout ``(b t) c h w``.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import comfy.ldm.modules.attention as comfy_attention
import comfy.model_management
import comfy.patcher_extension
from comfy.ldm.modules.attention import BasicTransformerBlock, CrossAttention

from .resampler import Resampler

TEXT_TOKENS = 77  # official split between text and image tokens when called outside forward()
FRAME_TOKENS = 16  # DynamiCrafter: per-frame image context when the context holds 16 tokens per frame
IMAGE_TOKENS_KEY = "dynamicrafter_image_tokens"  # transformer_options: image tokens at the end of each context row


@functools.lru_cache(maxsize=16)
def _frequencies(half: int, max_period: int, device: torch.device) -> torch.Tensor:
    # built in fp32 on the CPU like the original, then moved (bit-identical to the official values); a normal
    # tensor even when first asked for under inference_mode
    with torch.inference_mode(False):
        return torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half).to(device)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: int = 10000) -> torch.Tensor:
    """Official sinusoidal embedding: [cos, sin] of t * max_period^(-i / half)."""
    half = dim // 2
    args = t.reshape(-1, 1).float() * _frequencies(half, max_period, t.device)[None]
    emb = torch.cat((args.cos(), args.sin()), dim=-1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


def to_video(x: torch.Tensor, frames: int) -> torch.Tensor:
    """(b t) c h w -> b c t h w (a view)."""
    return x.unflatten(0, (-1, frames)).transpose(1, 2)


def to_frames(x: torch.Tensor) -> torch.Tensor:
    """b c t h w -> (b t) c h w."""
    return x.transpose(1, 2).flatten(0, 1)


class TemporalConvBlock(nn.Module):
    """4 x (GroupNorm over the whole clip, SiLU, Conv3d over frames), residual. Kernel shapes per lineage."""

    def __init__(self, c, spatial_aware, variant, ops, **kw):
        super().__init__()
        if not spatial_aware:
            kernels = [(3, 1, 1)] * 4
        elif variant == "videocrafter1":
            kernels = [(3, 3, 3), (3, 3, 3), (3, 1, 1), (3, 1, 1)]
        else:
            kernels = [(3, 3, 1), (3, 1, 3), (3, 3, 1), (3, 1, 3)]
        for i, k in enumerate(kernels):
            conv = ops.Conv3d(c, c, k, padding=tuple(s // 2 for s in k), **kw)
            layers = [ops.GroupNorm(32, c, **kw), nn.SiLU()] + ([nn.Dropout(0.0)] if i else []) + [conv]
            setattr(self, f"conv{i + 1}", nn.Sequential(*layers))

    def forward(self, x, frames):
        v = to_video(x, frames)
        h = self.conv4(self.conv3(self.conv2(self.conv1(v))))
        return to_frames(v + h)


class ResBlock(nn.Module):
    def __init__(self, c_in, emb_dim, c_out, scale_shift, temporal_conv, spatial_aware, variant, ops, **kw):
        super().__init__()
        self.scale_shift = scale_shift
        self.in_layers = nn.Sequential(ops.GroupNorm(32, c_in, **kw), nn.SiLU(),
                                       ops.Conv2d(c_in, c_out, 3, padding=1, **kw))
        self.emb_layers = nn.Sequential(nn.SiLU(), ops.Linear(emb_dim, c_out * (2 if scale_shift else 1), **kw))
        self.out_layers = nn.Sequential(ops.GroupNorm(32, c_out, **kw), nn.SiLU(), nn.Dropout(0.0),
                                        ops.Conv2d(c_out, c_out, 3, padding=1, **kw))
        self.skip_connection = nn.Identity() if c_in == c_out else ops.Conv2d(c_in, c_out, 1, **kw)
        if temporal_conv:
            self.temopral_conv = TemporalConvBlock(c_out, spatial_aware, variant, ops, **kw)  # sic: official name

    def forward(self, x, emb, frames):
        h = self.in_layers(x)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[1:](self.out_layers[0](h) * (1 + scale) + shift)
        else:
            h = self.out_layers(h + e)
        h = self.skip_connection(x) + h
        if hasattr(self, "temopral_conv"):
            h = self.temopral_conv(h, frames)
        return h


class ImageCrossAttention(CrossAttention):
    """Decoupled text / image cross-attention: out = attn(q, text) + s * attn(q, image), s = tanh(alpha) + 1 when
    learnable (DynamiCrafter 256) else 1. The image tokens are the last ``transformer_options[IMAGE_TOKENS_KEY]``
    tokens of the context (official: everything after token 77)."""

    def __init__(self, dim, context_dim, heads, dim_head, learnable, attn_precision, ops, dtype=None, device=None):
        super().__init__(dim, context_dim=context_dim, heads=heads, dim_head=dim_head, attn_precision=attn_precision,
                         dtype=dtype, device=device, operations=ops)
        inner = heads * dim_head
        self.to_k_ip = ops.Linear(context_dim, inner, bias=False, dtype=dtype, device=device)
        self.to_v_ip = ops.Linear(context_dim, inner, bias=False, dtype=dtype, device=device)
        if learnable:
            self.alpha = nn.Parameter(torch.zeros((), dtype=dtype, device=device))

    def forward(self, x, context=None, value=None, mask=None, transformer_options={}):
        if context is None or mask is not None:
            raise ValueError("DynamiCrafter image cross-attention needs the [text, image] context and no mask")
        n_img = transformer_options.get(IMAGE_TOKENS_KEY)
        split = context.shape[1] - n_img if n_img is not None else TEXT_TOKENS
        value = context if value is None else value
        attend = comfy_attention.optimized_attention
        opts = {"attn_precision": self.attn_precision, "transformer_options": transformer_options}
        q = self.to_q(x)
        out = attend(q, self.to_k(context[:, :split]), self.to_v(value[:, :split]), self.heads, **opts)
        out_ip = attend(q, self.to_k_ip(context[:, split:]), self.to_v_ip(value[:, split:]), self.heads, **opts)
        if hasattr(self, "alpha"):
            alpha = comfy.model_management.cast_to(self.alpha, dtype=torch.float32, device=x.device)
            out_ip = out_ip * (torch.tanh(alpha) + 1).to(out_ip.dtype)
        return self.to_out(out + out_ip)


def projection(c_in, c_out, linear, conv, ops, **kw):
    return ops.Linear(c_in, c_out, **kw) if linear else conv(c_in, c_out, 1, **kw)


class SpatialTransformer(nn.Module):
    """Per-frame transformer on h*w tokens; attn2 attends to [text, image] tokens."""

    def __init__(self, c, heads, dim_head, depth, context_dim, linear, image_cross, learnable, attn_precision, ops,
                 **kw):
        super().__init__()
        inner = heads * dim_head
        self.linear = linear
        self.norm = ops.GroupNorm(32, c, eps=1e-6, **kw)
        self.proj_in = projection(c, inner, linear, ops.Conv2d, ops, **kw)
        self.transformer_blocks = nn.ModuleList()
        for _ in range(depth):
            block = BasicTransformerBlock(inner, heads, dim_head, context_dim=context_dim, checkpoint=False,
                                          attn_precision=attn_precision, operations=ops, **kw)
            if image_cross:
                block.attn2 = ImageCrossAttention(inner, context_dim, heads, dim_head, learnable, attn_precision, ops,
                                                  **kw)
            self.transformer_blocks.append(block)
        self.proj_out = projection(inner, c, linear, ops.Conv2d, ops, **kw)

    def forward(self, x, context, transformer_options):
        b, c, h, w = x.shape
        transformer_options["activations_shape"] = list(x.shape)
        hs = self.norm(x)
        if not self.linear:
            hs = self.proj_in(hs)
        hs = hs.permute(0, 2, 3, 1).reshape(b, h * w, -1)
        if self.linear:
            hs = self.proj_in(hs)
        for i, block in enumerate(self.transformer_blocks):
            transformer_options["block_index"] = i
            hs = block(hs, context=context, transformer_options=transformer_options)
        if self.linear:
            hs = self.proj_out(hs)
        hs = hs.reshape(b, h, w, -1).permute(0, 3, 1, 2)
        if not self.linear:
            hs = self.proj_out(hs)
        return hs + x


class TemporalTransformer(nn.Module):
    """Per-pixel self-attention over the T frames (GroupNorm statistics over the whole clip, as the official)."""

    def __init__(self, c, heads, dim_head, depth, linear, attn_precision, ops, **kw):
        super().__init__()
        inner = heads * dim_head
        self.linear = linear
        self.norm = ops.GroupNorm(32, c, eps=1e-6, **kw)
        self.proj_in = projection(c, inner, linear, ops.Conv1d, ops, **kw)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(inner, heads, dim_head, checkpoint=False, attn_precision=attn_precision,
                                  operations=ops, **kw) for _ in range(depth))
        self.proj_out = projection(inner, c, linear, ops.Conv1d, ops, **kw)

    def _project(self, proj, x):
        return proj(x) if self.linear else proj(x.transpose(1, 2)).transpose(1, 2)

    def forward(self, x, frames, transformer_options):
        bt, c, h, w = x.shape
        hs = self.norm(to_video(x, frames))  # b c t h w
        hs = self._project(self.proj_in, hs.permute(0, 3, 4, 2, 1).reshape(-1, frames, c))  # (b h w) t c
        for block in self.transformer_blocks:
            hs = block(hs, transformer_options=transformer_options)  # attn1 and attn2 are both self-attention
        hs = self._project(self.proj_out, hs)
        hs = hs.reshape(-1, h, w, frames, c).permute(0, 3, 4, 1, 2).reshape(bt, c, h, w)
        return hs + x


class Downsample(nn.Module):
    def __init__(self, c, ops, **kw):
        super().__init__()
        self.op = ops.Conv2d(c, c, 3, stride=2, padding=1, **kw)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, c, ops, **kw):
        super().__init__()
        self.conv = ops.Conv2d(c, c, 3, padding=1, **kw)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def apply_control(h, control, name):
    if control is not None and len(control.get(name, [])) > 0:
        ctrl = control[name].pop()
        if ctrl is not None:
            h = h + ctrl
    return h


def per_video(v: torch.Tensor | None, videos: int, frames: int, what: str) -> torch.Tensor | None:
    """One row per video from a tensor with one row per frame (ComfyUI repeats conds to the batch), per video,
    or a single row."""
    if v is None:
        return None
    if v.shape[0] == videos * frames:
        return v[::frames]
    if v.shape[0] == videos:
        return v
    if v.shape[0] == 1:
        return v.expand(videos, *v.shape[1:])
    raise ValueError(f"DynamiCrafter: {what} has {v.shape[0]} rows; expected {videos * frames} (one per frame), "
                     f"{videos} (one per video) or 1")


def add_token_noise(image: torch.Tensor, spec) -> torch.Tensor:
    """TimeNoise on the image tokens after the Resampler (official clip_type 1): ``+ beta * eps``, eps drawn on a CPU
    generator seeded with ``seed``, one per token and channel (``per_element``) or one in all, the same for every
    video in the batch. ``spec``: (beta, seed, per_element) from TimeNoise Conditioning, or None."""
    if spec is None:
        return image
    beta, seed, per_element = spec
    shape = tuple(image.shape[1:]) if per_element else (1,) * (image.dim() - 1)
    eps = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(int(seed)), dtype=torch.float32)
    return (image.float() + float(beta) * eps.to(image.device)).to(image.dtype)


UNSUPPORTED = {"use_relative_position": False, "use_causal_attention": False, "resblock_updown": False,
               "conv_resample": True, "dims": 2}


class DynamiCrafterUNet(nn.Module):
    """``forward(x, timesteps, context, num_video_frames=T, clip_image_tokens=, fs=)`` on frames-as-batch latents
    ``[B*T, C_in, h, w]``; returns ``[B*T, C_out, h, w]`` (v or eps, per the checkpoint)."""

    def __init__(self, dynamicrafter_config=None, attn_precision=None, dtype=None, device=None, operations=None, **_):
        super().__init__()
        cfg = dynamicrafter_config
        u = dict(cfg["unet"])
        for k, ok in UNSUPPORTED.items():
            if u.get(k, ok) != ok:
                raise ValueError(f"DynamiCrafter UNet: {k}={u[k]} is not supported (no released checkpoint uses it)")
        self.config, self.dtype = cfg, dtype
        self.variant = variant = cfg["variant"]
        if variant not in ("dynamicrafter", "videocrafter1"):
            raise ValueError(f"unknown DynamiCrafter variant {variant!r}")
        vc = variant == "videocrafter1"
        if vc and not u.get("temporal_selfatt_only", True):
            raise ValueError("VideoCrafter1 UNet: temporal cross-attention (temporal_selfatt_only=False) is not "
                             "supported")
        ops, kw = operations, {"dtype": dtype, "device": device}
        mc = self.model_channels = u["model_channels"]
        mult = list(u.get("channel_mult", (1, 2, 4, 8)))
        n_res = u["num_res_blocks"]
        attn_res = set(u["attention_resolutions"])
        depth = u.get("transformer_depth", 1)
        t_depth = u.get("temporal_transformer_depth", 1) if vc else depth
        ctx = u.get("context_dim")
        linear = u.get("use_linear", False)
        image_cross = u.get("use_image_attention" if vc else "image_cross_attention", False)
        learnable = not vc and u.get("image_cross_attention_scale_learnable", False)
        temporal_attn = u.get("temporal_attention", True)
        n_heads, head_ch = u.get("num_heads", -1), u.get("num_head_channels", -1)
        self.fs_condition = u.get("fps_cond" if vc else "fs_condition", False)
        self.default_fs = 16 if vc else u.get("default_fs", 4)
        self.temporal_length = u.get("temporal_length") or 16
        self.levels = len(mult)
        emb_dim = mc * 4

        def heads(ch):
            return (ch // head_ch, head_ch) if head_ch != -1 else (n_heads, ch // n_heads)

        def res(c_in, c_out):
            return ResBlock(c_in, emb_dim, c_out, u.get("use_scale_shift_norm", False), u.get("temporal_conv", False),
                            u.get("tempspatial_aware", False), variant, ops, **kw)

        def attention(ch):
            layers = [SpatialTransformer(ch, *heads(ch), depth, ctx, linear, image_cross, learnable, attn_precision,
                                         ops, **kw)]
            if temporal_attn:
                layers.append(TemporalTransformer(ch, *heads(ch), t_depth, linear, attn_precision, ops, **kw))
            return layers

        self.time_embed = nn.Sequential(ops.Linear(mc, emb_dim, **kw), nn.SiLU(), ops.Linear(emb_dim, emb_dim, **kw))
        if self.fs_condition:
            self.fps_embedding = nn.Sequential(ops.Linear(mc, emb_dim, **kw), nn.SiLU(),
                                               ops.Linear(emb_dim, emb_dim, **kw))
        self.input_blocks = nn.ModuleList([nn.ModuleList([ops.Conv2d(u["in_channels"], mc, 3, padding=1, **kw)])])
        self.init_attn = None
        if u.get("addition_attention", False):
            # official: 8 heads of num_head_channels, depth transformer_depth, conv (not linear) projections
            self.init_attn = nn.ModuleList([TemporalTransformer(mc, 8, head_ch, depth, False, attn_precision, ops,
                                                                **kw)])
        chans, ch, ds = [mc], mc, 1
        for level, m in enumerate(mult):
            for _ in range(n_res):
                layers = [res(ch, m * mc)]
                ch = m * mc
                if ds in attn_res:
                    layers += attention(ch)
                self.input_blocks.append(nn.ModuleList(layers))
                chans.append(ch)
            if level != len(mult) - 1:
                self.input_blocks.append(nn.ModuleList([Downsample(ch, ops, **kw)]))
                chans.append(ch)
                ds *= 2
        self.middle_block = nn.ModuleList([res(ch, ch), *attention(ch), res(ch, ch)])
        self.output_blocks = nn.ModuleList()
        for level, m in reversed(list(enumerate(mult))):
            for i in range(n_res + 1):
                layers = [res(ch + chans.pop(), m * mc)]
                ch = m * mc
                if ds in attn_res:
                    layers += attention(ch)
                if level and i == n_res:
                    layers.append(Upsample(ch, ops, **kw))
                    ds //= 2
                self.output_blocks.append(nn.ModuleList(layers))
        self.out = nn.Sequential(ops.GroupNorm(32, ch, **kw), nn.SiLU(),
                                 ops.Conv2d(mc, u["out_channels"], 3, padding=1, **kw))
        self.image_proj_model = Resampler(**cfg["image_proj"], dtype=dtype, device=device, operations=ops)

    # ---- ComfyUI entry point -------------------------------------------------------------------------------------

    def forward(self, x, timesteps, context=None, control=None, transformer_options={}, **kwargs):
        return comfy.patcher_extension.WrapperExecutor.new_class_executor(
            self._forward, self,
            comfy.patcher_extension.get_all_wrappers(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL,
                                                     transformer_options),
        ).execute(x, timesteps, context, control, transformer_options, **kwargs)

    def _forward(self, x, timesteps, context=None, control=None, transformer_options={}, num_video_frames=None,
                 clip_image_tokens=None, fs=None, clip_token_noise=None, **kwargs):
        frames = int(num_video_frames) if num_video_frames is not None else self.temporal_length
        if frames < 1 or x.shape[0] % frames:
            raise ValueError(f"DynamiCrafter: a batch of {x.shape[0]} frames is not a whole number of "
                             f"{frames}-frame videos")
        videos = x.shape[0] // frames
        if context is None or clip_image_tokens is None:
            raise ValueError("DynamiCrafter needs both the text context and the CLIP vision tokens of the image "
                             "(clip_image_tokens)")
        text = per_video(context, videos, frames, "context").to(x.dtype)
        tokens = per_video(clip_image_tokens, videos, frames, "clip_image_tokens").to(x.dtype)
        return self.unet(x, timesteps, text, add_token_noise(self.image_proj_model(tokens), clip_token_noise), fs,
                         frames, control, transformer_options)

    def forward_official(self, x, timesteps, context, fs=None, transformer_options={}):
        """The official call: x [b, c, t, h, w], timesteps [b], context [b, 77 + n, d] = [text, resampled image]."""
        frames = x.shape[2]
        out = self.unet(to_frames(x), timesteps.repeat_interleave(frames), context[:, :TEXT_TOKENS],
                        context[:, TEXT_TOKENS:], fs, frames, None, transformer_options)
        return to_video(out, frames)

    # ---- the network ---------------------------------------------------------------------------------------------

    def rows(self, v, n_rows, frames, what):
        """A per-row float tensor from a scalar, one value per video, or one per frame."""
        v = torch.as_tensor(v).reshape(-1)
        if v.numel() in (1, n_rows // frames) and v.numel() != n_rows:
            v = v.repeat_interleave(n_rows // v.numel())
        if v.numel() != n_rows:
            raise ValueError(f"DynamiCrafter: {what} has {v.numel()} values for {n_rows} frames")
        return v

    def unet(self, x, timesteps, text, image, fs, frames, control, transformer_options):
        """x [(b t), C, h, w]; timesteps/fs: scalar, per video or per frame; text [b, L, d]; image [b, n, d]."""
        rows, _, height, width = x.shape
        step = 2 ** (self.levels - 1)
        if height % step or width % step:
            raise ValueError(f"DynamiCrafter: latent size {height}x{width} must be a multiple of {step} "
                             f"(image size a multiple of {8 * step} pixels)")
        dtype = x.dtype
        emb = self.time_embed(timestep_embedding(self.rows(timesteps, rows, frames, "timesteps").to(x.device),
                                                 self.model_channels).to(dtype))
        if self.fs_condition:
            fs = self.default_fs if fs is None else fs
            fs = self.rows(fs, rows, frames, "fs").to(x.device)
            emb = emb + self.fps_embedding(timestep_embedding(fs, self.model_channels).to(dtype))

        text, image = text.to(dtype), image.to(dtype)
        n_img = image.shape[1]
        if self.variant == "dynamicrafter" and n_img == frames * FRAME_TOKENS:
            # official per-frame image conditioning: frame i sees image tokens [16 i, 16 i + 16)
            image, n_img = image.reshape(rows, FRAME_TOKENS, -1), FRAME_TOKENS
        else:
            image = image.repeat_interleave(frames, dim=0)
        context = torch.cat((text.repeat_interleave(frames, dim=0), image), dim=1)

        opts = {**transformer_options, IMAGE_TOKENS_KEY: n_img, "original_shape": list(x.shape),
                "transformer_index": 0, "num_video_frames": frames}
        temporal_opts = {k: v for k, v in opts.items() if k not in ("patches", "patches_replace")}
        patches = opts.get("patches", {})

        def run(block, h):
            for layer in block:
                if isinstance(layer, ResBlock):
                    h = layer(h, emb, frames)
                elif isinstance(layer, SpatialTransformer):
                    h = layer(h, context, opts)
                    opts["transformer_index"] += 1
                elif isinstance(layer, TemporalTransformer):
                    h = layer(h, frames, temporal_opts)
                else:
                    h = layer(h)
            return h

        h, skips = x, []
        for i, block in enumerate(self.input_blocks):
            opts["block"] = ("input", i)
            h = run(block, h)
            if i == 0 and self.init_attn is not None:
                h = run(self.init_attn, h)
            h = apply_control(h, control, "input")
            for p in patches.get("input_block_patch", []):
                h = p(h, opts)
            skips.append(h)
            for p in patches.get("input_block_patch_after_skip", []):
                h = p(h, opts)
        opts["block"] = ("middle", 0)
        h = apply_control(run(self.middle_block, h), control, "middle")
        for i, block in enumerate(self.output_blocks):
            opts["block"] = ("output", i)
            skip = apply_control(skips.pop(), control, "output")
            for p in patches.get("output_block_patch", []):
                h, skip = p(h, skip, opts)
            h = run(block, torch.cat((h, skip), dim=1))
        return self.out(h)
