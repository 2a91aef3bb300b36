"""Reading detector keypoints: COCO -> H36M mapping, gap filling, person choice, file formats,
and the errors a user sees for bad inputs. No model is needed here (see test_infer_cmu.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scjd_edge.contract import Deployment
from scjd_edge.data.skeleton import COCO_JOINT_NAMES, JOINT_NAMES, coco_to_h36m
from scjd_edge.errors import ConfigError, DataError
from scjd_edge.infer.keypoint_files import read_detections
from scjd_edge.infer.keypoints import fill_missing, load_keypoints
from scjd_edge.infer.lifting import StreamingLifter, centred_windows
from scjd_edge.infer.viz import resolve_picture_path

COCO = {name: index for index, name in enumerate(COCO_JOINT_NAMES)}
H36M = {name: index for index, name in enumerate(JOINT_NAMES)}
IMAGE_SIZE = (640, 480)


def hand_made_coco_pose() -> np.ndarray:
    """(17, 3) a standing person facing the camera, pixels + score (joints easy to check)."""
    points = {
        "nose": (320, 100), "left_eye": (330, 90), "right_eye": (310, 90),
        "left_ear": (340, 95), "right_ear": (300, 95),
        "left_shoulder": (360, 150), "right_shoulder": (280, 150),
        "left_elbow": (370, 210), "right_elbow": (270, 210),
        "left_wrist": (375, 260), "right_wrist": (265, 260),
        "left_hip": (345, 280), "right_hip": (295, 280),
        "left_knee": (348, 360), "right_knee": (292, 360),
        "left_ankle": (350, 440), "right_ankle": (290, 440),
    }  # fmt: skip
    pose = np.zeros((17, 3), dtype=np.float32)
    for name, (x, y) in points.items():
        pose[COCO[name]] = (x, y, 0.9)
    return pose


def write_coco_results(path, poses: np.ndarray, frame_ids=None, **extra) -> None:
    """COCO results JSON, one detection per pose (F, 17, 3)."""
    frame_ids = range(len(poses)) if frame_ids is None else frame_ids
    entries = [
        {"image_id": int(f), "keypoints": pose.reshape(-1).tolist(), "score": 0.95, **extra}
        for f, pose in zip(frame_ids, poses, strict=True)
    ]
    path.write_text(json.dumps(entries))


def walking_sequence(frames: int = 12) -> np.ndarray:
    """(F, 17, 3) the hand-made pose moving right by 5 px per frame."""
    poses = np.repeat(hand_made_coco_pose()[None], frames, axis=0)
    poses[:, :, 0] += 5.0 * np.arange(frames)[:, None]
    return poses


def test_coco_to_h36m_on_a_hand_made_pose():
    coco = hand_made_coco_pose()
    coco[COCO["left_eye"], 2] = 0.5  # the derived Head must inherit the weakest score
    h36m = coco_to_h36m(coco)
    xy = h36m[:, :2]

    def c(name):
        return coco[COCO[name], :2]

    direct = {
        "RHip": "right_hip", "RKnee": "right_knee", "RFoot": "right_ankle",
        "LHip": "left_hip", "LKnee": "left_knee", "LFoot": "left_ankle",
        "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
        "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist",
        "Neck/Nose": "nose",
    }  # fmt: skip
    for h36m_name, coco_name in direct.items():
        np.testing.assert_array_equal(xy[H36M[h36m_name]], c(coco_name), err_msg=h36m_name)
    hip = (c("left_hip") + c("right_hip")) / 2
    thorax = (c("left_shoulder") + c("right_shoulder")) / 2
    eyes = (c("left_eye") + c("right_eye")) / 2
    np.testing.assert_allclose(xy[H36M["Hip"]], (320, 280))
    np.testing.assert_allclose(xy[H36M["Hip"]], hip)
    np.testing.assert_allclose(xy[H36M["Thorax"]], thorax)
    np.testing.assert_allclose(xy[H36M["Spine"]], (hip + thorax) / 2)
    np.testing.assert_allclose(xy[H36M["Head"]], eyes + 0.5 * (eyes - thorax))
    assert xy[H36M["Head"], 1] < xy[H36M["Neck/Nose"], 1] < xy[H36M["Thorax"], 1]  # head is up
    assert h36m[H36M["Head"], 2] == pytest.approx(0.5)
    assert h36m[H36M["Hip"], 2] == pytest.approx(0.9)
    # Batched input gives the same as one frame at a time; 2-channel input works too.
    batch = np.stack([coco, coco + np.array([10, 0, 0], dtype=np.float32)])
    np.testing.assert_allclose(coco_to_h36m(batch)[1, :, 0], h36m[:, 0] + 10)
    np.testing.assert_allclose(coco_to_h36m(coco[:, :2]), xy)


def test_fill_missing_interpolates_linearly_and_repeats_at_the_ends(tmp_path):
    frames = 8
    keypoints = np.zeros((frames, 2, 2))
    keypoints[:, 0, 0] = np.arange(frames) * 10.0  # joint 0: x = 10 * frame
    keypoints[:, 1] = 7.0
    valid = np.ones((frames, 2), dtype=bool)
    valid[[0, 3, 4, 7], 0] = False  # edges and a two-frame gap
    keypoints[~valid] = 999.0  # junk where missing
    filled, interpolated = fill_missing(keypoints, valid, ("a", "b"), (0, 1), tmp_path / "k.json")
    np.testing.assert_allclose(filled[:, 0, 0], [10, 10, 20, 30, 40, 50, 60, 60])
    np.testing.assert_array_equal(filled[:, 1], 7.0)
    assert interpolated[:, 0].sum() == 4 and not interpolated[:, 1].any()
    np.testing.assert_array_equal(np.flatnonzero(interpolated[:, 0]), [0, 3, 4, 7])


def test_load_keypoints_counts_filled_joints_per_h36m_joint(tmp_path):
    poses = walking_sequence(10)
    poses[2:4, COCO["left_wrist"], 2] = 0.1  # below min_score
    poses[5, COCO["right_eye"], 2] = 0.0  # feeds the derived Head
    poses[:, COCO["left_ear"], 2] = 0.0  # ears are not used: never counted, never an error
    path = tmp_path / "dets.json"
    write_coco_results(path, np.delete(poses, 7, axis=0), frame_ids=[*range(7), 8, 9])
    track = load_keypoints(path, "coco", image_size=IMAGE_SIZE, min_score=0.3)
    counts = track.interpolated_counts
    assert track.keypoints_2d.shape == (10, 17, 2)
    assert counts["LWrist"] == 3  # frames 2, 3 and the missing frame 7
    assert counts["Head"] == 2  # frame 5 (right eye) and frame 7
    assert counts["RWrist"] == 1 and counts["Hip"] == 1  # only the missing frame 7
    # Interpolated values follow the straight line the person walks on.
    h36m_truth = coco_to_h36m(poses)[..., :2]
    np.testing.assert_allclose(track.keypoints_2d, h36m_truth, atol=1e-4)


def test_the_most_prominent_person_is_followed_over_time(tmp_path):
    main = walking_sequence(6)
    small = main.copy()
    small[..., :2] = small[..., :2] * 0.3 + np.array([20.0, 20.0])  # small person, top left
    frames = []
    for index in range(6):
        small_confidence = 0.99 if index == 4 else 0.9  # more confident, still not followed
        people = [
            {"keypoints": main[index].tolist(), "confidence": 0.9},
            {"keypoints": small[index].tolist(), "confidence": small_confidence},
        ]
        frames.append(people[::-1] if index % 2 else people)  # detectors list people in any order
    path = tmp_path / "ultra.json"
    path.write_text(json.dumps({"frames": frames, "width": 640, "height": 480}))
    track = load_keypoints(path, "coco")
    np.testing.assert_allclose(track.keypoints_2d, coco_to_h36m(main)[..., :2], atol=1e-4)
    assert track.max_people == 2 and track.image_size == IMAGE_SIZE


def test_track_id_picks_that_person_and_unknown_ids_are_named(tmp_path):
    main = walking_sequence(4)
    other = main.copy()
    other[..., 0] += 200
    entries = []
    for frame in range(4):
        for track, pose in ((1, main[frame]), (2, other[frame])):
            entries.append(
                {"frame": frame, "keypoints": pose.reshape(-1).tolist(), "track_id": track}
            )
    path = tmp_path / "tracked.json"
    path.write_text(json.dumps(entries))
    track = load_keypoints(path, "coco", image_size=IMAGE_SIZE, track_id=2)
    np.testing.assert_allclose(track.keypoints_2d, coco_to_h36m(other)[..., :2], atol=1e-4)
    assert track.track_ids == [2, 2, 2, 2]
    with pytest.raises(DataError, match=r"tracked\.json.*track_id 7.*\[1, 2\]"):
        load_keypoints(path, "coco", image_size=IMAGE_SIZE, track_id=7)


def test_every_supported_file_format_reads_the_same_keypoints(tmp_path):
    poses = walking_sequence(5)
    expected = coco_to_h36m(poses)[..., :2]
    files = {}
    files["coco_annotations.json"] = {
        "images": [{"id": 100 + f, "width": 640, "height": 480} for f in range(5)],
        "annotations": [
            {"image_id": 100 + f, "keypoints": p.reshape(-1).tolist()} for f, p in enumerate(poses)
        ],
    }
    files["ultralytics_tojson.json"] = [
        [
            {
                "name": "person",
                "confidence": 0.9,
                "keypoints": {
                    "x": p[:, 0].tolist(),
                    "y": p[:, 1].tolist(),
                    "visible": p[:, 2].tolist(),
                },
            }
        ]
        for p in poses
    ]
    files["ultralytics_data.json"] = [[p.tolist()] for p in poses]  # keypoints.data.tolist()
    files["mmpose.json"] = {
        "meta_info": {"dataset_name": "coco"},
        "instance_info": [
            {
                "frame_id": f + 1,
                "instances": [
                    {
                        "keypoints": p[:, :2].tolist(),
                        "keypoint_scores": p[:, 2].tolist(),
                        "bbox_score": 0.9,
                    }
                ],
            }
            for f, p in enumerate(poses)
        ],
    }
    for name, content in files.items():
        path = tmp_path / name
        path.write_text(json.dumps(content))
        size = None if name == "coco_annotations.json" else IMAGE_SIZE
        track = load_keypoints(path, "coco", image_size=size)
        np.testing.assert_allclose(track.keypoints_2d, expected, atol=1e-4, err_msg=name)
    assert read_detections(tmp_path / "mmpose.json").frame_ids == [1, 2, 3, 4, 5]
    np.savez(
        tmp_path / "with_scores.npz",
        keypoints=poses[..., :2],
        scores=poses[..., 2],
        width=640,
        height=480,
    )
    np.savez(tmp_path / "xys.npz", keypoints_2d=poses, image_size=[640, 480])
    np.savez(tmp_path / "h36m.npz", positions_2d=expected)
    for name, layout in (("with_scores.npz", "coco"), ("xys.npz", "coco"), ("h36m.npz", "h36m")):
        size = IMAGE_SIZE if name == "h36m.npz" else None
        track = load_keypoints(tmp_path / name, layout, image_size=size)
        np.testing.assert_allclose(track.keypoints_2d, expected, atol=1e-4, err_msg=name)
        assert not track.interpolated.any()


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ([{"image_id": 0, "keypoints": [1.0, 2.0, 1.0] * 18}], {}, r"18 joints.*OpenPose COCO-18"),
        ([[np.ones((25, 3)).tolist()]], {}, r"25 joints.*BODY_25"),
        ("walking", {"image_size": (100, 80)}, r"far outside a 100x80 image.*--image-size"),
        ("walking", {"image_size": None}, r"image size is not in the file.*--image-size"),
        ("no_left_knee", {}, r"joint 'left_knee' is missing .* every one of 12 frames"),
        ("normalised", {}, r"look like normalised coordinates"),
        ({"predictions": []}, {}, r"'annotations' \(COCO\), 'instance_info' \(MMPose\)"),
        ({"frames": [[], []]}, {}, r"no person in any of its 2 frames"),
        ([{"keypoints": [1.0, 2.0, 1.0] * 17}], {}, r"detection 0: no frame id"),
        (
            [{"image_id": i, "keypoints": [1.0, 2.0, 1.0] * 17} for i in (5, 397133)],
            {},
            r"no frame between ids 5 and 397133 \(397127 frames, more than 10 s",
        ),
        (
            [{"image_id": i, "keypoints": [1.0, 2.0, 1.0] * 17} for i in (5, 205)],
            {},
            r"2 frame ids spread over 201 frames.*one video",
        ),
    ],
)
def test_bad_inputs_give_clear_errors(tmp_path, content, kwargs, message):
    path = tmp_path / "bad.json"
    if isinstance(content, str):
        poses = walking_sequence(12)
        if content == "no_left_knee":
            poses[:, COCO["left_knee"], 2] = 0.05
        if content == "normalised":
            poses[..., :2] /= 640.0
        write_coco_results(path, poses)
    else:
        path.write_text(json.dumps(content))
    kwargs = {"image_size": IMAGE_SIZE, **kwargs}
    with pytest.raises(DataError, match=message) as error:
        load_keypoints(path, "coco", **kwargs)
    assert "bad.json" in str(error.value)


def test_file_size_disagreeing_with_image_size_and_unknown_layout(tmp_path):
    path = tmp_path / "sized.json"
    path.write_text(
        json.dumps({"frames": [[hand_made_coco_pose().tolist()]], "width": 640, "height": 480})
    )
    with pytest.raises(DataError, match=r"file says the images are 640x480.*1280x720"):
        load_keypoints(path, "coco", image_size=(1280, 720))
    with pytest.raises(DataError, match=r"layout 'openpose'"):
        load_keypoints(path, "openpose")
    with pytest.raises(DataError, match=r"missing\.json: keypoint file not found"):
        load_keypoints(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match=r"\.avi.*\.gif, \.mp4 or a folder"):
        resolve_picture_path(tmp_path / "out.avi")


class _WindowEcho:
    """The centre frame's keypoints plus a weighted sum over the window, as a (17, 3) pose:
    any change of window content or order changes the output. Used to check the windowing
    arithmetic exactly; the real models are tested in test_infer_cmu.py."""

    deployment = Deployment.teacher(7)

    def __call__(self, windows):
        weights = np.arange(1, 8, dtype=np.float32)[None, :, None, None]
        mixed = (windows * weights).sum(axis=1)
        return np.concatenate([windows[:, 3], mixed[..., :1]], axis=-1)


def test_windows_replicate_the_ends_and_the_stream_is_late_by_half_a_window():
    keypoints_2d = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((1, 17, 2), np.float32)
    windows = centred_windows(keypoints_2d, np.array([0, 4]), 7)
    np.testing.assert_array_equal(windows[0, :, 0, 0], [0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(windows[1, :, 0, 0], [1, 2, 3, 4, 4, 4, 4])
    lifter = StreamingLifter(_WindowEcho())
    assert lifter.lookahead_frames == 3
    outputs = [lifter.push(frame) for frame in keypoints_2d]
    assert outputs[:3] == [None, None, None]
    np.testing.assert_array_equal(outputs[3][:, :2], keypoints_2d[0])  # push 3 -> frame 0
    np.testing.assert_array_equal(
        lifter.window(), centred_windows(keypoints_2d, np.array([1]), 7)[0]
    )
    rest = lifter.flush()
    assert len(rest) == 3 and len(lifter.latencies_ms) == 5
    streamed = np.stack([outputs[3], outputs[4], *rest])
    batch = _WindowEcho()(centred_windows(keypoints_2d, np.arange(5), 7))
    np.testing.assert_array_equal(streamed, batch)


class _CausalEcho(_WindowEcho):
    """_WindowEcho over a model that reads offsets -2 .. +1 of a 7-frame window."""

    deployment = Deployment.student(7, 4, "offsets", [-2, -1, 0, 1])


def test_a_small_lookahead_streams_one_frame_late_and_never_reads_further():
    keypoints_2d = np.arange(6, dtype=np.float32)[:, None, None] * np.ones((1, 17, 2), np.float32)
    windows = centred_windows(keypoints_2d, np.array([2]), 7, lookahead=1)
    np.testing.assert_array_equal(windows[0, :, 0, 0], [0, 0, 1, 2, 3, 3, 3])
    lifter = StreamingLifter(_CausalEcho())
    assert lifter.lookahead_frames == 1
    outputs = [lifter.push(frame) for frame in keypoints_2d]
    assert outputs[0] is None
    np.testing.assert_array_equal(outputs[3][:, :2], keypoints_2d[2])  # push 3 -> frame 2
    streamed = np.stack([*outputs[1:], *lifter.flush()])
    batch = _CausalEcho()(centred_windows(keypoints_2d, np.arange(6), 7, lookahead=1))
    np.testing.assert_array_equal(streamed, batch)


def test_numbers_written_as_text_are_frame_numbers_not_words(tmp_path):
    poses = walking_sequence(12)
    as_numbers, as_text = tmp_path / "numbers.json", tmp_path / "text.json"
    write_coco_results(as_numbers, poses, frame_ids=range(1, 13))
    entries = json.loads(as_numbers.read_text())
    for entry in entries:
        entry["image_id"] = str(entry["image_id"])  # "1", "2", ..., "10", "11", "12"
    as_text.write_text(json.dumps(entries[::-1]))  # and in reverse order
    by_number = load_keypoints(as_numbers, "coco", image_size=IMAGE_SIZE)
    by_text = load_keypoints(as_text, "coco", image_size=IMAGE_SIZE)
    assert by_text.frame_ids == list(range(1, 13))
    np.testing.assert_array_equal(by_text.keypoints_2d, by_number.keypoints_2d)
    names = [{"image_id": f"img{i}", "keypoints": p.reshape(-1).tolist()} for i, p in
             zip((2, 10, 1), poses[:3], strict=True)]  # fmt: skip
    path = tmp_path / "names.json"
    path.write_text(json.dumps(names))
    assert read_detections(path).frame_ids == ["img1", "img2", "img10"]  # natural order


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"images": [{"id": 1, "width": 640, "height": 480}], "annotations": []},
         r"bad\.json: no person in any of its 1 frames"),
        ({"annotations": []}, r"bad\.json: 'annotations' is empty: no person detected"),
        ({"images": [{"width": 640, "height": 480}], "annotations": []},
         r"bad\.json: images\[0\] has no 'id'"),
        ({"images": [{"id": 0, "width": 640}], "annotations": []},
         r"bad\.json: images\[0\] has 'width' or 'height' but no 'height'"),
        ({"images": [{"id": 0, "width": "wide", "height": 480}], "annotations": []},
         r"bad\.json: images\[0\] 'width' must be a number"),
        ([{"image_id": 0, "keypoints": [1.0, 2.0, 1.0] * 17, "score": "high"}],
         r"bad\.json: detection 0: score 'high' is not a number"),
        ([{"image_id": [0], "keypoints": [1.0, 2.0, 1.0] * 17}],
         r"bad\.json: detection 0: 'image_id': frame id \[0\] must be a number or a text"),
        ({"frames": [[]], "fps": "fast"}, r"bad\.json: 'fps' 'fast' is not a number"),
    ],
)  # fmt: skip
def test_malformed_coco_fields_are_named(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError, match=message):
        load_keypoints(path, "coco", image_size=IMAGE_SIZE)


def test_cli_infer_reports_a_bad_file_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from scjd_edge.cli import app

    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"image_id": 0, "keypoints": [1.0, 2.0, 1.0] * 17, "score": "x"}]))
    result = CliRunner().invoke(app, ["infer", "model.onnx", "--keypoints", str(path)])
    assert result.exit_code == 2
    assert "score 'x' is not a number" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2  # one message (rich may wrap it)
    result = CliRunner().invoke(app, ["infer", "model.onnx"])
    assert result.exit_code == 2 and "--keypoints FILE" in result.output
