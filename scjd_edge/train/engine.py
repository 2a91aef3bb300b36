"""The one training loop: `fit(recipe, out_dir, task, resume)`.

The engine knows nothing about teachers or students. A *task* (docs/ARCHITECTURE.md
"train/") supplies the modules, the loss and the centre-frame prediction; the engine does
the rest: data windows, AdamW, warm-up + cosine/exponential/constant schedule, gradient
clipping, AMP on CUDA, EMA of the weights, validation on the recipe's validation subjects,
`best.pt` / `last.pt`, exact resume, Ctrl-C, a JSONL log, a progress bar and DDP.

Resume is exact: every random draw comes from the seeded global RNGs, the sampler is
reseeded per epoch, and the RNG states are saved with each checkpoint. Continuing from
`last.pt` therefore gives the same weights, bit for bit on CPU, as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel

from scjd_edge.config import Recipe, TrainConfig
from scjd_edge.contract import Deployment
from scjd_edge.errors import (
    CheckpointError,
    ConfigError,
    OutputError,
    ScjdError,
    TrainingDiverged,
)
from scjd_edge.io import append_line, write_text
from scjd_edge.train.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from scjd_edge.train.distributed import (
    Distributed,
    any_rank,
    init_distributed,
    resolve_device,
    shutdown,
)

# Recipe fields that may change between a run and its resumption (they do not change what
# a step computes; epochs and max_steps only move the end of the run and the schedule).
RESUMABLE_CHANGES = {
    "data.path", "train.epochs", "train.max_steps", "train.log_every", "train.val_every",
    "train.num_workers", "train.checkpoint_every",
}  # fmt: skip


class Task(Protocol):
    """What the engine trains. See docs/ARCHITECTURE.md "train/" for the full contract."""

    kind: str  # checkpoint kind: "teacher" | "student" | "baseline"
    model: nn.Module  # the deployed model: model_state, EMA, validation
    trainable: nn.Module  # everything the optimiser updates; holds `model`
    deployment: Deployment  # the deployment contract; window_frames sizes the data windows

    def to(self, device: torch.device) -> None: ...

    def loss(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    def predict_centre(
        self, keypoints_2d_windows: torch.Tensor, model: nn.Module | None = None
    ) -> torch.Tensor: ...


class TrainingInterrupted(ScjdError):
    """Ctrl-C (or SIGTERM) stopped training after `last.pt` was saved."""


@dataclass
class TrainState:
    """Where the run is; saved with every checkpoint."""

    epoch: int = 0  # completed epochs
    epoch_step: int = 0  # optimiser steps done in the current, unfinished epoch
    step: int = 0  # optimiser steps done in total
    best_val_mpjpe_mm: float = math.inf
    best_epoch: int | None = None
    last_val_mpjpe_mm: float | None = None
    epoch_loss_sum: float = 0.0  # sum of the step losses of the current epoch
    epoch_term_sums: dict[str, float] = field(default_factory=dict)  # the same per loss term
    train_loss: float | None = None  # mean step loss of the last finished epoch
    train_terms: dict[str, float] = field(default_factory=dict)  # mean of each loss term


@dataclass
class TrainingData:
    train: Any  # PoseWindows
    val: Any  # PoseWindows
    info: dict[str, Any]  # name, source, synthetic: the checkpoint's "data"
    fps: float  # frames per second of every training sequence (the contract records it)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(
    recipe: Recipe,
    out_dir: str | Path,
    task: Task,
    resume: bool = False,
    device: str | None = None,
) -> dict[str, Any]:
    """Train `task` as `recipe.train` says; write checkpoints and log.jsonl to `out_dir`.

    Returns a summary: best/last checkpoint paths, validation MPJPE (mm), steps, wall time.
    Launched under torchrun, every rank calls this; only rank 0 writes files.
    """
    context, chosen_device = init_distributed(resolve_device(device))
    try:
        return _fit(recipe, Path(out_dir), task, resume, context, chosen_device)
    finally:
        shutdown(context)


def _fit(
    recipe: Recipe,
    out_dir: Path,
    task: Task,
    resume: bool,
    context: Distributed,
    device: torch.device,
) -> dict[str, Any]:
    config = recipe.train
    if not resume:
        _refuse_existing_run(out_dir)
    monitor = _Monitor(out_dir, context)
    seed_everything(recipe.seed)
    task.to(device)
    data = load_training_data(recipe, int(task.deployment.window_frames))
    task.deployment = dataclasses.replace(task.deployment, fps=data.fps)
    loader = _train_loader(data.train, recipe, context)
    steps_per_epoch, total_steps = _run_length(config, len(loader), len(data.train))
    run = _Run(recipe, task, device, context, out_dir, data.info, steps_per_epoch, total_steps)
    state, pending_rng = TrainState(), None
    if resume:
        state, pending_rng = run.restore()
        monitor.print(f"resuming from {run.last_path} at epoch {state.epoch}, step {state.step}")
    monitor.start(state.step, total_steps)
    monitor.print(
        f"training {task.kind} on {device} x{context.world_size}: {len(data.train)} windows of "
        f"{task.deployment.window_frames} frames, {steps_per_epoch} steps/epoch, "
        f"{total_steps} steps; writing to {out_dir}"
    )
    with monitor:
        while state.epoch < config.epochs and state.step < total_steps:
            loader.set_epoch(state.epoch)
            batches = _resume_epoch(loader, state.epoch_step, pending_rng)
            pending_rng = None
            train_epoch(run, batches, state, monitor, total_steps)
            end_epoch(run, data.val, state, monitor, steps_per_epoch, total_steps)
    monitor.print(
        f"done: best validation MPJPE {state.best_val_mpjpe_mm:.1f} mm (epoch {state.best_epoch}); "
        f"checkpoints in {out_dir}"
    )
    return _summary(run, state, steps_per_epoch, total_steps, monitor.elapsed())


def train_epoch(
    run: _Run, batches: Iterator, state: TrainState, monitor: _Monitor, total_steps: int
) -> None:
    """Optimiser steps over `batches` until the epoch or the run ends (or a stop is asked)."""
    config = run.recipe.train
    run.task.trainable.train()
    for batch in batches:
        total, terms = run.train_step(batch)
        state.step += 1
        state.epoch_step += 1
        loss = float(total.detach())
        terms = {name: float(value) for name, value in terms.items()}
        run.check_finite("loss", loss, state)
        state.epoch_loss_sum += loss
        for name, value in terms.items():
            state.epoch_term_sums[name] = state.epoch_term_sums.get(name, 0.0) + value
        if state.step % config.log_every == 0:
            monitor.log_step(state, run.scheduler.get_last_lr()[0], loss, terms)
        monitor.advance(state.step)
        if any_rank(monitor.stop_requested(), run.context, run.device):
            run.save(run.last_path, state)
            raise TrainingInterrupted(
                f"interrupted at epoch {state.epoch + 1}, step {state.step}; saved "
                f"{run.last_path}. Run the same command with --resume to continue."
            )
        if config.checkpoint_every and state.step % config.checkpoint_every == 0:
            run.save(run.last_path, state)
        if state.step >= total_steps:
            break


def end_epoch(
    run: _Run,
    val_windows: Any,
    state: TrainState,
    monitor: _Monitor,
    steps_per_epoch: int,
    total_steps: int,
) -> None:
    """Epoch means, validation when due (best.pt when it improves), log line and last.pt."""
    config = run.recipe.train
    if state.epoch_step:
        state.train_loss = state.epoch_loss_sum / state.epoch_step
        state.train_terms = {
            name: total / state.epoch_step for name, total in state.epoch_term_sums.items()
        }
    if state.epoch_step >= steps_per_epoch:
        state.epoch, state.epoch_step, state.epoch_loss_sum = state.epoch + 1, 0, 0.0
        state.epoch_term_sums = {}
    finished = state.step >= total_steps or state.epoch >= config.epochs
    epoch_record = {
        "train_loss": state.train_loss,
        **{f"train_{name}": mean for name, mean in state.train_terms.items()},
    }
    if finished or (state.epoch_step == 0 and state.epoch % config.val_every == 0):
        state.last_val_mpjpe_mm = run.validate(val_windows)
        run.check_finite("validation MPJPE", state.last_val_mpjpe_mm, state)
        if state.last_val_mpjpe_mm < state.best_val_mpjpe_mm:
            state.best_val_mpjpe_mm = state.last_val_mpjpe_mm
            state.best_epoch = state.epoch
            run.save(run.best_path, state)
        epoch_record["val_mpjpe_mm"] = state.last_val_mpjpe_mm
        monitor.validated(state.last_val_mpjpe_mm)
    monitor.log_epoch(state, epoch_record)
    run.save(run.last_path, state)
    monitor.print(_epoch_line(state, config.epochs))


def _summary(
    run: _Run, state: TrainState, steps_per_epoch: int, total_steps: int, wall_time_s: float
) -> dict[str, Any]:
    return {
        "out_dir": str(run.last_path.parent),
        "best_checkpoint": str(run.best_path),
        "last_checkpoint": str(run.last_path),
        "device": str(run.device),
        "world_size": run.context.world_size,
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps,
        "wall_time_s": wall_time_s,
        **asdict(state),
    }


def _refuse_existing_run(out_dir: Path) -> None:
    """Without --resume, a folder with checkpoints is not silently overwritten."""
    for name in ("last.pt", "best.pt"):
        if (out_dir / name).exists():
            raise OutputError(
                f"{out_dir / name} exists: {out_dir} already holds a run; pass --resume to "
                "continue it, or choose a new --out folder"
            )


def _run_length(config: TrainConfig, steps_per_epoch: int, windows: int) -> tuple[int, int]:
    """(optimiser steps per epoch, steps of the whole run)."""
    if steps_per_epoch == 0:
        raise ConfigError(
            f"train.batch_size={config.batch_size} is larger than the {windows} "
            "training windows: no full batch per epoch"
        )
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    return steps_per_epoch, total_steps


def load_training_data(recipe: Recipe, window_frames: int) -> TrainingData:
    """Training windows (labelled subjects, then 2D-only `data.unlabelled_subjects`) and
    validation windows of the recipe's subjects (never the test subjects)."""
    from scjd_edge.data.formats import load_dataset
    from scjd_edge.data.windows import PoseWindows

    if not recipe.data.val_subjects:
        raise ConfigError("data.val_subjects is empty: best.pt is chosen on validation subjects")
    dataset = load_dataset(recipe.data.path, keypoints=recipe.data.keypoints)
    unlabelled = dataset.select(recipe.data.unlabelled_subjects, "unlabelled")
    train = PoseWindows(
        dataset.select(recipe.data.train_subjects, "train")
        + [sequence.without_3d() for sequence in unlabelled],
        frames=window_frames,
        stride=recipe.data.train_stride,
        flip=recipe.train.flip_augment,
        noise_px=recipe.data.noise_px,
        seed=recipe.seed,
        virtual_camera=recipe.data.virtual_camera,
        detector_noise=recipe.data.detector_noise,
    )
    val = PoseWindows(dataset.select(recipe.data.val_subjects, "val"), frames=window_frames)
    info = {"name": dataset.name, "source": str(dataset.source), "synthetic": dataset.synthetic}
    return TrainingData(train=train, val=val, info=info, fps=_single_fps(train.sequences))


def _single_fps(sequences: list) -> float:
    """The one frame rate of the training sequences (a contract records a single rate)."""
    rates = sorted({float(sequence.fps) for sequence in sequences})
    if len(rates) != 1:
        raise ConfigError(
            f"training sequences come at several frame rates {rates} frames/s; resample them "
            "to one rate first (a model is trained and deployed at a single rate)"
        )
    return rates[0]


def training_seconds(log_path: Path) -> float:
    """Training time of a run from its log.jsonl: elapsed time restarts at every resume,
    so the last value of each stretch is summed."""
    total, last = 0.0, 0.0
    for line in log_path.read_text(encoding="utf-8").splitlines():
        elapsed = json.loads(line).get("elapsed_s")
        if elapsed is None:
            continue
        if elapsed < last:
            total += last
        last = elapsed
    return total + last


def lr_factor(
    config: TrainConfig, steps_per_epoch: int, total_steps: int
) -> Callable[[int], float]:
    """Multiplier of train.lr at a step: linear warm-up, then the recipe's schedule."""
    warmup = config.warmup_steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        if config.schedule == "exponential":
            return config.lr_decay ** ((step - warmup) / steps_per_epoch)
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


@torch.no_grad()
def validate(task: Task, model: nn.Module, windows: Any, config: TrainConfig, device) -> float:
    """Mean centre-frame MPJPE (mm) over the validation windows (evenly subsampled)."""
    from scjd_edge.metrics import mpjpe

    count = len(windows)
    indices = torch.arange(count)
    if config.val_max_windows is not None and count > config.val_max_windows:
        indices = torch.linspace(0, count - 1, config.val_max_windows).round().long()
    was_training = model.training
    model.eval()
    error_sum = 0.0
    for chunk in indices.split(config.batch_size):
        batch = windows[chunk]
        keypoints_2d = batch["keypoints_2d"].to(device)
        predicted = task.predict_centre(keypoints_2d, model=model).float()
        target = batch["pose_3d"][:, keypoints_2d.shape[1] // 2].to(device)
        error_sum += float(mpjpe(predicted, target)) * len(chunk)
    model.train(was_training)
    return 1000.0 * error_sum / len(indices)


class _LossModule(nn.Module):
    """Holds `task.trainable` so that DDP can wrap it; its forward is the task's loss.

    DDP synchronises gradients only for a backward that follows its own forward, so the
    loss must be computed inside a forward of the wrapped module.
    """

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.trainable = task.trainable
        self._task_loss = task.loss

    def forward(self, batch: dict[str, torch.Tensor]):
        return self._task_loss(batch)


class _Run:
    """The optimisation state of a run: one training step, validation, save and restore."""

    def __init__(
        self,
        recipe: Recipe,
        task: Task,
        device: torch.device,
        context: Distributed,
        out_dir: Path,
        data_info: dict[str, Any],
        steps_per_epoch: int,
        total_steps: int,
    ) -> None:
        config = recipe.train
        self.recipe, self.task, self.device, self.context = recipe, task, device, context
        self.data_info = data_info
        self.last_path, self.best_path = out_dir / "last.pt", out_dir / "best.pt"
        self.optimizer = _make_optimizer(task.trainable, config)
        self.scheduler = LambdaLR(self.optimizer, lr_factor(config, steps_per_epoch, total_steps))
        self.amp_dtype = _amp_dtype(config, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.ema = None
        if config.ema is not None:
            self.ema = AveragedModel(
                task.model, multi_avg_fn=_ema_with_warmup(config.ema), use_buffers=True
            )
        self.loss_module: nn.Module = _LossModule(task)
        if context.enabled:
            device_ids = [device.index] if device.type == "cuda" else None
            self.loss_module = DistributedDataParallel(self.loss_module, device_ids=device_ids)

    def train_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """Forward, backward, clipping, optimiser and schedule step, EMA update."""
        config = self.recipe.train
        batch = {name: value.to(self.device, non_blocking=True) for name, value in batch.items()}
        with self._autocast():
            total, terms = self.loss_module(batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.task.trainable.parameters(), config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.task.model)
        return total, terms

    def validate(self, windows: Any) -> float:
        """Validation MPJPE (mm) of the EMA weights if any, else of the live ones.

        Rank 0 validates; the other ranks wait and receive the value.
        """
        model = self.ema.module if self.ema is not None else self.task.model
        value = torch.zeros(1, device=self.device)
        if self.context.is_main:
            with self._autocast():
                value += validate(self.task, model, windows, self.recipe.train, self.device)
        if self.context.enabled:
            dist.broadcast(value, src=0)
        return float(value.item())

    def save(self, path: Path, state: TrainState) -> None:
        """A complete, resumable checkpoint (rank 0 only)."""
        if not self.context.is_main:
            return
        task = self.task
        extra = getattr(task, "checkpoint_extra", None)
        save_checkpoint(
            path,
            {
                "kind": task.kind,
                "recipe": self.recipe.model_dump(mode="json"),
                "model_state": task.model.state_dict(),
                "trainable_state": (
                    None if task.trainable is task.model else task.trainable.state_dict()
                ),
                "optimizer_state": self.optimizer.state_dict(),
                "scheduler_state": self.scheduler.state_dict(),
                "scaler_state": self.scaler.state_dict(),
                "ema_state": None if self.ema is None else self.ema.module.state_dict(),
                "rng_state": capture_rng_state(),
                "epoch": state.epoch,
                "step": state.step,
                "train_state": asdict(state),
                "metrics": {
                    "val_mpjpe_mm": state.last_val_mpjpe_mm,
                    "best_val_mpjpe_mm": state.best_val_mpjpe_mm,
                    "best_epoch": state.best_epoch,
                    "train_loss": state.train_loss,
                },
                "data": self.data_info,
                "deployment": task.deployment,
                "task": extra() if extra is not None else {},
            },
        )

    def restore(self) -> tuple[TrainState, dict[str, Any]]:
        """Load last.pt into this run; returns its state and the RNG states to restore."""
        path = self.last_path
        if not path.is_file():
            raise CheckpointError(f"--resume: {path} not found (nothing to resume)")
        checkpoint = load_checkpoint(path)
        changed = _recipe_changes(checkpoint["recipe"], self.recipe.model_dump(mode="json"))
        if changed - RESUMABLE_CHANGES:
            raise CheckpointError(
                f"--resume: {path} was trained with a different recipe "
                f"({', '.join(sorted(changed - RESUMABLE_CHANGES))} differ); resume with the "
                "same recipe or write to a new --out folder"
            )
        if checkpoint["kind"] != self.task.kind:
            raise CheckpointError(
                f"--resume: {path} holds a {checkpoint['kind']}, not a {self.task.kind}"
            )
        if checkpoint.get("trainable_state") is not None:
            self.task.trainable.load_state_dict(checkpoint["trainable_state"])
        else:
            self.task.model.load_state_dict(checkpoint["model_state"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state"])
        self.scheduler.load_state_dict(checkpoint["scheduler_state"])
        self.scaler.load_state_dict(checkpoint["scaler_state"])
        if self.ema is not None:
            if checkpoint["ema_state"] is None:
                raise CheckpointError(f"--resume: {path} has no EMA weights but train.ema is set")
            self.ema.module.load_state_dict(checkpoint["ema_state"])
            self.ema.n_averaged.fill_(max(1, checkpoint["step"]))
        return TrainState(**checkpoint["train_state"]), checkpoint["rng_state"]

    def check_finite(self, name: str, value: float, state: TrainState) -> None:
        """Stop a diverged run (NaN/Inf loss or metric) before it saves a checkpoint."""
        if not any_rank(not math.isfinite(value), self.context, self.device):
            return
        shown = "NaN/Inf on another process" if math.isfinite(value) else value
        kept = f"kept {self.last_path}" if self.last_path.is_file() else "no checkpoint saved"
        raise TrainingDiverged(
            f"training diverged at step {state.step}: {name} is {shown}; {kept} (lower "
            "train.lr, check the data, or set train.grad_clip)"
        )

    def _autocast(self):
        dtype = self.amp_dtype
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)


def _ema_with_warmup(decay: float) -> Callable:
    """EMA update for AveragedModel whose decay ramps up as (1 + n) / (10 + n) to `decay`.

    Without the ramp a decay of 0.999 would keep the random initial weights for thousands
    of steps, and the validated and saved EMA model of a short run would be meaningless.
    """

    def update(averaged: list, current: list, num_averaged: torch.Tensor) -> None:
        count = int(num_averaged)
        rate = min(decay, (1 + count) / (10 + count))
        for average, value in zip(averaged, current, strict=True):
            if average.is_floating_point():
                average.lerp_(value, 1.0 - rate)
            else:
                average.copy_(value)

    return update


def _resume_epoch(loader, done_steps: int, rng_state: dict[str, Any] | None) -> Iterator:
    """The epoch's batch iterator, positioned after `done_steps` batches.

    On resume the saved RNG states are restored at the point where they were captured:
    before the loader's iterator draws its seed at an epoch boundary, or after replaying
    the batches of an epoch that was interrupted part-way.
    """
    if rng_state is not None and done_steps == 0:
        restore_rng_state(rng_state)
    batches = iter(loader)
    for _ in range(done_steps):
        next(batches)
    if rng_state is not None and done_steps > 0:
        restore_rng_state(rng_state)
    return batches


def _train_loader(windows: Any, recipe: Recipe, context: Distributed):
    """Shuffled, rank-sharded batches; `set_epoch(e)` reseeds shuffle and augmentation."""
    from scjd_edge.data.windows import make_loader

    return make_loader(
        windows,
        batch_size=_per_rank_batch_size(recipe.train.batch_size, context),
        shuffle=True,
        seed=recipe.seed,
        drop_last=True,
        rank=context.rank,
        world_size=context.world_size,
        num_workers=recipe.train.num_workers,
        window_weights=windows.subject_weights(recipe.data.subject_weighting),
    )


def _per_rank_batch_size(batch_size: int, context: Distributed) -> int:
    """train.batch_size is the global batch; each of the K processes takes batch_size / K."""
    if batch_size % context.world_size:
        raise ConfigError(
            f"train.batch_size={batch_size} is not divisible by the {context.world_size} "
            "processes of this torchrun launch"
        )
    return batch_size // context.world_size


def _make_optimizer(trainable: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (not on biases and norm scales)."""
    parameters = [p for p in trainable.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in parameters if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


def _amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """Mixed precision on CUDA only; CPU and MPS train in float32."""
    if device.type != "cuda" or config.amp == "off":
        return None
    return torch.bfloat16 if config.amp == "bf16" else torch.float16


def _recipe_changes(old: Any, new: Any, prefix: str = "") -> set[str]:
    """Dotted names of the fields that differ between two recipe dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        changed: set[str] = set()
        for key in old.keys() | new.keys():
            changed |= _recipe_changes(old.get(key), new.get(key), f"{prefix}{key}.")
        return changed
    return set() if old == new else {prefix.rstrip(".")}


class RunLog:
    """`log.jsonl`: one JSON object per line (training steps and validations).

    Lines are appended as they come (a log cannot be rewritten atomically at every step);
    on resume, lines after the resumed step (from the interrupted tail) are dropped.
    """

    def __init__(self, path: Path, enabled: bool, keep_until_step: int) -> None:
        self.path = path
        self.enabled = enabled
        if enabled:
            kept = []
            if keep_until_step > 0 and path.is_file():
                for line in path.read_text(encoding="utf-8").splitlines():
                    try:
                        if json.loads(line)["step"] <= keep_until_step:
                            kept.append(line + "\n")
                    except (ValueError, KeyError):
                        continue  # a line torn by a crash
            write_text(path, "".join(kept))

    def write(self, **record: Any) -> None:
        if self.enabled:
            append_line(self.path, json.dumps(record))


class _StopSignal:
    """Ctrl-C / SIGTERM ask the loop to save last.pt at the next step boundary and stop.

    A second Ctrl-C stops at once. Handlers can only be installed from the main thread;
    elsewhere the signals keep their default behaviour.
    """

    signals = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> _StopSignal:
        self.requested = False
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for number in self.signals:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


class _Monitor:
    """What a person sees of a run: console lines, progress bar, log.jsonl, Ctrl-C.

    Only rank 0 prints and logs; every rank listens for the stop signals.
    """

    def __init__(self, out_dir: Path, context: Distributed) -> None:
        self.out_dir, self.context = out_dir, context
        self.started = time.perf_counter()
        self.console = Console(quiet=not context.is_main, highlight=False)

    def start(self, step: int, total_steps: int) -> None:
        """Open log.jsonl (keeping lines up to `step` on resume) and the progress bar."""
        self.log = RunLog(
            self.out_dir / "log.jsonl", enabled=self.context.is_main, keep_until_step=step
        )
        self.progress = _progress_bar(self.console)
        self.bar = self.progress.add_task(
            "train", total=total_steps, completed=step, loss="-", val="-"
        )
        self.stop = _StopSignal()

    def __enter__(self) -> _Monitor:
        self.stop.__enter__()
        self.progress.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self.progress.__exit__(*exc_info)
        self.stop.__exit__(*exc_info)

    def print(self, text: str) -> None:
        self.console.print(text)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def stop_requested(self) -> bool:
        return self.stop.requested

    def log_step(self, state: TrainState, lr: float, loss: float, terms: dict) -> None:
        self.log.write(
            step=state.step,
            epoch=state.epoch,
            lr=lr,
            loss=loss,
            **terms,
            elapsed_s=round(self.elapsed(), 2),
        )
        self.progress.update(self.bar, loss=f"{loss:.4f}")

    def advance(self, step: int) -> None:
        self.progress.update(self.bar, completed=step)

    def validated(self, val_mpjpe_mm: float) -> None:
        self.progress.update(self.bar, val=f"{val_mpjpe_mm:.1f} mm")

    def log_epoch(self, state: TrainState, record: dict[str, Any]) -> None:
        self.log.write(
            step=state.step, epoch=state.epoch, **record, elapsed_s=round(self.elapsed(), 2)
        )


def _progress_bar(console: Console) -> Progress:
    """A live bar on a terminal (rank 0); elsewhere only the epoch lines are printed."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("val {task.fields[val]}"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal or console.quiet,
        transient=False,
    )


def _epoch_line(state: TrainState, epochs: int) -> str:
    val = "-" if state.last_val_mpjpe_mm is None else f"{state.last_val_mpjpe_mm:.1f} mm"
    best = "-" if state.best_epoch is None else f"{state.best_val_mpjpe_mm:.1f} mm"
    loss = "-" if state.train_loss is None else f"{state.train_loss:.4f}"
    return (
        f"epoch {state.epoch}/{epochs} step {state.step}: train loss {loss}, "
        f"val MPJPE {val}, best {best}"
    )
