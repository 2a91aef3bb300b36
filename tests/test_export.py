"""Export on real CMU windows (builtin:cmu): FP32 parity with torch, FP16 and INT8 ONNX
on ONNX Runtime, the INT8 accuracy gate, metadata, manifest, predictors and the errors
users meet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import CMU_SUBJECTS, TINY_INPUT_FRAMES, TINY_WINDOW
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from scjd_edge.data.builtin import BUILTIN_CMU
from scjd_edge.data.formats import load_dataset
from scjd_edge.errors import ArtifactSkipped, CheckpointError, DataError, ExportError
from scjd_edge.export import exporter, quantize
from scjd_edge.export.exporter import export_checkpoint, load_split_windows
from scjd_edge.export.onnx_export import check_parity, read_deployment, read_metadata
from scjd_edge.export.runtime import Predictor, load_predictor, predict_windows
from scjd_edge.io import sha256_file
from scjd_edge.metrics import mpjpe
from scjd_edge.train.checkpoint import load_checkpoint

WINDOW_FRAMES, INPUT_FRAMES = TINY_WINDOW, TINY_INPUT_FRAMES


@pytest.fixture(scope="module")
def exported(tiny_models):
    """The session's tiny SCJD student (N=5 of T=9, builtin:cmu) and its FP32/FP16/INT8 ONNX."""
    manifest = tiny_models.student_manifest
    out = tiny_models.student_export["fp32"].parent
    rows = {row["precision"]: row for row in manifest["artifacts"]}
    return {
        "checkpoint_path": tiny_models.student,
        "checkpoint": load_checkpoint(tiny_models.student),
        "out": out,
        "manifest": manifest,
        "rows": rows,
        "onnx": {p: out / rows[p]["file"] for p in rows},
    }


@pytest.fixture(scope="module")
def cmu_windows():
    """Real windows of the CMU splits: {split: (keypoints_2d (B, 9, 17, 2), pose_3d (B, 17, 3))}."""
    dataset = load_dataset(BUILTIN_CMU)
    return {
        split: load_split_windows(
            dataset, CMU_SUBJECTS[f"{split}_subjects"], split, WINDOW_FRAMES, windows
        )
        for split, windows in (("train", 128), ("val", 256), ("test", 256))
    }


def test_every_requested_artifact_is_written_and_listed(exported):
    manifest = exported["manifest"]
    assert [row["status"] for row in manifest["artifacts"]] == ["ok"] * 4
    assert [row["precision"] for row in manifest["artifacts"]] == [
        "fp32", "fp16", "int8", "int8-cpu"
    ]  # fmt: skip
    for row in manifest["artifacts"]:
        path = exported["out"] / row["file"]
        assert path.stat().st_size == row["size_bytes"]
        assert sha256_file(path) == row["sha256"]
        assert np.isfinite(row["mpjpe_mm"]) and row["mpjpe_mm"] > 0
    written = json.loads((exported["out"] / "manifest.json").read_text())
    assert written["artifacts"] == json.loads(json.dumps(manifest["artifacts"]))
    assert written["checkpoint_sha256"] == sha256_file(exported["checkpoint_path"])
    assert written["data"]["validation_subjects"] == CMU_SUBJECTS["val_subjects"]


def test_fp32_onnx_equals_torch_on_real_cmu_windows(exported, cmu_windows):
    parity = exported["rows"]["fp32"]["parity"]
    assert parity["max_abs_error_mm"] < 0.1
    assert abs(parity["mpjpe_delta_mm"]) < 0.01
    # Independently, on the test subjects and at another batch size than the trace's.
    keypoints_2d, _ = cmu_windows["test"]
    torch_pose = load_predictor(exported["checkpoint_path"])(keypoints_2d[:37])
    onnx_pose = load_predictor(exported["onnx"]["fp32"])(keypoints_2d[:37])
    assert onnx_pose.shape == (37, 17, 3)
    np.testing.assert_allclose(onnx_pose, torch_pose, atol=1e-5)  # metres: 0.01 mm


def test_onnx_graph_and_metadata(exported):
    path = exported["onnx"]["fp32"]
    proto = onnx.load(path)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    inputs = {i.name: i.type.tensor_type for i in proto.graph.input}
    assert list(inputs) == ["keypoints_2d", "frame_offsets"]
    assert [d.dim_value for d in inputs["keypoints_2d"].shape.dim[1:]] == [INPUT_FRAMES, 17, 2]
    assert inputs["keypoints_2d"].shape.dim[0].dim_param  # dynamic batch
    assert [o.name for o in proto.graph.output] == ["pose_3d"]
    checkpoint = exported["checkpoint"]
    assert read_deployment(path) == checkpoint["deployment"]
    metadata = read_metadata(path)
    assert metadata["model"] == "ste" and metadata["precision"] == "fp32"
    assert json.loads(metadata["model_config"]) == checkpoint["recipe"]["model"]
    assert metadata["source_checkpoint_sha256"] == sha256_file(exported["checkpoint_path"])
    assert metadata["sampling"] == "uniform" and metadata["joint_layout"] == "h36m17"


def test_fp16_onnx_is_half_the_weights_keeps_fragile_ops_fp32_and_stays_accurate(exported):
    fp32, fp16 = (onnx.load(exported["onnx"][p]) for p in ("fp32", "fp16"))

    def weight_bytes(proto):
        return sum(numpy_helper.to_array(init).nbytes for init in proto.graph.initializer)

    assert weight_bytes(fp16) / weight_bytes(fp32) < 0.6
    # (The file as a whole shrinks less: in a tiny model the graph outweighs the weights.)
    assert exported["rows"]["fp16"]["size_bytes"] == Path(exported["onnx"]["fp16"]).stat().st_size
    assert all(i.type.tensor_type.elem_type == TensorProto.FLOAT for i in fp16.graph.input)
    assert fp16.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    inferred = onnx.shape_inference.infer_shapes(fp16)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    fragile = [n for n in fp16.graph.node if n.op_type in ("LayerNormalization", "Softmax")]
    assert fragile and all(types[n.output[0]] == TensorProto.FLOAT for n in fragile)
    matmuls = [n for n in fp16.graph.node if n.op_type == "MatMul"]
    assert all(types[n.output[0]] == TensorProto.FLOAT16 for n in matmuls)
    assert read_metadata(exported["onnx"]["fp16"])["precision"] == "fp16"
    # Stated tolerance: FP16 within 0.5 mm MPJPE of FP32 on the validation windows.
    rows = exported["rows"]
    assert abs(rows["fp16"]["mpjpe_mm"] - rows["fp32"]["mpjpe_mm"]) < 0.5


def test_int8_onnx_is_symmetric_qdq_and_within_the_gate(exported, cmu_windows):
    proto = onnx.load(exported["onnx"]["int8"])
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("QuantizeLinear") > 0 and ops.count("DequantizeLinear") > 0
    initializers = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    zero_points = [
        initializers[n.input[2]]
        for n in proto.graph.node
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2
    ]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)
    # Only MatMul inputs are quantized: LayerNorm, Softmax, GELU and the residual Adds read
    # float tensors (a Shape may read a dequantized tensor: it only takes its shape).
    dequantized = {n.output[0] for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    readers = {n.op_type for n in proto.graph.node if set(n.input) & dequantized}
    assert "MatMul" in readers and readers <= {"MatMul", "Shape"}
    # The 2D keypoints keep full precision: no QuantizeLinear reads the graph inputs.
    quantized = {n.input[0] for n in proto.graph.node if n.op_type == "QuantizeLinear"}
    assert not quantized & {"keypoints_2d", "frame_offsets"}
    metadata = read_metadata(exported["onnx"]["int8"])
    assert metadata["precision"] == "int8"
    quantization = exported["rows"]["int8"]["quantization"]
    assert json.loads(metadata["int8_layers"]) == quantization["int8_layers"]
    assert json.loads(metadata["int8_validation"]) == pytest.approx(quantization["validation"])
    # `auto` calibration: every method measured on validation, the smallest deviation kept.
    methods = quantization["methods"]
    assert sorted(methods) == sorted(quantize.CALIBRATION_METHODS)
    deviations = {m: methods[m]["joint_deviation_mm"] for m in methods}
    assert quantization["method"] == min(deviations, key=deviations.get)
    assert json.loads(metadata["int8_calibration"])["method"] == quantization["method"]
    assert quantization["samples"] == json.loads(metadata["int8_calibration"])["samples"] > 0
    validation = quantization["validation"]
    assert validation["mpjpe_delta_mm"] <= 0.5 and 0 < validation["joint_deviation_mm"] <= 2.0
    # ORT CPU runs it on the real CMU test windows, close to FP32 there too.
    keypoints_2d, pose_3d = cmu_windows["test"]
    errors = {
        p: 1000 * mpjpe(predict_windows(load_predictor(exported["onnx"][p]), keypoints_2d), pose_3d)
        for p in ("fp32", "int8")
    }
    assert abs(errors["int8"] - errors["fp32"]) < 1.0


def _broken_calibration(exported, cmu_windows, tmp_path, scale):
    """Arguments and options of write_int8_onnx with 2D calibration windows scaled by
    `scale`, every weight layer quantized (the first embedding too, fed by the 2D input)."""
    calibration = cmu_windows["train"][0] * scale
    arguments = (exported["onnx"]["fp32"], tmp_path / "broken.int8.onnx", calibration)
    metadata = read_metadata(exported["onnx"]["int8"])
    every_layer = json.loads(metadata["int8_layers"]) + json.loads(metadata["int8_float_layers"])
    options = {"method": "minmax", "int8_layers": every_layer, "max_mpjpe_drop": 1.0}
    return (*arguments, *cmu_windows["val"]), options


@pytest.mark.parametrize("scale", [100.0, 0.0])
def test_gate_refuses_a_broken_calibration(exported, cmu_windows, tmp_path, scale):
    # 2D windows scaled x100 or all zeros give the quantized 2D input a range 100 times too
    # wide, or none. The first embedding is quantized here on purpose: by default it stays
    # float, and every other quantized tensor follows a LayerNorm, whose output range does
    # not depend on the input scale.
    arguments, options = _broken_calibration(exported, cmu_windows, tmp_path, scale)
    out = arguments[1]
    with pytest.raises(ExportError, match=r"per joint \(limit 2.0 mm\); not written"):
        quantize.write_int8_onnx(*arguments, **options, mixed=False)
    assert not out.exists() and not list(tmp_path.iterdir())
    report = quantize.write_int8_onnx(*arguments, **options, mixed=False, force=True)
    assert out.is_file() and report["validation"]["joint_deviation_mm"] > 2.0
    assert report["mixed_precision"] is None and report["sensitivity"] is None


def test_mixed_precision_repairs_a_broken_calibration(exported, cmu_windows, tmp_path):
    arguments, options = _broken_calibration(exported, cmu_windows, tmp_path, 100.0)
    report = quantize.write_int8_onnx(*arguments, **options, sensitivity=True)
    # The sensitivity ranking puts the embedding first; returning it (and any other layer
    # needed) to float meets the target.
    ranking = report["sensitivity"]
    assert ranking[0]["layer"] == "joint_embed"
    assert sorted(row["layer"] for row in ranking) == sorted(options["int8_layers"])
    deviations = [row["joint_deviation_mm"] for row in ranking]
    assert deviations == sorted(deviations, reverse=True)
    steps = report["mixed_precision"]["steps"]
    assert steps[0]["float_layer"] is None and steps[1]["float_layer"] == "joint_embed"
    assert steps[0]["joint_deviation_mm"] > 2.0 and report["mixed_precision"]["target_met"]
    assert "joint_embed" in report["float_layers"] and report["int8_layers"]
    assert report["validation"]["joint_deviation_mm"] <= 2.0
    assert report["validation"]["mpjpe_delta_mm"] <= 1.0
    assert json.loads(read_metadata(arguments[1])["int8_float_layers"]) == report["float_layers"]


def test_calibration_data_of_the_wrong_layout_is_a_data_error(exported, cmu_windows, tmp_path):
    fp32 = exported["onnx"]["fp32"]
    keypoints_2d = np.zeros((4, INPUT_FRAMES, 17, 2), np.float32)
    with pytest.raises(DataError, match=r"lacks \['frame_offsets'\]"):
        quantize.quantize_int8(fp32, tmp_path / "a.onnx", {"keypoints_2d": keypoints_2d})
    sixteen = {"keypoints_2d": keypoints_2d[:, :, :16], "frame_offsets": np.zeros((4, 5))}
    with pytest.raises(DataError, match=r"shape \(4, 5, 16, 2\), expected \(S, 5, 17, 2\)"):
        quantize.quantize_int8(fp32, tmp_path / "b.onnx", sixteen, source="my.npz")
    with pytest.raises(DataError, match=r"my windows: 2D windows of shape \(3, 7, 17, 2\)"):
        quantize.write_int8_onnx(
            fp32,
            tmp_path / "c.onnx",
            np.zeros((3, 7, 17, 2)),
            *cmu_windows["val"],
            source="my windows",
        )
    assert not list(tmp_path.iterdir())


def test_parity_gate_refuses_an_onnx_that_differs(exported, cmu_windows):
    onnx_predictor = load_predictor(exported["onnx"]["fp32"])

    def shifted_by_a_millimetre(keypoints_2d, frame_offsets):
        return onnx_predictor.run_model(keypoints_2d, frame_offsets) + 1e-3

    shifted = Predictor(
        onnx_predictor.deployment, "onnxruntime", "fp32", "shifted.onnx", "cpu",
        shifted_by_a_millimetre,
    )  # fmt: skip
    reference = load_predictor(exported["checkpoint_path"])
    with pytest.raises(
        ExportError, match=r"shifted.onnx: onnxruntime differs from torch by up to 1.0"
    ):
        check_parity(reference, shifted, *cmu_windows["val"], tolerance_mm=0.1)


def test_predictor_steps_compose(exported, cmu_windows):
    keypoints_2d, _ = cmu_windows["val"]
    predictor = load_predictor(exported["onnx"]["int8"], threads=1)
    assert (predictor.backend, predictor.precision, predictor.device) == (
        "onnxruntime",
        "int8",
        "cpu",
    )
    assert predictor.name == exported["onnx"]["int8"].name
    model_keypoints_2d, frame_offsets, indices = predictor.prepare(keypoints_2d[:3])
    assert model_keypoints_2d.shape == (3, INPUT_FRAMES, 17, 2)
    np.testing.assert_array_equal(frame_offsets[0], [-4, -2, 0, 2, 4])
    raw = predictor.run_model(model_keypoints_2d, frame_offsets)
    assert raw.shape == (3, INPUT_FRAMES, 17, 3)
    np.testing.assert_array_equal(predictor.centre(raw, indices), raw[:, INPUT_FRAMES // 2])
    np.testing.assert_array_equal(predictor(keypoints_2d[:3]), raw[:, INPUT_FRAMES // 2])
    torch_predictor = load_predictor(exported["checkpoint_path"])
    assert (torch_predictor.backend, torch_predictor.precision) == ("torch", "fp32")


def test_corrupt_and_foreign_onnx_files_give_clear_errors(tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x00\xffthis is not protobuf" * 10)
    for call in (
        read_deployment,
        load_predictor,
        lambda p: quantize.convert_fp16(p, tmp_path / "x"),
    ):
        with pytest.raises(ExportError, match=r"corrupt.onnx: not an ONNX model"):
            call(corrupt)
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )  # fmt: skip
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph), foreign)
    with pytest.raises(
        ExportError, match=r"foreign.onnx: an ONNX model without scjd-edge metadata"
    ):
        read_deployment(foreign)
    with pytest.raises(ExportError, match="missing.onnx: ONNX file not found"):
        load_predictor(tmp_path / "missing.onnx")


def test_checkpoint_without_deployment_contract_is_refused(exported, tmp_path):
    checkpoint = torch.load(exported["checkpoint_path"], weights_only=True)
    checkpoint["deployment"] = None
    path = tmp_path / "no_contract.pt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="'deployment'"):
        export_checkpoint(path, tmp_path / "out")


def test_bad_options_fail_before_work(tmp_path):
    for options, message in (
        ({"opset": 16}, "opset 17 or newer"),
        ({"calib_method": "kl"}, "--calib-method 'kl'"),
    ):
        with pytest.raises(ExportError, match=message):
            export_checkpoint(tmp_path / "missing.pt", tmp_path / "out", **options)


def test_cli_reports_a_refused_int8_and_exits_non_zero(exported, tmp_path):
    from scjd_edge.cli import app

    out = tmp_path / "cli"
    arguments = ["export", str(exported["checkpoint_path"]), "--out", str(out), "--int8"]
    result = CliRunner().invoke(
        app,
        [*arguments, "--max-joint-deviation", "0", "--calib-samples", "32"]
        + ["--calib-method", "minmax", "--max-mpjpe-drop", "1000", "--no-mixed-precision"],
    )
    assert result.exit_code == 1
    manifest = json.loads((out / "manifest.json").read_text())
    fp32, int8 = manifest["artifacts"]
    assert fp32["status"] == "ok" and (out / fp32["file"]).is_file()
    assert int8["status"] == "failed" and "not written" in int8["reason"]
    assert "mean |INT8 - FP32|" in int8["reason"] and "(limit 0.0 mm)" in int8["reason"]
    assert not (out / "tiny.int8.onnx").exists() and not (out / "tiny.int8.cpu.onnx").exists()
    # Negative or NaN thresholds: refused before any work, one line, exit 2.
    for flag in ("--max-mpjpe-drop", "--max-joint-deviation"):
        for value, expected in (("-0.5", "-0.5: expected >= 0"), ("nan", "nan: expected a finite")):
            result = CliRunner().invoke(app, [*arguments, flag, value])
            assert result.exit_code == 2
            assert result.output.startswith(f"error: {flag} {expected}"), result.output


def test_the_cpu_int8_form_holds_its_measured_layers_in_dynamic_form(exported):
    import onnx

    rows = exported["rows"]
    cpu = onnx.load(exported["onnx"]["int8-cpu"])
    placement = rows["int8-cpu"]["placement"]
    faster = [row["layer"] for row in placement["speed"] if row["faster"]]
    assert placement["int8_layers"] and set(placement["int8_layers"]) <= set(faster)
    metadata = {entry.key: entry.value for entry in cpu.metadata_props}
    assert json.loads(metadata["scjd_edge.int8_layers"]) == placement["int8_layers"]
    assert metadata["scjd_edge.int8_form"] == "dynamic"
    integer = sum(node.op_type == "MatMulInteger" for node in cpu.graph.node)
    assert integer == len(placement["int8_layers"])
    assert not any(node.op_type == "QuantizeLinear" for node in cpu.graph.node)
    validation = rows["int8-cpu"]["validation"]
    assert validation["mpjpe_delta_mm"] <= 0.5 and validation["joint_deviation_mm"] <= 2.0


def test_a_skipped_artifact_is_listed_with_its_reason_and_leaves_no_file(tmp_path):
    manifest = {"artifacts": []}
    path = tmp_path / "tiny.int8.cpu.onnx"
    path.write_bytes(b"half written")

    def no_layer_pays() -> dict:
        raise ArtifactSkipped("no weight layer runs faster in int8")

    row = exporter._attempt(manifest, "onnx", "int8-cpu", path, no_layer_pays)
    assert row["status"] == "skipped" and row["reason"] == "no weight layer runs faster in int8"
    assert manifest["artifacts"] == [row] and not path.exists()
