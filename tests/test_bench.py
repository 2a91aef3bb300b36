"""Bench building blocks: timing statistics, MAC counting, device report, report schema."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from scjd_edge.bench.device import (
    device_report,
    parse_clocks_locked,
    parse_l4t_release,
    parse_tegrastats_power,
)
from scjd_edge.bench.flops import analytic_ste_macs, count_fvcore_macs, count_macs, model_cost
from scjd_edge.bench.report import (
    SCHEMA,
    read_report,
    render_markdown,
    validate_report,
)
from scjd_edge.bench.runner import write_all
from scjd_edge.bench.timing import measure_latency
from scjd_edge.config import ModelConfig
from scjd_edge.errors import DataError
from scjd_edge.models import create_model
from scjd_edge.models.layers import Attention


def test_timing_percentiles_are_ordered_and_poses_per_second_is_consistent():
    model = nn.Sequential(nn.Linear(34, 64), nn.GELU(), nn.Linear(64, 51)).eval()
    inputs = torch.randn(8, 34)

    def run():
        with torch.no_grad():
            model(inputs)

    stats = measure_latency(run, batch=8, warmup=2, iters=30, rounds=2)
    assert stats.iterations == 60 and stats.rounds == 2 and len(stats.round_mean_ms) == 2
    assert 0 < stats.min_ms <= stats.p50_ms <= stats.p90_ms <= stats.p99_ms
    assert stats.poses_per_s == pytest.approx(8 / (stats.mean_ms / 1000.0))
    assert stats.throughput_poses_per_s <= stats.poses_per_s * 1.001


def test_timing_time_budget_stops_the_round():
    calls = []
    stats = measure_latency(lambda: calls.append(1), batch=1, warmup=0, seconds=0.05, rounds=1)
    assert stats.iterations == len(calls) >= 5


def test_linear_macs_equal_the_analytic_count():
    layer = nn.Linear(48, 96)
    tokens = torch.randn(3, 7, 48)
    expected = 3 * 7 * 48 * 96
    assert count_macs(layer, tokens) == expected
    assert count_fvcore_macs(layer, tokens) == (expected, expected)


def test_attention_block_macs_count_the_sdpa_matmuls():
    batch, length, dim, heads = 2, 17, 32, 4
    attention = Attention(dim, heads).eval()
    tokens = torch.randn(batch, length, dim)
    linear_macs = batch * length * (3 * dim * dim + dim * dim)
    attention_macs = 2 * batch * length * length * dim  # QK^T and AV over all heads
    expected = linear_macs + attention_macs
    assert count_macs(attention, tokens) == expected
    assert count_fvcore_macs(attention, tokens)[1] == expected
    # The meta device (no weights, how ONNX rows are counted) gives the same count.
    meta_attention = copy.deepcopy(attention).to("meta")
    assert count_macs(meta_attention, tokens.to("meta")) == expected


@pytest.mark.parametrize("pose_head", [0, 40])
def test_sdpa_model_never_reports_zero_attention_macs(pose_head):
    frames, dim, depth = 9, 16, 2
    config = ModelConfig(
        name="ste", frames=frames, dim=dim, depth=depth, heads=2, mlp_ratio=2.0, pose_head=pose_head
    )
    cost = model_cost(config, input_frames=frames)
    assert cost.macs_per_window == analytic_ste_macs(config, frames)
    assert cost.fvcore_matmul_macs_per_window == cost.macs_per_window
    assert cost.fvcore_macs_per_window > cost.macs_per_window  # fvcore adds LayerNorm
    assert cost.output_frames == frames
    assert cost.macs_per_output_frame == cost.macs_per_window / frames
    # A plain FlopCounterMode on CPU sees the fused SDPA kernel as 0 MACs; ours does not.
    model = create_model(config).eval()
    inputs = (torch.zeros(1, frames, 17, 2), torch.zeros(1, frames))
    plain = FlopCounterMode(display=False)
    with torch.no_grad(), plain:
        model(*inputs)
    tokens = frames * 17
    attention_macs = depth * tokens * 2 * dim * (17 + frames)  # spatial + temporal
    assert cost.macs_per_window - plain.get_total_flops() // 2 == attention_macs


def test_centre_frame_model_costs_per_window():
    config = ModelConfig(
        name="poseformerv2", frames=27, dim=8, depth=1, heads=2, dct_coefficients=3,
        central_frames=3,
    )  # fmt: skip
    cost = model_cost(config, input_frames=27)
    assert cost.output_frames == 1 and cost.macs_per_output_frame == cost.macs_per_window
    assert cost.analytic_macs_per_window is None
    assert cost.fvcore_matmul_macs_per_window == cost.macs_per_window


def test_device_report_names_this_cpu():
    report = device_report()
    assert report["cpu"]["model"] and report["cpu"]["model"] != "unknown CPU"
    assert report["cpu"]["model"] in report["summary"]
    assert report["versions"]["torch"] == torch.__version__
    json.dumps(report)


def test_jetson_parsers():
    assert parse_l4t_release("# R36 (release), REVISION: 3.0, GCID: 1, BOARD: generic") == "36.3.0"
    unlocked = "cpu0: Online=1 Governor=schedutil MinFreq=729600 MaxFreq=2201600 CurrentFreq=1"
    assert parse_clocks_locked(unlocked) is False
    assert parse_clocks_locked("GPU MinFreq=1300 MaxFreq=1300 CurrentFreq=1300") is True
    assert parse_clocks_locked(None) is None
    line = "RAM 2/7 CPU [1%@729] VDD_IN 5067mW/5100mW VDD_SOC 1406mW/1406mW"
    assert parse_tegrastats_power(line) == {"VDD_IN": 5067, "VDD_SOC": 1406}


def _small_report(synthetic: bool) -> dict:
    latency = {
        "batch": 1, "iterations": 10, "rounds": 2, "timer": "perf_counter", "mean_ms": 2.0,
        "std_ms": 0.1, "min_ms": 1.8, "p50_ms": 2.0, "p90_ms": 2.2, "p99_ms": 2.4,
        "poses_per_s": 500.0, "throughput_poses_per_s": 480.0, "round_mean_ms": [2.0, 2.0],
    }  # fmt: skip
    row = {
        "model": "student.pt", "path": "/tmp/student.pt", "kind": "student", "source": "abc",
        "format": "checkpoint", "backend": "torch", "variant": "eager", "device": "cpu",
        "precision": "fp32", "batch": 1, "status": "ok", "model_latency": latency,
        "end_to_end_latency": latency, "mpjpe_mm": 50.0, "p_mpjpe_mm": 40.0,
        "mpjpe_delta_mm": 0.0,
    }  # fmt: skip
    failed = dict(row, variant="compile", status="failed", reason="no compiler")
    failed.update(model_latency=None, end_to_end_latency=None, mpjpe_mm=None, p_mpjpe_mm=None)
    return {
        "schema": SCHEMA, "schema_version": 1, "created_utc": "2025-01-01T00:00:00Z",
        "package_version": "0.1.0", "device": device_report(),
        "data": {
            "name": "synthetic" if synthetic else "cmu", "source": "/data", "synthetic": synthetic,
            "split": "test", "subjects": ["CMU01"], "windows": 4, "available_windows": 40,
            "protocol": "centre frame",
        },
        "settings": {
            "backends": None, "batches": [1], "iters": 10, "seconds": None, "warmup": 1,
            "rounds": 2, "threads": None, "eval_windows": 4, "gate_mm": 1.0,
        },
        "conventions": {"macs": "MACs", "frames": "per window", "timing": "t", "status": "s"},
        "rows": [row, failed], "warnings": [],
    }  # fmt: skip


def test_report_files_round_trip_through_the_schema(tmp_path):
    report = _small_report(synthetic=False)
    paths = write_all(report, tmp_path, stem="bench")
    assert read_report(paths["json"]) == json.loads(json.dumps(report, default=str))
    csv_lines = paths["csv"].read_text().splitlines()
    assert len(csv_lines) == 3 and "model p50 (ms)" in csv_lines[0]
    assert "MPJPE (mm)" in paths["markdown"].read_text()
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    assert "SYNTHETIC data" in render_markdown(_small_report(synthetic=True))
    assert "SYNTHETIC" not in render_markdown(report)


def test_validate_report_names_the_bad_field():
    report = _small_report(synthetic=False)
    report["rows"][0]["status"] = "great"
    with pytest.raises(DataError, match="rows.0.status"):
        validate_report(report)
    with pytest.raises(DataError, match="schema_version"):
        validate_report(dict(_small_report(False), schema_version=2))
