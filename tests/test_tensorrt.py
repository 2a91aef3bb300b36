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
from scjd_edge.export import tensorrt
from scjd_edge.export.tensorrt import builder_plan, check_profile, check_sidecar, profile_shapes


@pytest.fixture
def no_tensorrt(monkeypatch):
    """Make `import tensorrt` fail, as on a machine without it."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)


# -- builder_plan: precision per TensorRT version --------------------------------------------


@pytest.mark.parametrize("version", ["10.3.0", "11.1.0"])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_strongly_typed_builds_take_precision_from_the_matching_onnx(version, precision):
    plan = builder_plan(version, precision, "fp32")
    assert plan["strongly_typed"] is True
    assert plan["build_from"] == precision
    assert plan["builder_flags"] == []
    # TensorRT 10 needs the flag; 11 always builds strongly typed and ignores it.
    assert plan["network_flags"] == (["STRONGLY_TYPED"] if version.startswith("10") else [])


def test_trt10_fp16_flag_only_when_strong_typing_is_off_and_the_onnx_is_fp32():
    plan = builder_plan("10.3.0", "fp16", "fp32", strongly_typed=False)
    assert plan == {**plan, "build_from": "fp32", "builder_flags": ["FP16"], "network_flags": []}
    assert plan["strongly_typed"] is False
    # Asked for fp32 or with strong typing on, the FP16 flag never appears.
    assert builder_plan("10.3.0", "fp32", "fp32", strongly_typed=False)["builder_flags"] == []
    assert builder_plan("10.3.0", "fp16", "fp32")["builder_flags"] == []


def test_trt11_fp16_request_is_answered_by_the_fp16_onnx_and_says_so():
    plan = builder_plan("11.0.0", "fp16", "fp32", strongly_typed=False)
    assert plan["strongly_typed"] is True
    assert plan["build_from"] == "fp16"
    assert plan["builder_flags"] == []
    assert any("FP16 ONNX" in note and "no FP16 builder flag" in note for note in plan["notes"])


def test_int8_always_builds_from_the_qdq_onnx_never_a_calibrator():
    for version in ("10.3.0", "11.2.0"):
        plan = builder_plan(version, "int8", "fp32")
        assert plan["build_from"] == "int8"
        assert "INT8" not in plan["builder_flags"]
    weak = builder_plan("10.0.1", "int8", "int8", strongly_typed=False)
    assert weak["build_from"] == "int8" and weak["builder_flags"] == ["INT8"]


def test_onnx_of_another_precision_is_rebuilt_from_the_right_file():
    plan = builder_plan("10.3.0", "fp32", "int8")
    assert plan["build_from"] == "fp32"
    assert any("building from the FP32 ONNX" in note for note in plan["notes"])


def test_dla_on_jetson_trt10_uses_fallback_and_precision_flags():
    plan = builder_plan("10.3.0", "fp16", "fp32", dla_core=0)
    assert plan["device"] == "DLA" and plan["dla_core"] == 0
    assert plan["strongly_typed"] is False
    assert plan["builder_flags"] == ["FP16", "GPU_FALLBACK"]
    assert plan["build_from"] == "fp32"


def test_dla_on_trt11_is_strongly_typed_and_missing_before_11_4():
    plan = builder_plan("11.4.1", "fp16", "fp32", dla_core=1)
    assert plan["strongly_typed"] is True
    assert plan["build_from"] == "fp16"
    assert plan["builder_flags"] == ["GPU_FALLBACK"]
    with pytest.raises(ExportError, match="no DLA support"):
        builder_plan("11.2.0", "fp16", "fp32", dla_core=0)


def test_dla_refuses_fp32_and_bad_cores():
    with pytest.raises(ExportError, match="FP16 or INT8 only"):
        builder_plan("10.3.0", "fp32", "fp32", dla_core=0)
    with pytest.raises(ExportError, match="DLA core -1"):
        builder_plan("10.3.0", "fp16", "fp32", dla_core=-1)


def test_plan_carries_profile_workspace_cache_and_level(tmp_path):
    cache = tmp_path / "timing.cache"
    plan = builder_plan(
        "10.3.0", "fp32", "fp32", min_batch=2, opt_batch=16, max_batch=32,
        workspace_mb=256, optimization_level=5, timing_cache=cache,
    )  # fmt: skip
    assert plan["profile"] == {"min": 2, "opt": 16, "max": 32}
    assert plan["workspace_bytes"] == 256 * 1024 * 1024
    assert plan["optimization_level"] == 5
    assert plan["timing_cache"] == str(cache)
    assert plan["device"] == "GPU" and plan["dla_core"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precision": "bf16"}, "precision 'bf16'"),
        ({"onnx_precision": "int4"}, "onnx_precision 'int4'"),
        ({"trt_version": "8.6.1"}, "too old"),
        ({"trt_version": "ten"}, "MAJOR.MINOR"),
        ({"workspace_mb": 0}, "workspace 0 MiB"),
        ({"optimization_level": 6}, "expected 0..5"),
    ],
)
def test_plan_rejects_bad_requests(kwargs, message):
    arguments = {"trt_version": "10.3.0", "precision": "fp16", "onnx_precision": "fp32"}
    with pytest.raises(ExportError, match=message):
        builder_plan(**{**arguments, **kwargs})


@pytest.mark.parametrize(("low", "opt", "high"), [(0, 1, 2), (4, 2, 8), (1, 8, 4)])
def test_profile_must_be_ordered(low, opt, high):
    with pytest.raises(ExportError, match="1 <= min_batch <= opt_batch <= max_batch"):
        check_profile(low, opt, high)


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
        tensorrt.read_sidecar(engine)
    tensorrt.sidecar_path(engine).write_text("{broken")
    with pytest.raises(ExportError, match="not valid JSON"):
        tensorrt.read_sidecar(engine)


# -- without TensorRT -------------------------------------------------------------------------


def test_missing_tensorrt_says_what_to_install(no_tensorrt):
    with pytest.raises(ExportError) as error:
        tensorrt.require_tensorrt()
    message = str(error.value)
    assert "nvidia-tensorrt" in message and "JetPack 6" in message
    assert 'pip install "scjd-edge[trt]"' in message and "pip install tensorrt" in message


def test_export_trt_fails_before_any_work(no_tensorrt, tmp_path):
    from scjd_edge.export.exporter import export_checkpoint

    # The checkpoint does not even exist: the TensorRT check comes first.
    with pytest.raises(ExportError, match="TensorRT is not installed"):
        export_checkpoint(tmp_path / "missing.pt", tmp_path / "out", trt=True)
    assert not (tmp_path / "out").exists()


def test_cli_export_trt_without_tensorrt_exits_non_zero(no_tensorrt, tmp_path):
    from scjd_edge.cli import app

    result = CliRunner().invoke(
        app, ["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path), "--trt"]
    )
    assert result.exit_code != 0
    assert "pip install" in " ".join(result.output.split())


def test_runner_needs_a_cuda_device_name(tmp_path):
    from scjd_edge.export.runtime import load_predictor

    with pytest.raises(ExportError, match="runs on a CUDA device"):
        load_predictor(tmp_path / "m.engine", device="cpu")


# -- real TensorRT (GPU machines only) --------------------------------------------------------


def _cuda_device_available() -> bool:
    if torch.cuda.is_available():
        return True
    cudart = tensorrt._import_cudart()
    if cudart is None:
        return False
    error, count = cudart.cudaGetDeviceCount()
    return error == cudart.cudaError_t.cudaSuccess and count > 0


needs_gpu = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is None or not _cuda_device_available(),
    reason="needs the `tensorrt` Python module and a CUDA device",
)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_builds_runs_and_matches_onnxruntime(tmp_path, precision):
    from scjd_edge.config import ModelConfig
    from scjd_edge.contract import Deployment
    from scjd_edge.export.onnx_export import export_onnx
    from scjd_edge.export.quantize import convert_fp16
    from scjd_edge.export.runtime import load_predictor
    from scjd_edge.models.registry import create_model

    trt = tensorrt.require_tensorrt()
    deployment = Deployment.student(9, 5, "uniform")
    model = create_model(ModelConfig(name="ste", frames=5, dim=16, depth=1, heads=2))
    metadata = {"scjd_edge.deployment": deployment.to_json()}
    onnx_path = tmp_path / "m.onnx"
    sample = (torch.randn(2, 5, 17, 2), torch.tensor([[-4.0, -2, 0, 2, 4]] * 2))
    export_onnx(model, sample, onnx_path, metadata, simplify=False)
    if precision == "fp16":
        convert_fp16(onnx_path, tmp_path / "m.fp16.onnx")
        onnx_path = tmp_path / "m.fp16.onnx"
    plan = builder_plan(trt.__version__, precision, precision, max_batch=8, opt_batch=4)
    engine = tmp_path / f"m.{precision}.engine"
    sidecar = tensorrt.build_engine(onnx_path, engine, plan, deployment)
    assert sidecar["precision"] == precision and tensorrt.sidecar_path(engine).is_file()
    windows = np.random.default_rng(0).normal(size=(6, 9, 17, 2)).astype(np.float32) * 0.3
    reference = load_predictor(onnx_path)(windows)
    result = load_predictor(engine)(windows)
    tolerance = 1e-3 if precision == "fp32" else 2e-2
    np.testing.assert_allclose(result, reference, atol=tolerance)
