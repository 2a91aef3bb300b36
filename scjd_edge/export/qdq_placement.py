"""Where Q/DQ nodes go in an exported pose lifter: TensorRT/ModelOpt practice for transformers.

Only MatMul/Gemm nodes that multiply an activation by a constant weight are quantized
(per-channel weights, per-tensor activations, Q/DQ on their inputs only). Everything else
stays in the higher precision: the attention products of two activations (Q.K^T and
softmax.V), LayerNorm, Softmax, GELU, the residual Adds, and three weight layers whose
int8 error reaches the output undamped: the first embedding (`joint_embed`, fed by the 2D
keypoints), the temporal position encoding (`temporal_position`) and the regression head
(`head`).

Layers are named after the torch module that made them: the exporter's node names carry
the module path (`/model/spatial_blocks.0/attn/qkv/MatMul` -> `spatial_blocks.0.attn.qkv`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import onnx

WEIGHT_OP_TYPES = ("MatMul", "Gemm")
# Layers kept in the higher precision by default (module path prefixes): the first
# embeddings of the STE and PoseFormerV2-style models, the position encoding, the head.
FLOAT_LAYERS = ("joint_embed", "frequency_embed", "temporal_position", "head")
_MODEL_PREFIX = "model."  # the exporter wraps the network in a module named `model`


def weight_layers(proto: onnx.ModelProto) -> dict[str, list[str]]:
    """{layer name: node names} of the weight x activation MatMul/Gemm nodes, graph order."""
    constants = {init.name for init in proto.graph.initializer}
    constants |= {node.output[0] for node in proto.graph.node if node.op_type == "Constant"}
    layers: dict[str, list[str]] = {}
    for node in proto.graph.node:
        if node.op_type not in WEIGHT_OP_TYPES or len(node.input) < 2:
            continue
        if node.input[1] in constants and node.input[0] not in constants:
            layers.setdefault(layer_name(node.name), []).append(node.name)
    return layers


def layer_name(node_name: str) -> str:
    """The torch module path of a node: `/model/spatial_blocks.0/attn/qkv/MatMul` ->
    `spatial_blocks.0.attn.qkv`, `/model/head/head.1/MatMul` -> `head.1`."""
    scopes = [scope for scope in node_name.split("/") if scope][:-1] or [node_name]
    path: list[str] = []
    for scope in scopes:
        # A Sequential's child is scoped `head/head.1`: the child's scope repeats the parent.
        if path and scope.startswith(path[-1] + "."):
            path.pop()
        path.append(scope)
    return ".".join(path).removeprefix(_MODEL_PREFIX)


def is_float_by_default(layer: str) -> bool:
    """True for the layers that FLOAT_LAYERS keeps out of int8 (a module or its children)."""
    return any(layer == kept or layer.startswith(kept + ".") for kept in FLOAT_LAYERS)


def default_int8_layers(layers: Iterable[str]) -> list[str]:
    """The layers quantized unless measured otherwise: every weight layer but FLOAT_LAYERS."""
    return [layer for layer in layers if not is_float_by_default(layer)]


def nodes_of(layers: dict[str, list[str]], chosen: Sequence[str]) -> list[str]:
    """Node names of the `chosen` layers."""
    return [node for layer in chosen for node in layers[layer]]


def quantized_node_names(proto: onnx.ModelProto) -> list[str]:
    """Names of the non-Q/DQ nodes that read a DequantizeLinear output: what runs in int8."""
    dequantized = {
        node.output[0] for node in proto.graph.node if node.op_type == "DequantizeLinear"
    }
    return [
        node.name
        for node in proto.graph.node
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear")
        and dequantized.intersection(node.input)
    ]
