"""TensorRT end to end without a GPU: `scjd-edge export --trt`, `bench` and `infer` run
through the CLI on the CPU stand-in (tests/trt_standin) in TensorRT 10 and 11 API modes.

The stand-in computes engine outputs with ONNX Runtime on the engine's source ONNX, so
these tests check the project's logic (plans, flags, profiles, chunking, buffers,
sidecars, errors), never GPU speed or engine numerics.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from trt_standin import VERSIONS, install
from typer.testing import CliRunner

from scjd_edge.cli import app
from scjd_edge.config import Recipe
from scjd_edge.contract import Deployment
from scjd_edge.errors import ExportError
from scjd_edge.export import tensorrt_plan
from scjd_edge.export.onnx_export import read_deployment
from scjd_edge.export.options import TensorRTOptions
from scjd_edge.export.runtime import load_predictor
from scjd_edge.models.registry import create_model
from scjd_edge.train.checkpoint import save_checkpoint

DATA = "builtin:synthetic"
MAX_BATCH = 8


def tiny_student(path) -> None:
    """An STE student (N = 5 of T = 9) with random weights: the engine path needs no training."""
    torch.manual_seed(0)
    recipe = Recipe.model_validate(
        {
            "name": "tiny-trt",
            "data": {"path": DATA},
            "model": {"name": "ste", "frames": 5, "dim": 32, "depth": 1, "heads": 2},
            "distill": {"input_frames": 5, "sampling": "uniform"},
        }
    )
    model = create_model(recipe.model)
    for parameter in model.parameters():  # distinct weights (no deduplicated initializers)
        parameter.data.normal_(0.0, 0.1)
    save_checkpoint(
        path,
        {
            "kind": "student",
            "recipe": recipe.model_dump(),
            "model_state": model.state_dict(),
            "optimizer_state": None,
            "scheduler_state": None,
            "ema_state": None,
            "rng_state": None,
            "epoch": 0,
            "step": 0,
            "metrics": {},
            "data": {"name": "synthetic", "source": DATA, "synthetic": True},
            "deployment": Deployment.student(9, 5, "uniform"),
        },
    )


def cli(*arguments: str):
    return CliRunner().invoke(app, [str(a) for a in arguments])


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    """FP32, FP16 and INT8 ONNX of the tiny student, exported once by the CLI (no TensorRT)."""
    folder = tmp_path_factory.mktemp("trt_standin")
    tiny_student(folder / "tiny.pt")
    result = cli(
        "export", folder / "tiny.pt", "--out", folder / "onnx", "--fp16", "--int8",
        "--calib-samples", "32", "--max-mpjpe-drop", "1000",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    onnx = folder / "onnx"
    return {
        "fp32": onnx / "tiny.onnx",
        "fp16": onnx / "tiny.fp16.onnx",
        "int8": onnx / "tiny.int8.onnx",
    }


@pytest.fixture(params=sorted(VERSIONS.values()))
def standin(request, monkeypatch):
    return install(monkeypatch, request.param)


def windows(count: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(count, 9, 17, 2)) * 0.3).astype(np.float32)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_export_engine_from_onnx_alone_equals_onnxruntime(standin, onnx_files, tmp_path, precision):
    source = onnx_files["int8" if precision == "int8" else "fp32"]
    result = cli(
        "export", source, "--out", tmp_path, "--trt", "--precision", precision,
        "--max-batch", MAX_BATCH, "--calib-data", DATA,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    engine_row = manifest["artifacts"][-1]
    assert engine_row["status"] == "ok", engine_row
    # 512 validation windows through a max-batch-8 engine: chunked, and equal to ORT's.
    assert engine_row["validation"]["windows"] > MAX_BATCH
    assert engine_row["max_abs_diff_vs_onnxruntime_mm"] < 1e-6
    sidecar = tensorrt_plan.read_sidecar(tmp_path / f"tiny.{precision}.engine")
    plan = sidecar["plan"]
    assert sidecar["tensorrt_version"] == standin.trt.__version__
    assert plan["profile"] == {"min": 1, "opt": 1, "max": MAX_BATCH}
    assert plan["cleared_flags"] == ["TF32"]
    trt10 = standin.trt.__version__.startswith("10")
    if precision == "int8":
        assert plan["builder_flags"] == (["INT8", "FP16"] if trt10 else [])
        assert plan["strongly_typed"] is not trt10
    else:
        assert plan["builder_flags"] == [] and plan["strongly_typed"]
    expected_source = {"fp32": "tiny.onnx", "fp16": "tiny.fp16.onnx", "int8": "tiny.int8.onnx"}
    assert sidecar["onnx"] == expected_source[precision]


def test_runner_chunks_by_max_batch_with_pinned_copies_and_cuda_events(
    standin, onnx_files, tmp_path
):
    assert (
        cli("export", onnx_files["fp32"], "--out", tmp_path, "--trt", "--max-batch", 4).exit_code
        == 0
    )
    engine = load_predictor(tmp_path / "tiny.fp32.engine")
    reference = load_predictor(onnx_files["fp32"])
    batch = windows(10)
    np.testing.assert_array_equal(engine(batch), reference(batch))
    runner = engine.run_model
    assert runner.chunks_last_call == 3  # 4 + 4 + 2
    assert set(runner.last_phases_ms) == {"h2d", "compute", "d2h"}
    assert all(ms > 0 for ms in runner.last_phases_ms.values())
    copies = standin.cuda.copies
    assert copies and all(pinned for _, _, pinned in copies)
    runner.cuda_graph = True
    np.testing.assert_array_equal(engine(batch), reference(batch))
    assert standin.cuda.graph_launches == 3


def test_export_from_checkpoint_builds_engine_with_chunked_accuracy_pass(
    standin, onnx_files, tmp_path
):
    checkpoint = onnx_files["fp32"].parent.parent / "tiny.pt"
    result = cli("export", checkpoint, "--out", tmp_path / "out", "--trt", "--max-batch", 16)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rows = {row["format"]: row for row in manifest["artifacts"]}
    assert rows["tensorrt"]["status"] == "ok"
    assert rows["tensorrt"]["sidecar"] == "tiny.fp32.engine.json"
    # 512 validation windows through a max-batch-16 engine, equal to ONNX Runtime's MPJPE
    assert rows["tensorrt"]["mpjpe_mm"] == pytest.approx(rows["onnx"]["mpjpe_mm"], abs=1e-6)
    assert (tmp_path / "out" / "tiny.fp32.engine.json").is_file()


def test_failed_engine_leaves_no_engine_and_no_sidecar(monkeypatch, onnx_files, tmp_path):
    install(monkeypatch, "10.3.0")
    out = tmp_path / "engines"
    assert cli("export", onnx_files["fp32"], "--out", out, "--trt").exit_code == 0
    assert (out / "tiny.fp32.engine").is_file() and (out / "tiny.fp32.engine.json").is_file()
    # A strongly typed network with a precision flag: the stand-in refuses to build it.
    real_plan = tensorrt_plan.builder_plan
    monkeypatch.setattr(
        tensorrt_plan, "builder_plan",
        lambda *a, **k: {**real_plan(*a, **k), "builder_flags": ["FP16"]},
    )  # fmt: skip
    result = cli("export", onnx_files["fp32"], "--out", out, "--trt")
    assert result.exit_code == 1
    row = json.loads((out / "manifest.json").read_text())["artifacts"][-1]
    assert row["status"] == "failed" and "failed to build" in row["reason"]
    assert not (out / "tiny.fp32.engine").exists()  # neither the new nor the earlier one
    assert not (out / "tiny.fp32.engine.json").exists()


def test_engine_folder_must_not_hold_the_onnx(monkeypatch, onnx_files):
    install(monkeypatch, "10.3.0")
    result = cli("export", onnx_files["fp32"], "--out", onnx_files["fp32"].parent, "--trt")
    assert result.exit_code == 2 and "holds the ONNX file itself" in result.output


@pytest.mark.parametrize(
    ("version", "precision", "message"),
    [
        ("11.2.0", "fp16", "TensorRT 11.2.0 has no DLA support"),
        ("11.4.0", "fp16", "TensorRT 11.4.0 has no DLA support"),
        ("10.8.0", "fp16", "10.7 was the last 10.x release with DLA"),
        ("10.3.0", "fp32", "DLA runs FP16 or INT8 only"),
    ],
)
def test_dla_refusals_exit_2_with_one_line(
    monkeypatch, onnx_files, tmp_path, version, precision, message
):
    install(monkeypatch, version)
    result = cli(
        "export", onnx_files["fp32"], "--out", tmp_path, "--trt", "--precision", precision,
        "--dla-core", 0,
    )  # fmt: skip
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert len(result.output.strip().splitlines()) <= 3  # one message (wrapped by the console)


@pytest.mark.parametrize(
    ("version", "precision"), [("10.3.0", "fp16"), ("10.3.0", "int8"), ("11.4.1", "fp16")]
)
def test_dla_engine_has_a_fixed_profile_and_pads_other_batches(
    monkeypatch, onnx_files, tmp_path, version, precision
):
    install(monkeypatch, version)
    result = cli(
        "export", onnx_files["fp32"], "--out", tmp_path, "--trt", "--precision", precision,
        "--dla-core", 0, "--opt-batch", 4, "--allow-gpu-fallback", "--calib-data", DATA,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    engine_path = tmp_path / f"tiny.{precision}.engine"
    sidecar = tensorrt_plan.read_sidecar(engine_path)
    assert sidecar["plan"]["profile"] == {"min": 4, "opt": 4, "max": 4}
    assert "GPU_FALLBACK" in sidecar["plan"]["builder_flags"]
    devices = sidecar["layer_devices"]
    assert devices["dla_layers"] + devices["gpu_layers"] == len(devices["layers"]) > 0
    assert devices["gpu_layers"] > 0  # MatMul / LayerNorm run on the GPU
    built_from = tmp_path / sidecar["onnx"] if version.startswith("11") else onnx_files["fp32"]
    batch = windows(6)
    engine = load_predictor(engine_path)
    np.testing.assert_array_equal(engine(batch), load_predictor(built_from)(batch))
    assert engine.run_model.chunks_last_call == 2  # 4 + (2 padded to 4)


def test_dla_without_gpu_fallback_names_the_layers_it_cannot_run(monkeypatch, onnx_files, tmp_path):
    install(monkeypatch, "10.3.0")
    result = cli(
        "export", onnx_files["fp32"], "--out", tmp_path, "--trt", "--precision", "fp16",
        "--dla-core", 0,
    )  # fmt: skip
    assert result.exit_code == 1
    row = json.loads((tmp_path / "manifest.json").read_text())["artifacts"][-1]
    assert "cannot run on DLA" in row["reason"] and "--allow-gpu-fallback" in row["reason"]


def test_int8_on_dla_is_calibrated_by_tensorrt_into_a_cache(monkeypatch, onnx_files, tmp_path):
    install(monkeypatch, "10.3.0")
    dla_int8 = ["--trt", "--precision", "int8", "--dla-core", 0, "--opt-batch", 4]
    dla_int8 += ["--allow-gpu-fallback"]
    refused = cli("export", onnx_files["fp32"], "--out", tmp_path / "x", *dla_int8)
    assert refused.exit_code == 1  # TensorRT calibrates: it needs the training windows
    assert "--calib-data" in json.loads((tmp_path / "x" / "manifest.json").read_text())[
        "artifacts"][-1]["reason"]  # fmt: skip
    result = cli("export", onnx_files["fp32"], "--out", tmp_path / "e", *dla_int8,
                 "--calib-data", DATA)  # fmt: skip
    assert result.exit_code == 0, result.output
    engine = tmp_path / "e" / "tiny.int8.engine"
    sidecar = tensorrt_plan.read_sidecar(engine)
    cache = engine.with_name(sidecar["calibration_cache"])
    assert cache.read_text().startswith("TRT-") and "keypoints_2d:" in cache.read_text()
    assert sidecar["plan"]["build_from"] == "fp32" and sidecar["onnx"] == "tiny.onnx"
    dla_rows = [r for r in sidecar["layer_devices"]["layers"] if r["device"] == "DLA"]
    assert dla_rows and {row["precision"] for row in dla_rows} == {"int8"}


def test_stand_in_refuses_explicit_quantization_on_dla_with_trt10(
    monkeypatch, onnx_files, tmp_path, capsys
):
    install(monkeypatch, "10.3.0")
    options = TensorRTOptions(precision="int8", dla_core=0, opt_batch=2, allow_gpu_fallback=True)
    plan = {**tensorrt_plan.builder_plan("10.3.0", options), "calibration": None}
    with pytest.raises(ExportError, match="failed to build"):  # the QDQ ONNX for DLA
        tensorrt_plan.build_engine(
            onnx_files["int8"], tmp_path / "q.engine", plan, read_deployment(onnx_files["int8"])
        )
    assert "DLA does not support explicit quantization" in capsys.readouterr().err


def test_bench_and_infer_run_engines_through_the_cli(standin, onnx_files, tmp_path):
    assert (
        cli(
            "export", onnx_files["fp32"], "--out", tmp_path, "--trt", "--max-batch", MAX_BATCH
        ).exit_code
        == 0
    )
    engine = tmp_path / "tiny.fp32.engine"
    result = cli(
        "bench", engine, onnx_files["fp32"], "--data", DATA, "--backends", "onnxruntime,tensorrt",
        "--batch", "4,16", "--iters", 3, "--warmup", 1, "--rounds", 1, "--eval-windows", 64,
        "--cuda-graph", "--out", tmp_path / "bench",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "bench" / "bench.json").read_text())["rows"]
    onnx_row = next(r for r in rows if r["backend"] == "onnxruntime" and r["batch"] == 4)
    engine_rows = [r for r in rows if r["backend"] == "tensorrt"]
    assert {(r["variant"], r["batch"]) for r in engine_rows} == {
        ("engine", 4),
        ("engine", 16),
        ("engine+graph", 4),
        ("engine+graph", 16),
    }
    for row in engine_rows:
        assert row["status"] == "ok", row["reason"]
        assert row["mpjpe_mm"] == pytest.approx(onnx_row["mpjpe_mm"], abs=1e-6)
        assert row["mpjpe_delta_mm"] == pytest.approx(0.0, abs=1e-6)  # gated vs ORT FP32
        timing = row["engine_timing"]
        assert timing["engine_calls_per_batch"] == (2 if row["batch"] == 16 else 1)
        assert timing["compute"]["timer"] == "cuda_events" and timing["compute"]["iterations"] == 3
        assert timing["cuda_graph"] is (row["variant"] == "engine+graph")
    assert standin.cuda.graph_launches > 0

    keypoints = tmp_path / "keypoints.npz"
    np.savez(keypoints, keypoints=np.random.default_rng(1).uniform(100, 900, (40, 17, 2)))
    for model, out in ((engine, "engine.npz"), (onnx_files["fp32"], "onnx.npz")):
        result = cli(
            "infer", model, "--keypoints", keypoints, "--format", "h36m",
            "--image-size", "1000x1000", "--out", tmp_path / out,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    engine_poses = np.load(tmp_path / "engine.npz")["pose_3d"]
    assert engine_poses.shape == (40, 17, 3)  # 40 windows per call (default 256) > max batch 8
    np.testing.assert_array_equal(engine_poses, np.load(tmp_path / "onnx.npz")["pose_3d"])


def test_engine_errors_exit_2_with_one_line(monkeypatch, onnx_files, tmp_path):
    install(monkeypatch, "10.3.0")
    assert cli("export", onnx_files["fp32"], "--out", tmp_path, "--trt").exit_code == 0
    engine = tmp_path / "tiny.fp32.engine"
    keypoints = tmp_path / "k.npz"
    np.savez(keypoints, keypoints=np.zeros((12, 17, 2)) + 500.0)
    infer = [
        "infer",
        engine,
        "--keypoints",
        keypoints,
        "--format",
        "h36m",
        "--image-size",
        "1000x1000",
    ]
    install(monkeypatch, "10.7.0")  # another TensorRT than the engine was built with
    result = cli(*infer)
    assert result.exit_code == 2 and "does not fit this machine" in result.output
    install(monkeypatch, "10.3.0")
    sidecar = json.loads((tmp_path / "tiny.fp32.engine.json").read_text())
    del sidecar["onnx"]
    (tmp_path / "tiny.fp32.engine.json").write_text(json.dumps(sidecar))
    result = cli(*infer)
    assert result.exit_code == 2 and "missing ['onnx']" in " ".join(result.output.split())
    result = cli("export", onnx_files["fp32"], "--out", tmp_path / "x")  # no --trt
    assert result.exit_code == 2 and "add --trt" in " ".join(result.output.split())


def test_trt11_has_no_weak_typing_flags(monkeypatch):
    trt11 = install(monkeypatch, "11.4.1").trt
    for removed in ("FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS"):
        with pytest.raises(AttributeError, match=removed):
            getattr(trt11.BuilderFlag, removed)
    assert trt11.BuilderFlag.TF32 is not None
    trt10 = install(monkeypatch, "10.3.0").trt
    assert trt10.BuilderFlag.FP16 is not None and trt10.BuilderFlag.INT8 is not None


def test_onnxruntime_tensorrt_ep_keeps_its_caches_in_the_output_folder(tmp_path):
    from scjd_edge.bench.runner import ORT_PROVIDER_CHAINS, Target, _providers

    target = Target("onnxruntime", "cuda", "TensorRT EP", ORT_PROVIDER_CHAINS["TensorRT EP"])
    tensorrt_ep, *others = _providers(target, tmp_path / "cache")
    assert tensorrt_ep[0] == "TensorrtExecutionProvider"
    assert tensorrt_ep[1]["trt_engine_cache_enable"] is True
    assert tensorrt_ep[1]["trt_engine_cache_path"] == str(tmp_path / "cache")
    assert tensorrt_ep[1]["trt_timing_cache_path"] == str(tmp_path / "cache")
    assert others == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert _providers(
        Target("onnxruntime", "cpu", "CPU EP", ("CPUExecutionProvider",)), tmp_path
    ) == ["CPUExecutionProvider"]


# --- the stand-in refuses what TensorRT and CUDA refuse ------------------------------------


def export_engine(onnx_path, out, *options):
    """`export --trt` of `onnx_path` into `out`; returns the engine's path."""
    result = cli("export", onnx_path, "--out", out, "--trt", *options)
    assert result.exit_code == 0, result.output
    return next(out.glob("*.engine"))


def test_streams_are_asynchronous_until_synchronised(monkeypatch):
    state = install(monkeypatch, "10.3.0")
    cudart = state.cudart
    stream = cudart.cudaStreamCreate()[1]
    device = cudart.cudaMalloc(16)[1]
    host = np.zeros(4, np.float32)
    state.cuda.device_view(device, 16)[:] = np.arange(4, dtype=np.float32).view(np.uint8)
    kind = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
    assert cudart.cudaMemcpyAsync(host.ctypes.data, device, 16, kind, stream)[0] == 0
    start, end = cudart.cudaEventCreate()[1], cudart.cudaEventCreate()[1]
    cudart.cudaEventRecord(start, stream)
    cudart.cudaEventRecord(end, stream)
    assert host.tolist() == [0, 0, 0, 0]  # stale: the copy has not run
    assert cudart.cudaEventElapsedTime(start, end)[0] == cudart.cudaError_t.cudaErrorNotReady
    assert cudart.cudaEventQuery(end)[0] == 0
    assert host.tolist() == [0, 1, 2, 3]
    assert cudart.cudaEventElapsedTime(start, end)[0] == 0


def test_destroyed_resources_are_tracked_and_not_destroyed_twice(monkeypatch):
    state = install(monkeypatch, "10.3.0")
    cudart = state.cudart
    stream, event = cudart.cudaStreamCreate()[1], cudart.cudaEventCreate()[1]
    assert state.cuda.live() == {"streams": 1, "events": 1}
    assert cudart.cudaEventDestroy(event)[0] == 0 and cudart.cudaStreamDestroy(stream)[0] == 0
    assert state.cuda.live() == {}
    assert cudart.cudaEventDestroy(event)[0] != 0


def test_parser_has_no_importer_for_contrib_ops(monkeypatch, onnx_files, tmp_path):
    import onnx

    model = onnx.load(onnx_files["fp32"])
    model.graph.node[0].domain = "com.microsoft"
    model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    contrib = tmp_path / "contrib.onnx"
    onnx.save(model, contrib)
    trt = install(monkeypatch, "10.3.0").trt
    logger = trt.Logger()
    network = trt.Builder(logger).create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert not parser.parse_from_file(str(contrib))
    assert "No importer registered for op" in parser.get_error(0)


@pytest.mark.parametrize(("platform", "cores"), [("desktop", 0), ("orin-nano", 0), ("agx-orin", 2)])
def test_dla_cores_exist_on_jetsons_with_dla_only(monkeypatch, platform, cores):
    trt = install(monkeypatch, "10.3.0", platform=platform).trt
    assert trt.Builder(trt.Logger()).num_DLA_cores == cores
    assert trt.Runtime(trt.Logger()).num_DLA_cores == cores


def test_timing_cache_from_another_device_is_refused(monkeypatch):
    trt = install(monkeypatch, "10.3.0", gpu_name="GPU A").trt
    config = trt.Builder(trt.Logger()).create_builder_config()
    assert config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
    written = bytes(config.get_timing_cache().serialize())
    trt = install(monkeypatch, "10.3.0", gpu_name="GPU B").trt
    config = trt.Builder(trt.Logger()).create_builder_config()
    for foreign in (written, b"not a timing cache"):
        assert not config.set_timing_cache(config.create_timing_cache(foreign), False)
    assert config.get_timing_cache() is None
    assert config.set_timing_cache(config.create_timing_cache(written), ignore_mismatch=True)


# --- defects of the GPU path, each caught through the stand-in -----------------------------


def test_foreign_timing_cache_fails_the_export_in_one_line(monkeypatch, onnx_files, tmp_path):
    install(monkeypatch, "10.3.0", gpu_name="GPU A")
    cache = tmp_path / "shared.cache"
    export_engine(onnx_files["fp32"], tmp_path / "a", "--timing-cache", cache)
    install(monkeypatch, "10.3.0", gpu_name="GPU B")
    result = cli(
        "export", onnx_files["fp32"], "--out", tmp_path / "b", "--trt", "--timing-cache", cache
    )
    assert result.exit_code == 1
    row = json.loads((tmp_path / "b" / "manifest.json").read_text())["artifacts"][-1]
    assert row["status"] == "failed" and "TensorRT refused it" in row["reason"]


def cpu_int8_onnx(onnx_files, folder):
    """The CPU INT8 form of the tiny student (the export writes it only when it is faster)."""
    from scjd_edge.export.onnx_export import load_onnx
    from scjd_edge.export.qdq_placement import weight_layers
    from scjd_edge.export.quantize import write_cpu_int8

    cpu_int8 = folder / "tiny.int8.cpu.onnx"
    layers = list(weight_layers(load_onnx(onnx_files["fp32"])))[:2]
    write_cpu_int8(onnx_files["fp32"], cpu_int8, layers)
    return cpu_int8


def test_cpu_int8_onnx_is_refused_as_an_engine_source(monkeypatch, onnx_files, tmp_path):
    install(monkeypatch, "10.3.0")
    cpu_int8 = cpu_int8_onnx(onnx_files, tmp_path)
    result = cli("export", cpu_int8, "--out", tmp_path / "e", "--trt", "--precision", "int8")
    assert result.exit_code == 2
    assert "have no TensorRT importer" in " ".join(result.output.split())
    assert not (tmp_path / "e").exists()  # refused before any work


def dla_engine(monkeypatch, onnx_files, tmp_path, core=0):
    install(monkeypatch, "10.3.0", platform="agx-orin")
    return export_engine(
        onnx_files["fp32"], tmp_path, "--precision", "fp16", "--dla-core", core, "--opt-batch", 2,
        "--allow-gpu-fallback",
    )  # fmt: skip


def test_dla_engine_refuses_cuda_graphs_with_a_reason(monkeypatch, onnx_files, tmp_path):
    engine = dla_engine(monkeypatch, onnx_files, tmp_path)
    result = cli(
        "bench", engine, "--data", DATA, "--backends", "tensorrt", "--batch", "2", "--iters", 2,
        "--warmup", 1, "--rounds", 1, "--eval-windows", 8, "--cuda-graph", "--out", tmp_path / "b",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "b" / "bench.json").read_text())["rows"]
    status = {row["variant"]: (row["status"], row["reason"]) for row in rows}
    assert status["engine"][0] == "ok"
    assert status["engine+graph"][0] == "failed"
    assert "a DLA engine cannot be captured in a CUDA graph" in status["engine+graph"][1]


def test_runtime_runs_a_dla_engine_on_the_core_it_was_built_for(monkeypatch, onnx_files, tmp_path):
    engine = dla_engine(monkeypatch, onnx_files, tmp_path, core=1)
    runner = load_predictor(engine).run_model
    assert runner.engine._dla_core == 1  # the stand-in records the core it runs on


def test_runner_releases_every_cuda_resource(standin, onnx_files, tmp_path):
    engine = export_engine(onnx_files["fp32"], tmp_path, "--max-batch", 4)
    runner = load_predictor(engine).run_model
    runner.cuda_graph = True
    runner(windows(6)[:, :5], np.zeros((6, 5), np.float32))
    assert standin.cuda.live()["graph_execs"] == 2  # batches 4 and 2
    runner.close()
    assert standin.cuda.live() == {}


def test_failed_cuda_release_is_reported_not_ignored(standin, onnx_files, tmp_path):
    engine = export_engine(onnx_files["fp32"], tmp_path)
    runner = load_predictor(engine).run_model
    standin.cudart.cudaStreamDestroy(runner._stream)  # someone else destroyed it
    with pytest.raises(ExportError, match="cudaStreamDestroy"):
        runner.close()
    assert standin.cuda.live() == {}  # everything else was still released


def test_refused_tensor_address_stops_the_call(monkeypatch, standin, onnx_files, tmp_path):
    engine = export_engine(onnx_files["fp32"], tmp_path)
    runner = load_predictor(engine).run_model
    monkeypatch.setattr(type(runner.context), "set_tensor_address", lambda *a: False)
    with pytest.raises(ExportError, match="refused the address"):
        runner(windows(1)[:, :5], np.zeros((1, 5), np.float32))


def test_parser_has_no_importer_for_dynamic_int8_ops(monkeypatch, onnx_files, tmp_path):
    trt = install(monkeypatch, "10.3.0").trt
    logger = trt.Logger()
    parser = trt.OnnxParser(trt.Builder(logger).create_network(0), logger)
    assert not parser.parse_from_file(str(cpu_int8_onnx(onnx_files, tmp_path)))
    assert "No importer registered for op" in parser.get_error(0)


def test_edited_sidecar_or_swapped_engine_is_refused_in_one_line(monkeypatch, onnx_files, tmp_path):
    install(monkeypatch, "10.3.0")
    engine = export_engine(onnx_files["fp32"], tmp_path / "a")
    other = export_engine(onnx_files["fp32"], tmp_path / "b", "--max-batch", 2)
    sidecar_file = tensorrt_plan.sidecar_path(engine)
    original = sidecar_file.read_text()
    assert tensorrt_plan.read_sidecar(engine)["engine_sha256"]

    edited = json.loads(original)
    edited["deployment"]["lookahead_frames"] = 0  # a contract edited by hand
    sidecar_file.write_text(json.dumps(edited))
    with pytest.raises(ExportError, match="edited after the build"):
        tensorrt_plan.read_sidecar(engine)

    sidecar_file.write_text(original)
    engine.write_bytes(other.read_bytes())  # another build swapped in beside the old sidecar
    result = cli("infer", engine, "--keypoints", keypoints_file(tmp_path), "--format", "h36m",
                 "--image-size", "1000x1000")  # fmt: skip
    assert result.exit_code == 2
    assert "not the engine its sidecar" in " ".join(result.output.split())
    assert len(result.output.strip().splitlines()) <= 3


def keypoints_file(folder):
    path = folder / "keypoints.npz"
    np.savez(path, keypoints=np.zeros((12, 17, 2)) + 500.0)
    return path


def test_cuda_python_newer_than_the_driver_is_refused_before_the_build(
    monkeypatch, onnx_files, tmp_path
):
    state = install(monkeypatch, "10.3.0", bindings_version="13.0.1")  # pip's default pick
    state.cuda.driver_version = 12060  # JetPack 6.2: CUDA 12.6
    result = cli("export", onnx_files["fp32"], "--out", tmp_path / "e", "--trt")
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "cuda-python 13.0.1 needs a CUDA 13 driver, this driver runs CUDA 12.6" in message
    assert 'pip install "cuda-python>=12,<13"' in message
    assert len(result.output.strip().splitlines()) <= 3
    assert not (tmp_path / "e").exists()  # nothing was built
    state.cuda.driver_version = 13000
    assert cli("export", onnx_files["fp32"], "--out", tmp_path / "e", "--trt").exit_code == 0


def test_layer_placement_is_the_built_engines_from_the_inspector(monkeypatch, onnx_files, tmp_path):
    import onnx

    engine = dla_engine(monkeypatch, onnx_files, tmp_path)
    placement = tensorrt_plan.read_sidecar(engine)["layer_devices"]
    assert placement["source"] == "engine inspector"
    dla_rows = [row for row in placement["layers"] if row["device"] == "DLA"]
    assert placement["dla_layers"] == len(dla_rows) > 0
    assert all(row["layer"].startswith("{ForeignNode[") for row in dla_rows)
    assert {row["precision"] for row in dla_rows} == {"fp16"}
    # fused DLA subgraphs: fewer engine layers than the network's nodes
    assert len(placement["layers"]) < len(onnx.load(onnx_files["fp32"]).graph.node)


def test_export_inspect_writes_the_inspector_layers_beside_the_engine(
    standin, onnx_files, tmp_path
):
    result = cli("export", onnx_files["fp32"], "--out", tmp_path, "--trt", "--inspect")
    assert result.exit_code == 0, result.output
    engine = tmp_path / "tiny.fp32.engine"
    information = json.loads(tensorrt_plan.layers_path(engine).read_text())
    row = json.loads((tmp_path / "manifest.json").read_text())["artifacts"][-1]
    assert row["layers"] == tensorrt_plan.layers_path(engine).name
    assert len(information["Layers"]) == row["layer_devices"]["gpu_layers"] > 0
    summary = tensorrt_plan.describe_layers(row["layer_devices"])
    assert summary in " ".join(result.output.split())
    # the folder stays re-exportable: the layers file is listed in the manifest
    assert cli("export", onnx_files["fp32"], "--out", tmp_path, "--trt").exit_code == 0
    assert not tensorrt_plan.layers_path(engine).exists()


# NVIDIA's developer guide example of a DETAILED layer's tensor format.
INT8_FORMAT = "Thirty-two wide channel vectorized row major Int8 format."


def test_layer_placement_reads_device_and_precision_per_layer():
    information = {
        "Layers": [
            {"Name": "{ForeignNode[Conv_0...Relu_9]}", "LayerType": "ForeignNode",
             "Outputs": [{"Format/Datatype": INT8_FORMAT}]},
            {"Name": "{ForeignNode[MatMul_1...Add_7]}", "LayerType": "Myelin",
             "Outputs": [{"Format/Datatype": "Row major linear FP16 format (kLINEAR)"}]},
            "names only",
        ]
    }  # fmt: skip
    rows = tensorrt_plan.layer_placement(information, dla_engine=True)["layers"]
    assert [(r["device"], r["precision"]) for r in rows] == [
        ("DLA", "int8"), ("GPU", "fp16"), ("GPU", None)
    ]  # fmt: skip
    gpu_engine = tensorrt_plan.layer_placement(information, dla_engine=False)
    assert gpu_engine["dla_layers"] == 0


def test_bench_layer_profile_gives_per_layer_times_of_tensorrt_rows(standin, onnx_files, tmp_path):
    engine = export_engine(onnx_files["fp32"], tmp_path, "--max-batch", 4)
    result = cli(
        "bench", engine, "--data", DATA, "--backends", "tensorrt", "--batch", "2,6", "--iters", 2,
        "--warmup", 1, "--rounds", 1, "--eval-windows", 8, "--cuda-graph", "--layer-profile",
        "--out", tmp_path / "b",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "b" / "bench.json").read_text())["rows"]
    layer_names = {
        row["layer"] for row in tensorrt_plan.read_sidecar(engine)["layer_devices"]["layers"]
    }
    for row in rows:
        if row["variant"] == "engine+graph":
            assert "layer_profile" not in row  # profiling is not replayed from a graph
            continue
        profile = row["layer_profile"]
        assert {layer["layer"] for layer in profile["layers"]} == layer_names
        assert profile["iterations"] == 10
        assert profile["engine_calls"] == 10 * (2 if row["batch"] == 6 else 1)  # max batch 4
        assert profile["total_ms"] == pytest.approx(sum(r["mean_ms"] for r in profile["layers"]))
    assert standin.cuda.graph_launches > 0


def test_engine_without_sidecar_runs_in_bench_and_infer_given_its_onnx(
    standin, onnx_files, tmp_path
):
    engine = export_engine(onnx_files["fp32"], tmp_path / "built", "--max-batch", 4)
    trtexec_engine = tmp_path / "trtexec.engine"  # as trtexec writes it: no sidecar
    trtexec_engine.write_bytes(engine.read_bytes())
    keypoints = keypoints_file(tmp_path)
    infer = ["infer", trtexec_engine, "--keypoints", keypoints, "--format", "h36m",
             "--image-size", "1000x1000", "--out", tmp_path / "poses.npz"]  # fmt: skip
    refused = cli(*infer)
    assert refused.exit_code == 2 and "sidecar" in refused.output
    assert cli(*infer, "--onnx", onnx_files["fp32"]).exit_code == 0
    reference = tmp_path / "onnx.npz"
    assert cli("infer", onnx_files["fp32"], *infer[2:-2], "--out", reference).exit_code == 0
    np.testing.assert_array_equal(
        np.load(tmp_path / "poses.npz")["pose_3d"], np.load(reference)["pose_3d"]
    )
    result = cli(
        "bench", trtexec_engine, "--onnx", onnx_files["fp32"], "--data", DATA,
        "--backends", "tensorrt", "--batch", "2", "--iters", 2, "--warmup", 1, "--rounds", 1,
        "--eval-windows", 8, "--out", tmp_path / "b",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "b" / "bench.json").read_text())["rows"][0]
    assert row["status"] == "ok" and row["kind"] == "student"
