"""Supervised tasks for the engine: the teacher (and a PoseFormerV2-style baseline).

A task holds the model and says how to compute the loss of a batch of windows and how to
predict a window's centre frame; `train.engine.fit` does everything else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from scjd_edge.config import Recipe, load_recipe
from scjd_edge.contract import Deployment
from scjd_edge.errors import ConfigError
from scjd_edge.io import check_run_folder, json_sha256, mark_run_complete, write_run_marker
from scjd_edge.limits import FLOAT32_BYTES, check_memory
from scjd_edge.metrics import mpjpe
from scjd_edge.train.engine import fit, seed_everything
from scjd_edge.train.evaluate import predict_centre

TRAINING_COPIES = 4  # float32 weights, gradients and AdamW's two moments


class TeacherTask:
    """Supervised training of one model on ground-truth 3D.

    A seq2seq model (`predicts_all_frames`, the STE teacher) is trained with MPJPE over all
    T frames of the window; a centre-frame model (PoseFormerV2) with MPJPE of the centre
    frame. Targets are root-relative, in metres.
    """

    def __init__(self, recipe: Recipe) -> None:
        from scjd_edge.models.registry import create_model

        self.model = create_model(recipe.model)
        self.trainable = self.model
        # A centre-frame model trained on its own (PoseFormerV2) is the comparison baseline.
        self.kind = "teacher" if self.model.predicts_all_frames else "baseline"
        output = "all" if self.model.predicts_all_frames else "centre"
        self.deployment = Deployment.teacher(
            recipe.model.frames, output, recipe.model.input_normalisation
        )
        self.test_flip = recipe.train.test_flip

    def to(self, device: torch.device) -> None:
        self.model.to(device)

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """batch: keypoints_2d (B, T, 17, 2), frame_offsets (B, T), pose_3d (B, T, 17, 3) m."""
        keypoints_2d, frame_offsets, _ = self.deployment.prepare_model_inputs(batch["keypoints_2d"])
        pose_3d = self.model(keypoints_2d, frame_offsets)  # (B, T_out, 17, 3)
        target = batch["pose_3d"]
        if not self.model.predicts_all_frames:
            centre = target.shape[1] // 2
            target = target[:, centre : centre + 1]
        total = mpjpe(pose_3d, target)
        return total, {"mpjpe": total.detach()}

    def predict_centre(
        self, keypoints_2d_windows: torch.Tensor, model: nn.Module | None = None
    ) -> torch.Tensor:
        """(B, T, 17, 2) windows -> (B, 17, 3) centre-frame poses, flip-averaged if the recipe
        says so. `model` replaces the live model (the engine passes its EMA copy)."""
        return predict_centre(
            model if model is not None else self.model,
            keypoints_2d_windows,
            self.deployment,
            test_flip=self.test_flip,
        )


def train_teacher(
    recipe: Recipe | str | Path,
    out_dir: str | Path,
    resume: bool = False,
    device: str | None = None,
) -> dict[str, Any]:
    """Train the recipe's model as a teacher; returns the engine's summary."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    if recipe.distill is not None:
        raise ConfigError(
            f"recipe {recipe.name!r} has a 'distill' section: train it with `scjd-edge distill`"
        )
    check_model_fits(recipe)
    claim_training_folder(out_dir, "train-teacher", recipe, resume)
    seed_everything(recipe.seed)  # the model's initial weights come from the recipe's seed
    summary = fit(recipe, out_dir, TeacherTask(recipe), resume=resume, device=device)
    mark_run_complete(out_dir)
    return summary


def check_model_fits(recipe: Recipe) -> None:
    """ConfigError naming the recipe's model when its weights, gradients and AdamW moments
    would not fit in the memory available; the model is built on the meta device (no
    memory), so a huge model.dim is one line, not a MemoryError."""
    from scjd_edge.models.registry import create_model

    with torch.device("meta"):
        parameters = sum(p.numel() for p in create_model(recipe.model).parameters())
    check_memory(
        parameters * FLOAT32_BYTES * TRAINING_COPIES,
        f"recipe {recipe.name!r}: model.{recipe.model.name} with {parameters:,} parameters",
        "make model.dim or model.depth smaller",
    )


def claim_training_folder(out_dir: str | Path, command: str, recipe: Recipe, resume: bool) -> None:
    """Mark `out_dir` as `command`'s run of `recipe` before training, or refuse a folder
    holding files scjd-edge did not write. --resume continues a run whose last.pt the
    engine checks, so its folder is taken as it is (runs older than the marker included)."""
    recipe_sha256 = json_sha256(recipe.model_dump(mode="json"))
    if not resume:
        check_run_folder(out_dir)
        if any((Path(out_dir) / name).exists() for name in ("last.pt", "best.pt")):
            return  # the engine refuses to start over a run: its marker stays as it is
    write_run_marker(out_dir, command, recipe_sha256, complete=False)
