"""Speed ratios between bench rows: like for like, round by round, never best-of.

Two rows compare only when they ran the same way (backend, variant, device, batch) in
the same interleaved rounds of one run; the ratio is taken per round (reference p50 /
row p50 of that round, > 1 = the row is faster) and summarised by the median of those
per-round ratios, with the smallest and largest beside it.
"""

from __future__ import annotations

import statistics
from typing import Any

LIKE_FOR_LIKE = ("backend", "variant", "device", "batch")
LATENCY_KEYS = {"model": "model_latency", "end_to_end": "end_to_end_latency"}
RATIO_CONVENTION = (
    "speed-up = reference p50 / row p50 of the same interleaved round, median over rounds "
    "(min and max beside it); only rows of one run with the same backend, variant, device "
    "and batch are compared"
)


def row_label(row: dict) -> str:
    return f"{row['model']} {row['backend']}/{row['variant']} {row['precision']} b{row['batch']}"


def speed_ratio(row: dict, reference: dict, latency: str = "model") -> dict[str, Any]:
    """How many times faster `row` is than `reference` (see the module docstring).

    ValueError when the rows are not like for like or lack per-round latencies.
    """
    differing = [key for key in LIKE_FOR_LIKE if row[key] != reference[key]]
    if differing:
        raise ValueError(
            f"{row_label(row)} vs {row_label(reference)}: not like for like ({differing} differ)"
        )
    key = LATENCY_KEYS[latency]
    rounds, reference_rounds = (_round_p50s(r, key) for r in (row, reference))
    if len(rounds) != len(reference_rounds):
        raise ValueError(
            f"{row_label(row)} vs {row_label(reference)}: {len(rounds)} vs "
            f"{len(reference_rounds)} rounds (not timed in the same rounds)"
        )
    per_round = [ref / mine for mine, ref in zip(rounds, reference_rounds, strict=True)]
    return {
        "row": row_label(row),
        "reference": row_label(reference),
        "latency": latency,
        "per_round": per_round,
        "median": statistics.median(per_round),
        "min": min(per_round),
        "max": max(per_round),
    }


def _round_p50s(row: dict, key: str) -> list[float]:
    stats = row.get(key) or {}
    values = stats.get("round_p50_ms")
    if not values:
        raise ValueError(f"{row_label(row)}: no per-round {key} (failed, or an older report)")
    return values


def precision_ratios(rows: list[dict]) -> list[dict[str, Any]]:
    """Each timed non-FP32 row vs the FP32 row of the same source model run the same way
    (e.g. INT8 vs FP32 ONNX on ORT CPU at batch 1), model alone and end to end."""
    timed = [row for row in rows if row.get("model_latency") and row.get("end_to_end_latency")]
    ratios = []
    for row in timed:
        if row["precision"] == "fp32":
            continue
        reference = next(
            (
                other
                for other in timed
                if other["precision"] == "fp32"
                and other["source"] == row["source"]
                and all(other[key] == row[key] for key in LIKE_FOR_LIKE)
            ),
            None,
        )
        if reference is not None:
            ratios += [speed_ratio(row, reference, latency) for latency in LATENCY_KEYS]
    return ratios
