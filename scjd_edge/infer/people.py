"""Every person in a video frame: find people, estimate each one's 2D pose, keep identities.

- `HogPersonDetector`: OpenCV's HOG people detector (Dalal-Triggs; its SVM ships inside
  OpenCV, nothing is downloaded). People 60-110 px tall are below its 128 px window, so the
  frame is enlarged 1.5x first. Boxes are shrunk from HOG's window to the person.
- `CropPose`: MediaPipe BlazePose (`model_complexity=1`, the model inside the mediapipe
  wheel) on a square crop around one person's box. A video-mode instance per track
  follows its person from frame to frame; a single-image instance checks new people.
- `PeopleTracker`: per frame, each track predicts its box (constant velocity), its pose
  is estimated in a crop there and kept if it is near the prediction (`is_near`); on
  person-detector frames, detections are matched to tracks by IoU (Hungarian, scipy) and
  an unmatched detection in which BlazePose finds a person starts a new track. A track unseen for
  `max_missing_frames` ends; a person found within `revive_frames` after, near where an
  ended track was last seen and with its torso colours, gets that track's id back. No
  other id is reused.

Boxes are (4,) float arrays [x0, y0, x1, y1] in pixels of the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scjd_edge.infer.detectors import _import_mediapipe_pose, blazepose_to_coco
from scjd_edge.infer.keypoint_files import Person
from scjd_edge.infer.video import import_cv2

HOG_UPSCALE = 1.5
HOG_PYRAMID_STEP = 1.1
# Share of HOG's 64x128 window around the person: 15 % each side, 7 % above and below.
HOG_MARGIN_X, HOG_MARGIN_Y = 0.15, 0.07
CROP_HEIGHT_PER_HEIGHT = 1.4
CROP_WIDTH_PER_WIDTH = 1.6
CROP_MIN_WIDTH_PER_HEIGHT = 0.7
MIN_CROP_SIDE_PX = 64
MAX_PREDICTED_FRAMES = 3
MAX_SPEED_PER_HEIGHT = 0.3  # a walker moves at most this share of their height per frame


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(A, 4), (B, 4) [x0, y0, x1, y1] -> (A, B) intersection over union."""
    boxes_a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    boxes_b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(axis=-1)
    area_a = (boxes_a[:, 2:] - boxes_a[:, :2]).prod(axis=-1)
    area_b = (boxes_b[:, 2:] - boxes_b[:, :2]).prod(axis=-1)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-9), 0.0)


def match_boxes(boxes_a: np.ndarray, boxes_b: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Pairs (row of a, row of b) maximising total IoU, each pair at least `min_iou`."""
    from scipy.optimize import linear_sum_assignment

    iou = box_iou(boxes_a, boxes_b)
    if not iou.size:
        return []
    rows, cols = linear_sum_assignment(-iou)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= min_iou]


class HogPersonDetector:
    """OpenCV's HOG people detector: RGB frame -> (N, 4) person boxes in pixels."""

    name = "OpenCV HOG people detector (x1.5)"

    def __init__(self, hit_threshold: float = 0.0):
        cv2 = import_cv2()
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self._cv2 = cv2
        self.hit_threshold = hit_threshold

    def __call__(self, frame_rgb: np.ndarray) -> np.ndarray:
        enlarged = self._cv2.resize(frame_rgb, None, fx=HOG_UPSCALE, fy=HOG_UPSCALE)
        windows, _ = self._hog.detectMultiScale(
            enlarged,
            hitThreshold=self.hit_threshold,
            winStride=(8, 8),
            padding=(8, 8),
            scale=HOG_PYRAMID_STEP,
        )
        windows = np.asarray(windows, dtype=np.float64).reshape(-1, 4) / HOG_UPSCALE
        x, y, width, height = windows.T
        return np.stack(
            [
                x + HOG_MARGIN_X * width,
                y + HOG_MARGIN_Y * height,
                x + (1 - HOG_MARGIN_X) * width,
                y + (1 - HOG_MARGIN_Y) * height,
            ],
            axis=-1,
        )


def crop_around(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """A crop (x0, y0, x1, y1) centred on the box: CROP_HEIGHT_PER_HEIGHT x the box's
    height, as wide as CROP_WIDTH_PER_WIDTH x its width but at least CROP_MIN_WIDTH_PER_HEIGHT
    x its height (narrow, so that a neighbour walking beside is mostly left out), clipped
    to the frame."""
    centre = (box[:2] + box[2:]) / 2
    box_width, box_height = float(box[2] - box[0]), float(box[3] - box[1])
    half_height = max(CROP_HEIGHT_PER_HEIGHT * box_height, MIN_CROP_SIDE_PX) / 2
    crop_width = max(CROP_WIDTH_PER_WIDTH * box_width, CROP_MIN_WIDTH_PER_HEIGHT * box_height)
    half_width = max(crop_width, MIN_CROP_SIDE_PX) / 2
    x0, x1 = max(0, int(centre[0] - half_width)), min(width, int(centre[0] + half_width))
    y0, y1 = max(0, int(centre[1] - half_height)), min(height, int(centre[1] + half_height))
    return x0, y0, x1, y1


def landmark_box(landmarks_px: np.ndarray) -> np.ndarray:
    """(33, 2) BlazePose landmarks in pixels -> the person's box: the landmarks' extent,
    raised 10 % of its height above the eyes (the top of the head is no landmark)."""
    low, high = landmarks_px.min(axis=0), landmarks_px.max(axis=0)
    extent = high - low
    return np.array([low[0], low[1] - 0.1 * extent[1], high[0], high[1] + 0.03 * extent[1]])


def torso_colours(frame_rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """(128,) HSV colour histogram (8 hue x 4 saturation x 4 value bins, sums to 1) of the
    box's torso (the middle half of its width, 15-60 % of its height), or None if empty."""
    cv2 = import_cv2()
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    rows = slice(max(0, int(y0 + 0.15 * height)), max(0, int(y0 + 0.6 * height)))
    cols = slice(max(0, int(x0 + 0.25 * width)), max(0, int(x0 + 0.75 * width)))
    torso = np.ascontiguousarray(frame_rgb[rows, cols])
    if torso.size == 0:
        return None
    hsv = cv2.cvtColor(torso, cv2.COLOR_RGB2HSV)
    counts = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
    return counts / max(float(counts.sum()), 1.0)


def colour_distance(colours_a: np.ndarray | None, colours_b: np.ndarray | None) -> float:
    """Hellinger (Bhattacharyya) distance of two histograms: 0 same, 1 disjoint; 0 if unknown."""
    if colours_a is None or colours_b is None:
        return 0.0
    overlap = float(np.sqrt(colours_a * colours_b).sum())
    return float(np.sqrt(max(0.0, 1.0 - overlap)))


class CropPose:
    """MediaPipe BlazePose on a crop of the frame: `(frame_rgb, box)` -> (Person, box) in
    frame pixels, or None. `video_mode`: follow one person over frames (one per track)."""

    def __init__(self, video_mode: bool, min_confidence: float = 0.5):
        pose_module = _import_mediapipe_pose()
        self._pose = pose_module.Pose(
            static_image_mode=not video_mode,
            model_complexity=1,
            smooth_landmarks=False,  # the crop moves with the person: no smoothing across crops
            enable_segmentation=False,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )

    def __call__(self, frame_rgb: np.ndarray, box: np.ndarray) -> tuple[Person, np.ndarray] | None:
        height, width = frame_rgb.shape[:2]
        x0, y0, x1, y1 = crop_around(box, width, height)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        result = self._pose.process(np.ascontiguousarray(frame_rgb[y0:y1, x0:x1]))
        if result.pose_landmarks is None:
            return None
        landmarks = np.array(
            [(mark.x, mark.y, mark.visibility) for mark in result.pose_landmarks.landmark]
        )
        keypoints = blazepose_to_coco(landmarks, x1 - x0, y1 - y0)
        keypoints[:, :2] += (x0, y0)
        landmarks_px = landmarks[:, :2] * (x1 - x0, y1 - y0) + (x0, y0)
        return Person(keypoints), landmark_box(landmarks_px)

    def close(self) -> None:
        self._pose.close()


@dataclass
class Track:
    """One followed person. `box` is where they were last seen; `velocity` (2,) the
    motion of its centre in px per frame; `person` the 2D pose of the latest frame (None
    when it was not estimated)."""

    track_id: int
    box: np.ndarray
    last_seen: int
    estimator: CropPose | None
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    person: Person | None = None
    colours: np.ndarray | None = None  # running mean of `torso_colours`

    def remember_colours(self, colours: np.ndarray | None) -> None:
        if colours is not None:
            self.colours = colours if self.colours is None else 0.8 * self.colours + 0.2 * colours

    def predicted_box(self, frame_index: int) -> np.ndarray:
        """The box moved on at its velocity for at most MAX_PREDICTED_FRAMES frames: a lost
        track waits near where it was last seen instead of drifting onto others."""
        shift = self.velocity * min(frame_index - self.last_seen, MAX_PREDICTED_FRAMES)
        return self.box + np.concatenate([shift, shift])

    def see(self, box: np.ndarray, frame_index: int) -> None:
        """Seen at `box`: the centre moves there; the size changes halfway (a pose's box
        and a detector's box of one person differ in size)."""
        box = np.asarray(box, dtype=np.float64)
        elapsed = max(1, frame_index - self.last_seen)
        centre, old_centre = (box[:2] + box[2:]) / 2, (self.box[:2] + self.box[2:]) / 2
        speed_limit = MAX_SPEED_PER_HEIGHT * float(self.box[3] - self.box[1])
        step = np.clip((centre - old_centre) / elapsed, -speed_limit, speed_limit)
        self.velocity = 0.5 * self.velocity + 0.5 * step
        half_size = ((self.box[2:] - self.box[:2]) + (box[2:] - box[:2])) / 4
        self.box = np.concatenate([centre - half_size, centre + half_size])
        self.last_seen = frame_index


def is_near(box: np.ndarray, reference: np.ndarray, elapsed: int, max_shift) -> bool:
    """Whether `box` can be the person expected at `reference` after `elapsed` frames:
    centres at most (max_shift[0] + max_shift[1] x elapsed) x the reference's height apart,
    heights within a factor 1.6 of each other."""
    height, reference_height = box[3] - box[1], reference[3] - reference[1]
    if not 1 / 1.6 <= height / max(reference_height, 1e-9) <= 1.6:
        return False
    shift = np.linalg.norm((box[:2] + box[2:]) / 2 - (reference[:2] + reference[2:]) / 2)
    return bool(shift <= (max_shift[0] + max_shift[1] * max(elapsed, 0)) * reference_height)


class PeopleTracker:
    """Everybody in a stream of frames, each with a stable track id (module docstring).

    `update(frame_rgb, frame_index, find_people)` returns the tracks whose 2D pose was
    estimated in this frame; `find_people=False` skips the person detector (only the
    known tracks are followed). `person_detector`: RGB frame -> (N, 4) boxes;
    `make_pose(video_mode)`: a `CropPose`-like estimator (tests inject fakes).
    """

    def __init__(
        self,
        person_detector=None,
        make_pose=CropPose,
        match_iou: float = 0.3,
        max_shift: tuple[float, float] = (0.2, 0.15),
        duplicate_iou: float = 0.7,
        max_missing_frames: int = 10,
        max_colour_distance: float = 0.5,
        revive_frames: int = 50,
        find_every: int = 1,
    ):
        self.person_detector = (
            person_detector if person_detector is not None else (HogPersonDetector())
        )
        self._make_pose = make_pose
        self._probe = None  # single-image BlazePose that checks new detections
        self.match_iou, self.duplicate_iou, self.max_shift = match_iou, duplicate_iou, max_shift
        self.max_missing_frames = max_missing_frames
        self.max_colour_distance = max_colour_distance
        self.revive_frames = revive_frames
        self.find_every = find_every  # the person detector runs on one update in this many
        self.updates = 0
        self.ended: list[Track] = []  # tracks lost recently: a person found again keeps their id
        self.tracks: list[Track] = []  # oldest first
        self.started_tracks = 0

    def update(self, frame_rgb: np.ndarray, frame_index: int, find_people: bool = True):
        self._follow_tracks(frame_rgb, frame_index)
        self.updates += 1
        if find_people and (self.updates - 1) % self.find_every == 0:
            self._add_detections(frame_rgb, frame_index, self.person_detector(frame_rgb))
        lost = [t for t in self.tracks if frame_index - t.last_seen > self.max_missing_frames]
        for track in lost:
            track.estimator.close()
            self.tracks.remove(track)
        self.ended = [t for t in self.ended if frame_index - t.last_seen <= self.revive_frames]
        self.ended += lost
        return [t for t in self.tracks if t.person is not None]

    def close(self) -> None:
        for track in self.tracks:
            track.estimator.close()
        self.tracks = []
        if self._probe is not None:
            self._probe.close()

    def _follow_tracks(self, frame_rgb: np.ndarray, frame_index: int) -> None:
        """Each track's pose in a crop at its predicted box (older tracks first)."""
        for track in self.tracks:
            track.person = None
            predicted = track.predicted_box(frame_index)
            self._accept(
                track, frame_rgb, frame_index, predicted, track.estimator(frame_rgb, predicted)
            )

    def _accept(
        self, track: Track, frame_rgb, frame_index: int, reference: np.ndarray, estimate
    ) -> bool:
        """Give `track` the pose `estimate` if its box is near `reference` (`is_near`), is
        not a track already seen in this frame, and its torso colours are those of the
        track (a crop also shows neighbours, and BlazePose may pick one of them)."""
        elapsed = frame_index - track.last_seen
        if estimate is None or not is_near(estimate[1], reference, elapsed, self.max_shift):
            return False
        person, box = estimate
        others = [t.box for t in self.tracks if t is not track and t.last_seen == frame_index]
        if others and box_iou(box, np.stack(others)).max() >= self.duplicate_iou:
            return False
        colours = torso_colours(frame_rgb, box)
        if colour_distance(colours, track.colours) > self.max_colour_distance:
            return False
        track.person = person
        track.see(box, frame_index)
        track.remember_colours(colours)
        return True

    def _add_detections(self, frame_rgb: np.ndarray, frame_index: int, boxes: np.ndarray) -> None:
        """A detection matched to a track lost in this frame retries its pose there; a
        detection away from every track starts one if BlazePose finds a person in it."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        track_boxes = np.array(
            [t.predicted_box(frame_index) for t in self.tracks], dtype=np.float64
        ).reshape(-1, 4)
        matched = set()
        for track_row, box_row in match_boxes(track_boxes, boxes, self.match_iou):
            matched.add(box_row)
            track = self.tracks[track_row]
            if track.last_seen != frame_index:
                estimate = track.estimator(frame_rgb, boxes[box_row])
                self._accept(track, frame_rgb, frame_index, boxes[box_row], estimate)
        for box_row, box in enumerate(boxes):
            if box_row in matched:
                continue
            if len(track_boxes) and box_iou(box, track_boxes).max() >= self.match_iou:
                continue
            self._start_track(frame_rgb, frame_index, box)

    def _start_track(self, frame_rgb: np.ndarray, frame_index: int, box: np.ndarray) -> None:
        if self._probe is None:
            self._probe = self._make_pose(video_mode=False)
        track = Track(
            track_id=self.started_tracks + 1,
            box=np.asarray(box, dtype=np.float64),
            last_seen=frame_index,
            estimator=None,
        )
        if not self._accept(track, frame_rgb, frame_index, box, self._probe(frame_rgb, box)):
            return  # nobody in the box (a false alarm), or somebody already followed
        revived = self._revivable(track)
        if revived is None:
            self.started_tracks += 1
        else:
            self.ended.remove(revived)
            track.track_id = revived.track_id
        track.estimator = self._make_pose(video_mode=True)
        self.tracks.append(track)

    def _revivable(self, new: Track) -> Track | None:
        """The ended track (within `revive_frames`) this new person most likely is: torso
        colours within `max_colour_distance`, last seen within twice their height."""
        centre = (new.box[:2] + new.box[2:]) / 2
        candidates = []
        for track in self.ended:
            distance = np.linalg.norm((track.box[:2] + track.box[2:]) / 2 - centre)
            colours = colour_distance(new.colours, track.colours)
            if (
                distance <= 2 * (track.box[3] - track.box[1])
                and colours <= self.max_colour_distance
            ):
                candidates.append((colours, track))
        return min(candidates, key=lambda pair: pair[0])[1] if candidates else None
