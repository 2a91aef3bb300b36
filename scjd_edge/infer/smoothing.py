"""One-Euro filter (Casiez, Roussel and Vogel, CHI 2012): causal jitter smoothing of poses.

A low-pass filter whose cut-off frequency rises with speed: slow motion is smoothed hard
(little jitter), fast motion is followed with little lag. Each coordinate of each joint is
filtered on its own, one frame at a time, so it adds no delay frames to a stream.

Parameters (defaults chosen for root-relative 3D poses in metres):
- `min_cutoff` (Hz, default 1.5): cut-off at rest. Lower = smoother, more lag.
- `beta` (s/m, default 0.5): how fast the cut-off grows with speed (Hz per m/s). Higher =
  less lag in fast motion, more jitter.
- `derivative_cutoff` (Hz, default 1.0): cut-off of the speed estimate itself.

Per frame, with dt = 1 / fps and alpha(fc) = 1 / (1 + 1 / (2 pi fc dt)):
speed = alpha(derivative_cutoff) * (x - x_prev) / dt + (1 - alpha) * speed_prev;
fc = min_cutoff + beta * |speed|; x_hat = alpha(fc) * x + (1 - alpha(fc)) * x_hat_prev.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scjd_edge.errors import ConfigError


@dataclass(frozen=True)
class OneEuroParams:
    min_cutoff: float = 1.5
    beta: float = 0.5
    derivative_cutoff: float = 1.0

    def __post_init__(self):
        for name in ("min_cutoff", "beta", "derivative_cutoff"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0 or (name != "beta" and value == 0):
                raise ConfigError(f"One-Euro {name} = {value}: expected a positive number")

    def describe(self) -> str:
        return (
            f"One-Euro (min_cutoff {self.min_cutoff:g} Hz, beta {self.beta:g} s/m, "
            f"derivative_cutoff {self.derivative_cutoff:g} Hz)"
        )


class OneEuroFilter:
    """Filter a stream of equally shaped arrays (e.g. (17, 3) poses) sampled at `fps`."""

    def __init__(self, fps: float, params: OneEuroParams | None = None):
        if not np.isfinite(fps) or fps <= 0:
            raise ConfigError(f"One-Euro filter: frame rate {fps} must be positive")
        self.dt = 1.0 / fps
        self.params = params or OneEuroParams()
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        return 1.0 / (1.0 + 1.0 / (2.0 * np.pi * cutoff * self.dt))

    def __call__(self, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self._value is None:
            self._value, self._speed = value, np.zeros_like(value)
            return value.astype(np.float32)
        raw_speed = (value - self._value) / self.dt
        d_alpha = self._alpha(self.params.derivative_cutoff)
        self._speed = d_alpha * raw_speed + (1 - d_alpha) * self._speed
        alpha = self._alpha(self.params.min_cutoff + self.params.beta * np.abs(self._speed))
        self._value = alpha * value + (1 - alpha) * self._value
        return self._value.astype(np.float32)


def smooth_sequence(poses: np.ndarray, fps: float, params: OneEuroParams | None = None):
    """(F, ...) -> (F, ...) float32: the One-Euro filter run over a whole sequence."""
    one_euro = OneEuroFilter(fps, params)
    return np.stack([one_euro(pose) for pose in poses])
