"""`scjd-edge infer` end to end on real CMU motion: a COCO-style detector file made from the
A CMU test subject's 2D (camera 0) is lifted by a tiny teacher trained on the CMU training
subjects, and compared with the CMU 3D ground truth."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CMU_SUBJECTS
from PIL import Image

from scjd_edge.config import Recipe
from scjd_edge.data.builtin import BUILTIN_CMU
from scjd_edge.data.camera import image_coordinates, normalize_screen_coordinates
from scjd_edge.data.formats import load_dataset
from scjd_edge.data.skeleton import (
    BONES,
    COCO_JOINT_NAMES,
    JOINT_NAMES,
    LEFT_JOINTS,
    RIGHT_JOINTS,
    bone_lengths,
)
from scjd_edge.export.exporter import export_checkpoint
from scjd_edge.export.runtime import load_predictor, torch_predictor
from scjd_edge.infer import render_summary, run_infer
from scjd_edge.infer.lifting import StreamingLifter, lift_sequence, stream_sequence
from scjd_edge.infer.viz import pose_figure, save_figure
from scjd_edge.models.registry import create_model
from scjd_edge.train.tasks import train_teacher

COCO = {name: index for index, name in enumerate(COCO_JOINT_NAMES)}
H36M = {name: index for index, name in enumerate(JOINT_NAMES)}
# H36M joints whose COCO twin is the same point.
COCO_FROM_H36M = {
    "nose": "Neck/Nose", "left_shoulder": "LShoulder", "right_shoulder": "RShoulder",
    "left_elbow": "LElbow", "right_elbow": "RElbow", "left_wrist": "LWrist",
    "right_wrist": "RWrist", "left_hip": "LHip", "right_hip": "RHip", "left_knee": "LKnee",
    "right_knee": "RKnee", "left_ankle": "LFoot", "right_ankle": "RFoot",
}  # fmt: skip
WINDOW_FRAMES = 5
DEFAULT_VIDEO = Path(__file__).resolve().parents[1].parent / "shared/data/video/walk_vtest.mp4"


def h36m_to_coco(keypoints_px: np.ndarray) -> np.ndarray:
    """(F, 17, 2) H36M-17 pixels -> (F, 17, 2) COCO-17 pixels, the inverse of coco_to_h36m.

    Limbs, hips and shoulders copy their H36M twin, the nose is Neck/Nose. The eyes are
    placed so that coco_to_h36m's Head (eyes + (eyes - mid-shoulders) / 2) lands on the
    H36M Head: mid-eyes = (Head + mid-shoulders / 2) / 1.5, each eye 10% of the shoulder
    vector to its side (ears 20%, unused by the mapping). Hip, Thorax and Spine are then
    derived, so they match H36M's only as far as the skeleton agrees (exactly for Hip,
    which is mid-hips in the CMU data; Thorax sits a few cm above mid-shoulders in CMU).
    """
    coco = np.zeros_like(keypoints_px)
    for coco_name, h36m_name in COCO_FROM_H36M.items():
        coco[:, COCO[coco_name]] = keypoints_px[:, H36M[h36m_name]]
    left, right = keypoints_px[:, H36M["LShoulder"]], keypoints_px[:, H36M["RShoulder"]]
    mid_eyes = (keypoints_px[:, H36M["Head"]] + 0.5 * (left + right) / 2) / 1.5
    for side, sign in (("left", 1.0), ("right", -1.0)):
        coco[:, COCO[f"{side}_eye"]] = mid_eyes + sign * 0.1 * (left - right)
        coco[:, COCO[f"{side}_ear"]] = mid_eyes + sign * 0.2 * (left - right)
    return coco


def mpjpe_mm(pose_3d: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(pose_3d - truth, axis=-1).mean() * 1000)


@pytest.fixture(scope="module")
def tiny_recipe() -> Recipe:
    return Recipe.model_validate(
        {
            "name": "infer-test",
            "data": {"path": BUILTIN_CMU, **CMU_SUBJECTS},
            "model": {"name": "ste", "frames": WINDOW_FRAMES, "dim": 16, "depth": 1, "heads": 2},
            "train": {
                "max_steps": 200,
                "batch_size": 64,
                "lr": 3e-3,
                "warmup_steps": 10,
                "val_max_windows": 128,
                "log_every": 100,
            },
        }
    )


@pytest.fixture(scope="module")
def tiny_teacher(tiny_recipe, tmp_path_factory, one_thread):
    """A 5-frame STE trained for 200 steps on the CMU training subjects (~10-20 s on CPU)."""
    out_dir = tmp_path_factory.mktemp("infer_teacher")
    return train_teacher(tiny_recipe, out_dir, device="cpu")["best_checkpoint"]


@pytest.fixture(scope="module")
def subject_clip():
    """CMU49 (a test subject) 'Jump-up-and-down 49_03', camera 0: pixels and root-relative
    3D."""
    dataset = load_dataset(BUILTIN_CMU)
    sequence = dataset.select(["CMU49"], "test")[0]
    assert (sequence.action, sequence.camera) == ("Jump-up-and-down 49_03", "54138969")
    keypoints_px = image_coordinates(sequence.keypoints_2d, sequence.res_w, sequence.res_h)
    pose_3d = sequence.pose_3d - sequence.pose_3d[:, :1]
    return keypoints_px, pose_3d, (sequence.res_w, sequence.res_h)


def write_detector_json(path, keypoints_px: np.ndarray, image_size, dropped_frame: int) -> None:
    """COCO results JSON like a detector's: a second, smaller bystander in every frame, a
    wrist below the score threshold in frames 10-14 and no detection at all in one frame."""
    coco = h36m_to_coco(keypoints_px)
    scores = np.full(coco.shape[:2] + (1,), 0.9, dtype=np.float32)
    scores[10:15, COCO["left_wrist"]] = 0.1
    person = np.concatenate([coco, scores], axis=-1)
    bystander = person.copy()
    bystander[..., :2] = bystander[..., :2] * 0.4 + 20.0
    entries = []
    for frame in range(len(coco)):
        if frame == dropped_frame:
            continue
        for candidate, score in ((bystander, 0.97), (person, 0.9)):
            keypoints = np.round(candidate[frame], 3).reshape(-1).tolist()
            entries.append(
                {"image_id": frame, "category_id": 1, "keypoints": keypoints, "score": score}
            )
    document = {
        "images": [
            {"id": f, "width": image_size[0], "height": image_size[1]} for f in range(len(coco))
        ],
        "annotations": entries,
    }
    path.write_text(json.dumps(document))


def test_infer_on_a_coco_detector_file_recovers_the_cmu_ground_truth(
    tiny_teacher, tiny_recipe, subject_clip, tmp_path, one_thread
):
    keypoints_px, truth_3d, image_size = subject_clip
    detections = tmp_path / "detections.json"
    write_detector_json(detections, keypoints_px, image_size, dropped_frame=40)
    out = tmp_path / "poses.npz"
    summary = run_infer(tiny_teacher, detections, format="coco", out=out, batch_size=32)

    frames = len(truth_3d)
    assert summary["frames"] == frames == 627
    assert summary["max_people"] == 2 and summary["image_size"] == list(image_size)
    assert summary["interpolated"]["LWrist"] == 6  # frames 10-14 and the dropped frame 40
    assert summary["interpolated"]["RKnee"] == 1 and summary["interpolated"]["Head"] == 1
    saved = np.load(out)
    assert saved["pose_3d"].shape == (frames, 17, 3) and saved["pose_3d"].dtype == np.float32
    assert list(saved["joint_names"]) == list(JOINT_NAMES)
    assert saved["interpolated"].sum() == 17 + 5
    np.testing.assert_array_equal(saved["frame_ids"], np.arange(frames))

    # The COCO round trip gives back the H36M 2D where the skeletons agree.
    kept = np.ones(frames, dtype=bool)
    kept[40] = False
    for joint in ("Hip", "Head", "LKnee", "RWrist", "Neck/Nose"):
        error_px = np.abs(
            saved["keypoints_2d"][kept, H36M[joint]] - keypoints_px[kept, H36M[joint]]
        )
        assert error_px.max() < 1.5, joint

    # A lifting model lands far below the zero-pose baseline; an untrained one does not.
    zero_baseline = mpjpe_mm(np.zeros_like(truth_3d), truth_3d)
    lifted = mpjpe_mm(saved["pose_3d"], truth_3d)
    torch.manual_seed(0)
    untrained_model = create_model(tiny_recipe.model)
    untrained = torch_predictor(
        untrained_model, load_predictor(tiny_teacher).deployment, "untrained"
    )
    normalised = normalize_screen_coordinates(saved["keypoints_2d"], *image_size)
    untrained_error = mpjpe_mm(lift_sequence(untrained, normalised), truth_3d)
    assert zero_baseline > 350
    assert lifted < 0.5 * zero_baseline, (lifted, zero_baseline)
    assert untrained_error > 0.5 * zero_baseline, (untrained_error, zero_baseline)
    print(f"MPJPE {lifted:.0f} mm (zero pose {zero_baseline:.0f}, untrained {untrained_error:.0f})")
    assert summary["missing_frames"] == 1
    assert "(frames per joint): LWrist 5" in "\n".join(render_summary(summary))


def test_streaming_poses_equal_batch_poses(tiny_teacher, subject_clip, one_thread):
    keypoints_px, _, (width, height) = subject_clip
    keypoints_2d = normalize_screen_coordinates(keypoints_px[:30], width, height)
    predictor = load_predictor(tiny_teacher)
    streamed, latencies_ms = stream_sequence(predictor, keypoints_2d)
    np.testing.assert_array_equal(streamed, lift_sequence(predictor, keypoints_2d, batch_size=1))
    np.testing.assert_allclose(streamed, lift_sequence(predictor, keypoints_2d), atol=1e-6)
    assert len(latencies_ms) == 30 and min(latencies_ms) > 0
    lifter = StreamingLifter(predictor)
    first = [lifter.push(frame) for frame in keypoints_2d[: WINDOW_FRAMES // 2 + 1]]
    assert first[:-1] == [None] * (WINDOW_FRAMES // 2)
    np.testing.assert_array_equal(first[-1], streamed[0])


def test_stream_mode_writes_json_and_a_multi_frame_gif(
    tiny_teacher, subject_clip, tmp_path, one_thread
):
    keypoints_px, truth_3d, image_size = subject_clip
    clip = keypoints_px[:12]
    path = tmp_path / "clip.npz"
    np.savez(path, keypoints_2d=clip, image_size=np.array(image_size))
    summary = run_infer(
        tiny_teacher,
        path,
        format="h36m",
        out=tmp_path / "poses.json",
        viz=tmp_path / "poses.gif",
        stream=True,
    )
    assert summary["mode"] == "stream" and summary["lookahead_frames"] == WINDOW_FRAMES // 2
    assert summary["mean_latency_ms"] > 0
    document = json.loads((tmp_path / "poses.json").read_text())
    frames = document["instance_info"]
    assert len(frames) == 12 and [f["frame_id"] for f in frames] == list(range(12))
    names = document["meta_info"]["keypoint_id2name"]
    assert [names[str(j)] for j in range(17)] == list(JOINT_NAMES)
    assert np.asarray(frames[3]["instances"][0]["keypoints"]).shape == (17, 3)
    with Image.open(tmp_path / "poses.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 12
        first = np.asarray(gif.convert("RGB"))
        gif.seek(11)
        assert not np.array_equal(first, np.asarray(gif.convert("RGB")))  # the pose moves
    save_figure(
        pose_figure(truth_3d[5], clip[5], image_size, reference_3d=truth_3d[5]),
        tmp_path / "one.png",
    )
    with Image.open(tmp_path / "one.png") as picture:
        assert picture.size[0] > picture.size[1] > 100


def test_an_exported_onnx_model_lifts_like_its_checkpoint(
    tiny_teacher, subject_clip, tmp_path, one_thread
):
    keypoints_px, _, image_size = subject_clip
    clip = tmp_path / "clip.npz"
    np.savez(clip, keypoints_2d=keypoints_px[:40], width=image_size[0], height=image_size[1])
    export_checkpoint(tiny_teacher, tmp_path / "export")
    onnx_model = tmp_path / "export" / "best.onnx"
    from_onnx = run_infer(onnx_model, clip, format="h36m", out=tmp_path / "onnx.npz")
    from_torch = run_infer(tiny_teacher, clip, format="h36m", out=tmp_path / "torch.npz")
    assert (from_onnx["backend"], from_torch["backend"]) == ("onnxruntime", "torch")
    np.testing.assert_allclose(
        np.load(tmp_path / "onnx.npz")["pose_3d"],
        np.load(tmp_path / "torch.npz")["pose_3d"],
        atol=1e-4,
    )


@pytest.fixture(scope="module")
def walk_video() -> Path:
    """The real test video (one walker on a plaza), in the shared folder beside the repo."""
    path = Path(os.environ.get("SCJD_VIDEO", DEFAULT_VIDEO))
    if not path.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"test video not found: {path} (set SCJD_VIDEO)")
        pytest.skip(f"test video not found: {path} (set SCJD_VIDEO)")
    return path


def poses_by_track(document: dict) -> dict[int, list]:
    """track id -> 3D poses in frame order from an MMPose-layout JSON (one track: id 0)."""
    tracks: dict[int, list] = {}
    for frame in document["instance_info"]:
        for instance in frame["instances"]:
            tracks.setdefault(instance.get("track_id", 0), []).append(instance["keypoints"])
    return tracks


def test_video_to_3d_with_the_real_detector(tiny_teacher, walk_video, tmp_path, one_thread):
    """OpenCV HOG + MediaPipe BlazePose on 80 frames of a real video, everybody tracked and
    lifted by the tiny CMU teacher, via the CLI: the walker is followed throughout."""
    pytest.importorskip("mediapipe", reason="the [video] extra is not installed (README)")
    from typer.testing import CliRunner

    from scjd_edge.cli import app

    out = tmp_path / "walk.json"
    command = ["infer", str(tiny_teacher), "--video", str(walk_video), "--out", str(out),
               "--max-frames", "80"]  # fmt: skip
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "people:" in result.output and "frames/s" in result.output
    walker = max(poses_by_track(json.loads(out.read_text())).values(), key=len)
    assert len(walker) >= 0.9 * 80  # one track for the walker in >= 90 % of the frames
    pose_3d = np.array(walker)
    assert np.isfinite(pose_3d).all()
    # Bone lengths against the skeletons the model was trained on: limbs within a factor
    # 1.5, every bone within 2 (COCO's nose is not H36M's Neck/Nose, so the head bones
    # differ most).
    training_sequences = load_dataset(BUILTIN_CMU).select(CMU_SUBJECTS["train_subjects"], "train")
    training_poses = np.concatenate([sequence.pose_3d for sequence in training_sequences])
    training = np.median(bone_lengths(training_poses), axis=0)
    ratio = np.median(bone_lengths(pose_3d), axis=0) / training
    limbs = [child in LEFT_JOINTS + RIGHT_JOINTS for _, child in BONES]
    assert ((ratio[limbs] > 1 / 1.5) & (ratio[limbs] < 1.5)).all(), ratio.round(2)
    assert ((ratio > 0.5) & (ratio < 2.0)).all(), ratio.round(2)
    # Temporal smoothness: consecutive poses far closer than poses 3 s apart.
    step = np.linalg.norm(np.diff(pose_3d, axis=0), axis=-1).mean(axis=-1)
    apart = np.linalg.norm(pose_3d[30:] - pose_3d[:-30], axis=-1).mean(axis=-1)
    assert np.median(step) < 0.5 * np.median(apart), (np.median(step), np.median(apart))
    print(f"bone ratio {ratio.min():.2f}-{ratio.max():.2f}, jitter {1000 * np.median(step):.0f} mm")


def test_a_camera_goes_through_the_same_path(tiny_teacher, walk_video, tmp_path, monkeypatch):
    """`--video 0` with the camera replaced by the walk video played in a loop."""
    cv2 = pytest.importorskip("cv2", reason="the [video] extra is not installed (README)")
    pytest.importorskip("mediapipe", reason="the [video] extra is not installed (README)")
    from test_video import looped
    from typer.testing import CliRunner

    from scjd_edge.cli import app

    monkeypatch.setattr(cv2, "VideoCapture", looped(walk_video))
    out, viz = tmp_path / "camera.npz", tmp_path / "camera.gif"
    command = ["infer", str(tiny_teacher), "--video", "0", "--max-frames", "12",
               "--detect-every", "3", "--out", str(out), "--viz", str(viz)]  # fmt: skip
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "camera 0" in result.output and "12 frames read" in result.output
    assert viz.stat().st_size > 0 and out.is_file()
