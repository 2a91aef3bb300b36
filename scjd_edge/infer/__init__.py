"""`scjd-edge infer`: lift 2D keypoints to 3D, from a detector's file or from a video.

    summary = run_infer(Path("student.onnx"), Path("video_keypoints.json"), out=Path("3d.npz"))
    summary = run_video_infer(Path("student.onnx"), "walk.mp4", out=Path("3d.json"),
                              viz=Path("walk_3d.mp4"))

From a file: read the detector file and choose one person (`keypoints`), fill missing
keypoints and convert COCO-17 to H36M-17, normalise with the image size, rescale to the
training data's person size (`rescale`), lift every frame with its window (`lifting`:
batched, or streaming through a ring buffer), write the poses (`outputs`) and a picture
(`viz`). From a video or camera: everybody found, tracked and lifted frame by frame as
a live stream (`people_video`, `people`, `people_stream`; one person from a detector
file: `run_video_infer`, `streaming`), pictures drawn on the video (`overlay`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.camera import normalize_screen_coordinates
from scjd_edge.errors import ConfigError, DataError
from scjd_edge.infer.keypoints import KeypointTrack, load_keypoints
from scjd_edge.infer.lifting import StreamingLifter, lift_sequence, stream_sequence
from scjd_edge.infer.outputs import check_finite_poses, check_out_path, write_poses
from scjd_edge.infer.resample import poses_at_video_frames, resample_2d
from scjd_edge.infer.rescale import rescale_to_training_size
from scjd_edge.infer.smoothing import OneEuroParams, smooth_sequence
from scjd_edge.limits import check_window_batch

__all__ = [
    "StreamingLifter",
    "lift_sequence",
    "load_keypoints",
    "render_summary",
    "render_video_summary",
    "run_infer",
    "run_video_infer",
]

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
    rescale: bool = True,
    smoothing: OneEuroParams | None = None,
    engine_onnx: Path | None = None,
    fps: float | None = None,
) -> dict[str, Any]:
    """Lift one person's 2D keypoints (a detector's file) to root-relative 3D, metres.

    format: joint layout of the file, "coco" (COCO-17) or "h36m" (H36M-17). rescale: bring
    each frame's skeleton to the training data's size and position first (`rescale`).
    smoothing: One-Euro parameters, None for none. out: .npz or .json (`outputs`). viz:
    .gif, .mp4 or a folder of PNG frames. engine_onnx: the source ONNX of a TensorRT engine
    without a sidecar. fps: the file's frame rate (default: the one it records): when the
    model's contract records another, the 2D is resampled to the model's rate, lifted there
    and the poses mapped back to the file's frames. Returns a summary (frames, filled
    keypoints per joint, timing).
    """
    check_out_path(out)
    if viz is not None:
        from scjd_edge.infer.viz import resolve_picture_path

        resolve_picture_path(viz)  # a bad picture name fails before the work, not after
    track = load_keypoints(keypoints, format, image_size, track_id, min_score)
    from scjd_edge.export.runtime import load_predictor

    engine_source = {} if engine_onnx is None else {"engine_onnx": engine_onnx}
    predictor = load_predictor(model, backend=backend, **engine_source)
    check_window_batch(batch_size, predictor.deployment.window_frames, "--batch-size")
    width, height = track.image_size
    keypoints_2d = normalize_screen_coordinates(track.keypoints_2d, width, height)
    keypoints_2d = keypoints_2d.astype(np.float32)
    if rescale:
        keypoints_2d = rescale_to_training_size(keypoints_2d)
    started = time.perf_counter()
    input_fps = fps or track.fps
    model_fps = getattr(predictor.deployment, "fps", None)
    resampled = bool(input_fps and model_fps and abs(input_fps - model_fps) > 1e-6)
    if resampled:
        times, keypoints_2d, _ = resample_2d(
            keypoints_2d, ~track.interpolated, input_fps, model_fps
        )
    if stream:
        pose_3d, latencies_ms = stream_sequence(predictor, keypoints_2d)
    else:
        pose_3d, latencies_ms = lift_sequence(predictor, keypoints_2d, batch_size), []
    if resampled:
        pose_3d = poses_at_video_frames(times, pose_3d, len(track.keypoints_2d), input_fps)
    check_finite_poses(pose_3d, model)
    fps = input_fps or DEFAULT_FPS
    if smoothing is not None:
        pose_3d = smooth_sequence(pose_3d, fps, smoothing)
    seconds = time.perf_counter() - started
    summary = _summary(model, predictor, track, stream, seconds, latencies_ms)
    summary.update(layout=format, rescaled=rescale, smoothing=_smoothing_text(smoothing))
    summary.update(input_fps=input_fps, model_fps=model_fps, resampled=resampled)
    if stream:
        summary["lookahead_seconds"] = summary["lookahead_frames"] / (model_fps or fps)
    if out is not None:
        summary["out"] = str(
            write_poses(
                out,
                pose_3d,
                track.keypoints_2d,
                track.interpolated,
                track.frame_ids,
                track.image_size,
                track.fps,
            )
        )
    if viz is not None:
        _write_picture(viz, pose_3d, track, summary)
    return summary


def run_video_infer(
    model: Path,
    video: str | Path,
    keypoints: Path | None = None,
    out: Path | None = None,
    viz: Path | None = None,
    track_id: int | None = None,
    min_score: float = 0.3,
    backend: str | None = None,
    rescale: bool = True,
    smoothing: OneEuroParams | None = None,
    max_frames: int | None = None,
    detector=None,
) -> dict[str, Any]:
    """Lift the person in a video file or camera (index "0") to 3D, streaming frame by frame.

    The 2D detector is MediaPipe BlazePose, or the people of `keypoints` (a detector file
    whose frames are the video's), or `detector` (any `detectors.Detector`). A camera
    stream ends after `max_frames` (default 300) or when it closes. Returns a summary with
    detection rate, lookahead, latencies and frames per second (see `streaming`), and
    under "result" the `streaming.StreamResult` itself.
    """
    from scjd_edge.export.runtime import load_predictor
    from scjd_edge.infer.streaming import run_stream
    from scjd_edge.infer.video import VideoSource

    check_out_path(out)
    if viz is not None:
        from scjd_edge.infer.overlay import picture_kind

        picture_kind(viz)
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"--max-frames {max_frames}: expected at least 1")
    source = VideoSource(video)
    if source.is_camera and max_frames is None:
        max_frames = 300
    predictor = load_predictor(model, backend=backend)
    detector = detector or _default_detector(keypoints)
    kept_frames: list[np.ndarray] = []
    keep = (lambda _, frame: kept_frames.append(frame)) if viz and source.is_camera else None
    try:
        result = run_stream(
            source.frames(max_frames),
            detector,
            predictor,
            source.image_size,
            source.fps,
            track_id=track_id,
            min_score=min_score,
            rescale=rescale,
            smoothing=smoothing,
            on_frame=keep,
        )
    finally:
        detector.close()
        source.close()
    if not len(result.frame_indices):
        raise DataError(f"{source.name}: no person found in any of its {result.frames_read} frames")
    summary = _video_summary(model, predictor, source, detector, result)
    summary.update(rescaled=rescale, smoothing=_smoothing_text(smoothing))
    if out is not None:
        summary["out"] = str(
            write_poses(
                out,
                result.pose_3d,
                result.keypoints_2d,
                result.interpolated,
                result.frame_indices,
                source.image_size,
                source.fps,
            )
        )
    if viz is not None:
        from scjd_edge.infer.overlay import write_overlay

        frames = kept_frames if source.is_camera else VideoSource(video).frames(max_frames)
        summary["viz"] = str(write_overlay(viz, frames, result, source.fps)["path"])
    summary["result"] = result
    return summary


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
    lines.append(_processing_line(summary))
    lines.append(_rate_line(summary))
    lines.append(
        f"lifting took {summary['seconds']:.2f} s ({summary['poses_per_second']:.0f} poses/s)"
    )
    if summary["mode"] == "stream":
        lines.append(
            f"streaming: {summary['mean_latency_ms']:.2f} ms per frame (mean), plus a fixed "
            f"delay of {summary['lookahead_frames']} model frames = "
            f"{summary['lookahead_seconds']:.2f} s (the model's lookahead)"
        )
    lines.extend(summary["notes"])
    return lines + _written_lines(summary)


def render_video_summary(summary: dict[str, Any]) -> list[str]:
    """Lines for a terminal after a video stream."""
    lines = [
        f"video: {summary['video']} ({summary['image_size'][0]}x{summary['image_size'][1]}, "
        f"{summary['video_fps']:g} frames/s, {summary['frames_read']} frames read)",
        f"2D detector: {summary['detector']}; person found in {summary['detected_frames']} of "
        f"{summary['frames_read']} frames ({100 * summary['detection_rate']:.1f} %)",
        f"lifted {summary['frames']} frames with {summary['model']} ({summary['backend']}, "
        f"{summary['window_frames']}-frame windows)",
        _processing_line(summary),
        f"lookahead: {summary['lookahead_frames']} frames "
        + (
            "(causal model: no delay)"
            if summary["lookahead_frames"] == 0
            else f"(each pose is output {summary['lookahead_seconds']:.2f} s after its frame)"
        ),
        f"latency per frame (ms, p50 / p99): detector {summary['detector_ms']['p50']:.1f} / "
        f"{summary['detector_ms']['p99']:.1f}, lifter {summary['lifter_ms']['p50']:.2f} / "
        f"{summary['lifter_ms']['p99']:.2f}",
        f"end to end: {summary['fps']:.1f} frames/s (decode + detect + lift, "
        f"{summary['seconds']:.1f} s wall time, pictures not included); CPU time "
        f"{summary['cpu_ms_per_frame']:.1f} ms per frame (all threads)",
    ]
    return lines + _written_lines(summary)


def _rate_line(summary: dict[str, Any]) -> str:
    model_fps, input_fps = summary["model_fps"], summary["input_fps"]
    if summary["resampled"]:
        return f"2D resampled from {input_fps:g} to the model's {model_fps:g} frames/s and back"
    if not input_fps:
        return "frame rate unknown (pass --fps): 2D lifted as it is, not resampled"
    return f"2D at {input_fps:g} frames/s, the model's rate: not resampled"


def _processing_line(summary: dict[str, Any]) -> str:
    scale = "rescaled to the training person size" if summary["rescaled"] else "not rescaled"
    return f"2D {scale}; smoothing: {summary['smoothing']}"


def _written_lines(summary: dict[str, Any]) -> list[str]:
    lines = [f"wrote {summary[key]}" for key in ("out", "viz") if summary.get(key)]
    if not summary.get("out"):
        lines.append("3D poses not saved: pass --out poses.npz (or .json)")
    return lines


def _smoothing_text(smoothing: OneEuroParams | None) -> str:
    return "none" if smoothing is None else smoothing.describe()


def _default_detector(keypoints: Path | None):
    from scjd_edge.infer.detectors import BlazePoseDetector, KeypointFileDetector

    return KeypointFileDetector(keypoints) if keypoints is not None else BlazePoseDetector()


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0}
    return {"p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99))}


def _video_summary(model, predictor, source, detector, result) -> dict[str, Any]:
    return {
        "video": source.name,
        "image_size": list(source.image_size),
        "video_fps": source.fps,
        "detector": detector.name,
        "frames_read": result.frames_read,
        "detected_frames": int(result.detected.sum()),
        "detection_rate": float(result.detected.mean()),
        "frames": len(result.pose_3d),
        "model": str(model),
        "backend": predictor.backend,
        "window_frames": int(predictor.deployment.window_frames),
        "lookahead_frames": result.lookahead_frames,
        "lookahead_seconds": result.lookahead_frames / source.fps,
        "detector_ms": _percentiles(result.detector_ms),
        "lifter_ms": _percentiles(result.lifter_ms),
        "fps": result.fps,
        "seconds": result.seconds,
        "cpu_ms_per_frame": 1000.0 * result.cpu_seconds / max(result.frames_read, 1),
        "out": None,
        "viz": None,
    }


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
        from scjd_edge.infer.lifting import lookahead_frames_of

        summary["lookahead_frames"] = lookahead_frames_of(predictor)
        summary["mean_latency_ms"] = float(np.mean(latencies_ms))
    return summary


def _write_picture(viz: Path, pose_3d: np.ndarray, track: KeypointTrack, summary: dict) -> None:
    from scjd_edge.infer.viz import write_animation

    result = write_animation(
        viz, pose_3d, track.keypoints_2d, track.image_size, fps=track.fps or DEFAULT_FPS
    )
    summary["viz"] = str(result["path"])
    summary["viz_frames"] = result["frames"]
    if result["message"]:
        summary["notes"].append(result["message"])
