"""`scjd-edge infer`: lift 2D keypoint tracks from any 2D detector to 3D.

    summary = run_infer(Path("student.onnx"), Path("video_keypoints.json"), out=Path("3d.npz"))

Steps: read the detector file and choose one person (`keypoints`), fill missing keypoints
and convert COCO-17 to H36M-17, normalise with the image size, lift every frame with its
centred window (`lifting`: batched, or streaming through a ring buffer), write the poses
and a picture (`viz`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.camera import normalize_screen_coordinates
from scjd_edge.data.skeleton import JOINT_NAMES
from scjd_edge.errors import ConfigError
from scjd_edge.infer.keypoints import KeypointTrack, load_keypoints
from scjd_edge.infer.lifting import StreamingLifter, lift_sequence, stream_sequence
from scjd_edge.io import write_json, write_npz

__all__ = ["StreamingLifter", "lift_sequence", "load_keypoints", "render_summary", "run_infer"]

OUTPUT_SUFFIXES = (".npz", ".json")
DEFAULT_FPS = 25.0  # playback rate of pictures when the keypoint file gives none


def run_infer(
    model: Path,
    keypoints: Path,
    format: str = "coco",
    image_size: tuple[int, int] | None = None,
    out: Path | None = None,
    viz: Path | None = None,
    stream: bool = False,
    track_id: int | None = None,
    min_score: float = 0.3,
    batch_size: int = 256,
    backend: str | None = None,
) -> dict[str, Any]:
    """Lift one person's 2D keypoints (a detector's file) to root-relative 3D, metres.

    format: joint layout of the file, "coco" (COCO-17) or "h36m" (H36M-17). out: .npz with
    `pose_3d` (F, 17, 3) metres root-relative camera coordinates, `keypoints_2d` (F, 17, 2)
    H36M-17 pixels after gap filling, `interpolated` (F, 17) bool, `joint_names`,
    `frame_ids`, `image_size`; or .json with the same per frame. viz: .gif, .mp4 or a
    folder of PNG frames. Returns a summary (frames, filled keypoints per joint, timing).
    """
    _check_out_path(out)
    if viz is not None:
        from scjd_edge.infer.viz import resolve_picture_path

        resolve_picture_path(viz)  # a bad picture name fails before the work, not after
    track = load_keypoints(keypoints, format, image_size, track_id, min_score)
    from scjd_edge.export.runtime import load_predictor

    predictor = load_predictor(model, backend=backend)
    width, height = track.image_size
    keypoints_2d = normalize_screen_coordinates(track.keypoints_2d, width, height)
    keypoints_2d = keypoints_2d.astype(np.float32)
    started = time.perf_counter()
    if stream:
        pose_3d, latencies_ms = stream_sequence(predictor, keypoints_2d)
    else:
        pose_3d, latencies_ms = lift_sequence(predictor, keypoints_2d, batch_size), []
    seconds = time.perf_counter() - started
    summary = _summary(model, predictor, track, stream, seconds, latencies_ms)
    summary["layout"] = format
    if out is not None:
        summary["out"] = str(write_poses(out, pose_3d, track))
    if viz is not None:
        _write_picture(viz, pose_3d, track, summary)
    return summary


def write_poses(path: Path, pose_3d: np.ndarray, track: KeypointTrack) -> Path:
    """Write the lifted poses as .npz (arrays) or .json (one record per frame)."""
    frame_ids = _frame_id_array(track.frame_ids)
    if Path(path).suffix.lower() == ".npz":
        return write_npz(
            path,
            pose_3d=pose_3d.astype(np.float32),
            keypoints_2d=track.keypoints_2d.astype(np.float32),
            interpolated=track.interpolated,
            joint_names=np.array(JOINT_NAMES),
            frame_ids=frame_ids,
            image_size=np.array(track.image_size, dtype=np.int64),
        )
    frames = [
        {
            "frame_id": frame_id,
            "pose_3d": np.round(pose.astype(np.float64), 5).tolist(),
            "keypoints_2d": np.round(points.astype(np.float64), 2).tolist(),
            "interpolated": mask.tolist(),
        }
        for frame_id, pose, points, mask in zip(
            frame_ids.tolist(), pose_3d, track.keypoints_2d, track.interpolated, strict=True
        )
    ]
    document = {
        "joint_names": list(JOINT_NAMES),
        "units": "metres, root-relative camera coordinates (x right, y down, z forward)",
        "image_size": list(track.image_size),
        "frames": frames,
    }
    return write_json(path, document)


def render_summary(summary: dict[str, Any]) -> list[str]:
    """Lines for a terminal: what was lifted, what was filled in, how fast, what was written."""
    lines = [
        f"lifted {summary['frames']} frames with {summary['model']} ({summary['backend']}, "
        f"{summary['window_frames']}-frame windows, {summary['mode']})",
        f"2D input: {summary['keypoints']} ({summary['layout']}, image "
        f"{summary['image_size'][0]}x{summary['image_size'][1]}, up to {summary['max_people']} "
        f"people per frame)",
    ]
    missing = summary["missing_frames"]
    if missing:
        lines.append(f"{missing} frames without the person: every joint interpolated")
    low_score = {n: c - missing for n, c in summary["interpolated"].items() if c > missing}
    if low_score:
        counts = ", ".join(f"{name} {count}" for name, count in low_score.items())
        lines.append(f"interpolated low-score or missing keypoints (frames per joint): {counts}")
    elif not missing:
        lines.append("interpolated keypoints: none")
    lines.append(
        f"lifting took {summary['seconds']:.2f} s ({summary['poses_per_second']:.0f} poses/s)"
    )
    if summary["mode"] == "stream":
        lines.append(
            f"streaming: {summary['mean_latency_ms']:.2f} ms per frame (mean), plus a fixed "
            f"delay of {summary['latency_frames']} frames (the window's centre)"
        )
    lines.extend(summary["notes"])
    for key in ("out", "viz"):
        if summary.get(key):
            lines.append(f"wrote {summary[key]}")
    if not summary.get("out"):
        lines.append("3D poses not saved: pass --out poses.npz (or .json)")
    return lines


def _summary(model, predictor, track, stream, seconds, latencies_ms) -> dict[str, Any]:
    window_frames = int(predictor.deployment.window_frames)
    frames = len(track.keypoints_2d)
    summary = {
        "frames": frames,
        "model": str(model),
        "backend": predictor.backend,
        "window_frames": window_frames,
        "mode": "stream" if stream else "batch",
        "keypoints": str(track.source),
        "image_size": list(track.image_size),
        "max_people": track.max_people,
        "missing_frames": track.missing_frames,
        "track_ids": sorted({t for t in track.track_ids if t is not None}),
        "interpolated": track.interpolated_counts,
        "seconds": seconds,
        "poses_per_second": frames / max(seconds, 1e-9),
        "notes": [],
        "out": None,
        "viz": None,
    }
    if stream:
        summary["latency_frames"] = (window_frames - 1) // 2
        summary["mean_latency_ms"] = float(np.mean(latencies_ms))
    return summary


def _check_out_path(out: Path | None) -> None:
    if out is not None and Path(out).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"--out {out}: expected a .npz or .json file name")


def _write_picture(viz: Path, pose_3d: np.ndarray, track: KeypointTrack, summary: dict) -> None:
    from scjd_edge.infer.viz import write_animation

    result = write_animation(
        viz, pose_3d, track.keypoints_2d, track.image_size, fps=track.fps or DEFAULT_FPS
    )
    summary["viz"] = str(result["path"])
    summary["viz_frames"] = result["frames"]
    if result["message"]:
        summary["notes"].append(result["message"])


def _frame_id_array(frame_ids: list[Any]) -> np.ndarray:
    """Frame ids as an int64 array, or as strings when the file used names."""
    if all(isinstance(f, int) and not isinstance(f, bool) for f in frame_ids):
        return np.array(frame_ids, dtype=np.int64)
    return np.array([str(f) for f in frame_ids])
