"""Which weight layers the INT8 file for ONNX Runtime's CPU runs in int8: chosen by measurement.

The CPU form (`quantize.write_cpu_int8`) runs a layer as one DynamicQuantizeMatMul (int8
per-channel weights, the activation quantized per call, bias fused). Whether that beats
the FP32 MatMul + bias Add depends on the layer's shape, the batch and the CPU: on the CMU
student (dim 24) the MLP's first layer was slower in int8 at both batches, while every
layer of the teacher (dim 64) was faster (benchmarks/results/quantization_cpu.md). So the
placement is chosen in two measured steps:

1. Speed: ONNX Runtime's profiler times every weight layer's kernels in the FP32 graph and
   in a graph with all candidate layers in int8, at each given batch; a layer stays a
   candidate only if its int8 kernels are not slower at any batch and faster at one. (ORT
   fuses the FP32 bias of the MLP's first layer into its GELU, so that layer's FP32 time
   lacks the bias Add: a comparison that errs towards float.)
2. Accuracy: the faster layers in int8 are measured against the gate (`Target`) on the
   validation windows; when they miss it, the most sensitive ones go back to float in turn
   (sensitivity.mixed_precision, the search the QDQ file uses).
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from scjd_edge.errors import ArtifactSkipped
from scjd_edge.export.onnx_export import INPUT_NAMES
from scjd_edge.export.qdq_placement import default_int8_layers, layer_name, weight_layers
from scjd_edge.export.quantize import write_cpu_int8
from scjd_edge.export.runtime import load_predictor
from scjd_edge.export.sensitivity import Int8Evaluator, Target, layer_sensitivity, mixed_precision

SPEED_BATCHES = (1, 64)  # streaming and offline: where the CPU form has to be faster
PROFILED_RUNS = 20
_KERNEL_SUFFIX = "_kernel_time"
MEASURED = ("mpjpe_mm", "mpjpe_delta_mm", "joint_deviation_mm")


def write_chosen_cpu_int8(
    fp32_onnx: str | Path,
    out_path: str | Path,
    evaluate: Int8Evaluator,
    target: Target,
    batches: Sequence[int] = SPEED_BATCHES,
) -> dict[str, Any]:
    """Choose the CPU form's layers among the default INT8 layers (profiled on the
    evaluator's first validation windows at `batches`) and write it at `out_path`; returns
    the choose_cpu_int8_layers report."""
    fp32 = load_predictor(fp32_onnx, backend="onnxruntime")
    feeds_by_batch = {
        batch: dict(zip(INPUT_NAMES, fp32.prepare(evaluate.windows[:batch])[:2], strict=True))
        for batch in batches
    }
    candidates = default_int8_layers(weight_layers(onnx.load(fp32_onnx)))
    report = choose_cpu_int8_layers(fp32_onnx, candidates, evaluate, target, feeds_by_batch)
    write_cpu_int8(fp32_onnx, out_path, report["int8_layers"])
    return report


def node_kernel_ms(
    onnx_path: str | Path, feeds: dict[str, np.ndarray], runs: int = PROFILED_RUNS
) -> dict[str, tuple[str, float]]:
    """{node: (op type, kernel time per run in ms)} on ORT CPU (1 thread, default graph
    optimisation, so the nodes are ORT's fused ones): each node's median over `runs`
    profiled runs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="scjd-profile-") as folder:
        options.profile_file_prefix = str(Path(folder) / "ort")
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        # A model that ignores its frame offsets (sampling "full") has no such graph input.
        input_names = {graph_input.name for graph_input in session.get_inputs()}
        feeds = {name: value for name, value in feeds.items() if name in input_names}
        for _ in range(runs):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    durations: dict[str, list[float]] = defaultdict(list)
    op_types = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith(_KERNEL_SUFFIX):
            node = event["name"].removesuffix(_KERNEL_SUFFIX)
            durations[node].append(event["dur"])
            op_types[node] = event["args"]["op_name"]
    return {node: (op_types[node], float(np.median(us)) / 1000.0) for node, us in durations.items()}


def layer_kernel_ms(nodes: dict[str, tuple[str, float]], layers: Sequence[str]) -> dict[str, float]:
    """{layer: kernel ms} of node_kernel_ms output, summed over the nodes of each layer
    (a node ORT fused keeps its layer's scope in its name)."""
    per_layer = dict.fromkeys(layers, 0.0)
    for node, (_, milliseconds) in nodes.items():
        if layer_name(node) in per_layer:
            per_layer[layer_name(node)] += milliseconds
    return per_layer


def layer_speed(
    fp32_onnx: Path,
    int8_onnx: Path,
    layers: Sequence[str],
    feeds_by_batch: dict[int, dict[str, np.ndarray]],
    runs: int = PROFILED_RUNS,
) -> list[dict[str, Any]]:
    """One row per layer: {"layer", "fp32_ms": {"batch": ms}, "int8_ms": {...}, "faster"}
    (`int8_onnx` holds every layer of `layers` in int8; faster = not slower at any batch
    and faster at one)."""
    fp32_ms, int8_ms = {}, {}  # {"batch" (a JSON key): {layer: ms}}
    for batch, feeds in feeds_by_batch.items():
        fp32_ms[str(batch)] = layer_kernel_ms(node_kernel_ms(fp32_onnx, feeds, runs), layers)
        int8_ms[str(batch)] = layer_kernel_ms(node_kernel_ms(int8_onnx, feeds, runs), layers)
    rows = []
    for layer in layers:
        row = {
            "layer": layer,
            "fp32_ms": {batch: fp32_ms[batch][layer] for batch in fp32_ms},
            "int8_ms": {batch: int8_ms[batch][layer] for batch in int8_ms},
        }
        row["faster"] = int8_pays(row["int8_ms"], row["fp32_ms"])
        rows.append(row)
    return rows


def int8_pays(int8_ms: dict[str, float], fp32_ms: dict[str, float]) -> bool:
    """Not slower at any batch and faster at one. Ties count as not slower: at batch 1 a
    small layer's kernels take a few microseconds, the profiler's resolution."""
    pairs = [(int8_ms[batch], fp32_ms[batch]) for batch in fp32_ms]
    return all(i <= f for i, f in pairs) and any(i < f for i, f in pairs)


def choose_cpu_int8_layers(
    fp32_onnx: str | Path,
    candidates: Sequence[str],
    evaluate: Int8Evaluator,
    target: Target,
    feeds_by_batch: dict[int, dict[str, np.ndarray]],
) -> dict[str, Any]:
    """The CPU form's int8 layers among `candidates` (see the module docstring).

    Returns {"int8_layers", "speed" (layer_speed rows), "sensitivity" (ranked rows, or
    None when the faster layers met the target at once), "steps" (mixed precision),
    "validation" (the chosen placement's measurements)}. ArtifactSkipped when no layer
    is faster in int8.
    """
    fp32_onnx = Path(fp32_onnx)
    with tempfile.TemporaryDirectory(prefix="scjd-cpu-int8-") as folder:
        work = Path(folder)

        def quantize(layers: Sequence[str], path: Path) -> None:
            write_cpu_int8(fp32_onnx, path, layers)

        quantize(candidates, work / "all.onnx")
        speed = layer_speed(fp32_onnx, work / "all.onnx", candidates, feeds_by_batch)
        faster = [row["layer"] for row in speed if row["faster"]]
        if not faster:
            raise ArtifactSkipped(
                f"{fp32_onnx}: no weight layer runs faster in int8 than in FP32 on ONNX "
                f"Runtime CPU at batches {sorted(feeds_by_batch)}; no CPU INT8 form written"
            )
        quantize(faster, work / "faster.onnx")
        start = evaluate(work / "faster.onnx")
        ranking, steps = None, [{"float_layer": None, "quantized_layers": len(faster), **start}]
        chosen = faster
        if not target.met(start):
            ranking = layer_sensitivity(faster, quantize, evaluate, work)
            chosen, steps = mixed_precision(faster, ranking, quantize, evaluate, target, work)
    return {
        "int8_layers": chosen,
        "speed": speed,
        "sensitivity": ranking,
        "steps": steps,
        "validation": {key: steps[-1][key] for key in MEASURED},
    }
