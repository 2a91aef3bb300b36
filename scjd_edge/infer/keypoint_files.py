"""Read the files 2D pose detectors write into per-frame people (no person is chosen here).

Files understood (the file format is detected from the content; `layout` says the joint
order, "coco" for COCO-17 or "h36m" for H36M-17):

- COCO results JSON: a list of `{"image_id" | "frame" | "frame_id": id, "keypoints":
  [x, y, s] * 17, "score"?, "track_id"?}`, or a COCO annotation file `{"images": [...],
  "annotations": [...]}` (frames are then the images in id order, sizes from "images").
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
  `image_size` `[W, H]` or `width`/`height`, optional `fps`, optional `frame_ids` `(F,)`.

Coordinates are pixels of the image the detector ran on (beyond +-`MAX_PIXELS`: an error).

The contract every reader keeps (`order_frames`): frames come out ordered by their id,
whatever the order in the file. Ids that are whole numbers (also written as text, "1",
"10", "2") are ordered as numbers and completed to the range min..max (a frame without a
detection is a missing frame, interpolated later, as detectors omit frames where they find
nobody; a COCO file's listed "images" are its frames, nothing is added); other text ids in
natural order ("img2" before "img10"). A frame list naming one id twice, an id beyond
+-2**53, a gap between consecutive ids longer than `MAX_GAP_SECONDS` of frames (at the
file's fps, else `GAP_FPS_WHEN_UNKNOWN`), or a range more than half empty is a DataError
naming the ids: never a range to fill.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.skeleton import NUM_JOINTS
from scjd_edge.errors import DataError
from scjd_edge.limits import check_memory

_FRAME_ID_KEYS = ("image_id", "frame", "frame_id")
_NPZ_KEYPOINT_KEYS = ("keypoints_2d", "keypoints", "positions_2d")
_NPZ_SCORE_KEYS = ("scores", "keypoint_scores", "confidence")
_KNOWN_LAYOUTS = {18: "OpenPose COCO-18", 25: "OpenPose BODY_25", 133: "COCO-WholeBody"}
MAX_GAP_SECONDS = 10.0  # longer without a detection: two recordings, or a stray id
GAP_FPS_WHEN_UNKNOWN = 60.0  # a file without "fps": the highest common video rate
PARSED_BYTES_PER_FILE_BYTE = 40  # JSON numbers become Python floats in lists: ~40x
MAX_PIXELS = 1e6  # larger than any image; far beyond it, pixel arithmetic overflows
MAX_FRAME_ID = 2**53  # ids are exact in every JSON reader up to here
_INTEGER_TEXT = re.compile(r"-?[0-9]+")


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


def read_detections(path: Path) -> Detections:
    """Parse a detector file (JSON or npz, see the module docstring) into per-frame people."""
    if not path.is_file():
        raise DataError(f"{path}: keypoint file not found")
    size = path.stat().st_size
    check_memory(
        size * PARSED_BYTES_PER_FILE_BYTE,
        f"{path} ({size / 2**20:.1f} MiB)",
        "split the keypoint file into shorter clips",
    )
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
    fps = _frame_rate(header.get("fps"), f"{path}: 'fps'")
    first = content[0]
    if isinstance(first, dict) and "keypoints" in first:
        frame_ids, people = _coco_results_by_frame(path, content)
    elif isinstance(first, dict) and "instances" in first:
        frame_ids, people = _read_frames(path, content, frame_key="instances")
    elif isinstance(first, list):
        frame_ids, people = _read_frames(path, content, frame_key=None)
    else:
        raise DataError(
            f"{path}: entry 0 is not a detection (a dict with 'keypoints'), an MMPose frame "
            f"(a dict with 'instances') or an Ultralytics frame (a list of people)"
        )
    frame_ids, people = order_frames(path, frame_ids, people, fps)
    return Detections(path, frame_ids, people, _size_from_header(path, header), fps)


def _coco_results_by_frame(path: Path, entries: list) -> tuple[list[Any], list[list[Person]]]:
    """Frame ids in first-seen order and the people of each (detections of one id merged)."""
    by_frame: dict[Any, list[Person]] = {}
    for index, entry in enumerate(entries):
        where = f"{path}: detection {index}"
        if not isinstance(entry, dict):
            raise DataError(
                f"{where}: expected a dict with 'keypoints', got {type(entry).__name__}"
            )
        key = next((key for key in _FRAME_ID_KEYS if key in entry), None)
        if key is None:
            raise DataError(f"{where}: no frame id; expected one of {', '.join(_FRAME_ID_KEYS)}")
        frame_id = frame_id_of(entry[key], f"{where}: {key!r}")
        by_frame.setdefault(frame_id, []).append(_person_from_dict(entry, where))
    return list(by_frame), list(by_frame.values())


def _read_coco_annotations(path: Path, content: dict) -> Detections:
    """Frames = the 'images' (in id order; no other ids filled in), else the annotations'
    image ids completed to their range."""
    images = content.get("images") or []
    annotations = content["annotations"]
    if not isinstance(annotations, list):
        raise DataError(f"{path}: 'annotations' must be a list of detections")
    fps = _frame_rate(content.get("fps"), f"{path}: 'fps'")
    frame_ids, people = _coco_results_by_frame(path, annotations)
    image_size = None
    if images:
        by_frame = dict(zip(frame_ids, people, strict=True))
        frame_ids = _image_ids(path, images)
        unknown = set(by_frame) - set(frame_ids)
        if unknown:
            raise DataError(
                f"{path}: annotations of image ids {sorted(unknown, key=_frame_sort_key)[:5]} "
                "not in 'images'"
            )
        people = [by_frame.get(frame_id, []) for frame_id in frame_ids]
        sizes = {_image_size(path, index, image) for index, image in enumerate(images)} - {None}
        if len(sizes) > 1:
            raise DataError(f"{path}: 'images' have different sizes {sorted(sizes)}; expected one")
        image_size = sizes.pop() if sizes else None
    if not frame_ids:
        raise DataError(f"{path}: 'annotations' is empty: no person detected in any frame")
    frame_ids, people = order_frames(path, frame_ids, people, fps, fill_gaps=not images)
    return Detections(path, frame_ids, people, image_size or _size_from_header(path, content), fps)


def _image_ids(path: Path, images: Any) -> list[Any]:
    if not isinstance(images, list):
        raise DataError(f"{path}: 'images' must be a list of {{'id', 'width', 'height'}}")
    ids = []
    for index, image in enumerate(images):
        if not isinstance(image, dict) or "id" not in image:
            raise DataError(f"{path}: images[{index}] has no 'id'")
        ids.append(frame_id_of(image["id"], f"{path}: images[{index}] 'id'"))
    return ids


def _image_size(path: Path, index: int, image: dict) -> tuple[int, int] | None:
    """(width, height) of one COCO image entry, None when it gives neither."""
    if "width" not in image and "height" not in image:
        return None
    for key in ("width", "height"):
        if key not in image:
            raise DataError(f"{path}: images[{index}] has 'width' or 'height' but no {key!r}")
        if not isinstance(image[key], int | float) or isinstance(image[key], bool):
            raise DataError(f"{path}: images[{index}] {key!r} must be a number of pixels")
    return int(image["width"]), int(image["height"])


def _read_frames(
    path: Path, frames: list, frame_key: str | None
) -> tuple[list[Any], list[list[Person]]]:
    frame_ids, people = [], []
    for index, frame in enumerate(frames):
        where = f"{path}: frame {index}"
        if frame_key is not None:
            if not isinstance(frame, dict) or not isinstance(frame.get(frame_key), list):
                raise DataError(f"{where}: expected a dict with a list under {frame_key!r}")
            frame_ids.append(
                frame_id_of(frame.get("frame_id", frame.get("frame", index)), f"{where}: id")
            )
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
    return frame_ids, people


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
    return Person(keypoints, _optional_float(score, f"{where}: score"), track)


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
    _check_pixel_range(array, where)
    if array.shape[1] == 2:
        array = np.concatenate([array, np.ones((array.shape[0], 1))], axis=1)
    return array


def _check_pixel_range(keypoints: np.ndarray, where: str) -> None:
    """DataError for a finite coordinate no image has (NaN stays: a missing keypoint)."""
    coordinates = keypoints[..., :2]
    if (np.abs(coordinates[np.isfinite(coordinates)]) > MAX_PIXELS).any():
        raise DataError(
            f"{where}: a keypoint coordinate beyond +-{MAX_PIXELS:g} px; expected pixels of "
            "the image the detector ran on"
        )


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
    _check_pixel_range(keypoints, f"{path}: '{key}'")
    keypoints = _attach_scores(path, arrays, keypoints)
    people = [
        [Person(person) for person in frame if np.isfinite(person[:, :2]).any()]
        for frame in keypoints
    ]
    fps = _frame_rate(arrays.get("fps"), f"{path}: 'fps'")
    frame_ids = _npz_frame_ids(path, arrays, len(people))
    frame_ids, people = order_frames(path, frame_ids, people, fps)
    return Detections(path, frame_ids, people, _npz_image_size(path, arrays), fps)


def _npz_frame_ids(path: Path, arrays: dict, num_frames: int) -> list[Any]:
    """The optional `frame_ids` (F,) of an npz, else 0..F-1."""
    if "frame_ids" not in arrays:
        return list(range(num_frames))
    values = np.asarray(arrays["frame_ids"])
    if values.shape != (num_frames,):
        raise DataError(
            f"{path}: 'frame_ids' has shape {values.shape}; expected ({num_frames},), one per frame"
        )
    return [
        frame_id_of(value, f"{path}: 'frame_ids'[{i}]") for i, value in enumerate(values.tolist())
    ]


def _npz_image_size(path: Path, arrays: dict) -> tuple[int, int] | None:
    """(width, height) from `image_size` [W, H] or `width` / `height`, None without them."""
    try:
        if "image_size" in arrays:
            width, height = np.asarray(arrays["image_size"], dtype=np.float64).reshape(-1)[:2]
        elif "width" in arrays and "height" in arrays:
            width, height = (
                float(np.asarray(arrays[key], dtype=np.float64).reshape(-1)[0])
                for key in ("width", "height")
            )
        else:
            return None
    except (TypeError, ValueError, IndexError):
        raise DataError(f"{path}: 'image_size' / 'width', 'height' must be two numbers") from None
    if not (np.isfinite(width) and np.isfinite(height)):
        raise DataError(f"{path}: image size {width} x {height} is not finite")
    return int(width), int(height)


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


def frame_id_of(value: Any, where: str) -> int | str:
    """A frame id as int (numbers, and numbers written as text: "10" -> 10) or as text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DataError(f"{where}: frame id {value!r} must be a number or a text")
    if isinstance(value, float):
        if not value.is_integer():
            raise DataError(f"{where}: frame id {value!r} must be a whole number")
        value = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        digits = value.strip()
        if len(digits.lstrip("-")) > len(str(MAX_FRAME_ID)):
            raise DataError(f"{where}: frame id {digits[:20]!r}... is beyond +-2**53")
        value = int(digits)
    if isinstance(value, int) and abs(value) > MAX_FRAME_ID:
        raise DataError(f"{where}: frame id {value:.6g} is beyond +-2**53")
    return value


def order_frames(
    path: Path,
    frame_ids: list[Any],
    people: list[list[Person]],
    fps: float | None,
    fill_gaps: bool = True,
) -> tuple[list[Any], list[list[Person]]]:
    """The reader contract: (frame ids, people per frame) ordered by id, gaps bounded.

    frame_ids: one per entry of `people`, in file order (ints and/or texts). Whole-number
    ids are completed to min..max when `fill_gaps` (frames without people are missing
    frames). DataError for an id given twice, a gap of more than MAX_GAP_SECONDS of
    frames, or a range more than half empty: nothing as large as the ids is allocated.
    """
    first_entry: dict[Any, int] = {}
    for index, frame_id in enumerate(frame_ids):
        if frame_id in first_entry:
            raise DataError(
                f"{path}: frame id {frame_id!r} is given twice (entries {first_entry[frame_id]} "
                f"and {index}); expected one entry per frame"
            )
        first_entry[frame_id] = index
    order = sorted(range(len(frame_ids)), key=lambda index: _frame_sort_key(frame_ids[index]))
    ids, people = [frame_ids[i] for i in order], [people[i] for i in order]
    if not ids or not all(isinstance(frame_id, int) for frame_id in ids):
        return ids, people
    _check_gaps(path, ids, fps)
    span = ids[-1] - ids[0] + 1
    if not fill_gaps or span == len(ids):
        return ids, people
    if span > 2 * len(ids):
        raise DataError(
            f"{path}: detections on {len(ids)} frame ids spread over {span} frames "
            f"({ids[0]}..{ids[-1]}); expected the frames of one video (consecutive ids, at "
            "most half of them without a detection)"
        )
    by_id = dict(zip(ids, people, strict=True))
    full = list(range(ids[0], ids[-1] + 1))
    return full, [by_id.get(frame_id, []) for frame_id in full]


def _check_gaps(path: Path, ids: list[int], fps: float | None) -> None:
    """DataError naming the first two consecutive ids further apart than MAX_GAP_SECONDS."""
    rate = fps or GAP_FPS_WHEN_UNKNOWN
    limit = max(1, round(MAX_GAP_SECONDS * rate))
    for before, after in zip(ids, ids[1:], strict=False):
        if after - before - 1 > limit:
            raise DataError(
                f"{path}: no frame between ids {before} and {after} ({after - before - 1} "
                f"frames, more than {MAX_GAP_SECONDS:g} s at {rate:g} frames/s): a stray id "
                "or two recordings in one file; fix the ids or split the file"
            )


def _frame_sort_key(frame_id: int | str) -> tuple:
    """Natural order: numbers as numbers, and the digit runs inside text too ("f2" < "f10").

    Digit runs compare by length, then digits (no int(): a run may be thousands long)."""
    if isinstance(frame_id, int):
        return ((0, frame_id),)
    chunks = re.split(r"([0-9]+)", frame_id)
    return tuple(
        (0, len(c.lstrip("0")), c.lstrip("0")) if c.isascii() and c.isdigit() else (1, c)
        for c in chunks
        if c
    )


def _size_from_header(path: Path, header: dict) -> tuple[int, int] | None:
    if "width" in header and "height" in header:
        try:
            return int(header["width"]), int(header["height"])
        except (TypeError, ValueError):
            raise DataError(f"{path}: 'width'/'height' must be integers (pixels)") from None
    return None


def _frame_rate(value: Any, where: str) -> float | None:
    """A positive frame rate, or None when absent or 0 (what `write_poses` writes for unknown)."""
    rate = _optional_float(value, where)
    if rate is not None and not 0 <= rate <= 10_000:
        raise DataError(f"{where} is {rate:g}; expected a frame rate in (0, 10000] frames/s")
    return rate or None


def _optional_float(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(np.asarray(value, dtype=np.float64).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        raise DataError(f"{where} {value!r} is not a number") from None
    if not np.isfinite(number):
        raise DataError(f"{where} is {number}, expected a finite number")
    return number
