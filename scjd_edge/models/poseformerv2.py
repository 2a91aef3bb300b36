"""PoseFormerV2 (Zhao et al., CVPR 2023): time-domain and frequency-domain tokens.

The baseline SCJD is compared with at equal cost. From a window of T frames:
- time tokens: a spatial transformer encodes the joints of the `central_frames` middle
  frames; each frame's 17 joint embeddings are flattened into one token of 17*C channels;
- frequency tokens: the whole window's 2D joint trajectories go through an orthonormal
  DCT along time and only the `dct_coefficients` lowest frequencies are kept (a
  low-pass, noise-robust summary of the long window); each coefficient vector over the
  joints is embedded linearly into one token;
- a temporal encoder of time-frequency fusion blocks: self-attention over all time and
  frequency tokens together, then a plain MLP for time tokens and a FreqMLP (DCT along
  the tokens, MLP, inverse DCT) for frequency tokens;
- a learned weighted average of each token group, concatenated, regresses the centre
  frame's 3D pose.

It assumes the full contiguous window: `frame_offsets` is accepted for the shared
signature and ignored (positions come from learned tables over the fixed layout).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from scjd_edge.config import ModelConfig
from scjd_edge.data.skeleton import NUM_JOINTS, ROOT_JOINT
from scjd_edge.errors import ConfigError
from scjd_edge.models.layers import (
    Attention,
    DropPath,
    Mlp,
    ModelFeatures,
    TransformerBlock,
    drop_path_rates,
    init_weights,
)
from scjd_edge.models.registry import register_model


def dct_matrix(size: int) -> torch.Tensor:
    """`(size, size)` orthonormal DCT-II matrix: row k is frequency k, so `M @ signal` gives
    the coefficients and `M.T @ coefficients` inverts them exactly."""
    time = torch.arange(size, dtype=torch.float64) + 0.5
    frequency = torch.arange(size, dtype=torch.float64).unsqueeze(1)
    basis = torch.cos(math.pi * frequency * time / size) * math.sqrt(2.0 / size)
    basis[0] /= math.sqrt(2.0)
    return basis.float()


class FreqMlp(nn.Module):
    """MLP applied in the frequency domain of the token axis: DCT, Mlp, inverse DCT."""

    def __init__(self, tokens: int, dim: int, hidden_dim: int, dropout: float) -> None:
        super().__init__()
        self.register_buffer("dct", dct_matrix(tokens), persistent=False)
        self.mlp = Mlp(dim, hidden_dim, dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """`(B, L, D)` -> `(B, L, D)`."""
        spectrum = torch.einsum("kl,bld->bkd", self.dct, tokens)
        return torch.einsum("kl,bkd->bld", self.dct, self.mlp(spectrum))


class TimeFrequencyFusionBlock(nn.Module):
    """Joint attention over time and frequency tokens, then a separate MLP for each kind."""

    def __init__(
        self,
        dim: int,
        heads: int,
        time_tokens: int,
        frequency_tokens: int,
        mlp_ratio: float,
        dropout: float,
        drop_path: float,
    ) -> None:
        super().__init__()
        hidden_dim = int(dim * mlp_ratio)
        self.time_tokens = time_tokens
        self.norm_attention = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, attn_drop=dropout, proj_drop=dropout)
        self.norm_time = nn.LayerNorm(dim)
        self.time_mlp = Mlp(dim, hidden_dim, dropout)
        self.norm_frequency = nn.LayerNorm(dim)
        self.frequency_mlp = FreqMlp(frequency_tokens, dim, hidden_dim, dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """`(B, f + n, D)`: the f time tokens first, then the n frequency tokens."""
        tokens = tokens + self.drop_path(self.attn(self.norm_attention(tokens)))
        time, frequency = tokens[:, : self.time_tokens], tokens[:, self.time_tokens :]
        time = time + self.drop_path(self.time_mlp(self.norm_time(time)))
        frequency = frequency + self.drop_path(self.frequency_mlp(self.norm_frequency(frequency)))
        return torch.cat([time, frequency], dim=1)


@register_model("poseformerv2")
class PoseFormerV2(nn.Module):
    """`(B, T, 17, 2)` full window -> `(B, 1, 17, 3)` centre-frame pose, metres, root-relative.

    `config.dim` is the per-joint width C of the spatial encoder; the temporal encoder
    works on 17*C channels (C = 32 gives the paper's 544).
    """

    predicts_all_frames = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        _check_window(config)
        dim, heads = config.dim, config.heads
        temporal_dim = NUM_JOINTS * dim
        self.frames = config.frames
        self.dim = dim
        self.heads = heads
        self.central_start = (config.frames - config.central_frames) // 2
        self.central_frames = config.central_frames
        rates = drop_path_rates(config.drop_path, config.depth)

        self.joint_embed = nn.Linear(2, dim)
        self.spatial_position = nn.Parameter(torch.zeros(1, 1, NUM_JOINTS, dim))
        self.spatial_blocks = nn.ModuleList(
            TransformerBlock(dim, heads, config.mlp_ratio, config.dropout, rate) for rate in rates
        )
        self.spatial_norm = nn.LayerNorm(dim)

        dct = dct_matrix(config.frames)[: config.dct_coefficients]
        self.register_buffer("window_dct", dct, persistent=False)  # (n, T)
        self.frequency_embed = nn.Linear(NUM_JOINTS * 2, temporal_dim)

        self.time_position = nn.Parameter(torch.zeros(1, config.central_frames, temporal_dim))
        self.frequency_position = nn.Parameter(
            torch.zeros(1, config.dct_coefficients, temporal_dim)
        )
        self.embed_drop = nn.Dropout(config.dropout)
        self.fusion_blocks = nn.ModuleList(
            TimeFrequencyFusionBlock(
                temporal_dim,
                heads,
                config.central_frames,
                config.dct_coefficients,
                config.mlp_ratio,
                config.dropout,
                rate,
            )
            for rate in rates
        )
        self.temporal_norm = nn.LayerNorm(temporal_dim)
        # Learned weights over the tokens of each kind (a weighted average, not a plain mean).
        self.time_pool = nn.Linear(config.central_frames, 1)
        self.frequency_pool = nn.Linear(config.dct_coefficients, 1)
        self.head = nn.Sequential(
            nn.LayerNorm(2 * temporal_dim), nn.Linear(2 * temporal_dim, NUM_JOINTS * 3)
        )
        for table in (self.spatial_position, self.time_position, self.frequency_position):
            nn.init.trunc_normal_(table, std=0.02)
        self.apply(init_weights)

    def forward(
        self,
        keypoints_2d: torch.Tensor,
        frame_offsets: torch.Tensor,
        return_features: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, ModelFeatures]:
        """keypoints_2d `(B, T, 17, 2)`, the full contiguous window; frame_offsets `(B, T)`
        is ignored. Returns pose_3d `(B, 1, 17, 3)`, and with `return_features` the
        ModelFeatures of the spatial encoder, which only sees the central frames:
        `(B, central_frames, 17, C)` embeddings and `(B, central_frames, heads, 17, 17)`
        attention maps, one per depth block."""
        batch, frames, joints, _ = keypoints_2d.shape
        if not torch.jit.is_tracing() and frames != self.frames:  # shapes are traced tensors
            raise ValueError(f"PoseFormerV2 built for a {self.frames}-frame window got {frames}")
        time_tokens, features = self._encode_central_frames(keypoints_2d, return_features)
        frequency_tokens = self._encode_frequencies(keypoints_2d)
        tokens = self.embed_drop(torch.cat([time_tokens, frequency_tokens], dim=1))
        for block in self.fusion_blocks:
            tokens = block(tokens)
        tokens = self.temporal_norm(tokens)
        time_summary = self.time_pool(tokens[:, : self.central_frames].transpose(1, 2))
        frequency_summary = self.frequency_pool(tokens[:, self.central_frames :].transpose(1, 2))
        summary = torch.cat([time_summary, frequency_summary], dim=1).squeeze(-1)  # (B, 2D)
        pose_3d = self.head(summary).reshape(batch, 1, joints, 3)
        pose_3d = pose_3d - pose_3d[:, :, ROOT_JOINT : ROOT_JOINT + 1]
        return (pose_3d, features) if return_features else pose_3d

    def _encode_central_frames(
        self, keypoints_2d: torch.Tensor, return_features: bool
    ) -> tuple[torch.Tensor, ModelFeatures]:
        """`(B, T, 17, 2)` -> time tokens `(B, f, 17*C)` from the f central frames."""
        batch, _, joints, _ = keypoints_2d.shape
        central = keypoints_2d[:, self.central_start : self.central_start + self.central_frames]
        tokens = self.embed_drop(self.joint_embed(central) + self.spatial_position)
        tokens = tokens.reshape(batch * self.central_frames, joints, self.dim)
        features = ModelFeatures()
        for block in self.spatial_blocks:
            tokens = block(tokens, return_attention=return_features)
            if return_features:
                tokens, attention = tokens
                shape = (batch, self.central_frames, self.heads, joints, joints)
                features.spatial_attention.append(attention.reshape(shape))
                features.joint_embeddings.append(
                    tokens.reshape(batch, self.central_frames, joints, self.dim)
                )
        tokens = self.spatial_norm(tokens).reshape(batch, self.central_frames, joints * self.dim)
        return tokens + self.time_position, features

    def _encode_frequencies(self, keypoints_2d: torch.Tensor) -> torch.Tensor:
        """`(B, T, 17, 2)` -> frequency tokens `(B, n, 17*C)` from the n lowest DCT terms."""
        coefficients = torch.einsum("kt,btjc->bkjc", self.window_dct, keypoints_2d)
        return self.frequency_embed(coefficients.flatten(2)) + self.frequency_position


def _check_window(config: ModelConfig) -> None:
    for key in ("central_frames", "dct_coefficients"):
        if getattr(config, key) > config.frames:
            raise ConfigError(
                f"model.{key}={getattr(config, key)} exceeds model.frames={config.frames} "
                "(the window PoseFormerV2 sees)"
            )
    if (config.frames - config.central_frames) % 2:
        raise ConfigError(
            f"model.central_frames={config.central_frames} and model.frames={config.frames} "
            "must both be odd (or both even) so the central frames sit around the centre frame"
        )
