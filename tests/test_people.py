"""Every person in a frame: box overlap, the tracker's identities (fake detector and fake
BlazePose on drawn people, no MediaPipe), and the recall / identity-switch score against
hand-made boxes. The real detectors on the real clip: test_infer_cmu.py and
benchmarks/video_people.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scjd_edge.infer.keypoint_files import Person
from scjd_edge.infer.people import PeopleTracker, box_iou, match_boxes
from scjd_edge.infer.people_eval import load_people_annotation, score_tracking

ANNOTATION = Path(__file__).parent / "data" / "street_vtest_people.json"
FRAME_SHAPE = (240, 400, 3)
RED, BLUE = (200, 30, 30), (30, 30, 200)


def test_box_iou_and_matching():
    boxes = np.array([[0, 0, 10, 10], [100, 0, 110, 10]])
    shifted = np.array([[105, 0, 115, 10], [5, 0, 15, 10]])
    np.testing.assert_allclose(box_iou(boxes, shifted), [[0, 1 / 3], [1 / 3, 0]])
    assert match_boxes(boxes, shifted, min_iou=0.3) == [(0, 1), (1, 0)]
    assert match_boxes(boxes, shifted, min_iou=0.4) == []
    assert match_boxes(boxes, np.zeros((0, 4)), min_iou=0.3) == []


class DrawnScene:
    """People drawn as filled boxes of one colour each; `boxes` are this frame's."""

    def __init__(self):
        self.boxes: dict[str, np.ndarray] = {}
        self.colours = {"red": RED, "blue": BLUE}

    def frame(self) -> np.ndarray:
        picture = np.full(FRAME_SHAPE, 128, dtype=np.uint8)
        for name, box in self.boxes.items():
            x0, y0, x1, y1 = box.astype(int)
            picture[y0:y1, x0:x1] = self.colours[name]
        return picture


class FakeCropPose:
    """Stands in for BlazePose on a crop: the drawn person whose centre is nearest the
    crop's centre, if within half the box's height; keypoints spread over their box."""

    def __init__(self, scene: DrawnScene):
        self.scene = scene
        self.closed = False

    def __call__(self, frame_rgb, box):
        centre = (np.asarray(box[:2]) + np.asarray(box[2:])) / 2
        best = None
        for person_box in self.scene.boxes.values():
            distance = np.linalg.norm((person_box[:2] + person_box[2:]) / 2 - centre)
            if distance < 0.5 * (box[3] - box[1]) and (best is None or distance < best[0]):
                best = (distance, person_box)
        if best is None:
            return None
        person_box = best[1]
        keypoints = np.ones((17, 3))
        keypoints[:, 0] = np.linspace(person_box[0], person_box[2], 17)
        keypoints[:, 1] = np.linspace(person_box[1], person_box[3], 17)
        return Person(keypoints), person_box.astype(np.float64)

    def close(self):
        self.closed = True


def run_tracker(scene: DrawnScene, positions: dict, detections: dict, frames: int, **options):
    """Track `frames` frames; positions[name](i) -> box (None: not in the frame);
    detections[i] -> boxes (default: the true boxes). Returns per frame [(track id, box)]
    and the tracker."""
    tracker = PeopleTracker(
        person_detector=lambda frame: next_detections.pop(0),
        make_pose=lambda video_mode: FakeCropPose(scene),
        **options,
    )
    next_detections: list[np.ndarray] = []
    tracked = {}
    for index in range(frames):
        scene.boxes = {
            n: box for n, where in positions.items() if (box := where(index)) is not None
        }
        true_boxes = np.array(list(scene.boxes.values())).reshape(-1, 4)
        next_detections.append(np.asarray(detections.get(index, true_boxes)).reshape(-1, 4))
        tracks = tracker.update(scene.frame(), index)
        tracked[index] = [(t.track_id, t.box.copy()) for t in tracks]
    return tracked, tracker


def walker(x0: float, speed: float, y0: float = 60.0):
    return lambda i: np.array([x0 + speed * i, y0, x0 + speed * i + 30, y0 + 90], dtype=float)


def test_two_walkers_passing_each_other_keep_their_ids():
    scene = DrawnScene()
    positions = {"red": walker(20, 12), "blue": walker(330, -12, y0=75)}
    tracked, tracker = run_tracker(scene, positions, {}, frames=26)
    ids_by_colour = {"red": set(), "blue": set()}
    for index, outputs in tracked.items():
        for track_id, box in outputs:
            truth = {n: box_iou(box, positions[n](index))[0, 0] for n in positions}
            ids_by_colour[max(truth, key=truth.get)].add(track_id)
    assert ids_by_colour == {"red": {1}, "blue": {2}}
    assert tracker.started_tracks == 2


def test_a_false_alarm_starts_no_track_and_a_lost_person_ends_theirs():
    scene = DrawnScene()
    positions = {"red": lambda i: walker(20, 5)(i) if i < 4 else None}
    empty_corner = np.array([[300, 150, 330, 230]])  # nobody there: BlazePose finds nobody
    detections = {0: np.concatenate([[walker(20, 5)(0)], empty_corner])}
    tracked, tracker = run_tracker(scene, positions, detections, frames=12, max_missing_frames=5)
    assert tracker.started_tracks == 1
    assert [len(tracked[i]) for i in range(12)] == [1] * 4 + [0] * 8
    assert tracker.tracks == []  # unseen for more than 5 frames: ended


def test_a_neighbour_of_another_colour_is_not_taken_over():
    """The red walker vanishes; the blue one passes through where red would be: red's track
    must not take blue's pose (torso colours differ)."""
    scene = DrawnScene()
    positions = {
        "red": lambda i: walker(100, 0)(i) if i < 3 else None,
        "blue": lambda i: walker(40 + 10 * i, 0)(0),
    }
    tracked, _ = run_tracker(scene, positions, {}, frames=12)
    for index in range(3, 12):
        assert [track_id for track_id, _ in tracked[index]] == [2], index


def annotation_file(tmp_path, frames):
    path = tmp_path / "people.json"
    path.write_text(json.dumps({"frames": frames}))
    return load_people_annotation(path)


def test_score_counts_recall_and_identity_switches(tmp_path):
    box_a, box_b = [0, 0, 10, 30], [50, 0, 60, 30]
    annotation = annotation_file(
        tmp_path,
        [
            {"frame": f, "people": [{"id": "a", "box": box_a}, {"id": "b", "box": box_b,
                                                                "occluded": f == 20}]}
            for f in (0, 10, 20, 30)
        ],
    )  # fmt: skip
    tracked = {
        0: [(1, np.array(box_a)), (2, np.array(box_b))],
        10: [(1, np.array(box_a))],  # b missed
        20: [(3, np.array(box_a)), (2, np.array([200, 0, 210, 30]))],  # a switches; b far
        30: [(1, np.array(box_a)), (2, np.array(box_b) + 1)],  # a switches back
    }
    score = score_tracking(annotation, tracked, fps=10.0)
    assert (score.annotated, score.found, score.switches) == (8, 6, 2)
    assert score.recall == pytest.approx(6 / 8)
    assert score.person_minutes == pytest.approx(8 * 10 / 10 / 60)
    assert score.tracks_per_person == {"a": [1, 3, 1], "b": [2]}
    visible = score_tracking(annotation, tracked, fps=10.0, include_occluded=False)
    assert (visible.annotated, visible.found) == (7, 6)


def test_the_street_annotation_is_every_tenth_frame_with_people_60_px_tall():
    annotation = load_people_annotation(ANNOTATION)
    assert sorted(annotation) == list(range(0, 160, 10))
    heights = [box[3] - box[1] for people in annotation.values() for _, box, _ in people]
    assert len(heights) == 90 and min(heights) >= 58  # 60 px, read off a grid to +-3 px
    ids = {person_id for people in annotation.values() for person_id, _, _ in people}
    assert ids == set("ABCDEFGH")
