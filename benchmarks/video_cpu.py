"""Video in, 3D out on the CPU: MediaPipe BlazePose + a CMU lifter on walk_vtest.mp4.

One streaming run of `scjd_edge.infer.run_video_infer` (frame by frame, the model's
lookahead applied as delay, torch threads as given) measures: the share of frames where
the person is found, the lifted skeleton's height (Head to ankles, the mean of the two
distances) per frame, the median per-frame 3D jitter (mean joint displacement between
consecutive root-relative poses, mm/frame), bone lengths against the CMU training
skeletons, detector and lifter latency p50/p99 and end-to-end frames/s (decode + detect +
lift; no pictures). The same detections are then lifted again without the size rescaling
to show what it does. Writes video_cpu.{md,json} and video_cpu.png (one output frame)
into benchmarks/results/ (or --out); the JSON has a `goals` list judged here:

- person found in >= 95 % of frames;
- height within 1.4-2.0 m on >= 95 % of the lifted frames;
- end to end >= 20 frames/s on the CPU, detector included.

    python benchmarks/video_cpu.py --model runs/student/best.pt [--video FILE] [--threads 2]

Needs the [video] extra (README, Video input).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "video" / "walk_vtest.mp4"
HEIGHT_RANGE_M = (1.4, 2.0)
DETECTION_GOAL = 0.95
HEIGHT_GOAL = 0.95
FPS_GOAL = 20.0


def skeleton_height(pose_3d: np.ndarray) -> np.ndarray:
    """(F, 17, 3) -> (F,) metres: mean distance from the Head to each ankle (LFoot, RFoot)."""
    from scjd_edge.data.skeleton import JOINT_NAMES

    head = pose_3d[:, JOINT_NAMES.index("Head")]
    feet = pose_3d[:, [JOINT_NAMES.index("LFoot"), JOINT_NAMES.index("RFoot")]]
    return np.linalg.norm(feet - head[:, None], axis=-1).mean(axis=-1)


def jitter_mm(pose_3d: np.ndarray, order: int = 1) -> np.ndarray:
    """(F, 17, 3) -> (F-order,) mean joint |difference| of that order over frames, mm:
    order 1 = displacement per frame (motion + jitter), 2 = acceleration per frame^2
    (smooth motion contributes little, frame-to-frame noise a lot)."""
    return np.linalg.norm(np.diff(pose_3d, n=order, axis=0), axis=-1).mean(axis=-1) * 1000.0


class RecordingDetector:
    """Wraps a detector and keeps what it found, to lift the same detections again."""

    def __init__(self, detector):
        self.detector, self.name, self.found = detector, detector.name, []

    def __call__(self, frame_rgb, frame_index):
        people = self.detector(frame_rgb, frame_index)
        self.found.append(people)
        return people

    def close(self):
        self.detector.close()


class ReplayDetector:
    name = "replayed detections"

    def __init__(self, found):
        self.found = found

    def __call__(self, frame_rgb, frame_index):
        return self.found[frame_index]

    def close(self):
        pass


def measure(args: argparse.Namespace) -> dict:
    import torch

    from scjd_edge.data.skeleton import BONES, JOINT_NAMES, bone_lengths
    from scjd_edge.infer import run_video_infer
    from scjd_edge.infer.detectors import BlazePoseDetector
    from scjd_edge.infer.smoothing import OneEuroParams

    torch.set_num_threads(args.threads)
    detector = RecordingDetector(BlazePoseDetector())
    run = run_video_infer(args.model, str(args.video), detector=detector)
    result = run.pop("result")
    write_snapshot(args.out / "video_cpu.png", args.video, result)
    again = run_video_infer(
        args.model, str(args.video), detector=ReplayDetector(detector.found), rescale=False
    )["result"]
    smoothed = run_video_infer(
        args.model, str(args.video), detector=ReplayDetector(detector.found),
        smoothing=OneEuroParams(),
    )["result"]  # fmt: skip
    heights, heights_raw = skeleton_height(result.pose_3d), skeleton_height(again.pose_3d)
    in_range = (heights >= HEIGHT_RANGE_M[0]) & (heights <= HEIGHT_RANGE_M[1])
    bones = np.median(bone_lengths(result.pose_3d), axis=0)
    reference = _training_bone_lengths(args.data) if args.data else None
    names = [f"{JOINT_NAMES[p]}-{JOINT_NAMES[c]}" for p, c in BONES]
    return {
        "summary": {k: v for k, v in run.items() if k not in ("notes",)},
        "detection_rate": run["detection_rate"],
        "height_m": _stats(heights),
        "height_in_range_share": float(in_range.mean()),
        "height_without_rescaling_m": _stats(heights_raw),
        "height_in_range_share_without_rescaling": float(
            ((heights_raw >= HEIGHT_RANGE_M[0]) & (heights_raw <= HEIGHT_RANGE_M[1])).mean()
        ),
        "jitter_mm_per_frame_median": float(np.median(jitter_mm(result.pose_3d))),
        "acceleration_mm_per_frame2_median": float(np.median(jitter_mm(result.pose_3d, 2))),
        "one_euro": {
            "parameters": OneEuroParams().describe(),
            "jitter_mm_per_frame_median": float(np.median(jitter_mm(smoothed.pose_3d))),
            "acceleration_mm_per_frame2_median": float(np.median(jitter_mm(smoothed.pose_3d, 2))),
        },
        "bone_lengths_m": {
            name: {
                "median": float(length),
                "cmu_train_median": None if reference is None else float(reference[index]),
            }
            for index, (name, length) in enumerate(zip(names, bones, strict=True))
        },
    }


def write_snapshot(path: Path, video: Path, result) -> None:
    """One output frame (the middle lifted one) as a PNG: 2D on the video beside the 3D."""
    from PIL import Image

    from scjd_edge.infer.overlay import Pose3DPanel, compose_frame
    from scjd_edge.infer.video import VideoSource
    from scjd_edge.io import atomic_path

    row = len(result.frame_indices) // 2
    index = int(result.frame_indices[row])
    frame = next(f for i, f in enumerate(VideoSource(video).frames()) if i == index)
    picture = compose_frame(
        frame,
        Pose3DPanel(frame.shape[0]),
        result.keypoints_2d[row],
        result.interpolated[row],
        result.pose_3d[row],
        f"frame {index}",
    )
    with atomic_path(path) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")


def _training_bone_lengths(data: Path) -> np.ndarray:
    from scjd_edge.data.formats import load_dataset
    from scjd_edge.data.skeleton import bone_lengths
    from scjd_edge.infer.rescale import TRAINING_SUBJECTS

    sequences = load_dataset(data).select(list(TRAINING_SUBJECTS), "train")
    return np.median(np.concatenate([bone_lengths(s.pose_3d) for s in sequences]), axis=0)


def _stats(values: np.ndarray) -> dict[str, float]:
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return {"p5": float(p5), "median": float(p50), "p95": float(p95)}


def goals(measured: dict) -> list[dict]:
    from scjd_edge.bench.goals import judged

    summary = measured["summary"]
    return [
        judged(
            f"person found in >= {DETECTION_GOAL:.0%} of frames",
            measured["detection_rate"] >= DETECTION_GOAL,
            f"{measured['detection_rate']:.1%} "
            f"({summary['detected_frames']} of {summary['frames_read']})",
        ),
        judged(
            f"skeleton height {HEIGHT_RANGE_M[0]}-{HEIGHT_RANGE_M[1]} m on >= "
            f"{HEIGHT_GOAL:.0%} of lifted frames",
            measured["height_in_range_share"] >= HEIGHT_GOAL,
            f"{measured['height_in_range_share']:.1%} (median "
            f"{measured['height_m']['median']:.2f} m)",
        ),
        judged(
            f"end to end >= {FPS_GOAL:g} frames/s on the CPU, detector included",
            summary["fps"] >= FPS_GOAL,
            f"{summary['fps']:.1f} frames/s",
        ),
    ]


def markdown(report: dict) -> str:
    from scjd_edge.bench.goals import goals_markdown

    m, s = report["measured"], report["measured"]["summary"]
    lines = [
        "# Video in, 3D out on the CPU (walk_vtest.mp4)",
        "",
        f"Created {report['created']} by `benchmarks/video_cpu.py`; {report['machine']}, "
        f"torch threads {report['threads']}. Machine shared with other jobs while measured "
        f"(1-minute load average {report['load_average_1min'][0]:g} before, "
        f"{report['load_average_1min'][1]:g} after, on 2 cores): an idle machine gives "
        "lower latencies and more frames/s.",
        "",
        f"- Video: {s['video']} ({s['image_size'][0]}x{s['image_size'][1]}, "
        f"{s['video_fps']:g} frames/s, {s['frames_read']} frames).",
        f"- 2D detector: {s['detector']}.",
        f"- Lifter: {s['model']} ({s['backend']}, {s['window_frames']}-frame window, "
        f"lookahead {s['lookahead_frames']} frames = {s['lookahead_seconds']:.1f} s delay), "
        f"{'2D rescaled to the training person size' if s['rescaled'] else 'no rescaling'}, "
        f"smoothing: {s['smoothing']}.",
        *([f"- Model: {report['model_note']}"] if report["model_note"] else []),
        "",
        "| measure | value |",
        "|---|---:|",
        f"| person found | {m['detection_rate']:.1%} ({s['detected_frames']} of "
        f"{s['frames_read']} frames) |",
        f"| height Head-ankles, median (p5-p95) | {m['height_m']['median']:.2f} m "
        f"({m['height_m']['p5']:.2f}-{m['height_m']['p95']:.2f}) |",
        f"| frames with height in {HEIGHT_RANGE_M[0]}-{HEIGHT_RANGE_M[1]} m | "
        f"{m['height_in_range_share']:.1%} |",
        f"| same without the rescaling: median height (p5-p95), in range | "
        f"{m['height_without_rescaling_m']['median']:.2f} m "
        f"({m['height_without_rescaling_m']['p5']:.2f}-"
        f"{m['height_without_rescaling_m']['p95']:.2f}), "
        f"{m['height_in_range_share_without_rescaling']:.1%} |",
        f"| 3D motion + jitter: joint displacement per frame, median | "
        f"{m['jitter_mm_per_frame_median']:.1f} mm/frame |",
        f"| 3D jitter: joint acceleration, median | "
        f"{m['acceleration_mm_per_frame2_median']:.1f} mm/frame^2 |",
        f"| same two with One-Euro smoothing ({m['one_euro']['parameters']}) | "
        f"{m['one_euro']['jitter_mm_per_frame_median']:.1f} mm/frame, "
        f"{m['one_euro']['acceleration_mm_per_frame2_median']:.1f} mm/frame^2 |",
        f"| detector latency p50 / p99 | {s['detector_ms']['p50']:.1f} / "
        f"{s['detector_ms']['p99']:.1f} ms |",
        f"| lifter latency p50 / p99 (tracking + model + smoothing) | "
        f"{s['lifter_ms']['p50']:.2f} / {s['lifter_ms']['p99']:.2f} ms |",
        f"| end to end (decode + detect + lift, streaming) | {s['fps']:.1f} frames/s |",
        f"| CPU time per frame, all threads (not inflated by other jobs) | "
        f"{s['cpu_ms_per_frame']:.1f} ms |",
        "",
        "Bone lengths (median over lifted frames vs the CMU training skeletons, m):",
        "",
        "| bone | lifted | CMU train |",
        "|---|---:|---:|",
    ]
    for name, row in m["bone_lengths_m"].items():
        reference = "-" if row["cmu_train_median"] is None else f"{row['cmu_train_median']:.3f}"
        lines.append(f"| {name} | {row['median']:.3f} | {reference} |")
    return "\n".join(lines) + "\n\n" + goals_markdown(report["goals"]) + "\n"


def main(argv: list[str] | None = None) -> int:
    from scjd_edge.errors import ScjdError
    from scjd_edge.io import write_json, write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="lifter checkpoint or ONNX")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "cmu",
                        help="CMU folder for the reference bone lengths")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-note", default="", help="how the model was made, for the report")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    try:
        measured = measure(args)
    except ScjdError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = {
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} CPU, {_cores()} logical cores",
        "threads": args.threads,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "model_note": args.model_note,
        "measured": measured,
    }
    report["goals"] = goals(measured)
    write_json(args.out / "video_cpu.json", report)
    write_text(args.out / "video_cpu.md", markdown(report))
    print(markdown(report))
    return 0


def _cores() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
