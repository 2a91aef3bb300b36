"""The one report writer of the project: schema, rich table, JSON, CSV and markdown.

A bench report is a dict with a versioned schema (`schema: "scjd-edge/bench"`,
`schema_version: 1`), described by the pydantic models below; `validate_report` checks a
dict read back from JSON. Every numeric column header states its unit; the markdown
header states the device, the data (flagging SYNTHETIC data), the protocol and the MAC
convention. Files are written atomically through `scjd_edge.io`; the plot is `plots.py`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich import box
from rich.console import Console
from rich.table import Table

from scjd_edge.bench.goals import goals_markdown
from scjd_edge.bench.ratios import row_label
from scjd_edge.errors import DataError
from scjd_edge.io import write_json, write_text

SCHEMA = "scjd-edge/bench"
SCHEMA_VERSION = 1
STATUS_OK = "ok"
STATUS_BELOW_GATE = "below_gate"
STATUS_FAILED = "failed"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LatencyStats(_Strict):
    """`timing.TimingStats` as stored: milliseconds and poses per second."""

    batch: int = Field(ge=1)
    iterations: int = Field(ge=1)
    rounds: int = Field(ge=1)
    timer: str
    mean_ms: float = Field(ge=0)
    std_ms: float = Field(ge=0)
    min_ms: float = Field(ge=0)
    p50_ms: float = Field(ge=0)
    p90_ms: float = Field(ge=0)
    p99_ms: float = Field(ge=0)
    poses_per_s: float = Field(ge=0)
    throughput_poses_per_s: float = Field(ge=0)
    round_mean_ms: list[float]
    round_p50_ms: list[float] | None = None  # None in reports written before it was recorded


class CostRecord(_Strict):
    """`flops.ModelCost` as stored (MACs per window of batch 1)."""

    params: int = Field(ge=0)
    input_frames: int = Field(ge=1)
    output_frames: int = Field(ge=1)
    macs_per_window: int = Field(ge=0)
    macs_per_output_frame: float = Field(ge=0)
    fvcore_macs_per_window: int = Field(ge=0)
    fvcore_matmul_macs_per_window: int = Field(ge=0)
    analytic_macs_per_window: int | None
    convention: str
    # flops.DELIVERED_POSE_CONVENTION; None in reports written before they were recorded.
    macs_per_delivered_pose: int | None = Field(default=None, ge=0)
    test_time_passes: int | None = Field(default=None, ge=1)
    lookahead_frames: int | None = Field(default=None, ge=0)  # future frames a pose waits for


class BenchRow(_Strict):
    """One model x backend x precision x batch measurement, or the reason it failed."""

    model: str  # file name (with its folder when two inputs share a name)
    path: str
    kind: str | None  # teacher / student / baseline, from the deployment metadata
    source: str  # identity of the source model: links ONNX / engine rows to their checkpoint
    format: Literal["checkpoint", "onnx", "engine"]
    backend: str  # torch / onnxruntime / tensorrt
    variant: str  # eager, compile, or the execution provider
    device: str
    precision: str  # fp32 / fp16 / int8
    batch: int = Field(ge=1)
    status: Literal["ok", "below_gate", "failed"]
    reason: str | None = None
    model_latency: LatencyStats | None = None
    end_to_end_latency: LatencyStats | None = None
    mpjpe_mm: float | None = None
    p_mpjpe_mm: float | None = None
    mpjpe_delta_mm: float | None = None  # vs the torch FP32 row of the same source model
    file_size_mb: float | None = None
    startup_s: float | None = None  # load the file + first output (incl. compilation)
    cost: CostRecord | None = None
    cost_note: str | None = None  # why `cost` is missing
    # TensorRT rows: CUDA-event times of execute_async_v3 alone and of the copies (timing.py)
    engine_timing: dict[str, Any] | None = None
    layer_profile: dict[str, Any] | None = None  # TensorRT rows with --layer-profile
    power: dict[str, Any] | None = None  # Jetson: tegrastats during the timed rounds


class DataRecord(_Strict):
    name: str
    source: str
    synthetic: bool
    split: str
    subjects: list[str]
    windows: int = Field(ge=0)  # evaluated windows
    available_windows: int = Field(ge=0)
    protocol: str


class SettingsRecord(_Strict):
    backends: list[str] | None
    devices: list[str] | None = None
    batches: list[int]
    iters: int | None
    seconds: float | None
    warmup: int
    rounds: int
    threads: int | None
    eval_windows: int
    gate_mm: float
    cuda_graph: bool = False
    layer_profile: bool = False


class GoalRecord(_Strict):
    """One goal of a benchmark script (scjd_edge.bench.goals)."""

    goal: str
    met: bool
    measured: str


class SpeedRatio(_Strict):
    """How many times faster `row` is than `reference` (ratios.speed_ratio)."""

    row: str
    reference: str
    latency: Literal["model", "end_to_end"]
    per_round: list[float]
    median: float = Field(gt=0)
    min: float = Field(gt=0)
    max: float = Field(gt=0)


class BenchReport(_Strict):
    schema_name: Literal["scjd-edge/bench"] = Field(alias="schema")
    schema_version: Literal[1]
    created_utc: str
    package_version: str
    device: dict[str, Any]
    data: DataRecord
    settings: SettingsRecord
    conventions: dict[str, str]
    rows: list[BenchRow]
    speed_ratios: list[SpeedRatio] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    goals: list[GoalRecord] = Field(default_factory=list)


def validate_report(report: dict, source: str = "<report>") -> dict:
    """Check a report dict against the schema; DataError names the bad field. Returns it."""
    if report.get("schema") != SCHEMA:
        raise DataError(f"{source}: 'schema' is {report.get('schema')!r}, expected {SCHEMA!r}")
    if report.get("schema_version") != SCHEMA_VERSION:
        raise DataError(
            f"{source}: 'schema_version' is {report.get('schema_version')!r}, "
            f"this version of scjd-edge reads {SCHEMA_VERSION}"
        )
    try:
        BenchReport.model_validate(report)
    except ValidationError as error:
        problems = "; ".join(
            f"'{'.'.join(str(part) for part in item['loc'])}': {item['msg']}"
            for item in error.errors()
        )
        raise DataError(f"{source}: not a valid {SCHEMA} report: {problems}") from None
    return report


def read_report(path: str | Path) -> dict:
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: cannot read a bench report: {error}") from None
    return validate_report(report, source=str(path))


# --- columns: (header with unit, value getter, decimals) ------------------------------------

Column = tuple[str, Callable[[dict], Any], int | None]


def _latency(key: str, field: str) -> Callable[[dict], Any]:
    return lambda row: (row.get(key) or {}).get(field)


def _cost(field: str, scale: float | None = None) -> Callable[[dict], Any]:
    def get(row: dict) -> Any:
        value = (row.get("cost") or {}).get(field)
        return value if value is None or scale is None else value / scale

    return get


IDENTITY_COLUMNS: list[Column] = [
    ("model", lambda row: row["model"], None),
    ("kind", lambda row: row["kind"], None),
    ("backend", lambda row: row["backend"], None),
    ("variant", lambda row: row["variant"], None),
    ("device", lambda row: row["device"], None),
    ("precision", lambda row: row["precision"], None),
    ("batch", lambda row: row["batch"], None),
    ("status", lambda row: row["status"], None),
]
SUMMARY_COLUMNS: list[Column] = [
    ("model p50 (ms)", _latency("model_latency", "p50_ms"), 3),
    ("model p99 (ms)", _latency("model_latency", "p99_ms"), 3),
    ("model poses/s", _latency("model_latency", "poses_per_s"), 0),
    ("e2e p50 (ms)", _latency("end_to_end_latency", "p50_ms"), 3),
    ("e2e poses/s", _latency("end_to_end_latency", "poses_per_s"), 0),
    ("MPJPE (mm)", lambda row: row.get("mpjpe_mm"), 2),
    ("P-MPJPE (mm)", lambda row: row.get("p_mpjpe_mm"), 2),
    ("dMPJPE vs torch fp32 (mm)", lambda row: row.get("mpjpe_delta_mm"), 2),
    ("params (M)", _cost("params", 1e6), 3),
    ("MACs/pose (M)", _cost("macs_per_delivered_pose", 1e6), 2),
    ("lookahead (frames)", _cost("lookahead_frames"), None),
]
# The terminal table: short headers (units still stated) so that it fits ~120 columns.
TERMINAL_COLUMNS: list[Column] = [
    ("model", lambda row: row["model"], None),
    ("backend", lambda row: f"{row['backend']} {row['variant']} {row['device']}", None),
    ("prec", lambda row: row["precision"], None),
    ("batch", lambda row: row["batch"], None),
    ("status", lambda row: row["status"], None),
    ("p50 (ms)", _latency("model_latency", "p50_ms"), 2),
    ("p99 (ms)", _latency("model_latency", "p99_ms"), 2),
    ("poses/s", _latency("model_latency", "poses_per_s"), 0),
    ("e2e p50 (ms)", _latency("end_to_end_latency", "p50_ms"), 2),
    ("e2e poses/s", _latency("end_to_end_latency", "poses_per_s"), 0),
    ("MPJPE (mm)", lambda row: row.get("mpjpe_mm"), 1),
    ("dMPJPE (mm)", lambda row: row.get("mpjpe_delta_mm"), 2),
    ("MACs/pose (M)", _cost("macs_per_delivered_pose", 1e6), 1),
]
TERMINAL_DROP_ORDER = (
    "p99 (ms)", "e2e poses/s", "dMPJPE (mm)", "MACs/pose (M)", "e2e p50 (ms)", "prec", "status",
)  # fmt: skip
DETAIL_COLUMNS: list[Column] = [
    *(
        (f"{label} {stat} ({unit})", _latency(key, field), decimals)
        for key, label in (("model_latency", "model"), ("end_to_end_latency", "e2e"))
        for stat, field, unit, decimals in (
            ("mean", "mean_ms", "ms", 3),
            ("std", "std_ms", "ms", 3),
            ("p50", "p50_ms", "ms", 3),
            ("p90", "p90_ms", "ms", 3),
            ("p99", "p99_ms", "ms", 3),
            ("poses/s", "poses_per_s", "poses/s", 1),
            ("throughput", "throughput_poses_per_s", "poses/s", 1),
            ("iterations", "iterations", "count", None),
        )
    ),
    ("MPJPE (mm)", lambda row: row.get("mpjpe_mm"), 3),
    ("P-MPJPE (mm)", lambda row: row.get("p_mpjpe_mm"), 3),
    ("dMPJPE vs torch fp32 (mm)", lambda row: row.get("mpjpe_delta_mm"), 3),
    ("params (count)", _cost("params"), None),
    ("input frames (count)", _cost("input_frames"), None),
    ("output frames (count)", _cost("output_frames"), None),
    ("MACs/window (count)", _cost("macs_per_window"), None),
    ("MACs/pose (count)", _cost("macs_per_delivered_pose"), None),
    ("lookahead (frames)", _cost("lookahead_frames"), None),
    ("MACs/out frame if all N used (count)", _cost("macs_per_output_frame"), 1),
    ("FLOPs/window (count, 2xMACs)", lambda row: _double(_cost("macs_per_window")(row)), None),
    ("fvcore MACs/window (count)", _cost("fvcore_macs_per_window"), None),
    ("analytic MACs/window (count)", _cost("analytic_macs_per_window"), None),
    ("file size (MB)", lambda row: row.get("file_size_mb"), 3),
    ("startup (s)", lambda row: row.get("startup_s"), 2),
    ("reason", lambda row: row.get("reason") or row.get("cost_note"), None),
]


def _double(value: int | None) -> int | None:
    return None if value is None else 2 * value


def _format(value: Any, decimals: int | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and decimals is not None:
        return f"{value:,.{decimals}f}" if decimals == 0 else f"{value:.{decimals}f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cells(row: dict, columns: list[Column]) -> list[str]:
    return [_format(getter(row), decimals) for _, getter, decimals in columns]


# --- terminal ------------------------------------------------------------------------------


def render_table(report: dict, width: int = 200) -> Table:
    """The rich table printed by `scjd-edge bench`, one row per measurement.

    p50 / p99 / poses/s: the model alone; e2e: pre-processing + model + centre frame.
    Numbers never wrap; on a terminal narrower than the table, the columns of
    TERMINAL_DROP_ORDER are left out (the files keep every column).
    """
    columns = list(TERMINAL_COLUMNS)
    cells = [_cells(row, columns) for row in report["rows"]]
    min_widths = []
    for i, (header, _, decimals) in enumerate(columns):
        longest_value = max((len(row[i]) for row in cells), default=1)
        if decimals is None:
            longest_value = min(longest_value, 12)  # names fold
        min_widths.append(max([longest_value] + [len(word) for word in header.split()]))
    dropped = set()
    for header in TERMINAL_DROP_ORDER:
        kept = [w for (h, _, _), w in zip(columns, min_widths, strict=True) if h not in dropped]
        if sum(w + 3 for w in kept) + 2 <= width:
            break
        dropped.add(header)
    table = Table(title=_title(report), box=box.SIMPLE_HEAD)
    keep = [i for i, (header, _, _) in enumerate(columns) if header not in dropped]
    for i in keep:
        header, _, decimals = columns[i]
        numeric = decimals is not None
        justify = "right" if numeric else "left"
        table.add_column(header, justify=justify, min_width=min_widths[i], overflow="fold")
    styles = {STATUS_OK: None, STATUS_BELOW_GATE: "yellow", STATUS_FAILED: "red"}
    for row, row_cells in zip(report["rows"], cells, strict=True):
        table.add_row(*(row_cells[i] for i in keep), style=styles[row["status"]])
    return table


def print_report(report: dict, console: Console | None = None) -> None:
    console = console or Console()
    console.print(render_table(report, width=console.width))
    console.print(_caption(report), highlight=False)
    for row in report["rows"]:
        if row["status"] != STATUS_OK and row.get("reason"):
            console.print(f"[bold]{row_label(row)}[/]: {row['status']}: {row['reason']}")
    for line in speed_ratio_lines(report):
        console.print(f"speed-up {line}", highlight=False)
    for warning in report.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}")


def _title(report: dict) -> str:
    return f"scjd-edge bench on {report['device'].get('summary', 'unknown device')}"


def _caption(report: dict) -> str:
    return " | ".join([data_line(report), report["conventions"]["macs"]])


def data_line(report: dict) -> str:
    data = report["data"]
    kind = "SYNTHETIC data" if data["synthetic"] else "real data"
    return (
        f"{kind}: {data['name']} ({data['source']}), {data['split']} subjects "
        f"{', '.join(data['subjects'])}, {data['windows']} of {data['available_windows']} windows"
    )


def speed_ratio_lines(report: dict) -> list[str]:
    """One line per like-for-like speed ratio: median of per-round ratios, min and max."""
    return [
        f"{ratio['row']} vs {ratio['reference']}, {ratio['latency'].replace('_', ' ')}: "
        f"{ratio['median']:.2f}x (rounds {ratio['min']:.2f}x..{ratio['max']:.2f}x)"
        for ratio in report.get("speed_ratios", [])
    ]


# --- files ---------------------------------------------------------------------------------


def write_report_json(path: str | Path, report: dict) -> Path:
    validate_report(report, source=str(path))
    return write_json(path, report)


def write_report_csv(path: str | Path, report: dict) -> Path:
    columns = IDENTITY_COLUMNS + DETAIL_COLUMNS
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([header for header, _, _ in columns])
    for row in report["rows"]:
        writer.writerow(["" if getter(row) is None else getter(row) for _, getter, _ in columns])
    return write_text(path, buffer.getvalue())


def render_markdown(report: dict, extra_sections: str = "") -> str:
    """Header (device, data, protocol, conventions), the summary table, failures, warnings."""
    columns = IDENTITY_COLUMNS + SUMMARY_COLUMNS
    lines = [f"# {_title(report)}", "", *_markdown_header(report), ""]
    lines.append("| " + " | ".join(header for header, _, _ in columns) + " |")
    lines.append("|" + "|".join("---" if d is None else "---:" for _, _, d in columns) + "|")
    lines += ["| " + " | ".join(_cells(row, columns)) + " |" for row in report["rows"]]
    problems = [row for row in report["rows"] if row["status"] != STATUS_OK]
    if problems:
        lines += ["", "## Rows not ok", ""]
        lines += [f"- `{row_label(row)}`: {row['status']}: {row.get('reason')}" for row in problems]
    cost_notes = sorted(
        {f"`{r['model']}`: {r['cost_note']}" for r in report["rows"] if r.get("cost_note")}
    )
    if cost_notes:
        lines += ["", "## MACs not available", "", *(f"- {note}" for note in cost_notes)]
    if report.get("speed_ratios"):
        lines += ["", "## Speed ratios", "", f"{report['conventions'].get('speed_ratios', '')}", ""]
        lines += [f"- {line}" for line in speed_ratio_lines(report)]
    if report.get("warnings"):
        lines += ["", "## Warnings", "", *(f"- {warning}" for warning in report["warnings"])]
    if report.get("goals"):
        lines += ["", goals_markdown(report["goals"])]
    if extra_sections:
        lines += ["", extra_sections.strip()]
    return "\n".join(lines) + "\n"


def _markdown_header(report: dict) -> list[str]:
    settings, conventions, device = report["settings"], report["conventions"], report["device"]
    versions = device.get("versions", {})
    stack = ", ".join(f"{name} {versions[name]}" for name in versions if versions[name])
    data_text = data_line(report)
    if report["data"]["synthetic"]:
        data_text = data_text.replace("SYNTHETIC data", "**SYNTHETIC data**", 1)
    budget = f"{settings['iters']} iterations" if settings["iters"] else ""
    if settings["seconds"]:
        budget += (" or " if budget else "") + f"{settings['seconds']} s"
    return [
        f"- **Device:** {device.get('summary', 'unknown')}; {stack}",
        f"- **Data:** {data_text}",
        f"- **Protocol:** {report['data']['protocol']}",
        f"- **Timing:** {conventions['timing']}; warm-up {settings['warmup']}, "
        f"{settings['rounds']} rounds of {budget or 'the default iterations'}, "
        f"threads {settings['threads'] or 'default'}",
        f"- **Status:** {conventions['status']}",
        f"- **MACs:** {conventions['macs']}; {conventions['frames']}; "
        f"{conventions.get('delivered_pose', '')}",
        f"- **Created:** {report['created_utc']} (scjd-edge {report['package_version']}, "
        f"schema {report['schema']} v{report['schema_version']})",
    ]


def write_report_markdown(path: str | Path, report: dict, extra_sections: str = "") -> Path:
    return write_text(path, render_markdown(report, extra_sections))


def write_reports(
    report: dict, out_dir: str | Path, stem: str = "bench", extra_markdown: str = ""
) -> dict[str, Path]:
    """JSON, CSV and markdown of `report` in `out_dir`; returns {kind: path}."""
    out_dir = Path(out_dir)
    return {
        "json": write_report_json(out_dir / f"{stem}.json", report),
        "csv": write_report_csv(out_dir / f"{stem}.csv", report),
        "markdown": write_report_markdown(out_dir / f"{stem}.md", report, extra_markdown),
    }
