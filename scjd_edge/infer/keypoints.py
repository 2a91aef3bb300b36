"""Read 2D keypoints written by common 2D pose detectors and turn them into one H36M-17 track.

Files understood (the file format is detected from the content; `layout` says the joint
order, "coco" for COCO-17 or "h36m" for H36M-17):

- COCO results JSON: a list of `{"image_id" | "frame" | "frame_id": id, "keypoints":
  [x, y, s] * 17, "score"?, "track_id"?}`, or a COCO annotation file `{"images": [...],
  "annotations": [...]}` (frames are then the images in id order, sizes from "images").
  Integer ids make a contiguous frame range min..max: a frame without a detection is a
  missing frame (interpolated), as detectors omit frames where they find nobody.
- Ultralytics-style JSON: a list of frames, each a list of people; a person is a dict with
  "keypoints" as nested `(17, 2|3)` lists or as `{"x": [...], "y": [...], "visible": [...]}`
  (what `Results.tojson()` writes), with "confidence" / "score" and "track_id" optional; or
  a frame is the nested `(P, 17, 2|3)` list of `keypoints.data.tolist()`.
- MMPose-style JSON: a list of frames `{"frame_id"?, "instances": [{"keypoints": [[x, y],
  ...], "keypoint_scores": [...], "bbox_score"?, "track_id"?}]}`, or the demo's
  `{"meta_info": ..., "instance_info": [...]}`.
- Any of the list-of-frames JSONs may be wrapped as `{"frames": [...], "width": W,
  "height": H}`; top-level "width"/"height" (or COCO "images") give the image size, and
  "fps" the frame rate.
- npz: `keypoints_2d` / `keypoints` / `positions_2d` (or the only array) of shape
  `(F, 17, 2|3)` or `(F, P, 17, 2|3)` (P people, NaN where absent), optional confidences
  `scores` / `keypoint_scores` / `confidence` `(F, 17)` or `(F, P, 17)`, optional
  `image_size` `[W, H]` or `width`/`height`, optional `fps`.

Coordinates are pixels of the image the detector ran on. A keypoint is missing when it is
absent, not finite, or its confidence is below `min_score`; missing keypoints are filled by
linear interpolation over time per joint (nearest valid value before the first and after
the last valid frame) and reported per joint.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.skeleton import COCO_JOINT_NAMES, JOINT_NAMES, NUM_JOINTS, coco_to_h36m
from scjd_edge.errors import DataError

LAYOUTS = ("coco", "h36m")
# A keypoint farther outside the image than this fraction of its width/height means the
# image size does not belong to these coordinates (detectors stay close to the image).
OUTSIDE_IMAGE_TOLERANCE = 0.25
_FRAME_ID_KEYS = ("image_id", "frame", "frame_id")
_NPZ_KEYPOINT_KEYS = ("keypoints_2d", "keypoints", "positions_2d")
_NPZ_SCORE_KEYS = ("scores", "keypoint_scores", "confidence")
_KNOWN_LAYOUTS = {18: "OpenPose COCO-18", 25: "OpenPose BODY_25", 133: "COCO-WholeBody"}


@dataclass
class Person:
    """One detected person in one frame: (17, 3) pixels x, y and confidence."""

    keypoints: np.ndarray
    score: float | None = None
    track_id: int | None = None


@dataclass
class Detections:
    """Everything a detector file holds, before a person is chosen."""

    source: Path
    frame_ids: list[Any]
    people: list[list[Person]]  # per frame, possibly empty
    image_size: tuple[int, int] | None = None
    fps: float | None = None


@dataclass
class KeypointTrack:
    """One person's 2D keypoints over a whole sequence, H36M-17 layout, gaps filled.

    keypoints_2d: (F, 17, 2) pixels. interpolated: (F, 17) bool, True where a joint was
    filled in (a derived joint counts as filled if any keypoint it is built from was).
    """

    source: Path
    keypoints_2d: np.ndarray
    interpolated: np.ndarray
    frame_ids: list[Any]
    image_size: tuple[int, int]
    fps: float | None = None
    track_ids: list[int | None] = field(default_factory=list)  # chosen person per frame
    max_people: int = 1
    missing_frames: int = 0  # frames without the chosen person (every joint filled in)

    @property
    def interpolated_counts(self) -> dict[str, int]:
        """Frames filled in, per H36M joint name."""
        counts = self.interpolated.sum(axis=0)
        return {name: int(count) for name, count in zip(JOINT_NAMES, counts, strict=True)}


def load_keypoints(
    path: str | Path,
    layout: str = "coco",
    image_size: tuple[int, int] | None = None,
    track_id: int | None = None,
    min_score: float = 0.3,
) -> KeypointTrack:
    """Read a detector file, choose one person, fill gaps, convert to H36M-17 (pixels)."""
    path = Path(path)
    if layout not in LAYOUTS:
        raise DataError(f"keypoint layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    detections = read_detections(path)
    size = _resolve_image_size(detections, image_size)
    keypoints, track_ids = select_person(detections, track_id=track_id, min_score=min_score)
    missing_frames = int(np.isnan(keypoints).all(axis=(1, 2)).sum())
    if missing_frames == len(keypoints):
        raise DataError(f"{path}: no person in any of its {len(keypoints)} frames")
    valid = np.isfinite(keypoints).all(axis=-1) & (keypoints[..., 2] >= min_score)
    names = COCO_JOINT_NAMES if layout == "coco" else JOINT_NAMES
    required = coco_joints_used() if layout == "coco" else tuple(range(NUM_JOINTS))
    check_image_size(keypoints[..., :2], valid, size, names, path)
    filled, interpolated = fill_missing(keypoints[..., :2], valid, names, required, path)
    if layout == "coco":
        filled, interpolated = convert_coco_track(filled, interpolated)
    return KeypointTrack(
        source=path,
        keypoints_2d=filled.astype(np.float32),
        interpolated=interpolated,
        frame_ids=detections.frame_ids,
        image_size=size,
        fps=detections.fps,
        track_ids=track_ids,
        max_people=max((len(people) for people in detections.people), default=0),
        missing_frames=missing_frames,
    )


# ---------------------------------------------------------------- reading files


def read_detections(path: Path) -> Detections:
    """Parse a detector file (JSON or npz, see the module docstring) into per-frame people."""
    if not path.is_file():
        raise DataError(f"{path}: keypoint file not found")
    if path.suffix.lower() == ".npz":
        return _read_npz(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(
            f"{path}: not a JSON file ({error}); expected a detector JSON or .npz"
        ) from None
    return _read_json(path, content)


def _read_json(path: Path, content: Any) -> Detections:
    header: dict[str, Any] = {}
    if isinstance(content, dict):
        header = content
        if "annotations" in content:
            return _read_coco_annotations(path, content)
        for key in ("frames", "instance_info"):
            if key in content:
                content = content[key]
                break
        else:
            raise DataError(
                f"{path}: a JSON object needs 'annotations' (COCO), 'instance_info' (MMPose) "
                f"or 'frames'; found keys {sorted(content)[:10]}"
            )
    if not isinstance(content, list) or not content:
        raise DataError(f"{path}: expected a non-empty list of detections or frames")
    first = content[0]
    if isinstance(first, dict) and "keypoints" in first:
        detections = _read_coco_results(path, content)
    elif isinstance(first, dict) and "instances" in first:
        detections = _read_frames(path, content, frame_key="instances")
    elif isinstance(first, list):
        detections = _read_frames(path, content, frame_key=None)
    else:
        raise DataError(
            f"{path}: entry 0 is not a detection (a dict with 'keypoints'), an MMPose frame "
            f"(a dict with 'instances') or an Ultralytics frame (a list of people)"
        )
    detections.image_size = _size_from_header(path, header)
    detections.fps = _optional_float(header.get("fps"))
    return detections


def _read_coco_results(path: Path, entries: list) -> Detections:
    by_frame: dict[Any, list[Person]] = {}
    for index, entry in enumerate(entries):
        where = f"{path}: detection {index}"
        if not isinstance(entry, dict):
            raise DataError(
                f"{where}: expected a dict with 'keypoints', got {type(entry).__name__}"
            )
        frame_id = next((entry[key] for key in _FRAME_ID_KEYS if key in entry), None)
        if frame_id is None:
            raise DataError(f"{where}: no frame id; expected one of {', '.join(_FRAME_ID_KEYS)}")
        by_frame.setdefault(frame_id, []).append(_person_from_dict(entry, where))
    frame_ids = _frame_range(list(by_frame))
    if len(frame_ids) > 2 * len(by_frame):
        raise DataError(
            f"{path}: detections on {len(by_frame)} frame ids spread over {len(frame_ids)} "
            f"frames ({frame_ids[0]}..{frame_ids[-1]}); expected the frames of one video "
            f"(consecutive ids, at most half of them without a detection)"
        )
    return Detections(path, frame_ids, [by_frame.get(frame_id, []) for frame_id in frame_ids])


def _read_coco_annotations(path: Path, content: dict) -> Detections:
    images = content.get("images") or []
    annotations = content["annotations"]
    if not isinstance(annotations, list):
        raise DataError(f"{path}: 'annotations' must be a list of detections")
    detections = _read_coco_results(path, annotations)
    if images:
        frame_ids = sorted(image["id"] for image in images)
        by_frame = dict(zip(detections.frame_ids, detections.people, strict=True))
        unknown = {f for f, people in by_frame.items() if people} - set(frame_ids)
        if unknown:
            raise DataError(
                f"{path}: annotations of image ids {sorted(unknown)[:5]} not in 'images'"
            )
        detections.frame_ids = frame_ids
        detections.people = [by_frame.get(frame_id, []) for frame_id in frame_ids]
        sizes = {
            (int(image["width"]), int(image["height"])) for image in images if "width" in image
        }
        if len(sizes) > 1:
            raise DataError(f"{path}: 'images' have different sizes {sorted(sizes)}; expected one")
        detections.image_size = sizes.pop() if sizes else None
    if detections.image_size is None:
        detections.image_size = _size_from_header(path, content)
    detections.fps = _optional_float(content.get("fps"))
    return detections


def _read_frames(path: Path, frames: list, frame_key: str | None) -> Detections:
    frame_ids, people = [], []
    for index, frame in enumerate(frames):
        where = f"{path}: frame {index}"
        if frame_key is not None:
            if not isinstance(frame, dict) or not isinstance(frame.get(frame_key), list):
                raise DataError(f"{where}: expected a dict with a list under {frame_key!r}")
            frame_ids.append(frame.get("frame_id", frame.get("frame", index)))
            frame = frame[frame_key]
        else:
            if not isinstance(frame, list):
                raise DataError(f"{where}: expected a list of people, got {type(frame).__name__}")
            frame_ids.append(index)
            if (
                frame
                and isinstance(frame[0], list)
                and frame[0]
                and not isinstance(frame[0][0], list)
            ):
                frame = [frame]  # one person's (17, 2|3) keypoints, not a list of people
        people.append([_person(entry, f"{where}, person {p}") for p, entry in enumerate(frame)])
    return Detections(path, frame_ids, people)


def _person(entry: Any, where: str) -> Person:
    if isinstance(entry, dict):
        return _person_from_dict(entry, where)
    return Person(_joint_array(entry, where))


def _person_from_dict(entry: dict, where: str) -> Person:
    if "keypoints" not in entry:
        raise DataError(f"{where}: no 'keypoints' field (found {sorted(entry)[:10]})")
    raw = entry["keypoints"]
    if isinstance(raw, dict):  # Ultralytics tojson(): {"x": [...], "y": [...], "visible": [...]}
        columns = [raw.get("x"), raw.get("y")] + ([raw["visible"]] if "visible" in raw else [])
        if columns[0] is None or columns[1] is None:
            raise DataError(f"{where}: 'keypoints' dict needs 'x' and 'y' lists")
        raw = np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=-1)
    keypoints = _joint_array(raw, where)
    if "keypoint_scores" in entry:  # MMPose
        scores = np.asarray(entry["keypoint_scores"], dtype=np.float64).reshape(-1)
        if scores.shape != (keypoints.shape[0],):
            raise DataError(f"{where}: {scores.size} keypoint_scores for 17 keypoints")
        keypoints[:, 2] = scores
    score = next(
        (entry[key] for key in ("score", "confidence", "bbox_score") if key in entry), None
    )
    track = entry.get("track_id")
    if track is not None:
        try:
            track = int(track)
        except (TypeError, ValueError):
            raise DataError(f"{where}: track_id {track!r} is not an integer") from None
    return Person(keypoints, _optional_float(score), track)


def _joint_array(raw: Any, where: str) -> np.ndarray:
    """(17, 3) float64 from a flat [x, y, s] * J list or nested (J, 2|3) lists."""
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{where}: keypoints are not numbers ({error})") from None
    if array.ndim == 1:
        if array.size % 3:
            raise DataError(f"{where}: flat keypoints of length {array.size}, expected 3 * 17")
        array = array.reshape(-1, 3)
    if array.ndim != 2 or array.shape[1] not in (2, 3):
        raise DataError(f"{where}: keypoints of shape {array.shape}, expected (17, 2) or (17, 3)")
    _check_joint_count(array.shape[0], where)
    if array.shape[1] == 2:
        array = np.concatenate([array, np.ones((array.shape[0], 1))], axis=1)
    return array


def _check_joint_count(num_joints: int, where: str) -> None:
    if num_joints != NUM_JOINTS:
        known = _KNOWN_LAYOUTS.get(num_joints)
        hint = f" (looks like {known}: convert it to COCO-17 first)" if known else ""
        raise DataError(
            f"{where}: {num_joints} joints per person{hint}; expected 17 in the COCO-17 or "
            f"H36M-17 layout"
        )


def _read_npz(path: Path) -> Detections:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:
        raise DataError(f"{path}: cannot read npz without pickled objects ({error})") from None
    key = next((k for k in _NPZ_KEYPOINT_KEYS if k in arrays), None)
    if key is None and len(arrays) == 1:
        key = next(iter(arrays))
    if key is None:
        raise DataError(
            f"{path}: no keypoint array; expected one of {', '.join(_NPZ_KEYPOINT_KEYS)} "
            f"(found {sorted(arrays)})"
        )
    keypoints = np.asarray(arrays[key], dtype=np.float64)
    if keypoints.ndim == 3:
        keypoints = keypoints[:, None]
    if keypoints.ndim != 4 or keypoints.shape[-1] not in (2, 3):
        raise DataError(
            f"{path}: '{key}' has shape {keypoints.shape}; expected (F, 17, 2|3) or (F, P, 17, 2|3)"
        )
    _check_joint_count(keypoints.shape[2], f"{path}: '{key}'")
    keypoints = _attach_scores(path, arrays, keypoints)
    people = [
        [Person(person) for person in frame if np.isfinite(person[:, :2]).any()]
        for frame in keypoints
    ]
    size = None
    if "image_size" in arrays:
        size = tuple(int(v) for v in np.asarray(arrays["image_size"]).reshape(-1)[:2])
    elif "width" in arrays and "height" in arrays:
        size = (int(arrays["width"]), int(arrays["height"]))
    fps = _optional_float(arrays["fps"]) if "fps" in arrays else None
    return Detections(path, list(range(len(people))), people, size, fps)


def _attach_scores(path: Path, arrays: dict, keypoints: np.ndarray) -> np.ndarray:
    """(F, P, 17, 2|3) -> (F, P, 17, 3), confidences from a separate array if present."""
    score_key = next((k for k in _NPZ_SCORE_KEYS if k in arrays), None)
    if score_key is not None:
        scores = np.asarray(arrays[score_key], dtype=np.float64).reshape(
            keypoints.shape[:2] + (-1,)
        )
        if scores.shape[-1] != NUM_JOINTS:
            raise DataError(
                f"{path}: '{score_key}' has {scores.shape[-1]} values per person, expected 17"
            )
        return np.concatenate([keypoints[..., :2], scores[..., None]], axis=-1)
    if keypoints.shape[-1] == 2:
        ones = np.ones(keypoints.shape[:-1] + (1,))
        return np.concatenate([keypoints, ones], axis=-1)
    return keypoints


def _frame_range(frame_ids: list[Any]) -> list[Any]:
    """Sorted frame ids; integer ids are completed to the full range min..max."""
    if all(isinstance(f, int) and not isinstance(f, bool) for f in frame_ids):
        return list(range(min(frame_ids), max(frame_ids) + 1))
    return sorted(frame_ids, key=str)


def _size_from_header(path: Path, header: dict) -> tuple[int, int] | None:
    if "width" in header and "height" in header:
        try:
            return int(header["width"]), int(header["height"])
        except (TypeError, ValueError):
            raise DataError(f"{path}: 'width'/'height' must be integers (pixels)") from None
    return None


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(np.asarray(value).reshape(-1)[0])


def _resolve_image_size(
    detections: Detections, image_size: tuple[int, int] | None
) -> tuple[int, int]:
    stored = detections.image_size
    if image_size is not None and stored is not None and tuple(image_size) != tuple(stored):
        raise DataError(
            f"{detections.source}: the file says the images are {stored[0]}x{stored[1]} but "
            f"--image-size is {image_size[0]}x{image_size[1]}; drop --image-size or fix the file"
        )
    size = image_size if image_size is not None else stored
    if size is None:
        raise DataError(
            f"{detections.source}: the image size is not in the file ('width'/'height' or COCO "
            f"'images'); pass --image-size WxH (the size of the images the detector ran on)"
        )
    if min(size) <= 0:
        raise DataError(f"{detections.source}: image size {size[0]}x{size[1]} must be positive")
    return int(size[0]), int(size[1])


# ---------------------------------------------------------------- choosing a person


def select_person(
    detections: Detections, track_id: int | None = None, min_score: float = 0.3
) -> tuple[np.ndarray, list[int | None]]:
    """One person per frame: (F, 17, 3) pixels + confidence (NaN where nobody was chosen).

    With `track_id`, the person carrying that track id. Otherwise the first frame with
    anybody picks the person with the largest `score * sqrt(keypoint box area)` (most
    confident, then largest); every later frame keeps the same track id if the file has
    them and it is present, else picks the person nearest to the last chosen pose (median
    distance over the keypoints confident in both).
    """
    if track_id is not None:
        _check_track_exists(detections, track_id)
    chosen_keypoints = np.full((len(detections.people), NUM_JOINTS, 3), np.nan)
    chosen_tracks: list[int | None] = []
    previous: Person | None = None
    for frame_index, people in enumerate(detections.people):
        if track_id is not None:
            person = next((p for p in people if p.track_id == track_id), None)
        else:
            person = _follow(people, previous, min_score)
        if person is not None:
            chosen_keypoints[frame_index] = person.keypoints
            previous = person
        chosen_tracks.append(None if person is None else person.track_id)
    return chosen_keypoints, chosen_tracks


def _check_track_exists(detections: Detections, track_id: int) -> None:
    present = {p.track_id for people in detections.people for p in people} - {None}
    if not present:
        raise DataError(f"{detections.source}: --track-id {track_id} given but no 'track_id' field")
    if track_id not in present:
        raise DataError(
            f"{detections.source}: no person with track_id {track_id}; "
            f"track ids in the file: {sorted(present)[:20]}"
        )


def _follow(people: list[Person], previous: Person | None, min_score: float) -> Person | None:
    if not people:
        return None
    if previous is not None and previous.track_id is not None:
        same_track = [p for p in people if p.track_id == previous.track_id]
        if same_track:
            return same_track[0]
    if previous is not None:
        distances = [_pose_distance(p, previous, min_score) for p in people]
        if min(distances) < math.inf:
            return people[int(np.argmin(distances))]
    return max(people, key=lambda p: _prominence(p, min_score))


def _confident(person: Person, min_score: float) -> np.ndarray:
    keypoints = person.keypoints
    return np.isfinite(keypoints).all(axis=-1) & (keypoints[:, 2] >= min_score)


def _pose_distance(person: Person, previous: Person, min_score: float) -> float:
    shared = _confident(person, min_score) & _confident(previous, min_score)
    if not shared.any():
        return math.inf
    offsets = person.keypoints[shared, :2] - previous.keypoints[shared, :2]
    return float(np.median(np.linalg.norm(offsets, axis=-1)))


def _prominence(person: Person, min_score: float) -> float:
    confident = _confident(person, min_score)
    if not confident.any():
        return -math.inf
    points = person.keypoints[confident, :2]
    area = float(np.prod(points.max(axis=0) - points.min(axis=0)))
    score = (
        person.score if person.score is not None else float(person.keypoints[confident, 2].mean())
    )
    return score * math.sqrt(area)


# ---------------------------------------------------------------- gaps and layout


def fill_missing(
    keypoints_2d: np.ndarray,
    valid: np.ndarray,
    joint_names: tuple[str, ...],
    required: tuple[int, ...],
    source: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill missing keypoints by linear interpolation over time, per joint.

    keypoints_2d: (F, J, 2) pixels; valid: (F, J) bool. Before the first and after the last
    valid frame the nearest valid value is repeated. Returns the filled (F, J, 2) array and
    the (F, J) mask of filled entries. A `required` joint that is never valid is a
    DataError naming it; other never-valid joints are left at 0 and not marked.
    """
    filled = np.where(valid[..., None], keypoints_2d, 0.0)
    interpolated = np.zeros(valid.shape, dtype=bool)
    frames = np.arange(valid.shape[0])
    for joint in range(valid.shape[1]):
        known = valid[:, joint]
        if known.all():
            continue
        if not known.any():
            if joint in required:
                raise DataError(
                    f"{source}: joint {joint_names[joint]!r} is missing (or below the score "
                    f"threshold) in every one of {valid.shape[0]} frames; lower --min-score "
                    f"or check the detector output"
                )
            continue
        for axis in range(2):
            filled[:, joint, axis] = np.interp(frames, frames[known], filled[known, joint, axis])
        interpolated[:, joint] = ~known
    return filled, interpolated


@cache
def coco_joints_used() -> tuple[int, ...]:
    """COCO joints that `coco_to_h36m` builds some H36M joint from (found by probing it)."""
    used = []
    for coco_joint in range(NUM_JOINTS):
        probe = np.ones((NUM_JOINTS, 3), dtype=np.float32)
        probe[coco_joint, 2] = 0.0
        if (coco_to_h36m(probe)[:, 2] < 1).any():
            used.append(coco_joint)
    return tuple(used)


def convert_coco_track(
    keypoints_2d: np.ndarray, interpolated: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(F, 17, 2) COCO pixels and (F, 17) filled mask -> the same in the H36M-17 layout.

    The mask travels through `coco_to_h36m` as a score channel (1 = measured), whose
    derived joints take the minimum of their sources: a derived joint is marked filled as
    soon as one keypoint it is built from was filled.
    """
    measured = (~interpolated).astype(np.float32)[..., None]
    h36m = coco_to_h36m(np.concatenate([keypoints_2d, measured], axis=-1))
    return h36m[..., :2], h36m[..., 2] < 1


def check_image_size(
    keypoints_2d: np.ndarray,
    valid: np.ndarray,
    image_size: tuple[int, int],
    joint_names: tuple[str, ...],
    source: Path,
) -> None:
    """DataError when confident keypoints (F, J, 2) pixels do not fit a WxH image."""
    width, height = image_size
    points = keypoints_2d[valid]
    if points.size and np.abs(points).max() <= 1.5 and max(width, height) > 16:
        raise DataError(
            f"{source}: every keypoint lies within [-1.5, 1.5]: these look like normalised "
            f"coordinates, expected pixels of a {width}x{height} image"
        )
    limits = np.array([width, height], dtype=np.float64)
    outside = (points < -OUTSIDE_IMAGE_TOLERANCE * limits) | (
        points > (1 + OUTSIDE_IMAGE_TOLERANCE) * limits
    )
    if outside.any():
        frame, joint = np.argwhere(valid)[np.argwhere(outside.any(axis=1))[0, 0]]
        x, y = keypoints_2d[frame, joint]
        raise DataError(
            f"{source}: keypoint {joint_names[joint]!r} of frame {frame} at ({x:.0f}, {y:.0f}) "
            f"px lies far outside a {width}x{height} image; give the size of the images the "
            f"detector ran on (--image-size WxH)"
        )
