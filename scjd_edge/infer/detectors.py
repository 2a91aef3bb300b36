"""2D person detectors for video input, behind one small interface.

A detector is any callable `detector(frame_rgb (H, W, 3) uint8, frame_index) -> list[Person]`
returning COCO-17 keypoints in pixels of that frame with a confidence per keypoint (see
`keypoint_files.Person`), plus a `name` and a `close()`. Two ship here:

- `BlazePoseDetector`: MediaPipe's legacy `mp.solutions.pose` (BlazePose GHUM, 33
  landmarks, one person) with `model_complexity=1`, whose `pose_landmark_full.tflite` ships
  inside the mediapipe wheel, so it runs offline (complexity 0 and 2 download their model
  at run time). Landmark visibility is the keypoint confidence. Needs the `[video]` extra.
- `KeypointFileDetector`: the people of a detector file (COCO / Ultralytics / MMPose JSON
  or npz, see `keypoint_files`) frame by frame, the file's frames in order being the
  video's frames in order: any other detector (an ONNX model run elsewhere, a GPU
  pipeline) plugs in through its output file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from scjd_edge.errors import ConfigError
from scjd_edge.infer.keypoint_files import Person, read_detections

# BlazePose-33 landmark index of each COCO-17 keypoint (nose, eyes, ears, shoulders,
# elbows, wrists, hips, knees, ankles): BlazePose's outer eye corners stand in for nothing;
# its eye centres (2, 5) and ears (7, 8) are COCO's eyes and ears.
BLAZEPOSE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
VIDEO_INSTALL_HINT = (
    'install the video extra in the same pip command as the toolkit: pip install -e ".[video]" '
    "(mediapipe 0.10.21 on x86_64, 0.10.18 on aarch64, Python <= 3.12; see README, infer)"
)


class Detector(Protocol):
    name: str

    def __call__(self, frame_rgb: np.ndarray, frame_index: int) -> list[Person]: ...

    def close(self) -> None: ...


def blazepose_to_coco(landmarks_xyv: np.ndarray, width: int, height: int) -> np.ndarray:
    """(33, 3) BlazePose landmarks (x, y in [0, 1] of the image, visibility) -> (17, 3)
    COCO-17 pixels + confidence."""
    coco = np.asarray(landmarks_xyv, dtype=np.float64)[list(BLAZEPOSE_TO_COCO)].copy()
    coco[:, 0] *= width
    coco[:, 1] *= height
    return coco


class BlazePoseDetector:
    """MediaPipe BlazePose (full model, offline), one person per frame.

    MediaPipe's video mode finds a person on the whole frame and then tracks them. Its
    person detector sees the frame shrunk to 224 px, where a person under ~1/5 of the
    frame height is often missed. When the tracker has nobody, a second, single-image
    BlazePose looks in crops instead: first a square around the last person found this
    way (3x their height), then a `search_grid` x `search_grid` grid of overlapping tiles
    (each 2 / (grid + 1) of the frame), returning everybody found. `search_grid=0`
    turns the search off (MediaPipe alone).
    """

    name = "mediapipe BlazePose full (model_complexity=1)"

    def __init__(
        self,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        search_grid: int = 3,
    ):
        pose_module = _import_mediapipe_pose()
        options = {"model_complexity": 1, "enable_segmentation": False}
        try:
            self._tracker = pose_module.Pose(
                static_image_mode=False,
                smooth_landmarks=True,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
                **options,
            )
            self._searcher = (
                pose_module.Pose(
                    static_image_mode=True,
                    min_detection_confidence=min_detection_confidence,
                    **options,
                )
                if search_grid > 0
                else None
            )
        except (AttributeError, TypeError, RuntimeError) as error:
            raise ConfigError(
                f"MediaPipe BlazePose failed to start ({error}); a protobuf >= 5 breaks "
                f"mediapipe 0.10.21: {VIDEO_INSTALL_HINT}"
            ) from None
        self.search_grid = search_grid
        self._last_box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 of a crop

    def __call__(self, frame_rgb: np.ndarray, frame_index: int) -> list[Person]:
        person = self._run(self._tracker, frame_rgb, (0, 0))
        if person is not None or self._searcher is None:
            self._last_box = None
            return [] if person is None else [person]
        return self._search(frame_rgb)

    def close(self) -> None:
        self._tracker.close()
        if self._searcher is not None:
            self._searcher.close()

    def _search(self, frame_rgb: np.ndarray) -> list[Person]:
        height, width = frame_rgb.shape[:2]
        if self._last_box is not None:
            person = self._run_crop(frame_rgb, self._last_box)
            if person is not None:
                self._last_box = _box_around(person, width, height)
                return [person]
        found = [
            person
            for box in _tiles(width, height, self.search_grid)
            if (person := self._run_crop(frame_rgb, box)) is not None
        ]
        self._last_box = _box_around(found[0], width, height) if found else None
        return found

    def _run_crop(self, frame_rgb: np.ndarray, box: tuple[int, int, int, int]) -> Person | None:
        x0, y0, x1, y1 = box
        return self._run(self._searcher, np.ascontiguousarray(frame_rgb[y0:y1, x0:x1]), (x0, y0))

    @staticmethod
    def _run(pose, image_rgb: np.ndarray, origin: tuple[int, int]) -> Person | None:
        result = pose.process(image_rgb)
        if result.pose_landmarks is None:
            return None
        landmarks = np.array(
            [(mark.x, mark.y, mark.visibility) for mark in result.pose_landmarks.landmark]
        )
        height, width = image_rgb.shape[:2]
        keypoints = blazepose_to_coco(landmarks, width, height)
        keypoints[:, :2] += origin
        return Person(keypoints)


def _tiles(width: int, height: int, grid: int) -> list[tuple[int, int, int, int]]:
    """`grid` x `grid` overlapping boxes (x0, y0, x1, y1), each 2 / (grid + 1) of the frame."""
    tile_w, tile_h = round(2 * width / (grid + 1)), round(2 * height / (grid + 1))
    xs = np.linspace(0, width - tile_w, grid).round().astype(int)
    ys = np.linspace(0, height - tile_h, grid).round().astype(int)
    return [(int(x), int(y), int(x) + tile_w, int(y) + tile_h) for y in ys for x in xs]


def _box_around(person: Person, width: int, height: int) -> tuple[int, int, int, int]:
    """A square crop centred on the person, 3x their keypoint height (at least 128 px)."""
    points = person.keypoints[:, :2]
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    half = max(64.0, 1.5 * float(np.ptp(points[:, 1])))
    x0, y0 = (max(0, int(v)) for v in centre - half)
    return x0, y0, min(width, int(centre[0] + half)), min(height, int(centre[1] + half))


class KeypointFileDetector:
    """A detector file's people, frame by frame (frame k of the file = frame k of the video)."""

    def __init__(self, path: str | Path):
        self.detections = read_detections(Path(path))
        self.name = f"keypoint file {Path(path).name}"

    def __call__(self, frame_rgb: np.ndarray, frame_index: int) -> list[Person]:
        people = self.detections.people
        return people[frame_index] if frame_index < len(people) else []

    def close(self) -> None:
        pass


def _import_mediapipe_pose():
    try:
        from mediapipe.python.solutions import pose
    except ImportError as error:
        raise ConfigError(
            f"the MediaPipe detector is not installed ({error}); {VIDEO_INSTALL_HINT}"
        ) from None
    except (AttributeError, TypeError) as error:  # mediapipe with a protobuf it cannot use
        raise ConfigError(f"mediapipe fails to import ({error}); {VIDEO_INSTALL_HINT}") from None
    return pose
