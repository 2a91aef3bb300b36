"""`infer --video` for everybody: the model chosen by lookahead, the per-track output files
and the overlay with track ids (fake tracks, no MediaPipe, no trained model)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from scjd_edge.errors import ConfigError
from scjd_edge.infer.people_stream import PeopleResult, TrackResult


def fake_track(track_id: int, first: int, frames: int) -> TrackResult:
    keypoints = np.tile(np.linspace(20, 100, 17)[:, None], (frames, 1, 2)).astype(np.float32)
    keypoints[..., 0] += 40 * track_id
    pose_3d = np.zeros((frames, 17, 3), dtype=np.float32)
    pose_3d[..., 1] = np.linspace(-0.9, 0.9, 17)
    pose_3d[..., 2] = track_id
    return TrackResult(
        track_id=track_id,
        frame_indices=np.arange(first, first + frames),
        keypoints_2d=keypoints,
        interpolated=np.zeros((frames, 17), dtype=bool),
        pose_3d=pose_3d,
        boxes=np.tile([0.0, 0.0, 10.0, 30.0], (frames, 1)),
        outliers={"low_confidence": 0, "jump": 0, "bone_length": 0},
        model_frames=frames,
    )


def test_a_folder_of_models_gives_the_causal_one_unless_told(tmp_path, monkeypatch):
    import scjd_edge.export.runtime as runtime
    from scjd_edge.infer.people_video import choose_model

    lookaheads = {"a_centred.onnx": 13, "b_causal.pt": 0, "c_lookahead5.onnx": 5}
    for name in lookaheads:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a model")

    def fake_load(path, **_):
        return SimpleNamespace(deployment=SimpleNamespace(lookahead_frames=lookaheads[path.name]))

    monkeypatch.setattr(runtime, "load_predictor", fake_load)
    assert choose_model(tmp_path, None)[0].name == "b_causal.pt"
    assert choose_model(tmp_path, 5)[0].name == "c_lookahead5.onnx"
    assert choose_model(tmp_path / "a_centred.onnx", None)[0].name == "a_centred.onnx"
    with pytest.raises(ConfigError, match=r"no model with lookahead 3 .*\[0, 5, 13\]"):
        choose_model(tmp_path, 3)
    with pytest.raises(ConfigError, match="has lookahead 13"):
        choose_model(tmp_path / "a_centred.onnx", 0)


def test_people_json_has_one_instance_per_track_and_npz_prefixed_arrays(tmp_path):
    from scjd_edge.infer.outputs import write_people_poses

    tracks = {3: fake_track(3, 0, 4), 7: fake_track(7, 2, 3)}
    path = write_people_poses(tmp_path / "p.json", tracks, (320, 240), 10.0)
    document = json.loads(path.read_text())
    assert document["meta_info"]["track_ids"] == [3, 7]
    per_frame = {f["frame_id"]: [i["track_id"] for i in f["instances"]]
                 for f in document["instance_info"]}  # fmt: skip
    assert per_frame == {0: [3], 1: [3], 2: [3, 7], 3: [3, 7], 4: [7]}
    assert document["instance_info"][4]["instances"][0]["keypoints"][0][2] == 7.0
    arrays = np.load(write_people_poses(tmp_path / "p.npz", tracks, (320, 240), 10.0))
    np.testing.assert_array_equal(arrays["track_ids"], [3, 7])
    np.testing.assert_array_equal(arrays["track7_frame_ids"], [2, 3, 4])
    assert arrays["track3_pose_3d"].shape == (4, 17, 3)


def test_the_overlay_draws_every_track_with_its_id(tmp_path):
    pytest.importorskip("cv2", reason="the [video] extra is not installed (README)")
    from scjd_edge.infer.overlay import draw_people, write_people_overlay

    frame = np.zeros((120, 160, 3), dtype=np.uint8)
    track = fake_track(1, 0, 2)
    drawn = draw_people(frame, [(1, track.keypoints_2d[0], track.interpolated[0])])
    assert (drawn != frame).any(axis=-1).sum() > 100  # skeleton and id drawn
    result = PeopleResult({1: track, 2: fake_track(2, 1, 2)}, 3, [1, 2, 1], 10.0, 50.0, 1, 0)
    written = write_people_overlay(tmp_path / "o.gif", [frame] * 3, result, shown_track=1)
    assert written["frames"] == 3 and (tmp_path / "o.gif").stat().st_size > 0
