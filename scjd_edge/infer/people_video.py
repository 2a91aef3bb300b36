"""`infer --video`: everybody in a video or camera lifted to 3D (see `people_stream`).

    summary = run_people_video(Path("runs/frontier"), "street.mp4", out=Path("3d.json"))

The model is a file, or a folder of models of which the one with the requested lookahead
is taken: 0 by default, the causal student, so that no pose waits for future frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.errors import ConfigError, DataError

DEFAULT_LOOKAHEAD = 0  # real time: the causal student
CAMERA_MAX_FRAMES = 300


def choose_model(model: Path, lookahead: int | None):
    """(path, predictor) of `model`, or in a folder the model file whose contract has
    `lookahead` future frames (default DEFAULT_LOOKAHEAD; first by name when several)."""
    from scjd_edge.export.runtime import MODEL_SUFFIXES, load_predictor

    model = Path(model)
    if not model.is_dir():
        predictor = load_predictor(model)
        found = int(predictor.deployment.lookahead_frames)
        if lookahead is not None and found != lookahead:
            raise ConfigError(f"--lookahead {lookahead}: {model} has lookahead {found} frames")
        return model, predictor
    wanted = DEFAULT_LOOKAHEAD if lookahead is None else lookahead
    files = sorted(p for p in model.rglob("*") if p.suffix.lower() in MODEL_SUFFIXES)
    seen = {}
    for path in files:
        predictor = load_predictor(path)
        seen[path] = int(predictor.deployment.lookahead_frames)
        if seen[path] == wanted:
            return path, predictor
    raise ConfigError(
        f"{model}: no model with lookahead {wanted} frames among {len(files)} model files "
        f"(lookaheads found: {sorted(set(seen.values()))}); pass --lookahead N or a model file"
    )


def run_people_video(
    model: Path,
    video: str | Path,
    out: Path | None = None,
    viz: Path | None = None,
    track_id: int | None = None,
    lookahead: int | None = None,
    detect_every: int = 1,
    min_score: float = 0.3,
    rescale: bool = True,
    smoothing=None,
    max_frames: int | None = None,
    tracker=None,
) -> dict[str, Any]:
    """Lift every person (or `track_id`) in a video file or camera ("0"). `tracker`: a
    `people.PeopleTracker` (default: OpenCV HOG + BlazePose). Returns a summary with
    the `people_stream.PeopleResult` under "result"."""
    from scjd_edge.infer.outputs import check_out_path
    from scjd_edge.infer.people_stream import run_people_stream
    from scjd_edge.infer.video import VideoSource

    check_out_path(out)
    if viz is not None:
        from scjd_edge.infer.overlay import picture_kind

        picture_kind(viz)
    if detect_every < 1:
        raise ConfigError(f"--detect-every {detect_every}: expected at least 1")
    source = VideoSource(video)  # a missing [video] extra or a bad video fails first
    try:
        model_path, predictor = choose_model(model, lookahead)
        if tracker is None:
            from scjd_edge.infer.detectors import _import_mediapipe_pose
            from scjd_edge.infer.people import PeopleTracker

            _import_mediapipe_pose()  # fail now, not at the first person
            tracker = PeopleTracker()
    except BaseException:
        source.close()
        raise
    if source.is_camera and max_frames is None:
        max_frames = CAMERA_MAX_FRAMES
    kept_frames: list[np.ndarray] = []
    keep = (lambda _, frame: kept_frames.append(frame)) if viz and source.is_camera else None
    try:
        result = run_people_stream(
            source.frames(max_frames), tracker, predictor, source.image_size, source.fps,
            detect_every=detect_every, track_id=track_id, min_score=min_score,
            rescale=rescale, smoothing=smoothing, on_frame=keep,
        )  # fmt: skip
    finally:
        tracker.close()
        source.close()
    if not result.tracks:
        who = "nobody" if track_id is None else f"no person with track id {track_id}"
        raise DataError(f"{source.name}: {who} found in any of its {result.frames_read} frames")
    summary = people_summary(model_path, predictor, source, result)
    summary["rescaled"] = rescale
    summary["smoothing"] = "none" if smoothing is None else smoothing.describe()
    _write(summary, result, source, out, viz, kept_frames, video, max_frames)
    summary["result"] = result
    return summary


def _write(summary, result, source, out, viz, kept_frames, video, max_frames) -> None:
    from scjd_edge.infer.outputs import write_people_poses, write_poses

    if out is not None:
        if len(result.tracks) == 1:  # one person: the single-person layout
            (track,) = result.tracks.values()
            path = write_poses(out, track.pose_3d, track.keypoints_2d, track.interpolated,
                               track.frame_indices, source.image_size, source.fps)  # fmt: skip
        else:
            path = write_people_poses(out, result.tracks, source.image_size, source.fps)
        summary["out"] = str(path)
    if viz is not None:
        from scjd_edge.infer.overlay import write_people_overlay
        from scjd_edge.infer.video import VideoSource

        frames = kept_frames if source.is_camera else VideoSource(video).frames(max_frames)
        longest = max(result.tracks.values(), key=lambda t: len(t.frame_indices))
        summary["viz"] = str(write_people_overlay(viz, frames, result, longest.track_id)["path"])


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0}
    return {"p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99))}


def people_summary(model_path: Path, predictor, source, result) -> dict[str, Any]:
    outliers: dict[str, int] = {}
    for track in result.tracks.values():
        for check, count in track.outliers.items():
            outliers[check] = outliers.get(check, 0) + count
    return {
        "video": source.name,
        "image_size": list(source.image_size),
        "video_fps": source.fps,
        "model_fps": result.model_fps,
        "frames_read": result.frames_read,
        "tracks": {
            int(t.track_id): {
                "first_frame": int(t.frame_indices[0]),
                "lifted": len(t.pose_3d),
                "model_frames": t.model_frames,
            }
            for t in result.tracks.values()
        },
        "mean_people_per_frame": float(np.mean(result.people_per_frame)),
        "outliers": outliers,
        "model": str(model_path),
        "backend": predictor.backend,
        "window_frames": int(predictor.deployment.window_frames),
        "lookahead_frames": result.lookahead_frames,
        "lookahead_seconds": result.lookahead_seconds,
        "detect_every": result.detect_every,
        "detector_ms": _percentiles(result.detector_ms),
        "lifter_ms": _percentiles(result.lifter_ms),
        "pose_latency_ms": _percentiles(result.pose_latency_ms),
        "fps": result.fps,
        "seconds": result.seconds,
        "cpu_ms_per_frame": 1000.0 * result.cpu_seconds / max(result.frames_read, 1),
        "out": None,
        "viz": None,
    }


def render_people_summary(summary: dict[str, Any]) -> list[str]:
    """Lines for a terminal after a multi-person video stream."""
    tracks = summary["tracks"]
    rate = summary["model_fps"]
    resampled = (
        f"2D resampled from {summary['video_fps']:g} to the model's {rate:g} frames/s"
        if rate
        else "the model records no frame rate: 2D not resampled"
    )
    outliers = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary["outliers"].items())
    lines = [
        f"video: {summary['video']} ({summary['image_size'][0]}x{summary['image_size'][1]}, "
        f"{summary['video_fps']:g} frames/s, {summary['frames_read']} frames read)",
        f"people: {len(tracks)} tracks, {summary['mean_people_per_frame']:.1f} per frame on "
        f"average; 2D every {summary['detect_every']} frame(s), carried between",
        "tracks (id: first frame, frames lifted): "
        + ", ".join(f"{k}: {v['first_frame']}, {v['lifted']}" for k, v in tracks.items()),
        f"lifted with {summary['model']} ({summary['backend']}, {summary['window_frames']}-frame "
        f"windows); {resampled}",
        f"2D joints marked missing before lifting (then held): {outliers}",
        f"lookahead: {summary['lookahead_frames']} model frames = "
        f"{summary['lookahead_seconds']:.2f} s"
        + (" (causal: no delay)" if summary["lookahead_frames"] == 0 else ""),
        f"latency (ms, p50 / p99): 2D per detection frame {summary['detector_ms']['p50']:.1f} / "
        f"{summary['detector_ms']['p99']:.1f}; per pose (buffer + model) "
        f"{summary['pose_latency_ms']['p50']:.2f} / {summary['pose_latency_ms']['p99']:.2f}",
        f"end to end: {summary['fps']:.1f} frames/s (decode + detect + lift, pictures not "
        f"included); CPU {summary['cpu_ms_per_frame']:.1f} ms per frame (all threads)",
    ]
    lines += [f"wrote {summary[key]}" for key in ("out", "viz") if summary.get(key)]
    if not summary.get("out"):
        lines.append("3D poses not saved: pass --out poses.npz (or .json)")
    return lines
