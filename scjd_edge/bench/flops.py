"""Model cost: parameters and multiply-accumulates, with the convention always stated.

Primary count: `torch.utils.flop_counter.FlopCounterMode` (2 FLOPs per multiply-add,
halved here to MACs). Its CPU fused-attention kernel is not counted (it reports 0 for
`scaled_dot_product_attention` on CPU), so counting runs under
`sdpa_kernel(SDPBackend.MATH)`, where attention decomposes into the counted QK^T and AV
matmuls; on the meta device (no weights needed) the same holds.

Cross-checks: fvcore (`FlopCountAnalysis`, whose "flop" is one fused multiply-add, i.e.
one MAC; it also counts normalisation layers, which FlopCounterMode does not) and, for
the STE model, the analytic count of its Linear layers and attention matmuls.
Element-wise work (softmax, GELU, additions) is in none of the three.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from scjd_edge.config import ModelConfig
from scjd_edge.data.skeleton import NUM_JOINTS
from scjd_edge.models import count_parameters, create_model

with warnings.catch_warnings():
    # fvcore scripts helpers with torch.jit.script at import, which torch 2.x deprecates.
    warnings.simplefilter("ignore", DeprecationWarning)
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn.jit_handles import get_shape

MAC_CONVENTION = (
    "MACs = multiply-accumulates of matmuls and Linear layers incl. attention QK^T and AV "
    "(FlopCounterMode, SDPA counted via its math path); FLOPs = 2 x MACs; fvcore's 'flops' "
    "are MACs; element-wise ops not counted"
)
FRAME_CONVENTION = (
    "per window = one forward pass on one window; per output frame = per window / frames the "
    "model predicts (seq2seq: N input frames; centre-frame model: 1)"
)
DELIVERED_POSE_CONVENTION = (
    "MACs per delivered pose = MACs per forward x forwards per delivered pose x test-time "
    "passes (flip averaging counts 2); each delivered pose is the centre frame of its own "
    "window (1 forward); lookahead = future frames a delivered pose waits for"
)
FORWARDS_PER_DELIVERED_POSE = 1
# fvcore handles for element-wise layers, which FlopCounterMode does not count.
_FVCORE_ELEMENTWISE_OPS = ("norm", "upsample", "pool", "grid_sampler")


@dataclass(frozen=True)
class ModelCost:
    """Cost of one forward pass on one window (batch 1); MACs as defined in MAC_CONVENTION."""

    params: int
    input_frames: int
    output_frames: int  # frames predicted per window
    macs_per_window: int
    macs_per_output_frame: float
    fvcore_macs_per_window: int  # fvcore default handles + SDPA (incl. normalisation layers)
    fvcore_matmul_macs_per_window: int  # fvcore without its element-wise handles
    analytic_macs_per_window: int | None  # STE only
    convention: str = MAC_CONVENTION

    def as_dict(self) -> dict:
        return asdict(self)


def macs_per_delivered_pose(cost: ModelCost, test_time_passes: int = 1) -> int:
    """What one delivered pose costs (DELIVERED_POSE_CONVENTION)."""
    return cost.macs_per_window * FORWARDS_PER_DELIVERED_POSE * test_time_passes


def delivered_cost(cost: ModelCost, lookahead_frames: int, test_time_passes: int) -> dict:
    """The cost record reports carry: the cost per forward, per delivered pose and the
    lookahead (DELIVERED_POSE_CONVENTION)."""
    return {
        **cost.as_dict(),
        "macs_per_delivered_pose": macs_per_delivered_pose(cost, test_time_passes),
        "test_time_passes": test_time_passes,
        "lookahead_frames": int(lookahead_frames),
    }


def count_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """MACs of `model(*inputs)` with FlopCounterMode, attention counted (see module doc)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(*inputs)
    flops = counter.get_total_flops()
    if flops % 2:
        raise AssertionError(f"FlopCounterMode returned an odd FLOP count {flops}")
    return flops // 2


def count_fvcore_macs(model: nn.Module, *inputs: torch.Tensor) -> tuple[int, int]:
    """(all MACs, matmul-only MACs) by fvcore; SDPA gets a handle (fvcore has none)."""
    analysis = FlopCountAnalysis(model, inputs)
    analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with warnings.catch_warnings():
        # fvcore traces with torch.jit, which warns about its own deprecation and tracing.
        warnings.simplefilter("ignore")
        by_operator = analysis.by_operator()
    total = int(sum(by_operator.values()))
    elementwise = sum(
        count
        for name, count in by_operator.items()
        if any(part in name for part in _FVCORE_ELEMENTWISE_OPS)
    )
    return total, int(total - elementwise)


def _sdpa_macs(inputs: list, outputs: list) -> int:
    """fvcore handle: QK^T and AV MACs of `scaled_dot_product_attention(q, k, v)`.

    q (..., L, E), k (..., S, E), v (..., S, Ev).
    """
    query, key, value = (get_shape(tensor) for tensor in inputs[:3])
    batch_heads_queries = math.prod(query[:-1])
    return batch_heads_queries * key[-2] * (query[-1] + value[-1])


def analytic_ste_macs(config: ModelConfig, frames: int) -> int:
    """MACs per window of the STE model (`models/ste.py`) with `frames` input frames.

    Joint embedding 2 -> C per token; temporal position Linear C -> C per frame; per depth
    a spatial and a temporal block, each qkv (3C^2) + proj (C^2) + MLP (2 C H) per token
    plus attention QK^T and AV (2 L C per token for a sequence of L tokens); head C -> 3
    per token, or with `pose_head` H: 17 C -> H -> 51 per frame.
    """
    dim, hidden = config.dim, int(config.dim * config.mlp_ratio)
    tokens = frames * NUM_JOINTS
    linear_per_token_per_block = 4 * dim * dim + 2 * dim * hidden
    spatial_attention = tokens * 2 * NUM_JOINTS * dim
    temporal_attention = tokens * 2 * frames * dim
    per_depth = 2 * tokens * linear_per_token_per_block + spatial_attention + temporal_attention
    embed = tokens * 2 * dim + frames * dim * dim
    head = tokens * dim * 3
    if config.pose_head:
        head = frames * (NUM_JOINTS * dim + NUM_JOINTS * 3) * config.pose_head
    return embed + config.depth * per_depth + head


def model_cost(model_config: ModelConfig, input_frames: int) -> ModelCost:
    """Cost of the registered model `model_config` fed `input_frames` frames (batch 1).

    The model is rebuilt from its config, so checkpoints, ONNX files and engines whose
    metadata carries the config are all counted the same way; FlopCounterMode runs on
    the meta device (no weights), fvcore on a randomly initialised CPU copy.
    """
    with torch.device("meta"):
        meta_model = create_model(model_config).eval()
        meta_inputs = _example_inputs(input_frames)
        macs = count_macs(meta_model, *meta_inputs)
        output_frames = _output_frames(meta_model, meta_inputs)
    cpu_model = create_model(model_config).eval()
    fvcore_total, fvcore_matmul = count_fvcore_macs(cpu_model, *_example_inputs(input_frames))
    analytic = analytic_ste_macs(model_config, input_frames) if model_config.name == "ste" else None
    return ModelCost(
        params=count_parameters(cpu_model),
        input_frames=input_frames,
        output_frames=output_frames,
        macs_per_window=macs,
        macs_per_output_frame=macs / output_frames,
        fvcore_macs_per_window=fvcore_total,
        fvcore_matmul_macs_per_window=fvcore_matmul,
        analytic_macs_per_window=analytic,
    )


def _example_inputs(frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    keypoints_2d = torch.zeros(1, frames, NUM_JOINTS, 2)
    frame_offsets = (torch.arange(frames, dtype=torch.float32) - frames // 2).unsqueeze(0)
    return keypoints_2d, frame_offsets


def _output_frames(model: nn.Module, inputs: tuple[torch.Tensor, torch.Tensor]) -> int:
    with torch.no_grad():
        return int(model(*inputs).shape[1])
