"""The ConsistI2V UNet (VideoLDM-style SD 2.1 UNet with temporal layers) in ComfyUI style.

Module names mirror the official diffusers state dict, so checkpoints load without key conversion and SD2.1-style
LoRAs (``lora_unet_down_blocks_0_attentions_0_...``) map onto the spatial layers. Layers come from ``operations``
(ComfyUI casting/offload), spatial transformer blocks are ComfyUI's own ``BasicTransformerBlock`` (all attention
patches work), attention goes through ComfyUI's optimized attention. Latents are frames-as-batch: the sampler
holds the T-1 generated frames of each video; the clean first frame is prepended at every call and its output
dropped (consisti2v.md §3).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import comfy.ldm.modules.attention as comfy_attention
import comfy.patcher_extension
from comfy.ldm.modules.attention import BasicTransformerBlock, CrossAttention, FeedForward

from ..kernels.first_frame_attention import spatial_first_frame_attention, window_temporal_attention
from ..kernels.rope import analytic_freqs, apply_rope

OPTIONS_KEY = "consisti2v_attention"
FRAMES_KEY = "consisti2v_frames"
DEFAULT_ATTENTION = {"spatial": True, "temporal_window": True, "window_size": 3}


def attention_settings(transformer_options: dict) -> dict:
    return {**DEFAULT_ATTENTION, **transformer_options.get(OPTIONS_KEY, {})}


def timestep_embedding(t: torch.Tensor, dim: int, flip_sin_to_cos: bool, shift: float) -> torch.Tensor:
    """diffusers ``get_timestep_embedding`` (max period 10000)."""
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - shift)
    args = t[:, None].float() * torch.exp(exponent)[None]
    emb = torch.cat((args.sin(), args.cos()), dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat((emb[:, half:], emb[:, :half]), dim=-1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


class TimestepMLP(nn.Module):
    def __init__(self, dim_in, dim, ops, **kw):
        super().__init__()
        self.linear_1 = ops.Linear(dim_in, dim, **kw)
        self.linear_2 = ops.Linear(dim, dim, **kw)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock(nn.Module):
    """diffusers ResnetBlock2D (default time-embedding norm)."""

    def __init__(self, c_in, c_out, temb, groups, eps, ops, **kw):
        super().__init__()
        self.norm1 = ops.GroupNorm(groups, c_in, eps=eps, affine=True, **kw)
        self.conv1 = ops.Conv2d(c_in, c_out, 3, padding=1, **kw)
        self.time_emb_proj = ops.Linear(temb, c_out, **kw)
        self.norm2 = ops.GroupNorm(groups, c_out, eps=eps, affine=True, **kw)
        self.conv2 = ops.Conv2d(c_out, c_out, 3, padding=1, **kw)
        self.conv_shortcut = ops.Conv2d(c_in, c_out, 1, **kw) if c_in != c_out else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if self.conv_shortcut is not None else x) + h


def mix(alpha: torch.Tensor, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """gamma mixing of a temporal layer: gamma * x + (1 - gamma) * out, gamma = clamp(alpha, 0, 1)."""
    a = alpha.to(device=x.device, dtype=x.dtype).clamp(0, 1)
    return a * x + (1 - a) * out


class TemporalConvBlock(nn.Module):
    """Temporal ResNet: GroupNorm(32, eps 1e-6) per frame, Conv3d (3,1,1) over frames (zero padded)."""

    def __init__(self, c, ops, **kw):
        super().__init__()
        self.norm1 = ops.GroupNorm(32, c, eps=1e-6, affine=True, **kw)
        self.conv1 = ops.Conv3d(c, c, (3, 1, 1), padding=(1, 0, 0), **kw)
        self.norm2 = ops.GroupNorm(32, c, eps=1e-6, affine=True, **kw)
        self.conv2 = ops.Conv3d(c, c, (3, 1, 1), padding=(1, 0, 0), **kw)
        self.alpha = nn.Parameter(torch.ones(1, **kw))

    @staticmethod
    def _conv(conv, x, frames):
        h = x.unflatten(0, (-1, frames)).transpose(1, 2)
        return conv(h).transpose(1, 2).flatten(0, 1)

    def forward(self, x, frames):
        h = self._conv(self.conv1, F.silu(self.norm1(x)), frames)
        h = self._conv(self.conv2, F.silu(self.norm2(h)), frames)
        return mix(self.alpha, x, x + h)


class FirstFrameSelfAttention(CrossAttention):
    """Spatial self-attention whose keys/values are the frame's own tokens followed by frame 0's (same layer)."""

    def forward(self, x, context=None, value=None, mask=None, transformer_options={}):
        frames = transformer_options.get(FRAMES_KEY)
        if frames is None or mask is not None or not attention_settings(transformer_options)["spatial"]:
            return super().forward(x, context=context, value=value, mask=mask,
                                   transformer_options=transformer_options)
        context = x if context is None else context
        q, k = self.to_q(x), self.to_k(context)
        v = self.to_v(context if value is None else value)
        return self.to_out(spatial_first_frame_attention(q, k, v, self.heads, frames))


class SpatialTransformer(nn.Module):
    """Transformer2DConditionModel (linear or conv projection) around ComfyUI's BasicTransformerBlock."""

    def __init__(self, c, heads, context_dim, depth, groups, linear, ops, **kw):
        super().__init__()
        self.norm = ops.GroupNorm(groups, c, eps=1e-6, affine=True, **kw)
        self.linear = linear
        self.proj_in = ops.Linear(c, c, **kw) if linear else ops.Conv2d(c, c, 1, **kw)
        self.transformer_blocks = nn.ModuleList()
        for _ in range(depth):
            block = BasicTransformerBlock(c, heads, c // heads, context_dim=context_dim, checkpoint=False, operations=ops,
                                          **kw)
            block.attn1 = FirstFrameSelfAttention(c, heads=heads, dim_head=c // heads, operations=ops, **kw)
            self.transformer_blocks.append(block)
        self.proj_out = ops.Linear(c, c, **kw) if linear else ops.Conv2d(c, c, 1, **kw)

    def forward(self, x, context, transformer_options):
        b, c, h, w = x.shape
        transformer_options["activations_shape"] = list(x.shape)
        hs = self.norm(x)
        if not self.linear:
            hs = self.proj_in(hs)
        hs = hs.permute(0, 2, 3, 1).reshape(b, h * w, c)
        if self.linear:
            hs = self.proj_in(hs)
        for i, block in enumerate(self.transformer_blocks):
            transformer_options["block_index"] = i
            hs = block(hs, context=context, transformer_options=transformer_options)
        if self.linear:
            hs = self.proj_out(hs)
        hs = hs.reshape(b, h, w, c).permute(0, 3, 1, 2)
        if not self.linear:
            hs = self.proj_out(hs)
        return hs + x


class RotaryFreqs(nn.Module):
    def __init__(self, channels, **kw):
        super().__init__()
        self.freqs = nn.Parameter(analytic_freqs(channels).to(**kw), requires_grad=False)


class TemporalAttention(nn.Module):
    """Temporal attention with RoPE on the first C/2 channels; self-attention may add frame 0's window keys."""

    def __init__(self, c, heads, context_dim, ops, **kw):
        super().__init__()
        self.heads = heads
        self.to_q = ops.Linear(c, c, bias=False, **kw)
        self.to_k = ops.Linear(context_dim or c, c, bias=False, **kw)
        self.to_v = ops.Linear(context_dim or c, c, bias=False, **kw)
        self.to_out = nn.Sequential(ops.Linear(c, c, **kw), nn.Dropout(0.0))
        self.rotary_emb = RotaryFreqs(c, **kw)

    def forward(self, x, hw, context=None, transformer_options={}):
        """x [G*h*w, T, C]; context [G, n, d] (text, per video) or None (self-attention)."""
        attend = comfy_attention.optimized_attention
        freqs = self.rotary_emb.freqs
        frames = x.shape[1]
        pos = torch.arange(frames, device=x.device)
        q = apply_rope(self.to_q(x), freqs, pos)
        if context is not None:
            # every pixel of a video attends to the same text: one attention call per video, no per-pixel copies
            k, v = self.to_k(context), self.to_v(context)
            out = attend(q.reshape(context.shape[0], -1, q.shape[-1]), k, v, self.heads,
                         transformer_options=transformer_options)
            return self.to_out(out.reshape(x.shape))
        k = apply_rope(self.to_k(x), freqs, pos)
        v = self.to_v(x)
        settings = attention_settings(transformer_options)
        if settings["temporal_window"]:
            call = lambda q_, k_, v_, heads: attend(q_, k_, v_, heads, transformer_options=transformer_options)  # noqa: E731
            out = window_temporal_attention(q, k, v, self.heads, hw[0], hw[1], settings["window_size"], call)
        else:
            out = attend(q, k, v, self.heads, transformer_options=transformer_options)
        return self.to_out(out)


class TemporalBlock(nn.Module):
    def __init__(self, c, heads, context_dim, ops, **kw):
        super().__init__()
        self.norm1 = ops.LayerNorm(c, **kw)
        self.attn1 = TemporalAttention(c, heads, None, ops, **kw)
        self.norm2 = ops.LayerNorm(c, **kw)
        self.attn2 = TemporalAttention(c, heads, context_dim, ops, **kw)
        self.norm3 = ops.LayerNorm(c, **kw)
        self.ff = FeedForward(c, dim_out=c, glu=True, operations=ops, **kw)

    def forward(self, x, frames, hw, context, transformer_options):
        """x [(G T), h*w, C] tokens; attention runs per pixel over the T frames."""
        def over_time(t):
            return t.unflatten(0, (-1, frames)).transpose(1, 2).flatten(0, 1)

        def back(t):
            return t.unflatten(0, (-1, hw[0] * hw[1])).transpose(1, 2).flatten(0, 1)

        x = x + back(self.attn1(over_time(self.norm1(x)), hw, transformer_options=transformer_options))
        x = x + back(self.attn2(over_time(self.norm2(x)), hw, context, transformer_options))
        return x + self.ff(self.norm3(x))


class TemporalTransformer(nn.Module):
    def __init__(self, c, heads, context_dim, depth, groups, ops, **kw):
        super().__init__()
        self.norm = ops.GroupNorm(groups, c, eps=1e-6, affine=True, **kw)
        self.proj_in = ops.Linear(c, c, **kw)
        self.transformer_blocks = nn.ModuleList(TemporalBlock(c, heads, context_dim, ops, **kw) for _ in range(depth))
        self.proj_out = ops.Linear(c, c, **kw)
        self.alpha = nn.Parameter(torch.ones(1, **kw))

    def forward(self, x, frames, context, transformer_options):
        b, c, h, w = x.shape
        hs = self.proj_in(self.norm(x).permute(0, 2, 3, 1).reshape(b, h * w, c))
        for block in self.transformer_blocks:
            hs = block(hs, frames, (h, w), context, transformer_options)
        hs = self.proj_out(hs).reshape(b, h, w, c).permute(0, 3, 1, 2)
        return mix(self.alpha, x, hs + x)


class Downsample(nn.Module):
    def __init__(self, c, ops, **kw):
        super().__init__()
        self.conv = ops.Conv2d(c, c, 3, stride=2, padding=1, **kw)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, c, ops, **kw):
        super().__init__()
        self.conv = ops.Conv2d(c, c, 3, padding=1, **kw)

    def forward(self, x, size):
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class Level(nn.Module):
    """One down/up block: per layer resnet -> temporal conv [-> spatial transformer -> temporal transformer]."""

    def __init__(self, cfg, channels_in, c, layers, cross, temporal_attn, ops, skip_channels=None, **kw):
        super().__init__()
        groups, eps, temb = cfg["norm_num_groups"], cfg["norm_eps"], cfg["block_out_channels"][0] * 4
        self.resnets = nn.ModuleList()
        for i in range(layers):
            c_in = channels_in if i == 0 else c
            self.resnets.append(ResnetBlock(c_in + (skip_channels[i] if skip_channels else 0), c, temb, groups, eps,
                                            ops, **kw))
        self.conv3ds = nn.ModuleList(TemporalConvBlock(c, ops, **kw) for _ in range(layers))
        if cross:
            heads = cfg["heads"]
            self.attentions = nn.ModuleList(
                SpatialTransformer(c, heads, cfg["cross_attention_dim"], cfg["transformer_layers_per_block"], groups,
                                   cfg["use_linear_projection"], ops, **kw) for _ in range(layers))
            if temporal_attn:
                self.tempo_attns = nn.ModuleList(
                    TemporalTransformer(c, cfg["n_temp_heads"], cfg["cross_attention_dim"],
                                        cfg["transformer_layers_per_block"], groups, ops, **kw) for _ in range(layers))


class ConsistI2VUNet(nn.Module):
    """``forward(x, timesteps, context, first_frame=, num_video_frames=, frame_stride=)`` on frames-as-batch
    latents ``[G * (T-1), 4, h, w]`` (G videos, e.g. a CFG pair); returns the epsilon of those frames."""

    def __init__(self, consisti2v_config=None, dtype=None, device=None, operations=None, **_):
        super().__init__()
        cfg = consisti2v_config
        self.config, self.dtype = cfg, dtype
        ops, kw = operations, {"dtype": dtype, "device": device}
        ch = cfg["block_out_channels"]
        layers = cfg["layers_per_block"]
        temb = ch[0] * 4
        self.conv_in = ops.Conv2d(cfg["in_channels"], ch[0], 3, padding=1, **kw)
        self.time_embedding = TimestepMLP(ch[0], temb, ops, **kw)
        self.frame_stride_embedding = TimestepMLP(ch[0], temb, ops, **kw) if cfg["use_frame_stride_condition"] else None
        self.down_blocks = nn.ModuleList()
        for i, kind in enumerate(cfg["down_block_types"]):
            cross = kind == "CrossAttnDownBlock2D"
            level = Level({**cfg, "heads": cfg["attention_head_dim"][i]}, ch[max(i - 1, 0)], ch[i], layers, cross,
                          cross, ops, **kw)
            if i < len(ch) - 1:
                level.downsamplers = nn.ModuleList([Downsample(ch[i], ops, **kw)])
            self.down_blocks.append(level)
        self.mid_block = Level({**cfg, "heads": cfg["attention_head_dim"][-1]}, ch[-1], ch[-1], 2, True, False, ops,
                               **kw)
        self.mid_block.attentions = self.mid_block.attentions[:1]
        rev = list(reversed(ch))
        heads_rev = list(reversed(cfg["attention_head_dim"]))
        self.up_blocks = nn.ModuleList()
        for i, kind in enumerate(cfg["up_block_types"]):
            cross = kind == "CrossAttnUpBlock2D"
            c, prev = rev[i], rev[max(i - 1, 0)]
            skip_in = rev[min(i + 1, len(ch) - 1)]
            skips = [c] * layers + [skip_in]
            level = Level({**cfg, "heads": heads_rev[i]}, prev, c, layers + 1, cross, cross, ops, skip_channels=skips,
                          **kw)
            if i < len(ch) - 1:
                level.upsamplers = nn.ModuleList([Upsample(c, ops, **kw)])
            self.up_blocks.append(level)
        self.conv_norm_out = ops.GroupNorm(cfg["norm_num_groups"], ch[0], eps=cfg["norm_eps"], affine=True, **kw)
        self.conv_out = ops.Conv2d(ch[0], cfg["out_channels"], 3, padding=1, **kw)

    def embed(self, t, stride, dtype):
        cfg = self.config
        proj = lambda v: timestep_embedding(v, cfg["block_out_channels"][0], cfg["flip_sin_to_cos"],  # noqa: E731
                                            cfg["freq_shift"]).to(dtype)
        emb = self.time_embedding(proj(t))
        if self.frame_stride_embedding is not None:
            emb = emb + self.frame_stride_embedding(proj(stride))
        return emb

    def forward(self, x, timesteps, context=None, control=None, transformer_options={}, **kwargs):
        return comfy.patcher_extension.WrapperExecutor.new_class_executor(
            self._forward, self,
            comfy.patcher_extension.get_all_wrappers(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL,
                                                     transformer_options),
        ).execute(x, timesteps, context, control, transformer_options, **kwargs)

    def _forward(self, x, timesteps, context=None, control=None, transformer_options={}, first_frame=None,
                 num_video_frames=None, frame_stride=3, **kwargs):
        generated = int(num_video_frames) if num_video_frames is not None else x.shape[0]
        videos, frames, full = prepend_first_frame(x, first_frame, generated)
        per_video = lambda v: v.view(videos, generated, *v.shape[1:])[:, 0]  # noqa: E731
        per_frame = lambda v: v.repeat_interleave(frames, dim=0)  # noqa: E731
        t = per_frame(per_video(timesteps.reshape(-1)))
        stride = torch.as_tensor(frame_stride, device=x.device).reshape(-1).float()
        stride = per_frame(per_video(stride.expand(x.shape[0]).contiguous()))
        text = per_video(context)
        settings = {**DEFAULT_ATTENTION, "temporal_window": self.config["augment_temporal_attention"],
                    **transformer_options.get(OPTIONS_KEY, {})}
        options = {**transformer_options, FRAMES_KEY: frames, OPTIONS_KEY: settings,
                   "original_shape": list(full.shape), "transformer_index": 0}
        out = self.unet(full, self.embed(t, stride, full.dtype), text, per_frame(text), frames, options)
        return out.unflatten(0, (videos, frames))[:, 1:].flatten(0, 1)

    def unet(self, h, emb, text, context, frames, options):
        patches = options.get("patches", {})
        layers = self.config["layers_per_block"]
        h = self.conv_in(h)
        skips = [h]
        for i, level in enumerate(self.down_blocks):
            for j in range(len(level.resnets)):
                options["block"] = ("input", i * (layers + 1) + j + 1)
                h = self.layer(level, j, h, emb, text, context, frames, options)
                for p in patches.get("input_block_patch", []):
                    h = p(h, options)
                skips.append(h)
            if hasattr(level, "downsamplers"):
                h = level.downsamplers[0](h)
                skips.append(h)
        options["block"] = ("middle", 0)
        mid = self.mid_block
        h = mid.conv3ds[0](mid.resnets[0](h, emb), frames)
        h = mid.attentions[0](h, context, options)
        h = mid.conv3ds[1](mid.resnets[1](h, emb), frames)
        for i, level in enumerate(self.up_blocks):
            for j in range(len(level.resnets)):
                options["block"] = ("output", i * (layers + 1) + j)
                skip = skips.pop()
                for p in patches.get("output_block_patch", []):
                    h, skip = p(h, skip, options)
                h = self.layer(level, j, torch.cat((h, skip), dim=1), emb, text, context, frames, options)
            if hasattr(level, "upsamplers"):
                h = level.upsamplers[0](h, skips[-1].shape[-2:])
        return self.conv_out(F.silu(self.conv_norm_out(h)))

    @staticmethod
    def layer(level, j, h, emb, text, context, frames, options):
        h = level.conv3ds[j](level.resnets[j](h, emb), frames)
        if hasattr(level, "attentions"):
            h = level.attentions[j](h, context, options)
        if hasattr(level, "tempo_attns"):
            h = level.tempo_attns[j](h, frames, text, options)
        return h


def prepend_first_frame(x: torch.Tensor, first_frame: torch.Tensor | None, generated: int):
    """[G*n, C, h, w] generated frames + first frame (one per video, or repeated per row) -> G, n+1, [G*(n+1), ...]."""
    if first_frame is None:
        raise ValueError("ConsistI2V needs the clean first frame: connect both positive and negative through the "
                         "'ConsistI2V Conditioning' node")
    if generated < 1 or x.shape[0] % generated:
        raise ValueError(f"latent: {x.shape[0]} frames are not a whole number of {generated}-frame videos")
    videos = x.shape[0] // generated
    if first_frame.shape[0] == x.shape[0]:
        first_frame = first_frame[::generated]
    first_frame = first_frame[:videos] if first_frame.shape[0] >= videos else first_frame.expand(videos, -1, -1, -1)
    if first_frame.shape[1:] != x.shape[1:]:
        raise ValueError(f"first frame latent {tuple(first_frame.shape[1:])} does not match the sampled latent "
                         f"{tuple(x.shape[1:])}: use the latent from 'ConsistI2V Conditioning' (same width/height)")
    full = torch.cat((first_frame.to(x).unsqueeze(1), x.view(videos, generated, *x.shape[1:])), dim=1)
    return videos, generated + 1, full.flatten(0, 1)
