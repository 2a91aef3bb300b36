"""The bench's plot: latency vs MPJPE per row (Pareto plot), written atomically as PNG."""

from __future__ import annotations

import math
from pathlib import Path

from scjd_edge.bench.report import data_line
from scjd_edge.io import atomic_path


def write_pareto_plot(
    path: str | Path, report: dict, batch: int | None = None, latency: str = "model"
) -> Path:
    """Latency (x, ms, p50 at `batch`, default the smallest batch) vs MPJPE (y, mm); marker
    area grows with MACs per window; one colour per backend/precision; the Pareto front
    (no other point is both faster and more accurate) is drawn as a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    latency_key = {"model": "model_latency", "e2e": "end_to_end_latency"}[latency]
    batches = sorted({row["batch"] for row in report["rows"]})
    batch = batch if batch is not None else (batches[0] if batches else 1)
    points = [
        (row[latency_key]["p50_ms"], row["mpjpe_mm"], row)
        for row in report["rows"]
        if row["batch"] == batch and row.get(latency_key) and row.get("mpjpe_mm") is not None
    ]
    figure, axes = plt.subplots(figsize=(8, 5.5), dpi=120)
    groups = sorted({f"{row['backend']}/{row['precision']}" for _, _, row in points})
    colours = plt.get_cmap("tab10")
    for index, group in enumerate(groups):
        members = [p for p in points if f"{p[2]['backend']}/{p[2]['precision']}" == group]
        axes.scatter(
            [x for x, _, _ in members],
            [y for _, y, _ in members],
            s=[_marker_area(row) for _, _, row in members],
            color=colours(index % 10),
            alpha=0.7,
            edgecolors="black",
            label=group,
        )
    _label_points(axes, points)
    axes.margins(x=0.08, y=0.15)  # room for stacked labels
    front = _pareto_front([(x, y) for x, y, _ in points])
    if len(front) > 1:
        axes.step(*zip(*front, strict=True), where="post", color="grey", lw=1, ls="--")
    if points and max(x for x, _, _ in points) > 20 * min(x for x, _, _ in points):
        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    axes.set_xlabel(f"{latency} latency p50 at batch {batch} (ms)")
    axes.set_ylabel("MPJPE (mm)")
    axes.ticklabel_format(axis="y", useOffset=False, style="plain")
    title = f"{data_line(report)}\n{report['device'].get('summary', '')}"
    axes.set_title(title, fontsize=8)
    if groups:
        legend = axes.legend(title="backend/precision (marker area ~ MACs/window)", fontsize=7)
        legend.get_title().set_fontsize(7)
        for handle in legend.legend_handles:
            handle.set_sizes([40])
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
    return Path(path)


def _label_points(axes, points: list[tuple[float, float, dict]]) -> None:
    """Label each point with its model and precision; labels of points that nearly
    coincide are stacked upwards instead of printed over each other."""
    placed: list[tuple[float, float]] = []
    span = (max(y for _, y, _ in points) - min(y for _, y, _ in points)) or 1.0
    for x, y, row in sorted(points, key=lambda point: (point[1], point[0])):
        near = sum(1 for px, py in placed if abs(py - y) < 0.04 * span and 0.5 < px / x < 2.0)
        placed.append((x, y))
        label = f"{row['model']} {row['precision']}"
        axes.annotate(
            label, (x, y), textcoords="offset points", xytext=(6, 4 + 9 * near), fontsize=6
        )


def _marker_area(row: dict) -> float:
    macs = (row.get("cost") or {}).get("macs_per_window")
    if not macs:
        return 40.0
    return 20.0 + 40.0 * math.sqrt(macs / 1e6)


def _pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    front, best = [], math.inf
    for x, y in sorted(points):
        if y < best:
            front.append((x, y))
            best = y
    return front
