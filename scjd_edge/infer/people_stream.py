"""Video -> everybody's 2D -> everybody's 3D, frame by frame, one stream per track.

Per video frame: on one frame in `detect_every` the tracker (`people.PeopleTracker`) finds
and follows people and estimates their 2D; on the frames between, each track's last 2D
is carried along at its box's velocity (marked interpolated). Each track then has its own
`TrackStream`: 2D checks (`quality`), the last good position held for joints marked
missing (`streaming.CausalGapFiller`), COCO-17 -> H36M-17, normalisation (and rescaling),
resampling to the model's frame rate (`resample`, when the contract records one), and a
`StreamingLifter` with the model's lookahead. A track's frames run from its first
detection to its last; frames where it was missed hold every joint. At the end the
poses are mapped back to the video's frames.

Timing: `detector_ms` per frame on which the tracker ran (person detector + BlazePose for
every track), `lifter_ms` per frame (checks, resampling, every track's model calls),
`pose_latency_ms` per model pose (`StreamingLifter.latencies_ms`: buffer + model); the
fixed delay is the lookahead, `lookahead_frames / model_fps` seconds. `fps`: frames read
per second of wall time, decoding included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from scjd_edge.data.skeleton import NUM_JOINTS, coco_to_h36m
from scjd_edge.errors import CheckpointError
from scjd_edge.infer.keypoint_files import Person
from scjd_edge.infer.lifting import StreamingLifter, lookahead_frames_of
from scjd_edge.infer.quality import KeypointChecks
from scjd_edge.infer.resample import StreamingResampler, poses_at_video_frames
from scjd_edge.infer.smoothing import OneEuroFilter, OneEuroParams
from scjd_edge.infer.streaming import CausalGapFiller, model_input


@dataclass
class TrackResult:
    """One track's output. F = its frames, from its first detection to its last."""

    track_id: int
    frame_indices: np.ndarray  # (F,) video frame indices
    keypoints_2d: np.ndarray  # (F, 17, 2) H36M-17 px after checks and gap filling
    interpolated: np.ndarray  # (F, 17) bool: held, marked missing, or carried
    pose_3d: np.ndarray  # (F, 17, 3) root-relative metres
    boxes: np.ndarray  # (F, 4) px, the tracker's box ([nan] * 4 where missed)
    outliers: dict[str, int]  # joints marked missing per check
    model_frames: int  # frames given to the model (after resampling)


@dataclass
class PeopleResult:
    tracks: dict[int, TrackResult]
    frames_read: int
    people_per_frame: list[int]  # tracks with 2D (detected or carried) per frame
    video_fps: float
    model_fps: float | None  # None: the contract records no rate, no resampling
    detect_every: int
    lookahead_frames: int
    detector_ms: list[float] = field(default_factory=list)
    lifter_ms: list[float] = field(default_factory=list)
    pose_latency_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames_read / max(self.seconds, 1e-9)

    @property
    def lookahead_seconds(self) -> float:
        return self.lookahead_frames / (self.model_fps or self.video_fps)

    def boxes_per_frame(self) -> dict[int, list[tuple[int, np.ndarray]]]:
        """frame -> [(track id, box)] where the track had 2D (for `people_eval`)."""
        boxes: dict[int, list[tuple[int, np.ndarray]]] = {}
        for track in self.tracks.values():
            for frame, box in zip(track.frame_indices, track.boxes, strict=True):
                if np.isfinite(box).all():
                    boxes.setdefault(int(frame), []).append((track.track_id, box))
        return boxes


class TrackStream:
    """One track's 2D -> 3D state (module docstring)."""

    def __init__(self, track_id: int, predictor, video_fps: float, image_size, options: dict):
        self.track_id = track_id
        self.predictor = predictor
        self.video_fps = video_fps
        self.image_size = image_size
        self.rescale = options["rescale"]
        self.model_fps = options["model_fps"]
        self.checks = KeypointChecks(video_fps, options["min_score"])
        self.filler = CausalGapFiller(options["min_score"])
        self.lifter = StreamingLifter(predictor)
        self.resampler = (
            StreamingResampler(video_fps, self.model_fps) if self.model_fps is not None else None
        )
        smoothing: OneEuroParams | None = options["smoothing"]
        rate = self.model_fps or video_fps
        self.one_euro = OneEuroFilter(rate, smoothing) if smoothing is not None else None
        self.frame_indices: list[int] = []
        self.keypoints_2d: list[np.ndarray] = []
        self.interpolated: list[np.ndarray] = []
        self.boxes: list[np.ndarray] = []
        self.poses: list[np.ndarray] = []
        self.model_frames = 0
        self._last_coco_2d = np.zeros((NUM_JOINTS, 2))

    def push(self, frame_index: int, person: Person | None, box, carried: bool) -> None:
        """This frame's 2D (None: missed, every joint held); carried: 2D moved on from
        the last detection, so marked interpolated."""
        if person is None:  # the position of every joint as last pushed
            coco_2d, held = self._last_coco_2d, np.ones(NUM_JOINTS, dtype=bool)
        else:
            keypoints = np.array(person.keypoints, dtype=np.float64)
            if not carried:
                keypoints[~self.checks.mark(keypoints, frame_index), 2] = 0.0
            coco_2d, held = self.filler(Person(keypoints))
            held = held | carried
            self._last_coco_2d = coco_2d
        measured = (~held).astype(np.float64)[:, None]
        h36m = coco_to_h36m(np.concatenate([coco_2d, measured], axis=-1))
        self.frame_indices.append(frame_index)
        self.keypoints_2d.append(h36m[:, :2])
        self.interpolated.append(h36m[:, 2] < 1)
        self.boxes.append(np.full(4, np.nan) if box is None else np.asarray(box, float))
        normalised = model_input(h36m[:, :2], *self.image_size, self.rescale)
        if self.resampler is None:
            self._lift(normalised)
            return
        for _, resampled, _ in self.resampler.push(normalised, h36m[:, 2] >= 1):
            self._lift(resampled)

    def _lift(self, model_frame: np.ndarray) -> None:
        self.model_frames += 1
        pose = self.lifter.push(model_frame)
        if pose is not None:
            self.poses.append(self._finished(pose))

    def _finished(self, pose: np.ndarray) -> np.ndarray:
        if not np.isfinite(pose).all():
            raise CheckpointError(
                f"{getattr(self.predictor, 'name', 'the model')}: non-finite 3D pose (NaN/inf) "
                f"for track {self.track_id}: the model's weights are broken; nothing was written"
            )
        return self.one_euro(pose) if self.one_euro is not None else pose

    def finish(self) -> TrackResult:
        self.poses.extend(self._finished(pose) for pose in self.lifter.flush())
        poses = np.array(self.poses, dtype=np.float32).reshape(-1, NUM_JOINTS, 3)
        if self.resampler is not None:
            model_times = np.arange(len(poses)) / self.model_fps
            frames = len(self.frame_indices)
            poses = poses_at_video_frames(model_times, poses, frames, self.video_fps)
        return TrackResult(
            track_id=self.track_id,
            frame_indices=np.array(self.frame_indices, dtype=np.int64),
            keypoints_2d=np.array(self.keypoints_2d, dtype=np.float32).reshape(-1, NUM_JOINTS, 2),
            interpolated=np.array(self.interpolated, dtype=bool).reshape(-1, NUM_JOINTS),
            pose_3d=poses,
            boxes=np.array(self.boxes, dtype=np.float64).reshape(-1, 4),
            outliers=dict(self.checks.counts),
            model_frames=self.model_frames,
        )


def carried_people(tracker, frame_index: int, detect_every: int) -> dict[int, tuple]:
    """Between detections: each track seen on the last detection frame, its 2D and box
    moved on at the box's velocity. track id -> (Person, box, carried=True)."""
    carried = {}
    for track in tracker.tracks:
        if track.person is None or frame_index - track.last_seen >= detect_every:
            continue
        shift = track.velocity * (frame_index - track.last_seen)
        keypoints = np.array(track.person.keypoints, dtype=np.float64)
        keypoints[:, :2] += shift
        carried[track.track_id] = (Person(keypoints), track.predicted_box(frame_index), True)
    return carried


def run_people_stream(
    frames: Iterable[np.ndarray],
    tracker,
    predictor,
    image_size: tuple[int, int],
    video_fps: float,
    detect_every: int = 1,
    track_id: int | None = None,
    min_score: float = 0.3,
    rescale: bool = True,
    smoothing: OneEuroParams | None = None,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
) -> PeopleResult:
    """Lift everybody (or only `track_id`) in a stream of RGB frames (module docstring)."""
    model_fps = getattr(predictor.deployment, "fps", None)
    options = dict(rescale=rescale, model_fps=model_fps, min_score=min_score, smoothing=smoothing)
    streams: dict[int, TrackStream] = {}
    lookahead = lookahead_frames_of(predictor)
    result = PeopleResult({}, 0, [], video_fps, model_fps, detect_every, lookahead)
    started, cpu_started = time.perf_counter(), time.process_time()
    for index, frame in enumerate(frames):
        if on_frame is not None:
            on_frame(index, frame)
        tick = time.perf_counter()
        if index % detect_every == 0:
            people = {t.track_id: (t.person, t.box, False) for t in tracker.update(frame, index)}
            result.detector_ms.append((time.perf_counter() - tick) * 1000.0)
        else:
            people = carried_people(tracker, index, detect_every)
        tock = time.perf_counter()
        if track_id is not None:
            people = {k: v for k, v in people.items() if k == track_id}
        result.people_per_frame.append(len(people))
        alive = {t.track_id for t in tracker.tracks}
        for key, (person, box, carried) in people.items():
            if key not in streams:
                streams[key] = TrackStream(key, predictor, video_fps, image_size, options)
            streams[key].push(index, person, box, carried)
        for key, stream in streams.items():
            if key not in people and key in alive:
                stream.push(index, None, None, False)
        result.lifter_ms.append((time.perf_counter() - tock) * 1000.0)
        result.frames_read = index + 1
    result.tracks = {key: _trimmed(stream.finish()) for key, stream in streams.items()}
    result.pose_latency_ms = [ms for s in streams.values() for ms in s.lifter.latencies_ms]
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    return result


def _trimmed(track: TrackResult) -> TrackResult:
    """Without the frames after the track's last detection (it was lost there)."""
    seen = np.flatnonzero(np.isfinite(track.boxes).all(axis=-1))
    end = int(seen[-1]) + 1 if len(seen) else 0
    for name in ("frame_indices", "keypoints_2d", "interpolated", "pose_3d", "boxes"):
        setattr(track, name, getattr(track, name)[:end])
    return track
