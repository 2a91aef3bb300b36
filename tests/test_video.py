"""Video -> 2D -> 3D streaming with an injected fake detector and fake model (no MediaPipe,
no trained model): person following and holding, lookahead and causal windows, the
size rescaling, One-Euro smoothing, output files, refusal of NaN poses, and the overlay
picture (needs OpenCV). The real detector on a real video is tested in test_infer_cmu.py."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from benchmark_scripts import load_benchmark_script
from test_infer import hand_made_coco_pose, walking_sequence

from scjd_edge.data.builtin import BUILTIN_CMU
from scjd_edge.data.camera import normalize_screen_coordinates
from scjd_edge.data.skeleton import COCO_JOINT_NAMES, JOINT_NAMES, coco_to_h36m
from scjd_edge.errors import CheckpointError, ConfigError
from scjd_edge.infer.detectors import BLAZEPOSE_TO_COCO, KeypointFileDetector, blazepose_to_coco
from scjd_edge.infer.keypoint_files import Person
from scjd_edge.infer.lifting import StreamingLifter, centred_windows, lift_sequence
from scjd_edge.infer.outputs import write_poses
from scjd_edge.infer.rescale import (
    TRAINING_RMS_SIZE,
    TRAINING_ROOT_POSITION,
    rescale_to_training_size,
    skeleton_rms_size,
    training_2d_statistics,
)
from scjd_edge.infer.smoothing import OneEuroFilter, OneEuroParams, smooth_sequence
from scjd_edge.infer.streaming import run_stream

COCO = {name: index for index, name in enumerate(COCO_JOINT_NAMES)}
IMAGE_SIZE = (640, 480)


class EchoModel:
    """A fake lifter: the pose of frame i is its own model input (x, y) plus z = the index
    of the window slot that holds it (the centre: windows are centred on the delivered
    frame), so any window or delay mistake shows."""

    backend = "fake"
    name = "echo"

    def __init__(self, window_frames: int = 5, lookahead_frames: int | None = None):
        self.lookahead = (window_frames - 1) // 2 if lookahead_frames is None else lookahead_frames
        # The two contract fields lifting reads.
        self.deployment = SimpleNamespace(
            window_frames=window_frames, lookahead_frames=self.lookahead
        )
        self.windows_seen: list[np.ndarray] = []

    def __call__(self, windows):
        self.windows_seen.append(windows.copy())
        slot = windows.shape[1] // 2
        current = windows[:, slot]
        z = np.full(current.shape[:2] + (1,), float(slot), dtype=np.float32)
        return np.concatenate([current, z], axis=-1)


class ScriptedDetector:
    """A fake detector: frame i -> the people listed for it (or nobody)."""

    name = "scripted"

    def __init__(self, people_per_frame: dict[int, list[Person]]):
        self.people_per_frame = people_per_frame
        self.calls: list[int] = []
        self.closed = False

    def __call__(self, frame_rgb, frame_index):
        assert frame_rgb.shape == (IMAGE_SIZE[1], IMAGE_SIZE[0], 3)
        self.calls.append(frame_index)
        return self.people_per_frame.get(frame_index, [])

    def close(self):
        self.closed = True


def blank_frames(count: int):
    return (np.zeros((IMAGE_SIZE[1], IMAGE_SIZE[0], 3), dtype=np.uint8) for _ in range(count))


def expected_model_input(coco_pose: np.ndarray) -> np.ndarray:
    h36m = coco_to_h36m(coco_pose)[:, :2]
    return rescale_to_training_size(normalize_screen_coordinates(h36m, *IMAGE_SIZE))


def moving_arm_sequence(frames: int) -> np.ndarray:
    """(F, 17, 3) the walking pose whose right wrist rises 8 px per frame: after rescaling
    (which removes position and size) every frame is still a different model input."""
    poses = walking_sequence(frames)
    poses[:, COCO["right_wrist"], 1] -= 8.0 * np.arange(frames)
    return poses


def test_stream_follows_holds_and_delays_by_the_lookahead():
    poses = moving_arm_sequence(10)
    poses[6, COCO["left_wrist"], 2] = 0.05  # below min_score: held from frame 4
    bystander = poses.copy()
    bystander[..., :2] = bystander[..., :2] * 0.3 + 10.0  # small, top left: never followed
    people = {
        i: [Person(bystander[i], score=0.99), Person(poses[i], score=0.9)]
        for i in range(10)
        if i not in (0, 1, 5)  # nobody in frames 0-1; the walker is missed in frame 5
    }
    people[5] = []
    model = EchoModel(window_frames=5)
    result = run_stream(blank_frames(10), ScriptedDetector(people), model, IMAGE_SIZE, fps=10)

    assert result.frames_read == 10 and result.lookahead_frames == 2
    np.testing.assert_array_equal(result.detected, [0, 0, 1, 1, 1, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(result.frame_indices, np.arange(2, 10))
    assert result.pose_3d.shape == (8, 17, 3) and len(result.detector_ms) == 10
    expected = np.stack([expected_model_input(poses[i]) for i in range(2, 10)])
    expected[3] = expected[2]  # frame 5: every joint held from frame 4
    np.testing.assert_allclose(result.pose_3d[[0, 1, 2, 3, 5, 6, 7], :, :2],
                               expected[[0, 1, 2, 3, 5, 6, 7]], atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(result.pose_3d[3, :, :2], expected[2], atol=1e-5)
    assert result.interpolated[3].all() and not result.interpolated[2].any()
    wrist = JOINT_NAMES.index("LWrist")
    assert result.interpolated[4, wrist] and result.interpolated[4].sum() == 1
    held_wrist_px = coco_to_h36m(poses[4])[wrist, :2]
    np.testing.assert_allclose(result.keypoints_2d[4, wrist], held_wrist_px, atol=1e-4)
    assert (result.pose_3d[:, :, 2] == 2).all()  # frame i sat in the centre slot T // 2 = 2
    # The first pose came out only once frames i..i+L were in: window 1 is frames 2,2,2,3,4.
    right_wrist = JOINT_NAMES.index("RWrist")
    first_window = model.windows_seen[0][0, :, right_wrist]
    np.testing.assert_allclose(first_window, expected[[0, 0, 0, 1, 2], right_wrist], atol=1e-6)
    assert len(model.windows_seen) == 8


def test_a_causal_model_has_no_delay_and_never_sees_a_future_frame():
    keypoints_2d = np.arange(6, dtype=np.float32)[:, None, None] * np.ones((1, 17, 2), np.float32)
    causal = EchoModel(window_frames=5, lookahead_frames=0)
    lifter = StreamingLifter(causal)
    assert lifter.lookahead_frames == 0
    first = lifter.push(keypoints_2d[0])
    assert first is not None  # no delay: the pose of frame 0 at its own push
    np.testing.assert_array_equal(causal.windows_seen[-1][0, :, 0, 0], [0, 0, 0, 0, 0])
    streamed = [first] + [lifter.push(frame) for frame in keypoints_2d[1:]]
    assert lifter.flush() == []
    # Frame 5's window: frames 3, 4, 5, and frame 5 again where frames 6, 7 would be.
    np.testing.assert_array_equal(causal.windows_seen[-1][0, :, 0, 0], [3, 4, 5, 5, 5])
    np.testing.assert_array_equal(np.stack(streamed), lift_sequence(causal, keypoints_2d))
    windows = centred_windows(keypoints_2d, np.array([1]), 5, lookahead=0)
    np.testing.assert_array_equal(windows[0, :, 0, 0], [0, 0, 1, 1, 1])
    with pytest.raises(ConfigError, match="lookahead_frames 5"):
        StreamingLifter(EchoModel(window_frames=5, lookahead_frames=5))


def test_rescaling_makes_small_and_large_people_the_same_input():
    pose = coco_to_h36m(hand_made_coco_pose())[:, :2]
    small = normalize_screen_coordinates(pose * 0.25 + 40.0, 1920, 1080)
    large = normalize_screen_coordinates(pose * 2.0 + 100.0, 1920, 1080)
    rescaled = rescale_to_training_size(np.stack([small, large]))
    np.testing.assert_allclose(rescaled[0], rescaled[1], atol=1e-5)
    np.testing.assert_allclose(skeleton_rms_size(rescaled), TRAINING_RMS_SIZE, rtol=1e-5)
    np.testing.assert_allclose(rescaled[:, 0], [TRAINING_ROOT_POSITION] * 2, atol=1e-6)
    # The shape is kept: distances between joints keep their ratios.
    ratio = np.linalg.norm(rescaled[0, 10] - rescaled[0, 3]) / np.linalg.norm(pose[10] - pose[3])
    ratio_2 = np.linalg.norm(rescaled[0, 13] - rescaled[0, 16]) / np.linalg.norm(
        pose[13] - pose[16]
    )
    assert ratio == pytest.approx(ratio_2, rel=1e-5)


def test_rescaling_constants_match_the_cmu_training_subjects():
    root, size = training_2d_statistics(BUILTIN_CMU)
    np.testing.assert_allclose(root, TRAINING_ROOT_POSITION, atol=1e-3)
    assert size == pytest.approx(TRAINING_RMS_SIZE, abs=1e-3)


def test_one_euro_filter_matches_the_formula_and_reduces_jitter():
    params = OneEuroParams(min_cutoff=1.0, beta=0.0, derivative_cutoff=1.0)
    one_euro = OneEuroFilter(fps=10.0, params=params)
    assert one_euro(np.array([0.0]))[0] == 0.0
    alpha = 1.0 / (1.0 + 1.0 / (2 * np.pi * 1.0 * 0.1))  # 0.3859
    assert one_euro(np.array([1.0]))[0] == pytest.approx(alpha, rel=1e-6)
    rng = np.random.default_rng(0)
    noisy = 1.0 + 0.01 * rng.standard_normal((200, 17, 3))
    smoothed = smooth_sequence(noisy, fps=30.0)
    assert np.abs(np.diff(smoothed, axis=0)).mean() < 0.3 * np.abs(np.diff(noisy, axis=0)).mean()
    # Fast motion is followed: with beta the lag on a 2 m/s ramp stays small.
    ramp = (np.arange(60) * (2.0 / 30.0))[:, None]
    lag_fast = np.abs(smooth_sequence(ramp, 30.0, OneEuroParams(beta=5.0)) - ramp)[-1, 0]
    lag_slow = np.abs(smooth_sequence(ramp, 30.0, OneEuroParams(beta=0.0)) - ramp)[-1, 0]
    assert lag_fast < 0.25 * lag_slow
    with pytest.raises(ConfigError, match="min_cutoff"):
        OneEuroParams(min_cutoff=0.0)


def test_a_model_giving_nan_is_refused():
    class NanModel(EchoModel):
        def __call__(self, windows):
            return np.full((len(windows), 17, 3), np.nan, dtype=np.float32)

    people = {i: [Person(walking_sequence(1)[0])] for i in range(6)}
    with pytest.raises(CheckpointError, match="non-finite 3D pose.*nothing was written"):
        run_stream(blank_frames(6), ScriptedDetector(people), NanModel(), IMAGE_SIZE, fps=10)


def test_blazepose_landmarks_become_coco_pixels():
    landmarks = np.zeros((33, 3))
    landmarks[:, 0] = np.arange(33) / 100.0  # x encodes the landmark index
    landmarks[:, 1] = 0.5
    landmarks[:, 2] = 0.8
    coco = blazepose_to_coco(landmarks, width=200, height=100)
    np.testing.assert_allclose(coco[:, 0], np.array(BLAZEPOSE_TO_COCO) * 2.0)
    np.testing.assert_allclose(coco[:, 1:], [[50.0, 0.8]] * 17)
    assert coco[COCO["left_hip"], 0] == pytest.approx(2.0 * 23)
    assert coco[COCO["right_ankle"], 0] == pytest.approx(2.0 * 28)


def test_a_keypoint_file_is_a_detector_frame_by_frame(tmp_path):
    poses = moving_arm_sequence(4)
    path = tmp_path / "dets.json"
    entries = [{"image_id": str(i + 1), "keypoints": p.reshape(-1).tolist()} for i, p in
               enumerate(poses)]  # fmt: skip
    path.write_text(json.dumps(entries))
    detector = KeypointFileDetector(path)
    result = run_stream(blank_frames(5), detector, EchoModel(), IMAGE_SIZE, fps=10)
    np.testing.assert_array_equal(result.detected, [1, 1, 1, 1, 0])  # the file has 4 frames
    np.testing.assert_allclose(result.pose_3d[2, :, :2], expected_model_input(poses[2]), atol=1e-5)


def test_outputs_npz_and_mmpose_json(tmp_path):
    pose_3d = np.random.default_rng(1).normal(size=(3, 17, 3)).astype(np.float32)
    keypoints_2d = np.ones((3, 17, 2), np.float32)
    interpolated = np.zeros((3, 17), bool)
    interpolated[1, 5] = True
    write_poses(tmp_path / "p.json", pose_3d, keypoints_2d, interpolated, [7, 8, 9], (64, 48), 10)
    document = json.loads((tmp_path / "p.json").read_text())
    assert document["meta_info"]["keypoint_id2name"]["0"] == "Hip"
    assert "root-relative" in document["meta_info"]["coordinates"]
    frame = document["instance_info"][1]
    assert frame["frame_id"] == 8 and len(frame["instances"]) == 1
    instance = frame["instances"][0]
    np.testing.assert_allclose(instance["keypoints"], pose_3d[1], atol=1e-5)
    assert instance["keypoint_scores"][5] == 0.0 and instance["keypoint_scores"][4] == 1.0
    write_poses(tmp_path / "p.npz", pose_3d, keypoints_2d, interpolated, [7, 8, 9], (64, 48), 10)
    saved = np.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(saved["frame_ids"], [7, 8, 9])
    np.testing.assert_array_equal(saved["pose_3d"], pose_3d)
    assert saved["keypoint_scores"].sum() == 3 * 17 - 1 and float(saved["fps"]) == 10.0


def test_overlay_draws_the_skeleton_on_the_frame_beside_the_3d_panel(tmp_path):
    pytest.importorskip("cv2")
    from PIL import Image

    from scjd_edge.infer.overlay import Pose3DPanel, compose_frame, write_overlay

    poses = walking_sequence(4)
    people = {i: [Person(poses[i])] for i in range(1, 4)}
    result = run_stream(blank_frames(4), ScriptedDetector(people), EchoModel(), IMAGE_SIZE, 10)
    result.pose_3d[..., 2] = 0.0  # a flat echo pose is still a drawable 3D pose
    panel = Pose3DPanel(IMAGE_SIZE[1])
    picture = compose_frame(
        next(blank_frames(1)), panel, result.keypoints_2d[0], result.interpolated[0],
        result.pose_3d[0], "frame 1",
    )  # fmt: skip
    assert picture.shape == (IMAGE_SIZE[1], IMAGE_SIZE[0] + IMAGE_SIZE[1], 3)
    video_part = picture[:, : IMAGE_SIZE[0]]
    hip_x, hip_y = np.round(result.keypoints_2d[0, 0]).astype(int)
    assert video_part[hip_y, hip_x].any()  # a joint is drawn where the hip is
    assert video_part[:40].max() == 0  # and nothing far above the head
    gif = write_overlay(tmp_path / "o.gif", blank_frames(4), result, fps=10)
    with Image.open(gif["path"]) as image:
        assert image.n_frames == 4
        image.seek(1)
        colours = {tuple(c) for c in np.asarray(image.convert("RGB")).reshape(-1, 3)}
    assert {(31, 119, 180), (214, 39, 40)} <= colours  # thin left/right limbs keep colour
    mp4 = write_overlay(tmp_path / "o.mp4", blank_frames(4), result, fps=10)
    assert mp4["frames"] == 4 and (tmp_path / "o.mp4").stat().st_size > 1000


def test_infer_from_a_file_refuses_nan_poses_and_writes_nothing(tmp_path, monkeypatch):
    import scjd_edge.export.runtime as runtime
    from scjd_edge.infer import run_infer

    class NanModel(EchoModel):
        def __call__(self, windows):
            poses = super().__call__(windows)
            poses[:, 3] = np.nan  # one joint of every frame
            return poses

    monkeypatch.setattr(runtime, "load_predictor", lambda model, backend=None: NanModel())
    path = tmp_path / "dets.json"
    entries = [{"image_id": i, "keypoints": p.reshape(-1).tolist()} for i, p in
               enumerate(walking_sequence(6))]  # fmt: skip
    path.write_text(json.dumps({"annotations": entries, "width": 640, "height": 480}))
    with pytest.raises(CheckpointError, match=r"model\.onnx: non-finite 3D poses.* 6 of 6"):
        run_infer(tmp_path / "model.onnx", path, out=tmp_path / "poses.npz")
    assert not (tmp_path / "poses.npz").exists()


@pytest.mark.parametrize("side", ["met", "missed"])
def test_video_benchmark_goals_are_judged_on_both_sides(side):
    script = load_benchmark_script("video_cpu")
    good = side == "met"
    measured = {
        "detection_rate": 0.95 if good else 0.94,
        "height_in_range_share": 0.95 if good else 0.949,
        "height_m": {"median": 1.6},
        "summary": {"detected_frames": 95, "frames_read": 100, "fps": 20.0 if good else 19.9},
    }
    assert [goal["met"] for goal in script.goals(measured)] == [good] * 3
    poses = np.zeros((3, 17, 3))
    poses[:, JOINT_NAMES.index("Head"), 1] = -1.7  # head 1.7 m above both ankles (y down)
    np.testing.assert_allclose(script.skeleton_height(poses), 1.7)
    poses[:, :, 0] = [[0.0], [0.01], [0.03]]  # every joint moves 10 mm, then 20 mm
    np.testing.assert_allclose(script.jitter_mm(poses), [10.0, 20.0])
    np.testing.assert_allclose(script.jitter_mm(poses, order=2), [10.0])


def test_without_the_video_extra_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from scjd_edge.cli import app
    from scjd_edge.infer.detectors import BlazePoseDetector

    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    for module in ("mediapipe", "mediapipe.python", "mediapipe.python.solutions"):
        monkeypatch.setitem(sys.modules, module, None)  # also when imported by an earlier test
    video = tmp_path / "walk.mp4"
    video.write_bytes(b"not decoded: OpenCV is missing first")
    result = CliRunner().invoke(app, ["infer", "model.onnx", "--video", str(video)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "video input needs OpenCV" in result.output
    assert 'pip install -e ".[video]"' in " ".join(result.output.split())
    with pytest.raises(ConfigError, match=r"MediaPipe detector is not installed.*\[video\]"):
        BlazePoseDetector()


class LoopedFileCamera:
    """Stands in for `cv2.VideoCapture(0)`: a video file played in a loop, reporting no
    length, as a camera does. `monkeypatch.setattr(cv2, "VideoCapture", looped(path))`."""

    def __init__(self, path, index):
        import cv2

        assert index == 0, index
        self._cv2 = cv2
        self._capture = REAL_VIDEO_CAPTURE[0](str(path))

    def isOpened(self):  # noqa: N802 (OpenCV's name)
        return self._capture.isOpened()

    def read(self):
        ok, frame = self._capture.read()
        if not ok:  # end of the file: from the start again
            self._capture.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._capture.read()
        return ok, frame

    def get(self, prop):
        return 0.0 if prop == self._cv2.CAP_PROP_FRAME_COUNT else self._capture.get(prop)

    def release(self):
        self._capture.release()


REAL_VIDEO_CAPTURE: list = []


def looped(path):
    import cv2

    if not REAL_VIDEO_CAPTURE:
        REAL_VIDEO_CAPTURE.append(cv2.VideoCapture)
    return lambda index: LoopedFileCamera(path, index)


def test_a_camera_index_reads_through_the_same_capture_path(tmp_path, monkeypatch):
    cv2 = pytest.importorskip("cv2", reason="the [video] extra is not installed (README)")
    from scjd_edge.infer.video import VideoSource

    clip = tmp_path / "five.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for index in range(5):
        writer.write(np.full((48, 64, 3), 40 * index, dtype=np.uint8))
    writer.release()
    monkeypatch.setattr(cv2, "VideoCapture", looped(clip))
    source = VideoSource("0")
    assert source.is_camera and source.frame_count is None and source.name == "camera 0"
    frames = list(source.frames(max_frames=12))
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3)
    brightness = [int(frame.mean()) for frame in frames]
    assert brightness[5] == brightness[0] and brightness[11] == brightness[1]  # looped


def test_a_keypoint_file_is_lifted_at_the_model_rate_and_mapped_back(tmp_path, monkeypatch):
    import scjd_edge.export.runtime as runtime
    from scjd_edge.infer import render_summary, run_infer

    model = EchoModel(window_frames=5, lookahead_frames=0)
    model.deployment.fps = 50.0
    monkeypatch.setattr(runtime, "load_predictor", lambda path, backend=None: model)
    path = tmp_path / "dets.json"
    entries = [{"image_id": i, "keypoints": p.reshape(-1).tolist()} for i, p in
               enumerate(walking_sequence(6))]  # fmt: skip
    path.write_text(json.dumps({"annotations": entries, "width": 640, "height": 480}))
    summary = run_infer(tmp_path / "m.onnx", path, fps=10.0, out=tmp_path / "p.npz", rescale=False)
    assert summary["resampled"] and summary["frames"] == 6
    assert sum(len(windows) for windows in model.windows_seen) == 26  # 0.5 s at 50 frames/s
    assert "resampled from 10 to the model's 50 frames/s" in "\n".join(render_summary(summary))
    pose_3d = np.load(tmp_path / "p.npz")["pose_3d"]
    # the echo model returns its centre frame's input: back at the file's frames, the input
    expected = normalize_screen_coordinates(coco_to_h36m(walking_sequence(6))[..., :2], *IMAGE_SIZE)
    np.testing.assert_allclose(pose_3d[..., :2], expected, atol=1e-4)
