"""INT8 placement and calibration on real exported STE models (a tiny teacher and a tiny
student, untrained: which nodes get Q/DQ does not depend on the weights' values)."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import CMU_SUBJECTS
from torch import nn

from scjd_edge.config import Recipe
from scjd_edge.contract import Deployment
from scjd_edge.data.builtin import BUILTIN_CMU
from scjd_edge.data.formats import load_dataset
from scjd_edge.errors import ExportError
from scjd_edge.export import cpu_int8, quantize
from scjd_edge.export.calibration import CALIBRATION_METHODS
from scjd_edge.export.exporter import export_checkpoint, load_split_windows
from scjd_edge.export.onnx_export import read_metadata
from scjd_edge.export.qdq_placement import (
    FLOAT_LAYERS,
    layer_name,
    quantized_node_names,
    weight_layers,
)
from scjd_edge.export.runtime import load_predictor
from scjd_edge.export.sensitivity import Int8Evaluator, Target
from scjd_edge.train.checkpoint import build_model_from_checkpoint, save_untrained_checkpoint

CMU_SPLIT = CMU_SUBJECTS  # the standard split as recipe `data` keys
# (kind, frames the model reads, window frames T, depth)
MODELS = {"teacher": (9, 9, 2), "student": (3, 9, 1)}


def _checkpoint(path, kind: str) -> nn.Module:
    """An untrained checkpoint of `kind` at `path`; returns its model (eval mode)."""
    frames, window, depth = MODELS[kind]
    torch.manual_seed(0)
    model_config = {"name": "ste", "frames": frames, "dim": 16, "depth": depth, "heads": 2}
    recipe = {"name": f"tiny-{kind}", "data": {"path": BUILTIN_CMU, **CMU_SPLIT}}
    recipe["model"] = model_config
    if kind == "student":
        recipe["distill"] = {"input_frames": frames, "sampling": "uniform"}
        deployment = Deployment.student(window, frames, "uniform")
    else:
        deployment = Deployment.teacher(window)
    data = {"name": "cmu", "source": BUILTIN_CMU, "synthetic": False}
    save_untrained_checkpoint(path, Recipe.model_validate(recipe), kind, deployment, data)
    return build_model_from_checkpoint(path)[0]


@pytest.fixture(scope="module", params=sorted(MODELS))
def fp32_model(request, tmp_path_factory):
    """{"kind", "model" (torch), "onnx" (exported FP32), "calibration" (prepared inputs)}."""
    kind = request.param
    folder = tmp_path_factory.mktemp(f"quantize-{kind}")
    model = _checkpoint(folder / f"{kind}.pt", kind)
    manifest = export_checkpoint(folder / f"{kind}.pt", folder / "export")
    onnx_path = folder / "export" / manifest["artifacts"][0]["file"]
    windows, _ = load_split_windows(
        load_dataset(BUILTIN_CMU), CMU_SPLIT["train_subjects"], "train", MODELS[kind][1], 96
    )
    keypoints_2d, frame_offsets, _ = load_predictor(onnx_path).prepare(windows)
    calibration = {"keypoints_2d": keypoints_2d, "frame_offsets": frame_offsets}
    return {"kind": kind, "model": model, "onnx": onnx_path, "calibration": calibration}


def _expected_int8_layers(model: nn.Module) -> list[str]:
    """From the torch modules: every Linear of the transformer blocks."""
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not name.startswith(FLOAT_LAYERS)
    ]


def _scopes(layers: list[str]) -> list[str]:
    """ONNX scopes of torch module paths: `spatial_blocks.0.attn.qkv` ->
    `spatial_blocks.0/attn/qkv` (a ModuleList index stays with its list's name)."""
    return [re.sub(r"\.(?!\d)", "/", layer) for layer in layers]


def test_only_weight_matmuls_of_the_blocks_are_quantized(fp32_model, tmp_path):
    out = tmp_path / "model.int8.onnx"
    report = quantize.quantize_int8(
        fp32_model["onnx"], out, fp32_model["calibration"], method="minmax"
    )
    proto = onnx.load(out)
    expected = _expected_int8_layers(fp32_model["model"])
    depth = MODELS[fp32_model["kind"]][2]
    assert len(expected) == 2 * depth * 4  # qkv, proj, fc1, fc2 of each spatial/temporal block
    quantized = quantized_node_names(proto)
    assert sorted(quantized) == sorted(f"/model/{layer}/MatMul" for layer in _scopes(expected))
    assert sorted(map(layer_name, quantized)) == sorted(expected) == sorted(report["int8_layers"])
    # The attention products, the embedding, position encoding and head read float tensors.
    dequantized = {n.output[0] for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    float_nodes = [n for n in proto.graph.node if not set(n.input) & dequantized]
    float_names = {n.name for n in float_nodes}
    for block in ("spatial_blocks.0", "temporal_blocks.0"):
        path = f"/model/{block}"
        assert {f"{path}/attn/MatMul", f"{path}/attn/MatMul_1"} <= float_names
    assert {
        "/model/joint_embed/MatMul",
        "/model/temporal_position/MatMul",
        "/model/head/head.1/MatMul",
    } <= float_names
    assert {"LayerNormalization", "Softmax", "Erf", "Add"} <= {n.op_type for n in float_nodes}
    # Weights per channel: one scale per output channel of every quantized weight.
    initializers = {i.name: i for i in proto.graph.initializer}
    weight_scales = [
        initializers[n.input[1]]
        for n in proto.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in initializers
    ]
    assert len(weight_scales) == len(expected) and all(s.dims[0] > 1 for s in weight_scales)
    metadata = read_metadata(out)
    assert json.loads(metadata["int8_layers"]) == report["int8_layers"]
    assert sorted(json.loads(metadata["int8_float_layers"])) == [
        "head.1",
        "joint_embed",
        "temporal_position",
    ]
    # Only the float layers still multiply by a float constant: the others read DQ weights.
    assert sorted(weight_layers(proto)) == ["head.1", "joint_embed", "temporal_position"]


def test_explicit_layers_are_the_only_ones_quantized(fp32_model, tmp_path):
    out = tmp_path / "head.int8.onnx"
    quantize.quantize_int8(
        fp32_model["onnx"], out, fp32_model["calibration"], int8_layers=["head.1"]
    )
    assert quantized_node_names(onnx.load(out)) == ["/model/head/head.1/MatMul"]
    with pytest.raises(Exception, match=r"\['nope'\] are not weight layers"):
        quantize.quantize_int8(
            fp32_model["onnx"], tmp_path / "x.onnx", fp32_model["calibration"], int8_layers=["nope"]
        )


def test_histogram_methods_clip_what_minmax_keeps(fp32_model, tmp_path):
    workspace = quantize.Int8Workspace(
        fp32_model["onnx"], fp32_model["calibration"], tmp_path, "test windows"
    )
    ranges = {method: workspace.ranges(method) for method in CALIBRATION_METHODS}
    tensors = sorted(ranges["minmax"])
    assert tensors and all(sorted(r) == tensors for r in ranges.values())
    minmax = np.array([max(abs(v) for v in ranges["minmax"][t]) for t in tensors])
    for method in ("entropy", "percentile"):
        clipped = np.array([ranges[method][t][1] for t in tensors])
        assert np.all(clipped <= minmax * 1.001), method  # symmetric: rmax = -rmin
        assert np.any(clipped < 0.99 * minmax), method  # outliers are clipped somewhere


def test_cpu_form_runs_the_same_layers_as_dynamic_int8_matmuls(fp32_model, tmp_path):
    expected = _expected_int8_layers(fp32_model["model"])
    out = tmp_path / "model.int8.cpu.onnx"
    quantize.write_cpu_int8(fp32_model["onnx"], out, expected)
    proto = onnx.load(out)
    integer = [n.name for n in proto.graph.node if n.op_type == "MatMulInteger"]
    assert sorted(map(layer_name, integer)) == sorted(expected)
    # No Q/DQ pairs; the float layers and the attention products stay float MatMuls.
    assert not {"QuantizeLinear", "DequantizeLinear"} & {n.op_type for n in proto.graph.node}
    assert sorted(weight_layers(proto)) == ["head.1", "joint_embed", "temporal_position"]
    metadata = read_metadata(out)
    assert (metadata["precision"], metadata["int8_form"]) == ("int8", "dynamic")
    assert json.loads(metadata["int8_layers"]) == expected
    # What ORT's CPU EP runs: one DynamicQuantizeMatMul per layer, its bias Add fused in.
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
    optimized = onnx.load(tmp_path / "optimized.onnx").graph.node
    fused = [n for n in optimized if n.op_type == "DynamicQuantizeMatMul"]
    assert sorted(layer_name(n.name) for n in fused) == sorted(expected)
    assert all(len(n.input) == 5 and n.input[4].endswith(".bias") for n in fused)
    assert not {"MatMulInteger", "DynamicQuantizeLinear"} & {n.op_type for n in optimized}
    windows = fp32_model["calibration"]
    fp32_pose = load_predictor(fp32_model["onnx"]).run_model(*windows.values())
    int8_pose = load_predictor(out).run_model(*windows.values())
    assert np.abs(int8_pose - fp32_pose).max() < 0.05 * np.abs(fp32_pose).max()
    with pytest.raises(Exception, match=r"\['nope'\] are not weight layers"):
        quantize.write_cpu_int8(fp32_model["onnx"], tmp_path / "x.onnx", ["nope"])


def _profile_feeds(fp32_model, batch: int) -> dict[str, np.ndarray]:
    return {name: array[:batch] for name, array in fp32_model["calibration"].items()}


def test_the_profile_times_every_kernel_ort_runs_and_sums_them_per_layer(fp32_model, tmp_path):
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(fp32_model["onnx"]), options, providers=["CPUExecutionProvider"])
    optimized = {n.name: n.op_type for n in onnx.load(tmp_path / "optimized.onnx").graph.node}
    nodes = cpu_int8.node_kernel_ms(fp32_model["onnx"], _profile_feeds(fp32_model, 4), runs=3)
    assert {node: op_type for node, (op_type, _) in nodes.items()} == optimized
    assert all(ms >= 0 for _, ms in nodes.values())
    # A layer's time is its own kernels': the qkv projection is its MatMul and bias Add.
    qkv = "spatial_blocks.0.attn.qkv"
    qkv_nodes = [node for node in nodes if layer_name(node) == qkv]
    assert sorted(nodes[node][0] for node in qkv_nodes) == ["Add", "MatMul"]
    per_layer = cpu_int8.layer_kernel_ms(nodes, [qkv, "head.1"])
    assert per_layer[qkv] == pytest.approx(sum(nodes[node][1] for node in qkv_nodes))
    assert set(per_layer) == {qkv, "head.1"}


def test_int8_pays_when_never_slower_and_faster_once():
    assert cpu_int8.int8_pays({"1": 0.005, "64": 0.08}, {"1": 0.005, "64": 0.13})
    assert not cpu_int8.int8_pays({"1": 0.005, "64": 0.08}, {"1": 0.004, "64": 0.13})
    assert not cpu_int8.int8_pays({"1": 0.005, "64": 0.13}, {"1": 0.005, "64": 0.13})


def test_the_cpu_placement_keeps_faster_layers_within_the_gate(fp32_model, monkeypatch):
    """The speed step is stubbed (tiny models run at the profiler's resolution); the
    accuracy step is measured on real validation windows."""
    candidates = _expected_int8_layers(fp32_model["model"])
    faster = [layer for layer in candidates if layer.endswith(("qkv", "fc2"))]

    def stub_speed(fp32_onnx, int8_onnx, layers, feeds_by_batch):
        assert list(layers) == candidates and sorted(feeds_by_batch) == [1, 4]
        rows = [{"layer": layer, "faster": layer in faster} for layer in layers]
        return rows

    monkeypatch.setattr(cpu_int8, "layer_speed", stub_speed)
    window = MODELS[fp32_model["kind"]][1]
    windows, pose_3d = load_split_windows(
        load_dataset(BUILTIN_CMU), CMU_SPLIT["val_subjects"], "val", window, 64
    )
    evaluate = Int8Evaluator(load_predictor(fp32_model["onnx"]), windows, pose_3d)
    feeds = {batch: _profile_feeds(fp32_model, batch) for batch in (1, 4)}

    def choose(target: Target) -> dict:
        return cpu_int8.choose_cpu_int8_layers(
            fp32_model["onnx"], candidates, evaluate, target, feeds
        )

    loose = choose(Target(float("inf"), float("inf")))
    assert loose["int8_layers"] == faster and loose["sensitivity"] is None
    assert [step["quantized_layers"] for step in loose["steps"]] == [len(faster)]
    # An unreachable gate: every faster layer ranked, returned to float down to one.
    strict = choose(Target(-1.0, 0.0))
    assert sorted(row["layer"] for row in strict["sensitivity"]) == sorted(faster)
    assert len(strict["int8_layers"]) == 1 and len(strict["steps"]) == len(faster)
    most_sensitive = strict["sensitivity"][0]["layer"]
    assert strict["steps"][1]["float_layer"] == most_sensitive
    assert strict["validation"]["joint_deviation_mm"] == strict["steps"][-1]["joint_deviation_mm"]
    faster.clear()
    with pytest.raises(ExportError, match="no weight layer runs faster in int8"):
        choose(Target(0.5, 2.0))


def test_the_cpu_form_needs_at_least_one_layer(fp32_model, tmp_path):
    # quantize_dynamic reads an empty node list as "every node".
    with pytest.raises(ExportError, match="no INT8 layer given"):
        quantize.write_cpu_int8(fp32_model["onnx"], tmp_path / "x.onnx", [])


def test_the_profile_feeds_a_graph_only_the_inputs_it_has(tmp_path):
    """A model that ignores frame offsets (sampling "full", e.g. PoseFormerV2) exports no
    frame_offsets input; the speed step must still profile it."""
    weight = onnx.numpy_helper.from_array(np.ones((4, 2), np.float32), "weight")
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul", ["keypoints_2d", "weight"], ["pose"], name="head/MatMul")],
        "keypoints_only",
        [onnx.helper.make_tensor_value_info("keypoints_2d", onnx.TensorProto.FLOAT, [1, 4])],
        [onnx.helper.make_tensor_value_info("pose", onnx.TensorProto.FLOAT, [1, 2])],
        [weight],
    )
    path = tmp_path / "keypoints_only.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    feeds = {
        "keypoints_2d": np.ones((1, 4), np.float32),
        "frame_offsets": np.zeros((1, 3), np.float32),
    }
    nodes = cpu_int8.node_kernel_ms(path, feeds, runs=2)
    assert nodes["head/MatMul"][0] == "MatMul"
