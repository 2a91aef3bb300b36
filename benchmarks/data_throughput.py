"""Data pipeline throughput: training windows per second from `PoseWindows` + `make_loader`.

Loads the CMU training subjects (CMU02, CMU05, CMU07: 4 cameras each), cuts windows of
T = 81 and T = 243 frames centred on every frame and iterates one shuffled epoch with
batch 1024 in the main process (num_workers=0), with and without training augmentation
(flip, and flip + 5 px 2D noise). A "window" is one (T, 17, 2) 2D input plus its
(T, 17, 3) root-relative 3D target. Goal: >= 50,000 windows/s.

    python benchmarks/data_throughput.py [--data ../shared/data/cmu2] [--epochs 2]

Note on T = 243: one batch of 1024 windows is 34 MB of 2D plus 51 MB of 3D. glibc serves
blocks above its 32 MB dynamic mmap ceiling with fresh mmap'ed pages that are returned on
free, so every batch pays page faults. Running with MALLOC_MMAP_THRESHOLD_=4294967296
MALLOC_TRIM_THRESHOLD_=4294967296 (or a smaller batch) keeps the memory in the heap.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from scjd_edge.data.formats import load_dataset
from scjd_edge.data.windows import PoseWindows, make_loader

TRAIN_SUBJECTS = ["CMU02", "CMU05", "CMU07"]
GOAL_WINDOWS_PER_SECOND = 50_000
SETTINGS = (
    ("plain", {"flip": False, "noise_px": 0.0}),
    ("flip", {"flip": True, "noise_px": 0.0}),
    ("flip + 5 px noise", {"flip": True, "noise_px": 5.0}),
)


def measure(windows: PoseWindows, batch_size: int, epochs: int) -> float:
    """Best windows/s over `epochs` full shuffled epochs (the batches are consumed)."""
    loader = make_loader(windows, batch_size, shuffle=True, seed=0, drop_last=False)
    best = 0.0
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        count, start = 0, time.perf_counter()
        for batch in loader:
            count += batch["keypoints_2d"].shape[0]
        best = max(best, count / (time.perf_counter() - start))
    return best


def main() -> None:
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmu"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(default_data), help="CMU data folder")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per setting (best kept)")
    args = parser.parse_args()

    start = time.perf_counter()
    sequences = load_dataset(args.data).select(TRAIN_SUBJECTS, "train")
    print(f"loaded {len(sequences)} sequences in {time.perf_counter() - start:.1f} s")
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{'T':>4}  {'augmentation':<18} {'windows':>8}  {'windows/s':>10}  goal")
    for frames in (81, 243):
        for name, options in SETTINGS:
            windows = PoseWindows(sequences, frames=frames, **options)
            rate = measure(windows, args.batch_size, args.epochs)
            verdict = "met" if rate >= GOAL_WINDOWS_PER_SECOND else "missed"
            print(f"{frames:>4}  {name:<18} {len(windows):>8}  {rate:>10,.0f}  {verdict}")


if __name__ == "__main__":
    main()
