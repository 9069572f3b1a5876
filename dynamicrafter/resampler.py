"""The image Resampler (Perceiver, IP-Adapter style) of DynamiCrafter and VideoCrafter1: CLIP ViT tokens ->
cross-attention image tokens. Parameter names match the official ``image_proj_model.*`` keys."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

import comfy.model_management


class PerceiverAttention(nn.Module):
    def __init__(self, dim, dim_head, heads, ops, **kw):
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        inner = heads * dim_head
        self.norm1 = ops.LayerNorm(dim, **kw)
        self.norm2 = ops.LayerNorm(dim, **kw)
        self.to_q = ops.Linear(dim, inner, bias=False, **kw)
        self.to_kv = ops.Linear(dim, inner * 2, bias=False, **kw)
        self.to_out = ops.Linear(inner, dim, bias=False, **kw)

    def forward(self, x, latents):
        x, latents = self.norm1(x), self.norm2(latents)
        b, n, _ = latents.shape
        heads = lambda t: t.unflatten(-1, (self.heads, self.dim_head)).transpose(1, 2)  # noqa: E731
        q = heads(self.to_q(latents))
        k, v = map(heads, self.to_kv(torch.cat((x, latents), dim=1)).chunk(2, dim=-1))
        # official order: both sides scaled by d^-1/4, softmax in fp32
        scale = 1 / math.sqrt(math.sqrt(self.dim_head))
        w = (q * scale) @ (k * scale).transpose(-2, -1)
        w = torch.softmax(w.float(), dim=-1).to(w.dtype)
        return self.to_out((w @ v).transpose(1, 2).reshape(b, n, -1))


class Resampler(nn.Module):
    """``num_queries`` learned queries (times ``video_length`` for DynamiCrafter's frame-wise version)."""

    def __init__(self, dim=1024, depth=8, dim_head=64, heads=16, num_queries=8, embedding_dim=768, output_dim=1024,
                 ff_mult=4, video_length=None, dtype=None, device=None, operations=None, **_):
        super().__init__()
        ops, kw = operations, {"dtype": dtype, "device": device}
        self.num_queries, self.video_length = num_queries, video_length
        tokens = num_queries * (video_length or 1)
        self.latents = nn.Parameter(torch.empty(1, tokens, dim, **kw))
        self.proj_in = ops.Linear(embedding_dim, dim, **kw)
        self.proj_out = ops.Linear(dim, output_dim, **kw)
        self.norm_out = ops.LayerNorm(output_dim, **kw)
        inner = int(dim * ff_mult)
        self.layers = nn.ModuleList(
            nn.ModuleList([
                PerceiverAttention(dim, dim_head, heads, ops, **kw),
                nn.Sequential(ops.LayerNorm(dim, **kw), ops.Linear(dim, inner, bias=False, **kw), nn.GELU(),
                              ops.Linear(inner, dim, bias=False, **kw)),
            ]) for _ in range(depth))

    @property
    def tokens(self) -> int:
        return self.latents.shape[1]

    def forward(self, x):
        """x [N, n_tok, embedding_dim] (CLIP ViT last hidden state) -> [N, tokens, output_dim]."""
        latents = comfy.model_management.cast_to(self.latents, dtype=x.dtype, device=x.device)
        latents = latents.expand(x.shape[0], -1, -1)
        x = self.proj_in(x)
        for attn, ff in self.layers:
            latents = attn(x, latents) + latents
            latents = ff(latents) + latents
        return self.norm_out(self.proj_out(latents))
