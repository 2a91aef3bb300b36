"""A benchmark's goals, judged by code.

Every results JSON carries `goals`: a list of {"goal": what was aimed at, "met": bool,
"measured": the figure it was decided on}; the markdown shows the same list, and a missed
goal says so plainly.
"""

from __future__ import annotations

from typing import Any


def judged(goal: str, met: bool, measured: str) -> dict[str, Any]:
    """One goal with its verdict and the measured figure behind it."""
    return {"goal": goal, "met": bool(met), "measured": measured}


def not_measured(goal: str, why: str) -> dict[str, Any]:
    """A goal the run could not decide counts as not met."""
    return judged(goal, False, f"not measured: {why}")


def goals_markdown(goals: list[dict[str, Any]]) -> str:
    """The "## Goals" section: one line per goal, the verdict in bold."""
    lines = ["## Goals", ""]
    for goal in goals:
        verdict = "met" if goal["met"] else "NOT met"
        lines.append(f"- {goal['goal']}: **{verdict}** ({goal['measured']})")
    return "\n".join(lines)
