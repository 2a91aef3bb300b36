"""Numbers from the command line, and the machine's memory, checked before any work.

`Range` states what a numeric option accepts (finite, bounds, whole); `check_options`
checks many at once with messages that name the option. `check_memory` refuses an
allocation larger than the memory this machine has available, so a huge batch size or
window count is one line, not a MemoryError or a swapping machine.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from scjd_edge.errors import ConfigError

FLOAT32_BYTES = 4
# Activations of one lifted window are a few hundred times its input (17 x 2 floats per
# frame): attention maps and per-joint embeddings of every block, torch or ONNX Runtime.
ACTIVATION_FACTOR = 512
MEMORY_SHARE = 0.5  # of the available memory, one call may plan to use at most this


@dataclass(frozen=True)
class Range:
    """A finite number with optional bounds; `above` excludes `low`; `whole`: an integer."""

    low: float | None = None
    high: float | None = None
    above: bool = False
    whole: bool = False

    def check(self, value: Any, option: str) -> None:
        """ConfigError naming `option` unless `value` (None: not given) is in range."""
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{option} {value!r}: expected a number")
        if not math.isfinite(value):
            raise ConfigError(f"{option} {value}: expected a finite number{self._text()}")
        too_low = self.low is not None and (value <= self.low if self.above else value < self.low)
        too_high = self.high is not None and value > self.high
        if too_low or too_high or (self.whole and not float(value).is_integer()):
            raise ConfigError(f"{option} {value:g}: expected{self._text()}")

    def _text(self) -> str:
        kind = " a whole number" if self.whole else ""
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.above else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"<= {self.high:g}")
        return kind + (" " + " and ".join(parts) if parts else "")


POSITIVE = Range(0, above=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1, whole=True)
FRACTION = Range(0, 1)


def check_options(ranges: dict[str, Range], values: dict[str, Any]) -> None:
    """Check every `values[name]` against `ranges[name]`; the option is `--name-with-dashes`."""
    for name, bounds in ranges.items():
        bounds.check(values.get(name), "--" + name.replace("_", "-"))


def available_memory_bytes() -> int | None:
    """Memory the machine can still give (Linux MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(
    needed_bytes: float,
    what: str,
    remedy: str = "use a smaller value",
    available: int | None = None,
) -> None:
    """ConfigError naming `what` when `needed_bytes` exceeds the share one call may use of
    the memory available (`available`, default: measured now)."""
    available = available_memory_bytes() if available is None else available
    if available is not None and needed_bytes > MEMORY_SHARE * available:
        raise ConfigError(
            f"{what}: needs about {needed_bytes / 2**30:.3g} GiB, more than half of the "
            f"{available / 2**30:.3g} GiB this machine has available; {remedy}"
        )


def check_window_batch(batch: int, window_frames: int, option: str) -> None:
    """Refuse `batch` windows of `window_frames` frames that would not fit in memory."""
    per_window = window_frames * 17 * 2 * FLOAT32_BYTES * ACTIVATION_FACTOR
    check_memory(batch * per_window, f"{option} {batch} (windows of {window_frames} frames)")
