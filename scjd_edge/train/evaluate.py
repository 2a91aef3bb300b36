"""Evaluate a checkpoint: the centre frame of a window centred on every frame of a split.

Every frame of every sequence of the split is the centre of one window (stride 1; frames
beyond a sequence's ends repeat its first or last frame), and the model's prediction of
that centre frame is scored, so every model kind is measured on exactly the same poses.
The windows go through the checkpoint's deployment contract (`prepare_model_inputs`), so a
sparse-frame student sees what it was trained on and what it will see when deployed.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.table import Table
from torch import nn

from scjd_edge.contract import Deployment
from scjd_edge.data.dataset import PoseSequence
from scjd_edge.data.detector_noise import DetectorNoise
from scjd_edge.data.frame_rate import arrived, coinciding_frames, resample
from scjd_edge.data.skeleton import flip_pose
from scjd_edge.errors import CheckpointError, ConfigError
from scjd_edge.io import write_json
from scjd_edge.train.checkpoint import build_model_from_checkpoint, recipe_of
from scjd_edge.train.distributed import resolve_device

SPLITS = ("train", "val", "test")
TWO_D_CONDITIONS = ("exact", "detector")
METRICS = ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve")
METRIC_TITLES = {
    "mpjpe": "P1 MPJPE (mm)",
    "p_mpjpe": "P2 P-MPJPE (mm)",
    "n_mpjpe": "N-MPJPE (mm)",
    "mpjve": "MPJVE (mm/frame)",
}


def predict_centre(
    model: nn.Module,
    keypoints_2d_windows: torch.Tensor,
    deployment: Deployment,
    test_flip: bool = False,
) -> torch.Tensor:
    """(B, T, 17, 2) windows -> (B, 17, 3) centre-frame poses, root-relative metres.

    The one "windows -> model inputs -> centre frame" step used by validation and
    evaluation. With `test_flip` the mirrored windows are predicted too, mirrored back and
    averaged with the plain prediction.
    """
    pose_3d = _predict_centre_once(model, keypoints_2d_windows, deployment)
    if test_flip:
        mirrored = _predict_centre_once(model, flip_pose(keypoints_2d_windows), deployment)
        pose_3d = (pose_3d + flip_pose(mirrored)) / 2
    return pose_3d


def _predict_centre_once(
    model: nn.Module, keypoints_2d_windows: torch.Tensor, deployment: Deployment
) -> torch.Tensor:
    model_keypoints_2d, frame_offsets, indices = deployment.prepare_model_inputs(
        keypoints_2d_windows
    )
    return deployment.delivered_pose(model(model_keypoints_2d, frame_offsets), indices)


@dataclass(frozen=True)
class InputCondition:
    """How the 2D reaches the model in an evaluation.

    two_d: "exact" projections, or "detector"-like 2D (`data/detector_noise.py`, drawn
    from `noise_seed`). input_fps: the rate the 2D arrives at (None: the data's own);
    2D at a rate other than the model's (`Deployment.fps`) is resampled to it when
    `resample`, else fed as if it came at the model's rate (a control). Poses are scored
    at the frames that arrived.
    """

    two_d: str = "exact"
    input_fps: float | None = None
    resample: bool = True
    noise_seed: int = 0

    def __post_init__(self) -> None:
        if self.two_d not in TWO_D_CONDITIONS:
            raise ConfigError(f"2D condition {self.two_d!r}: expected one of {TWO_D_CONDITIONS}")
        if self.input_fps is not None and not (0 < self.input_fps < float("inf")):
            raise ConfigError(f"input rate {self.input_fps!r}: expected frames/s > 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def evaluate_checkpoint(
    checkpoint_path: str | Path,
    data_path: str | Path,
    split: str = "test",
    json_path: str | Path | None = None,
    device: str | None = None,
    test_flip: bool | None = None,
    batch_size: int | None = None,
    condition: InputCondition | None = None,
    every: int = 1,
) -> dict[str, Any]:
    """P1, P2, N-MPJPE and MPJVE (mm) overall, per subject and per action category.

    The split's subjects come from the checkpoint's recipe. `test_flip` defaults to the
    recipe's `train.test_flip`. MPJVE is in mm per delivered frame, over consecutive
    scored frames of a sequence. `condition` says how the 2D reaches the model (exact 2D
    at the data's rate by default). Writes the result to `json_path` (atomically) when
    given. `batch_size` (windows per forward) defaults to about 1024 frames per batch on
    CPU, where small batches stay in cache and run faster, and 32768 frames on a GPU.
    `every` > 1 scores every `every`-th frame only (a quick look; reports score all).
    """
    from scjd_edge.data.formats import load_dataset

    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    condition = condition or InputCondition()
    chosen_device = resolve_device(device)
    model, checkpoint = build_model_from_checkpoint(checkpoint_path, device=chosen_device)
    recipe = recipe_of(checkpoint, source=str(checkpoint_path))
    deployment = checkpoint["deployment"]
    flip = recipe.train.test_flip if test_flip is None else test_flip
    subjects = list(getattr(recipe.data, f"{split}_subjects"))
    dataset = load_dataset(data_path, keypoints=recipe.data.keypoints)
    if batch_size is None:
        frames_per_batch = 1024 if chosen_device.type == "cpu" else 32768
        batch_size = max(1, frames_per_batch // deployment.window_frames)
    scored = _scored_poses(
        model, dataset.select(subjects, split), deployment, flip, batch_size, chosen_device,
        condition, every,
    )  # fmt: skip
    if not scored.predicted_mm.isfinite().all():
        raise CheckpointError(
            f"{checkpoint_path}: the model outputs NaN or Inf on the {split} split "
            "(diverged weights?); no metrics written"
        )
    result = {
        "checkpoint": str(checkpoint_path),
        "kind": checkpoint["kind"],
        "recipe": recipe.name,
        "data": {
            "name": dataset.name,
            "source": str(dataset.source),
            "synthetic": dataset.synthetic,
        },
        "keypoints": recipe.data.keypoints,
        "split": split,
        "subjects": subjects,
        "condition": condition.to_dict(),
        "model_fps": deployment.fps,
        "test_flip": flip,
        "deployment": deployment.to_dict(),
        "units": {"mpjpe": "mm", "p_mpjpe": "mm", "n_mpjpe": "mm", "mpjve": "mm/frame"},
        **_metrics(scored),
    }
    if json_path is not None:
        write_json(json_path, result)
    return result


@dataclass
class _ScoredPoses:
    predicted_mm: torch.Tensor  # (P, 17, 3) delivered poses that are scored
    target_mm: torch.Tensor  # (P, 17, 3)
    sequence_index: torch.Tensor  # (P,) into `sequences`
    sequences: list[PoseSequence]


def _scored_poses(model, sequences, deployment, flip, batch_size, device, condition, every):
    """Every (`every`-th) delivered pose of the split under `condition`, with its target."""
    from scjd_edge.data.windows import PoseWindows

    if every < 1:
        raise ConfigError(f"every={every}: score every k-th frame with k >= 1")
    sequences, scored = _as_arrived(sequences, deployment.fps, condition)
    scored = [mask[::every] for mask in scored]
    windows = PoseWindows(sequences, frames=deployment.window_frames, stride=every)
    noise = DetectorNoise(fps=deployment.fps) if condition.two_d == "detector" else None
    generator = torch.Generator().manual_seed(condition.noise_seed)
    predicted, target = [], []
    for chunk in torch.arange(len(windows)).split(batch_size):
        batch = windows[chunk]
        keypoints_2d = batch["keypoints_2d"]
        if noise is not None:
            keypoints_2d = noise.corrupt(keypoints_2d, generator)
        keypoints_2d = keypoints_2d.to(device)
        predicted.append(predict_centre(model, keypoints_2d, deployment, flip).float().cpu())
        target.append(batch["pose_3d"][:, keypoints_2d.shape[1] // 2])
    keep = torch.from_numpy(np.concatenate(scored))
    return _ScoredPoses(
        predicted_mm=1000.0 * torch.cat(predicted)[keep],
        target_mm=1000.0 * torch.cat(target)[keep],
        sequence_index=windows.window_sequence_index[keep],
        sequences=sequences,
    )


def _as_arrived(
    sequences: list[PoseSequence], model_fps: float, condition: InputCondition
) -> tuple[list[PoseSequence], list[np.ndarray]]:
    """The sequences as the model is fed them, and per sequence which of its frames are
    scored (the frames that arrived)."""
    fed, scored = [], []
    for sequence in sequences:
        input_fps = condition.input_fps or sequence.fps
        arriving = arrived(sequence, input_fps) if input_fps != sequence.fps else sequence
        if input_fps == model_fps or not condition.resample:
            fed.append(arriving)
            scored.append(np.ones(arriving.num_frames, dtype=bool))
            continue
        at_model_rate = dataclasses.replace(
            arriving,
            keypoints_2d=resample(arriving.keypoints_2d, input_fps, model_fps),
            pose_3d=resample(arriving.pose_3d, input_fps, model_fps),
            fps=model_fps,
        )
        fed.append(at_model_rate)
        scored.append(coinciding_frames(at_model_rate.num_frames, model_fps, input_fps))
    return fed, scored


def _metrics(scored: _ScoredPoses) -> dict[str, Any]:
    """Overall, per-subject and per-action figures of the scored poses."""
    from scjd_edge.metrics import mpjpe, mpjve, n_mpjpe, p_mpjpe, per_action, per_group

    predicted, target, sequence_index = scored.predicted_mm, scored.target_mm, scored.sequence_index
    per_pose = {
        "mpjpe": mpjpe(predicted, target, reduction="none"),
        "p_mpjpe": p_mpjpe(predicted, target, reduction="none"),
        "n_mpjpe": n_mpjpe(predicted, target, reduction="none"),
    }
    # Velocity error of consecutive scored poses that belong to the same sequence.
    same_sequence = sequence_index[1:] == sequence_index[:-1]
    velocity_error = mpjve(predicted, target, reduction="none")[same_sequence]
    actions = [scored.sequences[int(i)].action for i in sequence_index]
    subjects = [scored.sequences[int(i)].subject for i in sequence_index]
    velocity_actions = [a for a, keep in zip(actions[1:], same_sequence, strict=True) if keep]
    by_action: dict[str, dict[str, float]] = {}
    by_subject: dict[str, dict[str, float]] = {}
    for name, errors in per_pose.items():
        for category, value in per_action(errors, actions).items():
            by_action.setdefault(category, {})[name] = value
        for subject, value in per_group(errors, subjects).items():
            by_subject.setdefault(subject, {})[name] = value
    for category, value in per_action(velocity_error, velocity_actions).items():
        by_action[category]["mpjve"] = value
    for category, count in Counter(action.split(" ")[0] for action in actions).items():
        by_action[category]["poses"] = count
    for subject, count in Counter(subjects).items():
        by_subject[subject]["poses"] = count
    overall = {name: float(errors.mean()) for name, errors in per_pose.items()}
    overall["mpjve"] = float(velocity_error.mean()) if len(velocity_error) else float("nan")
    overall["poses"] = len(predicted)
    return {
        "poses": len(predicted),
        "overall": overall,
        "per_subject": by_subject,
        "per_action": by_action,
    }


def render_evaluation(result: dict[str, Any]) -> Table:
    """A rich table: one row per subject, one per action category, then the overall row."""
    data = result["data"]
    origin = "SYNTHETIC data" if data["synthetic"] else f"{data['name']} data"
    table = Table(
        title=(
            f"{result['kind']} {result['checkpoint']}: {origin}, {result['split']} split "
            f"({', '.join(result['subjects'])}), {result['poses']} poses, "
            f"{describe_condition(result['condition'], result['model_fps'])}"
            f"{', test-time flip' if result['test_flip'] else ''}"
        )
    )
    table.add_column("subject / action")
    table.add_column("poses", justify="right")
    for name in METRICS:
        table.add_column(METRIC_TITLES[name], justify="right")
    rows = [
        *((f"subject {subject}", values) for subject, values in result["per_subject"].items()),
        *result["per_action"].items(),
        ("overall", result["overall"]),
    ]
    for index, (label, values) in enumerate(rows):
        cells = [f"{values.get(name, float('nan')):.1f}" for name in METRICS]
        is_overall = index == len(rows) - 1
        table.add_row(label, str(values["poses"]), *cells, style="bold" if is_overall else None)
    return table


def describe_condition(condition: dict[str, Any], model_fps: float) -> str:
    """E.g. "exact 2D at 50 frames/s" or "detector-like 2D at 25 frames/s, resampled to 50"."""
    two_d = "exact 2D" if condition["two_d"] == "exact" else "detector-like 2D"
    input_fps = condition.get("input_fps") or model_fps
    text = f"{two_d} at {input_fps:g} frames/s"
    if input_fps != model_fps:
        how = "resampled to" if condition["resample"] else "NOT resampled to the model's"
        text += f", {how} {model_fps:g}"
    return text
