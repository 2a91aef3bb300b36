"""Blocks shared by every model: attention, MLP, drop path, a pre-norm transformer block.

Tokens are `(B, L, C)` everywhere: B sequences of L tokens with C channels. Nothing here
branches on tensor values, so every model built from these blocks traces to ONNX.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelFeatures:
    """What a model exposes for distillation (`forward(..., return_features=True)`).

    joint_embeddings: one `(B, N, 17, C)` tensor per depth block.
    spatial_attention: one `(B, N, heads, 17, 17)` tensor per depth block; softmax maps
        whose rows sum to 1 (query joint -> key joints), heads kept separate.
    """

    joint_embeddings: list[torch.Tensor] = field(default_factory=list)
    spatial_attention: list[torch.Tensor] = field(default_factory=list)


class Attention(nn.Module):
    """Multi-head self-attention over `(B, L, C)` tokens.

    The default path is `F.scaled_dot_product_attention` (fused kernels). With
    `return_attention=True` the same weights run through the explicit softmax(QK^T/sqrt(d))
    math so the `(B, heads, L, L)` map can be returned; both paths give the same output.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(
        self, tokens: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        batch, length, dim = tokens.shape
        qkv = self.qkv(tokens).reshape(batch, length, 3, self.heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, L, d)
        drop = self.attn_drop if self.training else 0.0
        if return_attention:
            scores = (query * self.head_dim**-0.5) @ key.transpose(-2, -1)
            attention = scores.softmax(dim=-1)
            mixed = F.dropout(attention, drop, self.training) @ value
        else:
            mixed = F.scaled_dot_product_attention(query, key, value, dropout_p=drop)
        out = self.proj_drop(self.proj(mixed.transpose(1, 2).reshape(batch, length, dim)))
        return (out, attention) if return_attention else out


class Mlp(nn.Module):
    """Linear -> GELU -> dropout -> Linear -> dropout, on the last dimension."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(tokens)))))


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a residual branch per sample with probability p."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, branch: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return branch
        keep = 1.0 - self.drop_prob
        mask_shape = (branch.shape[0],) + (1,) * (branch.dim() - 1)
        mask = branch.new_empty(mask_shape).bernoulli_(keep)
        return branch * mask / keep


class TransformerBlock(nn.Module):
    """Pre-norm block: x + DropPath(Attention(LN(x))), then x + DropPath(Mlp(LN(x)))."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, attn_drop=dropout, proj_drop=dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)
        self.drop_path = DropPath(drop_path)

    def forward(
        self, tokens: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        attended = self.attn(self.norm1(tokens), return_attention=return_attention)
        if return_attention:
            attended, attention = attended
        tokens = tokens + self.drop_path(attended)
        tokens = tokens + self.drop_path(self.mlp(self.norm2(tokens)))
        return (tokens, attention) if return_attention else tokens


def sinusoidal_embedding(
    frame_offsets: torch.Tensor, dim: int, max_period: float = 10000.0
) -> torch.Tensor:
    """`(...)` real-valued frame offsets -> `(..., dim)` sin/cos features.

    Channel pairs use periods 2*pi .. 2*pi*max_period frames (geometric), so both one-frame
    steps and window-wide distances are resolvable; non-integer offsets are fine. An odd
    `dim` gets one trailing zero channel.
    """
    half = dim // 2
    exponents = torch.arange(half, dtype=torch.float32, device=frame_offsets.device) / half
    frequencies = torch.exp(-math.log(max_period) * exponents)  # radians per frame
    angles = frame_offsets.unsqueeze(-1) * frequencies  # int offsets promote to float32
    embedding = torch.cat([angles.sin(), angles.cos()], dim=-1)
    if dim % 2:
        embedding = F.pad(embedding, (0, 1))
    return embedding


def drop_path_rates(max_rate: float, count: int) -> list[float]:
    """Stochastic depth rates rising linearly from 0 to `max_rate` over `count` blocks."""
    if count == 1:
        return [max_rate]
    return [max_rate * index / (count - 1) for index in range(count)]


def init_weights(module: nn.Module) -> None:
    """ViT-style init, for `model.apply`: truncated-normal Linear weights, zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
