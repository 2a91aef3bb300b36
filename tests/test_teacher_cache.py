"""The teacher target cache: cached targets give the live loss, the teacher runs once per
window, half-written entries are recomputed, and a cache never serves another setup."""

from __future__ import annotations

import pytest
import torch

from scjd_edge.config import ModelConfig, validate_recipe
from scjd_edge.data.skeleton import flip_pose
from scjd_edge.distill.task import DistillTask
from scjd_edge.errors import ConfigError
from scjd_edge.train.engine import load_training_data

TEACHER_FRAMES = 9
ALL_TERMS = {"output_weight": 1.0, "djed_weight": 0.5, "ajad_weight": 0.5, "tcd_weight": 1.0}


@pytest.fixture
def teacher_path(tmp_path, make_checkpoint):
    config = ModelConfig(frames=TEACHER_FRAMES, dim=16, depth=2, heads=2)
    return make_checkpoint(tmp_path / "teacher.pt", config)


def _recipe(teacher_cache: bool, **distill):
    return validate_recipe(
        {
            "name": "tiny_student",
            "data": {"path": "builtin:synthetic", "train_stride": 40},
            "model": {"dim": 8, "depth": 2, "heads": 2},
            "distill": {"input_frames": 3, "teacher_cache": teacher_cache, **ALL_TERMS, **distill},
        }
    )


def _task(teacher_path, teacher_cache: bool, **distill) -> DistillTask:
    return DistillTask(_recipe(teacher_cache, **distill), teacher_path)


def _batch(task: DistillTask, window_index: list[int]) -> dict[str, torch.Tensor]:
    windows = load_training_data(task.recipe, TEACHER_FRAMES).train
    windows.set_epoch(0)
    return windows[window_index]


def _count_teacher_windows(task: DistillTask) -> list[int]:
    seen: list[int] = []
    task.teacher.register_forward_hook(lambda module, inputs, output: seen.append(len(inputs[0])))
    return seen


def test_cached_targets_give_the_live_loss_and_the_teacher_runs_once_per_window(teacher_path):
    live, cached = _task(teacher_path, False), _task(teacher_path, True)
    cached.model.load_state_dict(live.model.state_dict())
    cached.trainable.load_state_dict(live.trainable.state_dict())
    teacher_windows = _count_teacher_windows(cached)
    batch = _batch(live, [0, 5, 7, 11])
    live_total, live_terms = live.loss(batch)
    for expected_teacher_windows in ([4], [4]):  # the second call reads every target
        total, terms = cached.loss(batch)
        assert teacher_windows == expected_teacher_windows
        torch.testing.assert_close(total, live_total, atol=1e-5, rtol=1e-5)
        for name, value in live_terms.items():
            torch.testing.assert_close(terms[name], value, atol=1e-5, rtol=1e-5)
    cached.loss(_batch(live, [5, 12]))  # one known window, one new one
    assert teacher_windows == [4, 1]
    assert int(cached.teacher_cache.filled.sum()) == 5


def test_a_second_run_reuses_the_cache_and_recomputes_half_written_entries(teacher_path):
    first = _task(teacher_path, True)
    batch = _batch(first, [1, 2])
    first.loss(batch)
    flip = batch["flipped"].long()
    first.teacher_cache.filled[2, int(flip[1])] = False  # as if killed before the flag
    first.teacher_cache.targets["pose_3d"][2, int(flip[1])] = float("nan")
    first.teacher_cache.filled.flush()

    second = _task(teacher_path, True)
    assert second.teacher_cache.folder == first.teacher_cache.folder
    teacher_windows = _count_teacher_windows(second)
    targets = second._targets(
        batch, second.deployment.prepare_model_inputs(batch["keypoints_2d"])[2]
    )
    assert teacher_windows == [1]
    assert torch.isfinite(targets["pose_3d"]).all()


def test_other_student_frames_use_another_cache_and_noise_is_refused(teacher_path):
    uniform = _task(teacher_path, True, sampling="uniform")
    central = _task(teacher_path, True, sampling="central")
    assert uniform.teacher_cache.folder != central.teacher_cache.folder
    assert uniform.teacher_cache.folder.parent == teacher_path.with_name("teacher.pt.targets")
    noisy = _recipe(True).model_copy(
        update={"data": _recipe(True).data.model_copy(update={"noise_px": 2.0})}
    )
    with pytest.raises(ConfigError, match="data.noise_px"):
        DistillTask(noisy, teacher_path)


def test_filling_the_cache_covers_every_window_both_ways_and_matches_the_live_loss(
    teacher_path,
):
    live, cached = _task(teacher_path, False), _task(teacher_path, True)
    cached.model.load_state_dict(live.model.state_dict())
    cached.trainable.load_state_dict(live.trainable.state_dict())
    windows = cached.fill_teacher_cache(batch_size=7)
    assert bool(cached.teacher_cache.filled.all()) and cached.teacher_cache.filled.shape[0] == (
        windows
    )
    teacher_windows = _count_teacher_windows(cached)
    batch = _batch(live, [0, 3, 9])
    live_total, _ = live.loss(batch)
    cached_total, _ = cached.loss(batch)
    assert teacher_windows == []  # every target came from the filled cache
    torch.testing.assert_close(cached_total, live_total, atol=1e-5, rtol=1e-5)


def test_flip_averaged_teacher_poses_are_the_mean_over_the_mirror_and_cached_apart(
    teacher_path,
):
    single, averaged = _task(teacher_path, True), _task(teacher_path, True, teacher_flip=True)
    assert averaged.teacher_cache.folder != single.teacher_cache.folder
    keypoints_2d = _batch(single, [0, 4])["keypoints_2d"]
    inputs = single.teacher_deployment.prepare_model_inputs(keypoints_2d)
    mirrored_inputs = single.teacher_deployment.prepare_model_inputs(flip_pose(keypoints_2d))
    with torch.no_grad():
        expected = single.teacher(*inputs[:2]) + flip_pose(single.teacher(*mirrored_inputs[:2]))
    expected = expected / 2
    got = averaged.teacher_targets(keypoints_2d, inputs[2])["pose_3d"]
    torch.testing.assert_close(got, expected)
    plain = single.teacher_targets(keypoints_2d, inputs[2])["pose_3d"]
    assert (got - plain).abs().max() > 1e-4
