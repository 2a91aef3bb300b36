"""Everybody in a video lifted, one stream per track (infer.people_stream), with the
fake detector and BlazePose of test_people and the echo model of test_video."""

from __future__ import annotations

import numpy as np
from test_people import DrawnScene, FakeCropPose, walker
from test_video import EchoModel

from scjd_edge.infer.people import PeopleTracker
from scjd_edge.infer.people_stream import run_people_stream

IMAGE_SIZE = (400, 240)


class CountingTracker(PeopleTracker):
    def __init__(self, scene: DrawnScene):
        self.scene = scene
        super().__init__(
            person_detector=lambda frame: np.array(list(scene.boxes.values())).reshape(-1, 4),
            make_pose=lambda video_mode: FakeCropPose(scene),
        )
        self.updated_frames: list[int] = []

    def update(self, frame_rgb, frame_index, find_people=True):
        self.updated_frames.append(frame_index)
        return super().update(frame_rgb, frame_index, find_people)


def scene_frames(scene: DrawnScene, positions: dict, count: int):
    for index in range(count):
        scene.boxes = {name: where(index) for name, where in positions.items()}
        yield scene.frame()


def test_every_person_gets_a_stream_and_detection_runs_every_kth_frame():
    scene = DrawnScene()
    positions = {"red": walker(20, 6), "blue": walker(330, -6, y0=75)}
    tracker = CountingTracker(scene)
    model = EchoModel(window_frames=5, lookahead_frames=0)
    result = run_people_stream(
        scene_frames(scene, positions, 9), tracker, model, IMAGE_SIZE, 10.0, detect_every=3
    )
    assert tracker.updated_frames == [0, 3, 6]
    assert sorted(result.tracks) == [1, 2] and result.people_per_frame == [2] * 9
    for track in result.tracks.values():
        np.testing.assert_array_equal(track.frame_indices, np.arange(9))
        assert track.pose_3d.shape == (9, 17, 3) and np.isfinite(track.pose_3d).all()
        carried = track.interpolated.all(axis=-1)
        np.testing.assert_array_equal(carried, [i % 3 != 0 for i in range(9)])
    red = result.tracks[1]
    # carried at the box's velocity, known after the second detection: moving right
    assert (np.diff(red.boxes[3:, 0]) > 0).all()
    boxes = result.boxes_per_frame()
    assert sorted(track_id for track_id, _ in boxes[4]) == [1, 2]
    assert len(result.detector_ms) == 3 and len(result.lifter_ms) == 9


def test_one_track_is_lifted_at_the_model_rate_and_mapped_back():
    scene = DrawnScene()
    tracker = CountingTracker(scene)
    model = EchoModel(window_frames=5, lookahead_frames=0)
    model.deployment.fps = 30.0  # 3x the video's 10 frames/s
    result = run_people_stream(
        scene_frames(scene, {"red": walker(20, 6), "blue": walker(330, -6)}, 6),
        tracker, model, IMAGE_SIZE, 10.0, track_id=2,
    )  # fmt: skip
    assert list(result.tracks) == [2]
    track = result.tracks[2]
    assert track.model_frames == 16  # 0.5 s at 30 frames/s, both ends included
    # the echo model returns its input: back at the video frames, x moves as the walker
    # (echo poses carry the rescaled input, so compare motion direction, not pixels)
    assert track.pose_3d.shape == (6, 17, 3)
    assert result.lookahead_seconds == 0.0 and len(result.pose_latency_ms) == 16
