"""Choose one person per frame from a detector's people and follow them over time.

`PersonFollower.choose(people)` works one frame at a time (a live stream); `select_person`
runs it over a whole file's detections.
"""

from __future__ import annotations

import math

import numpy as np

from scjd_edge.data.skeleton import NUM_JOINTS
from scjd_edge.errors import DataError
from scjd_edge.infer.keypoint_files import Detections, Person


class PersonFollower:
    """Follow one person from frame to frame.

    With `track_id`, the person carrying that track id. Otherwise the first frame with
    anybody picks the person with the largest `score * sqrt(keypoint box area)` (most
    confident, then largest); every later frame keeps the same track id if the detector
    gives them and it is present, else picks the person nearest to the last chosen pose
    (median distance over the keypoints confident in both).
    """

    def __init__(self, track_id: int | None = None, min_score: float = 0.3):
        self.track_id = track_id
        self.min_score = min_score
        self.previous: Person | None = None

    def choose(self, people: list[Person]) -> Person | None:
        """The followed person among one frame's `people`, or None."""
        if self.track_id is not None:
            person = next((p for p in people if p.track_id == self.track_id), None)
        else:
            person = _follow(people, self.previous, self.min_score)
        if person is not None:
            self.previous = person
        return person


def select_person(
    detections: Detections, track_id: int | None = None, min_score: float = 0.3
) -> tuple[np.ndarray, list[int | None]]:
    """One person per frame (`PersonFollower`): (F, 17, 3) pixels + confidence, NaN where
    nobody was chosen, and the chosen track ids."""
    if track_id is not None:
        _check_track_exists(detections, track_id)
    follower = PersonFollower(track_id, min_score)
    chosen_keypoints = np.full((len(detections.people), NUM_JOINTS, 3), np.nan)
    chosen_tracks: list[int | None] = []
    for frame_index, people in enumerate(detections.people):
        person = follower.choose(people)
        if person is not None:
            chosen_keypoints[frame_index] = person.keypoints
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
