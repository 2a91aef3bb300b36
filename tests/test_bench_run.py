"""Real bench runs: the session's tiny teacher (builtin:cmu), its ONNX and INT8 ONNX; and the
torch-compile backend against eager torch."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from scjd_edge.bench.report import STATUS_BELOW_GATE, STATUS_FAILED, STATUS_OK, read_report
from scjd_edge.bench.runner import _apply_gate, run_bench
from scjd_edge.config import ModelConfig
from scjd_edge.data.builtin import BUILTIN_CMU
from scjd_edge.export.runtime import load_predictor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_exports(tiny_models, tmp_path_factory) -> dict[str, Path]:
    """The session's tiny teacher (builtin:cmu), its ONNX and INT8 ONNX, and a broken file."""
    fake = tmp_path_factory.mktemp("bench_models") / "broken.onnx"
    fake.write_text("not an onnx model")
    return {
        "checkpoint": tiny_models.teacher,
        "onnx": tiny_models.teacher_export["fp32"],
        "int8": tiny_models.teacher_export["int8"],
        "broken": fake,
    }


def test_bench_run_writes_every_output_with_mpjpe_per_row(tiny_exports, tmp_path):
    console = Console(record=True, width=160)
    report = run_bench(
        models=list(tiny_exports.values()),
        data=BUILTIN_CMU,
        backends=["torch", "onnxruntime"],
        batches=[1, 4],
        iters=5,
        seconds=None,
        warmup=1,
        rounds=2,
        threads=1,
        out_dir=tmp_path,
        eval_windows=48,
        gate_mm=1.0,
        console=console,
    )
    assert "MPJPE (mm)" in console.export_text()
    written = read_report(tmp_path / "bench.json")  # validated against the schema
    assert written["rows"] == report["rows"]
    assert (
        written["data"]["subjects"] == ["CMU09", "CMU14", "CMU49"]
        and written["data"]["windows"] == 48
    )
    assert not written["data"]["synthetic"]

    rows = {(row["model"], row["batch"]): row for row in written["rows"]}
    names = [tiny_exports[key].name for key in ("checkpoint", "onnx", "int8")]
    for name in names:
        for batch in (1, 4):
            row = rows[(name, batch)]
            assert row["status"] in (STATUS_OK, STATUS_BELOW_GATE), row["reason"]
            assert row["mpjpe_mm"] > 0 and row["p_mpjpe_mm"] > 0
            assert row["mpjpe_delta_mm"] is not None
            model, end_to_end = row["model_latency"], row["end_to_end_latency"]
            assert model["iterations"] == 10 and model["p50_ms"] <= model["p99_ms"]
            assert end_to_end["poses_per_s"] == pytest.approx(batch * 1000 / end_to_end["mean_ms"])
            cost = row["cost"]
            assert cost["macs_per_window"] == cost["analytic_macs_per_window"] > 0
            # One forward of its window per delivered (centre) pose, no flip in bench.
            assert cost["macs_per_delivered_pose"] == cost["macs_per_window"]
            assert cost["test_time_passes"] == 1
            assert cost["lookahead_frames"] == 4  # the centre of a 9-frame window
    checkpoint_row, onnx_row = rows[(names[0], 1)], rows[(names[1], 1)]
    assert (checkpoint_row["backend"], checkpoint_row["precision"]) == ("torch", "fp32")
    assert onnx_row["source"] == checkpoint_row["source"]  # linked through ONNX metadata
    assert abs(onnx_row["mpjpe_delta_mm"]) < 0.05
    assert rows[(names[2], 1)]["precision"] == "int8"
    assert rows[(names[2], 1)]["mpjpe_mm"] != checkpoint_row["mpjpe_mm"]  # measured, not copied

    # INT8 vs FP32 ONNX on ORT CPU at each batch, from the same interleaved rounds.
    ratios = {(r["row"], r["latency"]): r for r in written["speed_ratios"]}
    for batch in (1, 4):
        ratio = ratios[(f"{names[2]} onnxruntime/CPU EP int8 b{batch}", "model")]
        assert ratio["reference"] == f"{names[1]} onnxruntime/CPU EP fp32 b{batch}"
        int8_rounds = rows[(names[2], batch)]["model_latency"]["round_p50_ms"]
        fp32_rounds = rows[(names[1], batch)]["model_latency"]["round_p50_ms"]
        per_round = [f / i for f, i in zip(fp32_rounds, int8_rounds, strict=True)]
        assert ratio["per_round"] == pytest.approx(per_round) and len(per_round) == 2
        assert ratio["median"] == pytest.approx(sum(per_round) / 2)
    assert len(written["speed_ratios"]) == 2 * 2  # the INT8 rows only: 2 batches x 2 latencies
    assert "## Speed ratios" in (tmp_path / "bench.md").read_text()

    broken = [row for row in written["rows"] if row["model"] == "broken.onnx"]
    assert broken and all(row["status"] == STATUS_FAILED and row["reason"] for row in broken)

    with open(tmp_path / "bench.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(written["rows"])
    assert all(r["MPJPE (mm)"] for r in table if r["status"] != STATUS_FAILED)
    markdown = (tmp_path / "bench.md").read_text()
    assert "CMU09" in markdown and "MACs" in markdown and "broken.onnx" in markdown
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"


def test_gate_marks_rows_worse_than_torch_fp32():
    def row(backend, variant, precision, mpjpe_mm):
        return {
            "source": "abc", "backend": backend, "variant": variant, "precision": precision,
            "mpjpe_mm": mpjpe_mm, "status": STATUS_OK, "reason": None, "mpjpe_delta_mm": None,
        }  # fmt: skip

    rows = [
        row("onnxruntime", "CPU EP", "int8", 52.5),
        row("torch", "eager", "fp32", 50.0),
        row("onnxruntime", "CPU EP", "fp16", 50.4),
    ]
    _apply_gate(rows, gate_mm=1.0)
    assert [r["status"] for r in rows] == [STATUS_BELOW_GATE, STATUS_OK, STATUS_OK]
    assert rows[0]["mpjpe_delta_mm"] == pytest.approx(2.5) and "gate 1.0 mm" in rows[0]["reason"]
    assert rows[2]["mpjpe_delta_mm"] == pytest.approx(0.4)


# torch.compile (inductor) vs eager on the same FP32 weights: the same arithmetic, fused
# and reordered differently; measured ~4e-8 m here, so 1e-5 m (0.01 mm) is a real check.
COMPILE_TOLERANCE_M = 1e-5


def test_torch_compile_backend_runs_through_bench_and_matches_eager(
    make_checkpoint, one_thread, tmp_path
):
    checkpoint = make_checkpoint(
        tmp_path / "tiny.pt", ModelConfig(name="ste", frames=9, dim=16, depth=1, heads=2)
    )
    report = run_bench(
        models=[checkpoint], data=BUILTIN_CMU, backends=["torch", "torch-compile"],
        batches=[4], iters=2, warmup=1, rounds=2, threads=1, out_dir=tmp_path / "bench",
        eval_windows=8, console=Console(width=160),
    )  # fmt: skip
    rows = {row["backend"]: row for row in report["rows"]}
    compiled, eager = rows["torch-compile"], rows["torch"]
    assert (compiled["variant"], compiled["status"]) == ("compile", STATUS_OK), compiled["reason"]
    assert compiled["model_latency"]["rounds"] == 2 and compiled["end_to_end_latency"]["p50_ms"] > 0
    assert abs(compiled["mpjpe_delta_mm"]) < COMPILE_TOLERANCE_M * 1000
    assert compiled["mpjpe_mm"] == pytest.approx(eager["mpjpe_mm"], abs=COMPILE_TOLERANCE_M * 1000)

    windows = np.random.default_rng(0).normal(size=(4, 9, 17, 2)).astype(np.float32)
    outputs = {
        backend: load_predictor(checkpoint, backend=backend)(windows)
        for backend in ("torch", "torch-compile")
    }
    difference = np.abs(outputs["torch-compile"] - outputs["torch"]).max()
    assert outputs["torch"].shape == (4, 17, 3) and difference <= COMPILE_TOLERANCE_M
