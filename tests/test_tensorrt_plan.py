"""TensorRT: the build decisions and sidecar checks as plain functions, the install guidance,
and (marked `gpu`) a real engine build and run where TensorRT and a CUDA device exist."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from scjd_edge.errors import ExportError
from scjd_edge.export import tensorrt_plan
from scjd_edge.export.options import TensorRTOptions
from scjd_edge.export.tensorrt_plan import builder_plan, check_sidecar, profile_shapes
from scjd_edge.export.tensorrt_runner import require_cudart


@pytest.fixture
def no_tensorrt(monkeypatch):
    """Make `import tensorrt` fail, as on a machine without it."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)


# -- builder_plan: precision per TensorRT version --------------------------------------------


def plan(version: str, **options):
    return builder_plan(version, TensorRTOptions(**options))


@pytest.mark.parametrize("version", ["10.3.0", "11.1.0"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_float_engines_are_strongly_typed_from_the_matching_onnx(version, precision):
    built = plan(version, precision=precision)
    assert built["strongly_typed"] is True
    assert built["build_from"] == precision
    assert built["builder_flags"] == []
    # TensorRT 10 needs the flag; 11 always builds strongly typed and deprecates it.
    assert built["network_flags"] == (["STRONGLY_TYPED"] if version.startswith("10") else [])


def test_trt10_int8_runs_unquantized_layers_in_fp16():
    built = plan("10.3.0", precision="int8")
    assert built["build_from"] == "int8"
    assert built["strongly_typed"] is False and built["network_flags"] == []
    assert built["builder_flags"] == ["INT8", "FP16"]
    assert any("the others in FP16" in note for note in built["notes"])


def test_trt11_int8_is_strongly_typed_and_says_what_runs_in_fp32():
    built = plan("11.2.0", precision="int8")
    assert built["strongly_typed"] is True and built["builder_flags"] == []
    assert any("QDQ ONNX's FP32" in note for note in built["notes"])


def test_tf32_is_cleared_unless_asked():
    assert plan("10.3.0")["cleared_flags"] == ["TF32"]
    assert plan("11.4.1", precision="fp16")["cleared_flags"] == ["TF32"]
    assert plan("10.3.0", tf32=True)["cleared_flags"] == []


def test_opt_batch_defaults_to_one_for_streaming():
    assert plan("10.3.0")["profile"] == {"min": 1, "opt": 1, "max": 64}


def test_dla_on_trt10_is_weakly_typed_fixed_shape_without_fallback_unless_asked():
    built = plan("10.3.0", precision="fp16", dla_core=0, opt_batch=4, max_batch=32)
    assert built["device"] == "DLA" and built["dla_core"] == 0
    assert built["strongly_typed"] is False and built["build_from"] == "fp32"
    assert built["builder_flags"] == ["FP16"]
    assert built["profile"] == {"min": 4, "opt": 4, "max": 4}
    fallback = plan("10.3.0", precision="fp16", dla_core=0, allow_gpu_fallback=True)
    assert fallback["builder_flags"] == ["FP16", "GPU_FALLBACK"]


def test_int8_on_dla_with_trt10_is_calibrated_from_the_fp32_onnx():
    int8 = plan("10.3.0", precision="int8", dla_core=1)
    assert int8["build_from"] == "fp32" and int8["calibration"] == "entropy2"
    assert int8["builder_flags"] == ["INT8", "FP16"] and int8["strongly_typed"] is False
    assert plan("10.3.0", precision="int8")["calibration"] is None  # GPU: the QDQ ONNX
    trt11 = plan("11.4.1", precision="int8", dla_core=0)  # no calibrators in TensorRT 11
    assert trt11["build_from"] == "int8" and trt11["calibration"] is None


@pytest.mark.parametrize(
    ("version", "allowed"),
    [("10.3.0", True), ("10.7.0", True), ("10.8.0", False), ("11.0.0", False),
     ("11.4.0", False), ("11.4.1", True), ("11.5.0", True)],
)  # fmt: skip
def test_dla_versions_follow_nvidia_documentation(version, allowed):
    if allowed:
        assert plan(version, precision="fp16", dla_core=0)["device"] == "DLA"
    else:
        with pytest.raises(ExportError, match="has no DLA support"):
            plan(version, precision="fp16", dla_core=0)


def test_dla_on_trt11_is_strongly_typed_from_the_fp16_onnx():
    built = plan("11.4.1", precision="fp16", dla_core=1, allow_gpu_fallback=True)
    assert built["strongly_typed"] is True and built["build_from"] == "fp16"
    assert built["builder_flags"] == ["GPU_FALLBACK"]


def test_dla_refuses_fp32():
    with pytest.raises(ExportError, match="FP16 or INT8 only"):
        plan("10.3.0", precision="fp32", dla_core=0)


def test_plan_carries_profile_workspace_cache_and_level(tmp_path):
    cache = tmp_path / "timing.cache"
    options = TensorRTOptions(
        min_batch=2, opt_batch=16, max_batch=32, workspace_mb=256, optimization_level=5
    )
    built = builder_plan("10.3.0", options, timing_cache=cache)
    assert built["profile"] == {"min": 2, "opt": 16, "max": 32}
    assert built["workspace_bytes"] == 256 * 1024 * 1024
    assert built["optimization_level"] == 5
    assert built["timing_cache"] == str(cache)
    assert built["device"] == "GPU" and built["dla_core"] is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"precision": "bf16"}, "--precision 'bf16'"),
        ({"workspace_mb": 0}, "workspace 0 MiB"),
        ({"optimization_level": 6}, "expected 0..5"),
        ({"dla_core": -1}, "--dla-core -1"),
        ({"min_batch": 0}, "1 <= min <= opt <= max"),
        ({"opt_batch": 8, "max_batch": 4}, "1 <= min <= opt <= max"),
    ],
)
def test_options_reject_bad_requests(options, message):
    with pytest.raises(ExportError, match=message):
        TensorRTOptions(**options)


@pytest.mark.parametrize(("version", "message"), [("8.6.1", "too old"), ("ten", "MAJOR.MINOR")])
def test_plan_rejects_old_or_unreadable_versions(version, message):
    with pytest.raises(ExportError, match=message):
        plan(version)


def test_profile_shapes_follow_the_model_inputs():
    shapes = profile_shapes({"min": 1, "opt": 8, "max": 64}, input_frames=27)
    assert shapes["keypoints_2d"] == {
        "min": [1, 27, 17, 2],
        "opt": [8, 27, 17, 2],
        "max": [64, 27, 17, 2],
    }
    assert shapes["frame_offsets"]["max"] == [64, 27]


# -- sidecar ----------------------------------------------------------------------------------

SIDECAR = {"tensorrt_version": "10.3.0", "gpu_name": "Orin", "compute_capability": "8.7"}


def test_sidecar_matching_this_machine_passes():
    check_sidecar(dict(SIDECAR, precision="fp16"), dict(SIDECAR))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tensorrt_version", "10.7.0", "TensorRT '10.3.0' at build time, '10.7.0' here"),
        ("compute_capability", "8.6", "compute capability '8.7' at build time, '8.6' here"),
        ("gpu_name", "NVIDIA RTX 4090", "GPU 'Orin' at build time"),
    ],
)
def test_sidecar_mismatch_names_what_differs(key, value, message):
    with pytest.raises(ExportError, match="rebuild it here") as error:
        check_sidecar(SIDECAR, {**SIDECAR, key: value}, source="m.engine.json")
    assert message in str(error.value)
    assert "m.engine.json" in str(error.value)


def test_sidecar_without_a_key_is_refused():
    with pytest.raises(ExportError, match="'gpu_name' is missing"):
        check_sidecar({"tensorrt_version": "10.3.0", "compute_capability": "8.7"}, SIDECAR)


def test_engine_without_sidecar_is_not_trusted(tmp_path):
    engine = tmp_path / "m.fp16.engine"
    engine.write_bytes(b"not really an engine")
    with pytest.raises(ExportError, match="sidecar m.fp16.engine.json is missing"):
        tensorrt_plan.read_sidecar(engine)
    tensorrt_plan.sidecar_path(engine).write_text("{broken")
    with pytest.raises(ExportError, match="not valid JSON"):
        tensorrt_plan.read_sidecar(engine)


# -- without TensorRT -------------------------------------------------------------------------


def test_missing_tensorrt_says_what_to_install(no_tensorrt):
    with pytest.raises(ExportError) as error:
        tensorrt_plan.require_tensorrt()
    message = str(error.value)
    assert "nvidia-tensorrt" in message and "JetPack 6" in message
    assert 'pip install "scjd-edge[trt]"' in message and "pip install tensorrt" in message


def test_export_trt_fails_before_any_work(no_tensorrt, tmp_path):
    from scjd_edge.export.exporter import export_checkpoint

    # The checkpoint does not even exist: the TensorRT check comes first.
    with pytest.raises(ExportError, match="TensorRT is not installed"):
        export_checkpoint(tmp_path / "missing.pt", tmp_path / "out", trt=TensorRTOptions())
    assert not (tmp_path / "out").exists()


def test_cli_export_trt_without_tensorrt_exits_non_zero(no_tensorrt, tmp_path):
    from scjd_edge.cli import app

    result = CliRunner().invoke(
        app, ["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path), "--trt"]
    )
    assert result.exit_code != 0
    assert "pip install" in " ".join(result.output.split())


def test_runner_without_cuda_python_says_what_to_install(monkeypatch):
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ExportError) as error:
        require_cudart()
    assert 'pip install "cuda-python>=12.2,<13"' in str(error.value)  # JetPack 6's CUDA 12


def test_runner_needs_a_cuda_device_name(tmp_path):
    from scjd_edge.export.runtime import load_predictor

    with pytest.raises(ExportError, match="runs on a CUDA device"):
        load_predictor(tmp_path / "m.engine", device="cpu")


# -- real TensorRT (GPU machines only) --------------------------------------------------------


def _gpu_skip_reason() -> str | None:
    """Why the real-GPU test cannot run here, or None."""
    if importlib.util.find_spec("tensorrt") is None:
        return "needs NVIDIA TensorRT (`import tensorrt` fails); stand-in tests cover the logic"
    try:
        cudart = require_cudart()
    except ExportError:
        return "needs cuda-python (`pip install cuda-python`) to reach the GPU"
    error, count = cudart.cudaGetDeviceCount()
    if error != cudart.cudaError_t.cudaSuccess or count < 1:
        return "needs a CUDA device (cudaGetDeviceCount found none)"
    return None


GPU_SKIP_REASON = _gpu_skip_reason()


# MPJPE between engine and ONNX Runtime outputs on the same ONNX, mm (as benchmarks/gpu_check.py)
GPU_TOLERANCE_MM = {"fp32": 0.05, "fp16": 0.5}


@pytest.mark.gpu
@pytest.mark.skipif(GPU_SKIP_REASON is not None, reason=str(GPU_SKIP_REASON))
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_builds_runs_and_matches_onnxruntime(tmp_path, precision):
    from scjd_edge.config import ModelConfig
    from scjd_edge.contract import Deployment
    from scjd_edge.export.onnx_export import export_onnx
    from scjd_edge.export.quantize import convert_fp16
    from scjd_edge.export.runtime import load_predictor
    from scjd_edge.models.registry import create_model

    trt = tensorrt_plan.require_tensorrt()
    deployment = Deployment.student(9, 5, "uniform")
    model = create_model(ModelConfig(name="ste", frames=5, dim=16, depth=1, heads=2))
    metadata = {"scjd_edge.deployment": deployment.to_json()}
    onnx_path = tmp_path / "m.onnx"
    sample = (torch.randn(2, 5, 17, 2), torch.tensor([[-4.0, -2, 0, 2, 4]] * 2))
    export_onnx(model, sample, onnx_path, metadata, simplify=False)
    if precision == "fp16":
        convert_fp16(onnx_path, tmp_path / "m.fp16.onnx")
        onnx_path = tmp_path / "m.fp16.onnx"
    options = TensorRTOptions(precision=precision, max_batch=8, opt_batch=4)
    plan = builder_plan(trt.__version__, options)
    engine = tmp_path / f"m.{precision}.engine"
    sidecar = tensorrt_plan.build_engine(onnx_path, engine, plan, deployment)
    assert sidecar["precision"] == precision and tensorrt_plan.sidecar_path(engine).is_file()
    windows = np.random.default_rng(0).normal(size=(20, 9, 17, 2)).astype(np.float32) * 0.3
    reference = load_predictor(onnx_path)(windows)
    result = load_predictor(engine)(windows)  # 20 windows: chunks of at most 8
    difference_mm = 1000.0 * np.linalg.norm(result - reference, axis=-1).mean()
    assert difference_mm <= GPU_TOLERANCE_MM[precision]
