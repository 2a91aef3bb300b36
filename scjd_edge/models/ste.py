"""MixSTE-style spatio-temporal transformer: the teacher, and the student family.

Each 2D joint becomes a token. `depth` times, a spatial block mixes the 17 joints of
each frame, then a temporal block mixes the N frames of each joint. A linear head maps
every token to 3D (or, with `pose_head`, an MLP maps the 17 tokens of each frame to its
pose), so all N input frames are predicted (seq2seq).

The temporal position of a frame is encoded from its real offset to the window centre
(`frame_offsets`), through a sinusoid and a learned Linear, not from a per-slot table:
a student fed N sparse frames knows how far apart they are (METHOD.md section 1), and
one model runs with any N.
"""

from __future__ import annotations

import torch
from torch import nn

from scjd_edge.config import ModelConfig
from scjd_edge.data.skeleton import NUM_JOINTS, ROOT_JOINT
from scjd_edge.models.layers import (
    ModelFeatures,
    TransformerBlock,
    drop_path_rates,
    init_weights,
    sinusoidal_embedding,
)
from scjd_edge.models.registry import register_model


@register_model("ste")
class SpatioTemporalTransformer(nn.Module):
    """`(B, N, 17, 2)` keypoints + `(B, N)` frame offsets -> `(B, N, 17, 3)` pose, metres.

    The output is root-relative: joint 0 is subtracted, so it is exactly 0.
    """

    predicts_all_frames = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        dim = config.dim
        self.dim = dim
        self.heads = config.heads
        self.joint_embed = nn.Linear(2, dim)
        self.spatial_position = nn.Parameter(torch.zeros(1, 1, NUM_JOINTS, dim))
        self.temporal_position = nn.Linear(dim, dim)  # on the sinusoid of the offset
        self.embed_drop = nn.Dropout(config.dropout)
        rates = drop_path_rates(config.drop_path, 2 * config.depth)
        self.spatial_blocks = nn.ModuleList(
            TransformerBlock(dim, config.heads, config.mlp_ratio, config.dropout, rates[2 * i])
            for i in range(config.depth)
        )
        self.temporal_blocks = nn.ModuleList(
            TransformerBlock(dim, config.heads, config.mlp_ratio, config.dropout, rates[2 * i + 1])
            for i in range(config.depth)
        )
        self.head = _pose_head(dim, config.pose_head) if config.pose_head else _joint_head(dim)
        nn.init.trunc_normal_(self.spatial_position, std=0.02)
        self.apply(init_weights)

    def forward(
        self,
        keypoints_2d: torch.Tensor,
        frame_offsets: torch.Tensor,
        return_features: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, ModelFeatures]:
        """keypoints_2d `(B, N, 17, 2)` normalised screen coords; frame_offsets `(B, N)`
        frames from the window centre. Returns pose_3d `(B, N, 17, 3)` (and ModelFeatures
        with one `(B, N, 17, C)` embedding and one `(B, N, heads, 17, 17)` spatial map per
        depth block when `return_features`)."""
        batch, frames, joints, _ = keypoints_2d.shape
        tokens = self.joint_embed(keypoints_2d) + self.spatial_position  # (B, N, 17, C)
        tokens = self.embed_drop(tokens)
        temporal_position = self.temporal_position(sinusoidal_embedding(frame_offsets, self.dim))
        features = ModelFeatures()
        for index, (spatial, temporal) in enumerate(
            zip(self.spatial_blocks, self.temporal_blocks, strict=True)
        ):
            tokens = tokens.reshape(batch * frames, joints, self.dim)
            tokens = spatial(tokens, return_attention=return_features)
            if return_features:
                tokens, attention = tokens
                features.spatial_attention.append(
                    attention.reshape(batch, frames, self.heads, joints, joints)
                )
            tokens = tokens.reshape(batch, frames, joints, self.dim)
            if index == 0:
                tokens = tokens + temporal_position.unsqueeze(2)
            tokens = tokens.transpose(1, 2).reshape(batch * joints, frames, self.dim)
            tokens = temporal(tokens)
            tokens = tokens.reshape(batch, joints, frames, self.dim).transpose(1, 2)
            features.joint_embeddings.append(tokens)
        pose_3d = self.head(tokens)
        pose_3d = pose_3d - pose_3d[:, :, ROOT_JOINT : ROOT_JOINT + 1]
        return (pose_3d, features) if return_features else pose_3d


def _joint_head(dim: int) -> nn.Module:
    """`(B, N, 17, C)` -> `(B, N, 17, 3)`, each joint token on its own (MixSTE)."""
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 3))


def _pose_head(dim: int, hidden: int) -> nn.Module:
    """`(B, N, 17, C)` -> `(B, N, 17, 3)` from all 17 tokens of a frame together."""
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Flatten(start_dim=-2),
        nn.Linear(NUM_JOINTS * dim, hidden),
        nn.GELU(),
        nn.Linear(hidden, NUM_JOINTS * 3),
        nn.Unflatten(-1, (NUM_JOINTS, 3)),
    )
