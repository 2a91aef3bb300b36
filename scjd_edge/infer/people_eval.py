"""Tracking quality against hand-made boxes: recall and identity switches.

The annotation (e.g. `tests/data/street_vtest_people.json`) lists, for some frames, every
person's box [x0, y0, x1, y1] px and an identity kept across frames; "occluded": true marks
a person more than half hidden. Tracked output per frame: (track id, box) pairs.

Per annotated frame, annotated and tracked boxes are paired by IoU (Hungarian, at least
`min_iou`). Recall: paired annotated boxes / annotated boxes. An identity switch: an
annotated person paired with a different track id than at their previous paired frame.
Person-minutes: annotated boxes x frames between annotated frames / fps / 60 (each box
stands for the frames up to the next annotated one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scjd_edge.infer.people import match_boxes

AnnotatedPeople = dict[int, list[tuple[str, np.ndarray, bool]]]  # frame -> (id, box, occluded)
TrackedPeople = dict[int, list[tuple[int, np.ndarray]]]  # frame -> (track id, box)


def load_people_annotation(path: Path) -> AnnotatedPeople:
    """frame index -> [(person id, (4,) box px, occluded)] from a JSON annotation file."""
    document = json.loads(Path(path).read_text())
    return {
        int(frame["frame"]): [
            (str(p["id"]), np.asarray(p["box"], dtype=np.float64), bool(p.get("occluded")))
            for p in frame["people"]
        ]
        for frame in document["frames"]
    }


@dataclass
class TrackingScore:
    annotated: int  # annotated boxes counted
    found: int  # of those, paired with a track
    switches: int  # identity switches
    person_minutes: float
    tracks_per_person: dict[str, list[int]]  # person id -> track ids paired, in order

    @property
    def recall(self) -> float:
        return self.found / max(self.annotated, 1)

    @property
    def switches_per_person_minute(self) -> float:
        return self.switches / max(self.person_minutes, 1e-9)


def score_tracking(
    annotation: AnnotatedPeople,
    tracked: TrackedPeople,
    fps: float,
    min_iou: float = 0.3,
    include_occluded: bool = True,
) -> TrackingScore:
    """Recall and identity switches of `tracked` against `annotation` (module docstring)."""
    frames = sorted(annotation)
    step = int(np.median(np.diff(frames))) if len(frames) > 1 else 1
    annotated = found = switches = 0
    last_track: dict[str, int] = {}
    tracks_per_person: dict[str, list[int]] = {}
    for frame in frames:
        people = [p for p in annotation[frame] if include_occluded or not p[2]]
        outputs = tracked.get(frame, [])
        annotated += len(people)
        pairs = match_boxes(
            np.array([box for _, box, _ in people]).reshape(-1, 4),
            np.array([box for _, box in outputs]).reshape(-1, 4),
            min_iou,
        )
        for person_row, output_row in pairs:
            person_id, track_id = people[person_row][0], outputs[output_row][0]
            found += 1
            switches += person_id in last_track and last_track[person_id] != track_id
            last_track[person_id] = track_id
            seen = tracks_per_person.setdefault(person_id, [])
            if not seen or seen[-1] != track_id:
                seen.append(track_id)
    return TrackingScore(
        annotated=annotated,
        found=found,
        switches=int(switches),
        person_minutes=annotated * step / fps / 60.0,
        tracks_per_person=tracks_per_person,
    )
