"""2D checks before lifting (infer.quality): low confidence, jumps, too-long bones."""

from __future__ import annotations

import numpy as np
from test_infer import walking_sequence

from scjd_edge.data.skeleton import COCO_JOINT_NAMES
from scjd_edge.infer.quality import KeypointChecks

COCO = {name: index for index, name in enumerate(COCO_JOINT_NAMES)}


def run_checks(poses: np.ndarray, fps: float = 10.0):
    checks = KeypointChecks(video_fps=fps)
    kept = np.stack([checks.mark(pose, index) for index, pose in enumerate(poses)])
    return kept, checks.counts


def test_a_walking_person_keeps_every_joint():
    kept, counts = run_checks(walking_sequence(12))
    assert kept.all() and counts == {"low_confidence": 0, "jump": 0, "bone_length": 0}


def test_a_wrist_a_metre_away_is_a_jump_and_a_weak_ankle_is_low_confidence():
    poses = walking_sequence(12)
    poses[8, COCO["right_wrist"], :2] += (250.0, 0.0)  # the person is 350 px tall
    poses[5, COCO["left_ankle"], 2] = 0.1
    kept, counts = run_checks(poses)
    assert np.argwhere(~kept).tolist() == [[5, COCO["left_ankle"]], [8, COCO["right_wrist"]]]
    assert counts == {"low_confidence": 1, "jump": 1, "bone_length": 0}


def test_a_forearm_twice_its_length_marks_the_wrist():
    poses = walking_sequence(12)
    poses[9, COCO["left_wrist"], 1] += 80.0  # forearm 50 -> 130 px; a slow enough move
    kept, counts = run_checks(poses)
    assert np.argwhere(~kept).tolist() == [[9, COCO["left_wrist"]]]
    assert counts == {"low_confidence": 0, "jump": 0, "bone_length": 1}
