"""Predictors: one way to run a checkpoint, an ONNX file or a TensorRT engine.

    predictor = load_predictor("student.int8.onnx")
    pose_3d = predictor(keypoints_2d_windows)   # (B, T, 17, 2) -> (B, 17, 3) metres

A call is three steps, each exposed for timing: `prepare` (the deployment contract's frame
sampling, `Deployment.prepare_model_inputs`), `run_model` (the model alone, numpy in and
out) and `centre` (the delivered centre frame's root-relative pose,
`Deployment.delivered_pose`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scjd_edge.contract import Deployment
from scjd_edge.errors import ExportError


@dataclass(frozen=True)
class ModelFormat:
    """A kind of model file: its suffixes and the backends that run it (first = default)."""

    name: str
    suffixes: tuple[str, ...]
    backends: tuple[str, ...]


# The one table of model files, read by load_predictor, bench and infer.
MODEL_FORMATS = (
    ModelFormat("checkpoint", (".pt", ".pth"), ("torch", "torch-compile")),
    ModelFormat("onnx", (".onnx",), ("onnxruntime",)),
    ModelFormat("engine", (".engine", ".plan"), ("tensorrt",)),
)
FORMAT_BY_NAME = {kind.name: kind for kind in MODEL_FORMATS}
BACKENDS = tuple(backend for kind in MODEL_FORMATS for backend in kind.backends)
MODEL_SUFFIXES = tuple(suffix for kind in MODEL_FORMATS for suffix in kind.suffixes)


def model_format(path: str | Path) -> ModelFormat | None:
    """The format of a model file by its suffix; None for an unknown suffix."""
    suffix = Path(path).suffix.lower()
    return next((kind for kind in MODEL_FORMATS if suffix in kind.suffixes), None)


@dataclass
class Predictor:
    """A deployable model with its pre- and post-processing.

    run_model: (model_keypoints_2d (B, N, 17, 2), frame_offsets (B, N)) float32 numpy ->
    the model's raw pose_3d (B, N_out, 17, 3) numpy, metres.
    """

    deployment: Deployment
    backend: str
    precision: str
    name: str
    device: str
    run_model: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def prepare(self, keypoints_2d_windows: np.ndarray) -> tuple[np.ndarray, ...]:
        """(B, T, 17, 2) windows -> (model_keypoints_2d (B, N, 17, 2), frame_offsets (B, N),
        indices (B, N)) as numpy, the sampling the model was trained with."""
        windows = torch.as_tensor(np.asarray(keypoints_2d_windows, dtype=np.float32))
        model_keypoints_2d, frame_offsets, indices = self.deployment.prepare_model_inputs(windows)
        return (
            np.ascontiguousarray(model_keypoints_2d.numpy()),
            np.ascontiguousarray(frame_offsets.numpy()),
            indices.numpy(),
        )

    def centre(self, pose_3d_out: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """Raw model output (B, N_out, 17, 3) -> the centre frame's pose (B, 17, 3)."""
        pose_3d_out, indices = torch.from_numpy(pose_3d_out), torch.from_numpy(indices)
        return self.deployment.delivered_pose(pose_3d_out, indices).numpy()

    def __call__(self, keypoints_2d_windows: np.ndarray) -> np.ndarray:
        """(B, T, 17, 2) normalised 2D windows -> (B, 17, 3) centre-frame pose, metres."""
        model_keypoints_2d, frame_offsets, indices = self.prepare(keypoints_2d_windows)
        return self.centre(self.run_model(model_keypoints_2d, frame_offsets), indices)


def predict_windows(
    predictor: Predictor, keypoints_2d_windows: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Centre-frame poses (B, 17, 3) for any number of windows, `batch_size` at a time."""
    poses = [
        predictor(keypoints_2d_windows[start : start + batch_size])
        for start in range(0, len(keypoints_2d_windows), batch_size)
    ]
    return np.concatenate(poses) if poses else np.zeros((0, 17, 3), np.float32)


def load_predictor(
    path: str | Path,
    backend: str | None = None,
    device: str | None = None,
    providers: list[str] | None = None,
    threads: int | None = None,
    engine_onnx: str | Path | None = None,
) -> Predictor:
    """A Predictor for a checkpoint (.pt), an ONNX file or a TensorRT engine (.engine/.plan).

    backend: "torch", "torch-compile", "onnxruntime" or "tensorrt" (default from the suffix).
    device: "cpu" or "cuda[:i]" (default: "cpu", and "cuda:0" for an engine); for ONNX
    Runtime "cuda" selects the TensorRT and CUDA execution providers that are installed
    (else the CPU one), unless `providers` is given.
    threads: CPU threads for torch / ONNX Runtime. engine_onnx: the source ONNX of an
    engine without a sidecar (its contract comes from the ONNX metadata).
    """
    path = Path(path)
    kind = model_format(path)
    backend = backend or (kind.backends[0] if kind else None)
    if backend not in BACKENDS:
        raise ExportError(
            f"{path}: cannot tell how to run it (backend {backend!r}); expected a .pt "
            f"checkpoint, an .onnx file or an .engine/.plan, or a backend in {BACKENDS}"
        )
    if backend == "tensorrt":
        return _tensorrt_predictor(path, device or "cuda:0", engine_onnx)
    device = device or "cpu"
    if backend in ("torch", "torch-compile"):
        return _torch_predictor(path, device, threads, compile_model=backend == "torch-compile")
    return _onnx_predictor(path, device, providers, threads)


def torch_predictor(
    model: torch.nn.Module, deployment: Deployment, name: str, device: str = "cpu"
) -> Predictor:
    """A Predictor around a model already in memory (eval mode, FP32)."""
    model = model.to(device).eval()

    def run_model(model_keypoints_2d: np.ndarray, frame_offsets: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            pose_3d = model(
                torch.from_numpy(model_keypoints_2d).to(device),
                torch.from_numpy(frame_offsets).to(device),
            )
        return pose_3d.float().cpu().numpy()

    return Predictor(deployment, "torch", "fp32", name, str(device), run_model)


def _torch_predictor(
    path: Path, device: str, threads: int | None, compile_model: bool
) -> Predictor:
    from scjd_edge.train.checkpoint import build_model_from_checkpoint

    if threads:
        torch.set_num_threads(threads)
    model, checkpoint = build_model_from_checkpoint(path, device=device)
    if compile_model:
        model = torch.compile(model)
    predictor = torch_predictor(model, checkpoint["deployment"], path.name, device)
    predictor.backend = "torch-compile" if compile_model else "torch"
    return predictor


def _onnx_predictor(
    path: Path, device: str, providers: list[str] | None, threads: int | None
) -> Predictor:
    import onnxruntime as ort

    from scjd_edge.export.onnx_export import read_deployment, read_metadata

    metadata = read_metadata(path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    chosen = providers or onnx_providers(device)
    try:
        session = ort.InferenceSession(str(path), options, providers=chosen)
    except Exception as error:  # ORT raises its own Fail/InvalidGraph/... types
        raise ExportError(f"{path}: ONNX Runtime cannot load it: {error}") from None
    output_name = session.get_outputs()[0].name
    input_names = {graph_input.name for graph_input in session.get_inputs()}

    def run_model(model_keypoints_2d: np.ndarray, frame_offsets: np.ndarray) -> np.ndarray:
        feed = {"keypoints_2d": model_keypoints_2d, "frame_offsets": frame_offsets}
        return session.run([output_name], {k: v for k, v in feed.items() if k in input_names})[0]

    used = session.get_providers()[0].removesuffix("ExecutionProvider").lower()
    precision = metadata.get("precision", "fp32")
    return Predictor(read_deployment(path), "onnxruntime", precision, path.name, used, run_model)


def onnx_providers(device: str) -> list[str | tuple[str, dict]]:
    """ONNX Runtime execution providers for a device: GPU ones when installed, then CPU."""
    import onnxruntime as ort

    if not device.startswith("cuda"):
        return ["CPUExecutionProvider"]
    device_id = int(device.partition(":")[2] or 0)
    available = ort.get_available_providers()
    gpu = [
        (name, {"device_id": device_id})
        for name in ("TensorrtExecutionProvider", "CUDAExecutionProvider")
        if name in available
    ]
    return [*gpu, "CPUExecutionProvider"]


def _tensorrt_predictor(path: Path, device: str, engine_onnx: str | Path | None) -> Predictor:
    from scjd_edge.export.tensorrt_runner import TensorRTRunner

    if not device.startswith("cuda"):
        raise ExportError(f"{path}: a TensorRT engine runs on a CUDA device, not {device!r}")
    device_index = int(device.partition(":")[2] or 0)
    runner = TensorRTRunner(path, device=device_index, onnx_path=engine_onnx)
    sidecar = runner.sidecar
    return Predictor(
        sidecar["deployment"], "tensorrt", sidecar["precision"], path.name, device, runner
    )
