"""ONNX export of a checkpoint's model, its metadata, and the parity gate against torch.

The graph takes `keypoints_2d` (B, N, 17, 2) and `frame_offsets` (B, N) float32 with a
dynamic batch B and returns `pose_3d` (B, N_out, 17, 3) root-relative metres. Frame
sampling and centre-frame picking stay outside the graph (`scjd_edge.contract`), as the
deployment contract stored in the file's metadata says. Every scjd-edge metadata key starts
with `scjd_edge.`; `scjd_edge.deployment` holds the whole contract as JSON.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from scjd_edge import __version__
from scjd_edge.contract import Deployment
from scjd_edge.errors import ConfigError, ExportError
from scjd_edge.io import atomic_path, integrity_sha256

INPUT_NAMES = ("keypoints_2d", "frame_offsets")
OUTPUT_NAME = "pose_3d"
METADATA_PREFIX = "scjd_edge."
DEPLOYMENT_KEY = "scjd_edge.deployment"
GRAPH_SHA256_KEY = "graph_sha256"  # ties the metadata to the graph it was written for
INTEGRITY_SHA256_KEY = "integrity_sha256"  # graph, weights, opsets and scjd_edge.* metadata
MIN_OPSET = 17
FLAT_DEPLOYMENT_KEYS = (
    "window_frames", "input_frames", "sampling", "frame_offsets", "output", "lookahead_frames",
    "input_normalisation", "joint_layout", "units", "fps",
)  # fmt: skip


def export_onnx(
    model: torch.nn.Module,
    sample_inputs: tuple[torch.Tensor, torch.Tensor],
    out_path: str | Path,
    metadata: dict[str, str],
    *,
    opset: int = MIN_OPSET,
    simplify: bool = True,
) -> dict[str, Any]:
    """Trace `model` (CPU, eval) to ONNX at `out_path`; returns what was done.

    sample_inputs: real (keypoints_2d (b, N, 17, 2), frame_offsets (b, N)) to trace with.
    The batch axis is dynamic. With `simplify`, onnxslim folds the graph when importable.
    Returns {"opset", "simplified" (bool), "simplify_note"}.
    """
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset}: scjd-edge exports opset {MIN_OPSET} or newer")
    model = model.cpu().eval()
    with atomic_path(out_path) as tmp:
        _trace(model, sample_inputs, tmp, opset)
        proto = onnx.load(tmp)
        simplified, note = _simplify(proto) if simplify else (None, "not asked")
        proto = simplified or proto
        set_metadata(proto, metadata)
        stamp_integrity(proto)
        proto.producer_name, proto.producer_version = "scjd-edge", __version__
        _check(proto, out_path)
        onnx.save(proto, tmp)
    return {"opset": opset, "simplified": simplified is not None, "simplify_note": note}


class _PoseGraph(torch.nn.Module):
    """`forward(keypoints_2d, frame_offsets) -> pose_3d` only: traced as the ONNX graph.

    (Tracing the model itself would turn its `return_features` default into a graph input.)
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, keypoints_2d: torch.Tensor, frame_offsets: torch.Tensor) -> torch.Tensor:
        return self.model(keypoints_2d, frame_offsets)


def graph_input_names(proto: onnx.ModelProto) -> list[str]:
    """The model inputs the graph reads: the exporter drops an input a model ignores
    (PoseFormerV2 ignores frame_offsets), so runtimes feed only these."""
    initializers = {init.name for init in proto.graph.initializer}
    return [i.name for i in proto.graph.input if i.name not in initializers]


def _trace(model: torch.nn.Module, sample_inputs: tuple, path: Path, opset: int) -> None:
    dynamic_axes = {name: {0: "batch"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is used on purpose (the dynamo exporter needs onnxscript);
        # its deprecation and tracer notices say nothing about this model's graph.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            torch.onnx.export(
                _PoseGraph(model).eval(),  # an eval wrapper: export restores its mode
                tuple(sample_inputs),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
        except Exception as error:  # the exporter raises many types; all mean "cannot export"
            raise ExportError(f"torch.onnx.export failed at opset {opset}: {error}") from error


def _simplify(proto: onnx.ModelProto) -> tuple[onnx.ModelProto | None, str]:
    """(simplified model or None, what happened)."""
    try:
        import onnxslim
    except ImportError:
        return None, "onnxslim not installed (pip install 'scjd-edge[simplify]')"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return onnxslim.slim(proto), f"onnxslim {onnxslim.__version__}"


def _check(proto: onnx.ModelProto, path: str | Path) -> None:
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ExportError(f"{path}: the exported graph fails onnx.checker: {error}") from None


def build_metadata(
    checkpoint: dict[str, Any], precision: str, source_sha256: str
) -> dict[str, str]:
    """The `scjd_edge.*` metadata of a model exported from `checkpoint` (all values strings)."""
    deployment = checkpoint["deployment"].to_dict()
    model_config = checkpoint["recipe"]["model"]
    values = {
        "model": model_config["name"],
        "model_config": model_config,
        "kind": checkpoint["kind"],
        # The contract's fields one by one, for people reading the metadata; readers use
        # the whole contract under "deployment".
        **{key: deployment[key] for key in FLAT_DEPLOYMENT_KEYS},
        "package_version": __version__,
        "source_checkpoint_sha256": source_sha256,
        "precision": precision,
        "deployment": deployment,
    }
    return {
        METADATA_PREFIX + key: value
        if isinstance(value, str)
        else json.dumps(value, sort_keys=True)
        for key, value in values.items()
    }


def set_metadata(proto: onnx.ModelProto, metadata: dict[str, str]) -> None:
    """Write `metadata` into `metadata_props`, replacing entries with the same keys."""
    kept = [prop for prop in proto.metadata_props if prop.key not in metadata]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=str(value))


def graph_sha256(proto: onnx.ModelProto) -> str:
    """sha256 of the serialised graph (nodes and weights; metadata_props are outside it)."""
    return hashlib.sha256(proto.graph.SerializeToString(deterministic=True)).hexdigest()


def onnx_integrity_sha256(proto: onnx.ModelProto) -> str:
    """sha256 of everything that decides what the file computes and how it is fed: the
    graph (nodes and weights), the opsets and every `scjd_edge.*` metadata entry (contract,
    precision, source, ...) except this hash itself (`scjd_edge.io.integrity_sha256`)."""
    own_key = METADATA_PREFIX + INTEGRITY_SHA256_KEY
    metadata = sorted(
        [prop.key, prop.value]
        for prop in proto.metadata_props
        if prop.key.startswith(METADATA_PREFIX) and prop.key != own_key
    )
    opsets = sorted([opset.domain, opset.version] for opset in proto.opset_import)
    return integrity_sha256(
        [proto.graph.SerializeToString(deterministic=True)],
        {"metadata": metadata, "opsets": opsets},
    )


def stamp_integrity(proto: onnx.ModelProto) -> None:
    """Record the graph's sha256, then the integrity sha256 over graph and metadata; call
    after the last change to either."""
    set_metadata(proto, {METADATA_PREFIX + GRAPH_SHA256_KEY: graph_sha256(proto)})
    set_metadata(proto, {METADATA_PREFIX + INTEGRITY_SHA256_KEY: onnx_integrity_sha256(proto)})


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Parse an ONNX file; a missing, corrupt or non-ONNX file is an ExportError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load(path)
    except Exception as error:  # protobuf raises DecodeError, RuntimeWarning-like errors...
        raise ExportError(f"{path}: not an ONNX model (cannot parse it: {error})") from None
    if not proto.ir_version or not proto.graph.node:
        raise ExportError(f"{path}: not an ONNX model (no IR version or no graph nodes)")
    return proto


def read_metadata(source: str | Path | onnx.ModelProto) -> dict[str, str]:
    """All `scjd_edge.*` metadata of an ONNX file (keys without the prefix)."""
    proto = source if isinstance(source, onnx.ModelProto) else load_onnx(source)
    metadata = {
        prop.key[len(METADATA_PREFIX) :]: prop.value
        for prop in proto.metadata_props
        if prop.key.startswith(METADATA_PREFIX)
    }
    if "deployment" not in metadata:
        raise ExportError(
            f"{source if not isinstance(source, onnx.ModelProto) else 'ONNX model'}: an ONNX "
            f"model without scjd-edge metadata (no {DEPLOYMENT_KEY!r} in metadata_props); "
            "export models with `scjd-edge export`"
        )
    _check_integrity(proto, metadata, source)
    return metadata


def _check_integrity(proto: onnx.ModelProto, metadata: dict[str, str], source: Any) -> None:
    """ExportError unless the metadata was written for this graph and nothing was edited."""
    name = source if not isinstance(source, onnx.ModelProto) else "ONNX model"
    graph = graph_sha256(proto)
    if metadata.get(GRAPH_SHA256_KEY, graph) != graph:
        raise ExportError(
            f"{name}: its scjd-edge metadata was written for another graph (metadata "
            f"{METADATA_PREFIX}{GRAPH_SHA256_KEY} does not match the graph's sha256); "
            "re-export the model with `scjd-edge export`"
        )
    recorded = metadata.get(INTEGRITY_SHA256_KEY)
    if recorded is None:
        raise ExportError(
            f"{name}: no {METADATA_PREFIX}{INTEGRITY_SHA256_KEY} in its metadata (exported "
            "before scjd-edge checked its metadata, or stripped): its contract cannot be "
            "trusted; re-export the model with `scjd-edge export`"
        )
    if recorded != onnx_integrity_sha256(proto):
        raise ExportError(
            f"{name}: its scjd_edge.* metadata (deployment contract, precision, source) or "
            f"graph was edited after export ({METADATA_PREFIX}{INTEGRITY_SHA256_KEY} does not "
            "match); re-export the model with `scjd-edge export`"
        )


def read_deployment(onnx_path: str | Path) -> Deployment:
    """The deployment contract stored in an exported ONNX file."""
    metadata = read_metadata(onnx_path)
    try:
        return Deployment.from_json(metadata["deployment"])
    except ConfigError as error:
        raise ExportError(f"{onnx_path}: metadata {DEPLOYMENT_KEY!r}: {error}") from None


def check_parity(
    reference: Any,
    candidate: Any,
    keypoints_2d_windows: np.ndarray,
    pose_3d_centre: np.ndarray,
    tolerance_mm: float,
    batch_size: int = 256,
) -> dict[str, float]:
    """Compare two predictors (runtime.Predictor) on the same real windows.

    keypoints_2d_windows: (B, T, 17, 2); pose_3d_centre: (B, 17, 3) ground truth, metres.
    Returns max_abs_error_mm (over the raw model outputs), mpjpe_reference_mm,
    mpjpe_candidate_mm and mpjpe_delta_mm; raises ExportError when the max abs error is
    above `tolerance_mm`.
    """
    from scjd_edge.metrics import mpjpe

    largest = 0.0
    centres = {"reference": [], "candidate": []}
    for start in range(0, len(keypoints_2d_windows), batch_size):
        windows = keypoints_2d_windows[start : start + batch_size]
        inputs = reference.prepare(windows)
        outputs = {"reference": reference.run_model(*inputs[:2])}
        outputs["candidate"] = candidate.run_model(*inputs[:2])
        for key, predictor in (("reference", reference), ("candidate", candidate)):
            if not np.isfinite(outputs[key]).all():
                raise ExportError(
                    f"{predictor.name}: {predictor.backend} outputs NaN or Inf on real "
                    "windows (diverged weights?); the parity gate refuses it"
                )
        largest = max(largest, float(np.abs(outputs["reference"] - outputs["candidate"]).max()))
        for key, predictor in (("reference", reference), ("candidate", candidate)):
            centres[key].append(predictor.centre(outputs[key], inputs[2]))
    report = {"max_abs_error_mm": 1000.0 * largest, "windows": len(keypoints_2d_windows)}
    for key in centres:
        report[f"mpjpe_{key}_mm"] = 1000.0 * mpjpe(np.concatenate(centres[key]), pose_3d_centre)
    report["mpjpe_delta_mm"] = report["mpjpe_candidate_mm"] - report["mpjpe_reference_mm"]
    if report["max_abs_error_mm"] > tolerance_mm:
        raise ExportError(
            f"{candidate.name}: {candidate.backend} differs from {reference.backend} by up to "
            f"{report['max_abs_error_mm']:.4f} mm on {report['windows']} real windows "
            f"(tolerance {tolerance_mm} mm; MPJPE delta {report['mpjpe_delta_mm']:+.4f} mm)"
        )
    return report
