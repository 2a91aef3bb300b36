"""SCJD distillation as a task of the one training engine (`scjd_edge.train.engine.fit`).

The frozen teacher sees the whole window of T frames; the student sees N of them, picked
by the deployment contract (`scjd_edge.contract.Deployment.prepare_model_inputs`) that
export, infer and bench use too. Per batch the teacher runs once under `torch.no_grad`; the loss is

    L = w_pose L_pose + w_out L_output + w_djed L_DJED + w_ajad L_AJAD + w_tcd L_TCD

(METHOD.md), each term logged by the engine. L_pose reads ground truth, so it skips 2D-only
windows (data.unlabelled_subjects): there the teacher's poses are the only pose target. The
student and the DJED projectors are trained; the student alone is the deployed model, saved
with its deployment contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from scjd_edge.config import DistillConfig, Recipe
from scjd_edge.contract import Deployment
from scjd_edge.data.skeleton import JOINT_LAYOUT, NUM_JOINTS, flip_pose
from scjd_edge.data.windows import PoseWindows
from scjd_edge.distill import losses
from scjd_edge.distill.teacher_cache import TeacherTargetCache, windows_digest
from scjd_edge.errors import CheckpointError, ConfigError
from scjd_edge.io import mark_run_complete, sha256_file
from scjd_edge.models.layers import ModelFeatures
from scjd_edge.models.registry import create_model
from scjd_edge.sampling import check_sampling, gather_frames
from scjd_edge.train.checkpoint import build_model_from_checkpoint, load_checkpoint
from scjd_edge.train.engine import fit, load_training_data, seed_everything
from scjd_edge.train.evaluate import predict_centre
from scjd_edge.train.tasks import check_model_fits, claim_training_folder


class _Trainable(nn.Module):
    """Everything the optimiser updates: the student and one DJED projector per pair."""

    def __init__(self, model: nn.Module, projectors: nn.ModuleList) -> None:
        super().__init__()
        self.model = model
        self.projectors = projectors


class DistillTask:
    """The engine's task for `scjd-edge distill` (docs/ARCHITECTURE.md "train/")."""

    kind = "student"

    def __init__(self, recipe: Recipe, teacher_path: str | Path) -> None:
        if recipe.distill is None:
            raise ConfigError(f"recipe {recipe.name!r} has no 'distill' section")
        self.config: DistillConfig = recipe.distill
        self.teacher_path = Path(teacher_path)
        teacher, teacher_checkpoint = build_model_from_checkpoint(load_checkpoint(teacher_path))
        self.teacher_deployment = teacher_checkpoint["deployment"]
        window_frames = _check_teacher(self.config, teacher, self.teacher_deployment, teacher_path)
        check_sampling(self.config.sampling, window_frames, self.config.input_frames)
        self.teacher = teacher.eval().requires_grad_(False)
        self.teacher_info = {
            "path": str(self.teacher_path),
            "sha256": sha256_file(self.teacher_path),
            "window_frames": window_frames,
            "model": teacher_checkpoint["recipe"]["model"],
            "metrics": teacher_checkpoint["metrics"],
        }
        # The recipe saved with the student states its real N and T.
        self.recipe = recipe.model_copy(deep=True)
        self.recipe.model.frames = self.config.input_frames
        self.recipe.distill.window_frames = window_frames
        seed_everything(recipe.seed)  # the student's initial weights come from the seed
        self.model = create_model(self.recipe.model)
        if not getattr(self.model, "predicts_all_frames", False):
            raise ConfigError(
                f"model.name={recipe.model.name!r} predicts only its centre frame; SCJD "
                "distills a seq2seq student (model.name: ste)"
            )
        self.deployment = Deployment.student(
            window_frames,
            self.config.input_frames,
            self.config.sampling,
            self.config.frame_offsets,
            recipe.model.input_normalisation,
        )
        self.needs_student_features = self.config.djed_weight > 0 or self.config.ajad_weight > 0
        self.needs_teacher_features = self.config.djed_weight > 0 or (
            self.config.ajad_weight > 0 and self.config.ajad.target == "teacher"
        )
        self.needs_teacher = self.needs_teacher_features or (
            self.config.output_weight > 0 or self.config.tcd_weight > 0
        )
        self.trainable = _Trainable(self.model, self._make_projectors())
        self.test_flip = recipe.train.test_flip
        self.teacher_cache = self._open_teacher_cache() if self.config.teacher_cache else None

    def _make_projectors(self) -> nn.ModuleList:
        """Linear C_s -> C_t per DJED pair (none without DJED), after checking the DJED and
        AJAD pairs against the features of one probe forward of each model."""
        if not self.needs_student_features:
            return nn.ModuleList()
        teacher_features = _probe_features(self.teacher, self.deployment.window_frames)
        student_features = _probe_features(self.model, self.config.input_frames)
        _check_features(self.config, teacher_features, student_features, self.teacher_path)
        if self.config.djed_weight == 0:
            return nn.ModuleList()
        return nn.ModuleList(
            nn.Linear(
                student_features.joint_embeddings[student_block].shape[-1],
                teacher_features.joint_embeddings[teacher_block].shape[-1],
            )
            for teacher_block, student_block in self.config.djed.pairs
        )

    def to(self, device: torch.device) -> None:
        self.trainable.to(device)
        self.teacher.to(device)

    def checkpoint_extra(self) -> dict[str, Any]:
        """Saved under the checkpoint's "task" key: which teacher the student learned from."""
        return {"teacher": self.teacher_info}

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and each weighted term's raw value, for one batch of T-frame windows."""
        keypoints_2d, pose_3d = batch["keypoints_2d"], batch["pose_3d"]
        model_keypoints_2d, frame_offsets, indices = self.deployment.prepare_model_inputs(
            keypoints_2d
        )
        student = self.model(
            model_keypoints_2d, frame_offsets, return_features=self.needs_student_features
        )
        student_pose_3d, student_features = (
            student if self.needs_student_features else (student, None)
        )
        terms = {"pose": self._pose_term(student_pose_3d, pose_3d, indices, batch["labelled"])}
        if self.needs_teacher or self.needs_student_features:
            targets = self._targets(batch, indices) if self.needs_teacher else {}
            terms.update(
                self._distillation_terms(
                    student_pose_3d, student_features, targets, indices, frame_offsets
                )
            )
        weights = self._weights()
        total = sum(weights[name] * value for name, value in terms.items())
        return total, {name: value.detach() for name, value in terms.items()}

    def _pose_term(
        self,
        student_pose_3d: torch.Tensor,
        pose_3d: torch.Tensor,
        indices: torch.Tensor,
        labelled: torch.Tensor,
    ) -> torch.Tensor:
        """The pose loss over the windows with ground truth; 2D-only windows
        (data.unlabelled_subjects) learn from the teacher's poses alone (the output term)."""
        if not labelled.any():
            return student_pose_3d.sum() * 0.0  # a batch of 2D-only windows
        if not labelled.all():
            student_pose_3d, pose_3d, indices = (
                student_pose_3d[labelled],
                pose_3d[labelled],
                indices[labelled],
            )
        return losses.pose_loss(
            student_pose_3d,
            gather_frames(pose_3d, indices),
            indices == self.deployment.delivered_frame,
            self.config.delivered_weight,
        )

    def _weights(self) -> dict[str, float]:
        config = self.config
        return {
            "pose": config.pose_weight,
            "output": config.output_weight,
            "djed": config.djed_weight,
            "ajad": config.ajad_weight,
            "tcd": config.tcd_weight,
        }

    def _targets(self, batch: dict[str, torch.Tensor], indices: torch.Tensor) -> dict:
        """The teacher's targets of a batch: from the cache where it holds them. With
        detector-like training 2D the teacher reads the exact 2D (it runs in training
        only), so its targets are those of the plain windows the cache holds."""
        keypoints_2d = batch.get("keypoints_2d_exact", batch["keypoints_2d"])
        if self.teacher_cache is None:
            return self.teacher_targets(keypoints_2d, indices)

        def compute(rows: torch.Tensor) -> dict[str, torch.Tensor]:
            rows = rows.to(keypoints_2d.device)
            return self.teacher_targets(keypoints_2d[rows], indices[rows])

        targets = self.teacher_cache.get(batch["window_index"], batch["flipped"], compute)
        return {name: value.to(keypoints_2d.device) for name, value in targets.items()}

    @torch.no_grad()
    def teacher_targets(
        self, keypoints_2d: torch.Tensor, indices: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """What the distillation terms take from the teacher, for (B, T, 17, 2) windows fed
        through the teacher's own deployment contract (`indices`: the student's frames):
        "pose_3d" (B, T, 17, 3) for the output and TCD terms ((B, 1, 17, 3), the centre
        frame, from a teacher with deployment output "centre"), "djed_context_<i>"
        (B, N, 17, C_t) and "ajad_rows_<i>" (B, N, 17, 17) per DJED / AJAD block pair."""
        config = self.config
        with_features = self.needs_teacher_features
        teacher_inputs = self.teacher_deployment.prepare_model_inputs(keypoints_2d)[:2]
        teacher = self.teacher(*teacher_inputs, return_features=with_features)
        pose_3d, features = teacher if with_features else (teacher, None)
        targets = {}
        if config.output_weight > 0 or config.tcd_weight > 0:
            targets["pose_3d"] = self._flip_averaged(keypoints_2d, pose_3d)
        if config.djed_weight > 0:
            for pair, (teacher_block, _) in enumerate(config.djed.pairs):
                targets[f"djed_context_{pair}"] = self._djed_context(
                    features, teacher_block, indices
                )
        if config.ajad_weight > 0 and config.ajad.target == "teacher":
            for pair, (teacher_block, _) in enumerate(config.ajad.pairs):
                targets[f"ajad_rows_{pair}"] = losses.ajad_teacher_rows(
                    features.spatial_attention[teacher_block], indices
                )
        return targets

    def _flip_averaged(self, keypoints_2d: torch.Tensor, pose_3d: torch.Tensor) -> torch.Tensor:
        """The teacher's poses, averaged with those of the mirrored window if teacher_flip."""
        if not self.config.teacher_flip:
            return pose_3d
        mirrored_inputs = self.teacher_deployment.prepare_model_inputs(flip_pose(keypoints_2d))
        return (pose_3d + flip_pose(self.teacher(*mirrored_inputs[:2]))) / 2

    def _djed_context(
        self, features: ModelFeatures, teacher_block: int, indices: torch.Tensor
    ) -> torch.Tensor:
        teacher_embeddings = features.joint_embeddings[teacher_block]
        if self.config.djed.context == "attention":
            temporal_attention = features.temporal_attention[teacher_block]
            return losses.attention_context(teacher_embeddings, temporal_attention, indices)
        return losses.similarity_context(teacher_embeddings, indices)

    def _distillation_terms(
        self,
        student_pose_3d: torch.Tensor,
        student_features: ModelFeatures | None,
        targets: dict[str, torch.Tensor],
        indices: torch.Tensor,
        frame_offsets: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        config = self.config
        terms = {}
        if config.output_weight > 0 and self.teacher_deployment.output == "centre":
            terms["output"] = losses.mpjpe_loss(
                self.deployment.delivered_pose(student_pose_3d, indices), targets["pose_3d"][:, 0]
            )
        elif config.output_weight > 0:
            terms["output"] = losses.output_distillation_loss(
                student_pose_3d, targets["pose_3d"], indices
            )
        if config.djed_weight > 0:
            terms["djed"] = torch.stack(
                [
                    losses.djed_loss(
                        student_features.joint_embeddings[student_block],
                        targets[f"djed_context_{pair}"],
                        projector,
                        config.djed.temperature,
                    )
                    for pair, (projector, (_, student_block)) in enumerate(
                        zip(self.trainable.projectors, config.djed.pairs, strict=True)
                    )
                ]
            ).mean()
        if config.ajad_weight > 0:
            terms["ajad"] = torch.stack(
                [
                    losses.ajad_loss(
                        student_features.spatial_attention[student_block],
                        self._ajad_target(targets, pair, student_pose_3d),
                        config.ajad.hops,
                    )
                    for pair, (_, student_block) in enumerate(config.ajad.pairs)
                ]
            ).mean()
        if config.tcd_weight > 0:
            terms["tcd"] = losses.tcd_loss(
                student_pose_3d, targets["pose_3d"], frame_offsets, config.tcd.velocity_weight
            )
        return terms

    def _ajad_target(
        self, targets: dict[str, torch.Tensor], pair: int, student_pose_3d: torch.Tensor
    ) -> torch.Tensor:
        """The teacher's attention rows of an AJAD pair, or with ajad.target "uniform" rows
        of ones, which `ajad_loss` masks and renormalises to uniform over the neighbours."""
        if self.config.ajad.target == "teacher":
            return targets[f"ajad_rows_{pair}"]
        batch, frames, joints = student_pose_3d.shape[:3]
        return student_pose_3d.new_ones(batch, frames, joints, joints)

    def fill_teacher_cache(self, batch_size: int = 256) -> int:
        """Compute the cached teacher targets of every training window, plain and mirrored,
        that the cache does not hold yet, so that training steps only read it. Returns the
        number of windows."""
        if self.teacher_cache is None:
            raise ConfigError("fill_teacher_cache needs distill.teacher_cache: true")
        train = load_training_data(self.recipe, self.deployment.window_frames).train
        # The same windows in the same order; mirrored ones are made by flip_pose, which is
        # how PoseWindows makes its mirrored copies.
        plain = PoseWindows(train.sequences, train.frames, train.stride)
        for start in range(0, len(plain), batch_size):
            batch = plain[torch.arange(start, min(start + batch_size, len(plain)))]
            for flipped in (False, True):
                keypoints_2d = batch["keypoints_2d"]
                keypoints_2d = flip_pose(keypoints_2d) if flipped else keypoints_2d
                _, _, indices = self.deployment.prepare_model_inputs(keypoints_2d)
                window = {**batch, "keypoints_2d": keypoints_2d}
                window["flipped"] = torch.full_like(batch["flipped"], flipped)
                self._targets(window, indices)
        return len(plain)

    def _open_teacher_cache(self) -> TeacherTargetCache:
        """The teacher's target cache for this recipe's training windows."""
        if self.recipe.data.noise_px > 0:
            raise ConfigError(
                "distill.teacher_cache needs deterministic windows; data.noise_px > 0 changes "
                "every window each epoch"
            )
        windows = load_training_data(self.recipe, self.deployment.window_frames).train
        first = windows[[0]]
        _, _, indices = self.deployment.prepare_model_inputs(first["keypoints_2d"])
        probe = self.teacher_targets(first["keypoints_2d"], indices)
        key = {
            "teacher_sha256": self.teacher_info["sha256"],
            "windows_2d_sha256": windows_digest(windows),
            "deployment": self.deployment.to_dict(),
            "djed": self.config.djed.model_dump(),
            "ajad_pairs": self.config.ajad.pairs,
            "teacher_flip": self.config.teacher_flip,
        }
        shapes = {name: tuple(value.shape[1:]) for name, value in probe.items()}
        folder = self.teacher_path.with_name(self.teacher_path.name + ".targets")
        return TeacherTargetCache(folder, key, len(windows), shapes)

    def predict_centre(
        self, keypoints_2d_windows: torch.Tensor, model: nn.Module | None = None
    ) -> torch.Tensor:
        """(B, T, 17, 2) windows -> (B, 17, 3) centre-frame pose, metres (flip-averaged
        when train.test_flip); `model` replaces the student (the engine passes its EMA)."""
        return predict_centre(
            self.model if model is None else model,
            keypoints_2d_windows,
            self.deployment,
            test_flip=self.test_flip,
        )


def _check_teacher(
    config: DistillConfig, teacher: nn.Module, deployment: Deployment, path: str | Path
) -> int:
    """The teacher's window T, after checking that the teacher fits this distillation."""
    if deployment.joint_layout != JOINT_LAYOUT:
        raise CheckpointError(
            f"{path}: teacher joint layout {deployment.joint_layout!r}; SCJD needs {JOINT_LAYOUT!r}"
        )
    window_frames = int(deployment.window_frames)
    if deployment.sampling != "full":
        raise CheckpointError(
            f"{path}: the teacher must read all {window_frames} frames of its window "
            f"(deployment sampling 'full'); this checkpoint has sampling {deployment.sampling!r}"
        )
    if deployment.output == "centre":
        _check_centre_teacher(config, path)
    elif not getattr(teacher, "predicts_all_frames", False):
        raise CheckpointError(
            f"{path}: deployment output 'all', but the teacher model predicts only its centre frame"
        )
    if config.window_frames is not None and config.window_frames != window_frames:
        raise CheckpointError(
            f"{path}: teacher window of {window_frames} frames, but the recipe's "
            f"distill.window_frames is {config.window_frames}; use a teacher trained with "
            f"model.frames={config.window_frames} or change distill.window_frames"
        )
    if config.input_frames > window_frames:
        raise ConfigError(
            f"distill.input_frames={config.input_frames} exceeds the teacher's window of "
            f"{window_frames} frames ({path})"
        )
    return window_frames


def _check_centre_teacher(config: DistillConfig, path: str | Path) -> None:
    """A teacher that predicts only its window's centre frame (e.g. a TCN) gives the output
    term a target for the student's delivered frame and nothing else."""
    needs_more = {
        "distill.tcd_weight": config.tcd_weight > 0,
        "distill.djed_weight": config.djed_weight > 0,
        "distill.ajad_weight (with ajad.target 'teacher')": config.ajad_weight > 0
        and config.ajad.target == "teacher",
    }
    named = [key for key, needed in needs_more.items() if needed]
    if named:
        raise ConfigError(
            f"{path}: this teacher predicts only its window's centre frame and exposes no "
            f"per-frame poses or features, which {', '.join(named)} need; set them to 0 (the "
            "output term distils the delivered frame) or use a seq2seq teacher (model.name: ste)"
        )


def _probe_features(model: nn.Module, frames: int) -> ModelFeatures:
    """The features of one dummy window: how many blocks a model has and how wide they are."""
    device = next(model.parameters()).device
    keypoints_2d = torch.zeros(1, frames, NUM_JOINTS, 2, device=device)
    frame_offsets = (torch.arange(frames, device=device) - frames // 2).float().unsqueeze(0)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        _, features = model(keypoints_2d, frame_offsets, return_features=True)
    model.train(was_training)
    return features


def _check_features(
    config: DistillConfig,
    teacher_features: ModelFeatures,
    student_features: ModelFeatures,
    teacher_path: str | Path,
) -> None:
    """ConfigError unless every DJED/AJAD pair names blocks both models expose."""
    checks = []  # (key, pairs, feature, whether the teacher's feature is read)
    if config.djed_weight > 0:
        checks.append(("distill.djed.pairs", config.djed.pairs, "joint_embeddings", True))
    if config.ajad_weight > 0:
        reads_teacher = config.ajad.target == "teacher"
        checks.append(("distill.ajad.pairs", config.ajad.pairs, "spatial_attention", reads_teacher))
    for key, pairs, feature, reads_teacher in checks:
        if not pairs:
            raise ConfigError(f"{key} is empty: list (teacher_block, student_block) pairs")
        teacher_blocks = len(getattr(teacher_features, feature))
        student_blocks = len(getattr(student_features, feature))
        for teacher_block, student_block in pairs:
            if reads_teacher and not -teacher_blocks <= teacher_block < teacher_blocks:
                raise ConfigError(
                    f"{key}: teacher block {teacher_block} does not exist; the teacher "
                    f"({teacher_path}) has {teacher_blocks} blocks with {feature}"
                )
            if not -student_blocks <= student_block < student_blocks:
                raise ConfigError(
                    f"{key}: student block {student_block} does not exist; the student "
                    f"(model.depth) has {student_blocks} blocks with {feature}"
                )
    if (
        config.djed_weight > 0
        and config.djed.context == "attention"
        and not getattr(teacher_features, "temporal_attention", None)
    ):
        raise ConfigError(
            "distill.djed.context='attention': the teacher model does not expose its "
            f"temporal attention ({teacher_path}); use distill.djed.context=similarity"
        )


def distill(
    recipe: Recipe,
    teacher_path: str | Path,
    out_dir: str | Path,
    resume: bool = False,
    device: str | None = None,
) -> dict[str, Any]:
    """`scjd-edge distill`: train the recipe's student from the teacher checkpoint.

    Returns the engine's summary (best/last checkpoint, validation MPJPE in mm, steps,
    wall time) plus the teacher's path and window.
    """
    check_model_fits(recipe)
    task = DistillTask(recipe, teacher_path)
    if resume:
        _check_same_teacher(Path(out_dir) / "last.pt", task.teacher_info)
    claim_training_folder(out_dir, "distill", task.recipe, resume)
    summary = fit(task.recipe, out_dir, task, resume=resume, device=device)
    mark_run_complete(out_dir)
    summary["teacher"] = {key: task.teacher_info[key] for key in ("path", "window_frames")}
    summary["deployment"] = task.deployment.to_dict()
    return summary


def _check_same_teacher(last_path: Path, teacher_info: dict[str, Any]) -> None:
    """Resuming must keep the teacher: a different file would change what a step computes."""
    if not last_path.is_file():
        return  # the engine reports the missing last.pt
    previous = load_checkpoint(last_path).get("task", {}).get("teacher", {})
    if previous.get("sha256") not in (None, teacher_info["sha256"]):
        raise CheckpointError(
            f"--resume: {last_path} was distilled from the teacher {previous.get('path')!r} "
            f"(sha256 {previous['sha256'][:12]}...), not from {teacher_info['path']!r}"
        )
