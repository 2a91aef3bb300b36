"""Teacher targets of a distillation, computed once per window and kept on disk.

A distillation step needs what the frozen teacher says about each training window: its
poses over the window (output and TCD terms), the DJED context features and the AJAD
attention rows at the student's frames. These depend only on the teacher's weights, the
window's 2D (plain or mirrored by the flip augmentation) and the student's frames, so they
are computed the first time a window is seen and read back afterwards, by this run and by
every later run with the same teacher, data and student frames. A step then costs about
what an undistilled step costs.

The cache lives beside the teacher checkpoint in `<teacher>.targets/<key>/`, where the key
is the sha256 of `key.json` (teacher sha256, a digest of the training windows' 2D, the
window and student frames, the targets and their shapes). Each target is one float32
`.npy` memory map of shape (windows, 2 flips, ...); `filled.npy` marks the entries written,
each set only after its targets are flushed, so an interrupted run never reads a
half-written entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scjd_edge.data.windows import PoseWindows
from scjd_edge.errors import ConfigError
from scjd_edge.io import write_json

FLIP_STATES = 2


def windows_digest(windows: PoseWindows) -> str:
    """sha256 of what the training windows are cut from: every sequence's 2D, the window
    length, the stride and whether windows are also mirrored."""
    digest = hashlib.sha256(f"{windows.frames} {windows.stride} {windows.flip}".encode())
    for sequence in windows.sequences:
        digest.update(np.ascontiguousarray(sequence.keypoints_2d, dtype=np.float32).tobytes())
    return digest.hexdigest()


class TeacherTargetCache:
    """Targets per (window index, flipped); `shapes` = {name: shape of one window's target}."""

    def __init__(self, folder: Path, key: dict[str, Any], num_windows: int, shapes: dict) -> None:
        key = {**key, "num_windows": num_windows, "shapes": shapes}
        text = json.dumps(key, sort_keys=True)
        key = json.loads(text)  # as key.json reads back (tuples become lists)
        self.folder = Path(folder) / hashlib.sha256(text.encode()).hexdigest()[:16]
        new = not (self.folder / "key.json").is_file()
        if new:
            self.folder.mkdir(parents=True, exist_ok=True)
        elif json.loads((self.folder / "key.json").read_text(encoding="utf-8")) != key:
            raise ConfigError(f"{self.folder}: teacher target cache of another key; delete it")
        mode = "w+" if new else "r+"
        self.filled = self._open("filled", (num_windows, FLIP_STATES), np.bool_, mode)
        self.targets = {
            name: self._open(name, (num_windows, FLIP_STATES, *shape), np.float32, mode)
            for name, shape in shapes.items()
        }
        if new:
            write_json(self.folder / "key.json", key)  # last: the folder is complete

    def _open(self, name: str, shape: tuple, dtype, mode: str) -> np.memmap:
        path = self.folder / f"{name}.npy"
        memmap = np.lib.format.open_memmap(path, mode=mode, dtype=dtype, shape=shape)
        if memmap.shape != shape:
            raise ConfigError(f"{path}: shape {memmap.shape}, expected {shape}; delete the cache")
        return memmap

    def get(
        self,
        window_index: torch.Tensor,
        flipped: torch.Tensor,
        compute: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    ) -> dict[str, torch.Tensor]:
        """The targets of a batch (B, ...): cached entries read, the others computed by
        `compute(rows)` (rows: bool mask (B,) of the batch entries to compute) and stored."""
        windows = window_index.cpu().numpy()
        flips = flipped.cpu().numpy().astype(np.int64)
        missing = ~self.filled[windows, flips]
        result = {
            name: torch.from_numpy(np.asarray(values[windows, flips]))
            for name, values in self.targets.items()
        }
        if missing.any():
            computed = compute(torch.from_numpy(missing))
            for name, values in computed.items():
                array = values.detach().float().cpu().numpy()
                self.targets[name][windows[missing], flips[missing]] = array
                result[name][torch.from_numpy(missing)] = torch.from_numpy(array)
            for values in self.targets.values():
                values.flush()
            self.filled[windows[missing], flips[missing]] = True
            self.filled.flush()
        return result
