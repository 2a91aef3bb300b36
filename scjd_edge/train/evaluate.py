"""Evaluate a checkpoint: the centre frame of a window centred on every frame of a split.

Every frame of every sequence of the split is the centre of one window (stride 1; frames
beyond a sequence's ends repeat its first or last frame), and the model's prediction of
that centre frame is scored, so every model kind is measured on exactly the same poses.
The windows go through the checkpoint's deployment contract (`prepare_model_inputs`), so a
sparse-frame student sees what it was trained on and what it will see when deployed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch
from rich.table import Table
from torch import nn

from scjd_edge.contract import Deployment
from scjd_edge.data.skeleton import flip_pose
from scjd_edge.errors import CheckpointError, ConfigError
from scjd_edge.io import write_json
from scjd_edge.train.checkpoint import build_model_from_checkpoint, recipe_of
from scjd_edge.train.distributed import resolve_device

SPLITS = ("train", "val", "test")
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


@torch.no_grad()
def evaluate_checkpoint(
    checkpoint_path: str | Path,
    data_path: str | Path,
    split: str = "test",
    json_path: str | Path | None = None,
    device: str | None = None,
    test_flip: bool | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """P1, P2, N-MPJPE and MPJVE (mm) per action category and overall on a split.

    The split's subjects come from the checkpoint's recipe. `test_flip` defaults to the
    recipe's `train.test_flip`. MPJVE is in mm per frame, over consecutive frames of a
    sequence. Writes the result to `json_path` (atomically) when given. `batch_size`
    (windows per forward) defaults to about 1024 frames per batch on CPU, where small
    batches stay in cache and run faster, and 32768 frames on a GPU.
    """
    from scjd_edge.data.formats import load_dataset
    from scjd_edge.data.windows import PoseWindows
    from scjd_edge.metrics import mpjpe, mpjve, n_mpjpe, p_mpjpe, per_action

    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    chosen_device = resolve_device(device)
    model, checkpoint = build_model_from_checkpoint(checkpoint_path, device=chosen_device)
    recipe = recipe_of(checkpoint, source=str(checkpoint_path))
    deployment = checkpoint["deployment"]
    flip = recipe.train.test_flip if test_flip is None else test_flip
    subjects = list(getattr(recipe.data, f"{split}_subjects"))
    dataset = load_dataset(data_path, keypoints=recipe.data.keypoints)
    windows = PoseWindows(dataset.select(subjects, split), frames=deployment.window_frames)

    if batch_size is None:
        frames_per_batch = 1024 if chosen_device.type == "cpu" else 32768
        batch_size = max(1, frames_per_batch // deployment.window_frames)
    predicted, target = [], []
    for chunk in torch.arange(len(windows)).split(batch_size):
        batch = windows[chunk]
        keypoints_2d = batch["keypoints_2d"].to(chosen_device)
        predicted.append(predict_centre(model, keypoints_2d, deployment, flip).float().cpu())
        target.append(batch["pose_3d"][:, keypoints_2d.shape[1] // 2])
    predicted_mm = 1000.0 * torch.cat(predicted)  # (P, 17, 3)
    if not predicted_mm.isfinite().all():
        raise CheckpointError(
            f"{checkpoint_path}: the model outputs NaN or Inf on the {split} split "
            "(diverged weights?); no metrics written"
        )
    target_mm = 1000.0 * torch.cat(target)
    sequence_index = windows.window_sequence_index
    actions = [windows.sequences[int(i)].action for i in sequence_index]

    per_pose = {
        "mpjpe": mpjpe(predicted_mm, target_mm, reduction="none"),
        "p_mpjpe": p_mpjpe(predicted_mm, target_mm, reduction="none"),
        "n_mpjpe": n_mpjpe(predicted_mm, target_mm, reduction="none"),
    }
    # Velocity error of consecutive centre frames that belong to the same sequence.
    same_sequence = sequence_index[1:] == sequence_index[:-1]
    velocity_error = mpjve(predicted_mm, target_mm, reduction="none")[same_sequence]
    velocity_actions = [a for a, keep in zip(actions[1:], same_sequence, strict=True) if keep]

    by_action: dict[str, dict[str, float]] = {}
    for name, errors in per_pose.items():
        for category, value in per_action(errors, actions).items():
            by_action.setdefault(category, {})[name] = value
    for category, value in per_action(velocity_error, velocity_actions).items():
        by_action[category]["mpjve"] = value
    for category, count in Counter(action.split(" ")[0] for action in actions).items():
        by_action[category]["poses"] = count

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
        "poses": len(windows),
        "test_flip": flip,
        "deployment": deployment.to_dict(),
        "units": {"mpjpe": "mm", "p_mpjpe": "mm", "n_mpjpe": "mm", "mpjve": "mm/frame"},
        "overall": {
            **{name: float(errors.mean()) for name, errors in per_pose.items()},
            "mpjve": float(velocity_error.mean()) if len(velocity_error) else float("nan"),
            "poses": len(windows),
        },
        "per_action": by_action,
    }
    if json_path is not None:
        write_json(json_path, result)
    return result


def render_evaluation(result: dict[str, Any]) -> Table:
    """A rich table: one row per action category, then the overall row."""
    data = result["data"]
    origin = "SYNTHETIC data" if data["synthetic"] else f"{data['name']} data"
    table = Table(
        title=(
            f"{result['kind']} {result['checkpoint']}: {origin}, {result['split']} split "
            f"({', '.join(result['subjects'])}), {result['poses']} poses"
            f"{', test-time flip' if result['test_flip'] else ''}"
        )
    )
    table.add_column("action")
    table.add_column("poses", justify="right")
    for name in METRICS:
        table.add_column(METRIC_TITLES[name], justify="right")
    rows = [*result["per_action"].items(), ("overall", result["overall"])]
    for index, (action, values) in enumerate(rows):
        cells = [f"{values.get(name, float('nan')):.1f}" for name in METRICS]
        is_overall = index == len(rows) - 1
        table.add_row(action, str(values["poses"]), *cells, style="bold" if is_overall else None)
    return table
