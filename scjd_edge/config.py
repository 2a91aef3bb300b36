"""Recipes: the one config system.

A recipe is a YAML file under `recipes/` validated by the pydantic models below. An
unknown key is an error that names it and the closest valid key; the CLI overrides any
field with `section.key=value` (the value is parsed as YAML, so `train.lr=3e-4`,
`data.train_subjects=[S1,S5]` and `train.amp=false` all work).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scjd_edge.errors import ConfigError

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
BUILTIN_SYNTHETIC = "builtin:synthetic"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class VirtualCameraConfig(_Section):
    """Training windows re-rendered through a random virtual camera (data/virtual_camera.py):
    ranges [low, high] drawn uniformly per window (distance log-uniformly)."""

    enabled: bool = False
    yaw_deg: tuple[float, float] = (-180.0, 180.0)  # about the vertical through the root
    pitch_deg: tuple[float, float] = (-10.0, 10.0)  # about the horizontal through the root
    distance_factor: tuple[float, float] = (0.8, 1.25)  # along the camera ray to the root

    @model_validator(mode="after")
    def _ranges(self) -> VirtualCameraConfig:
        for name in ("yaw_deg", "pitch_deg", "distance_factor"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be [low, high] with low <= high")
        if self.pitch_deg[0] <= -90 or self.pitch_deg[1] >= 90:
            raise ValueError("pitch_deg must lie inside (-90, 90) degrees")
        if self.distance_factor[0] <= 0:
            raise ValueError("distance_factor must be > 0")
        return self


class DataConfig(_Section):
    """Where the data is and how it is split (always by subject, never by frame)."""

    path: str = BUILTIN_SYNTHETIC
    keypoints: str = "gt"  # 2D source for Human3.6M: "gt" or "cpn_ft_h36m_dbb"
    train_subjects: list[str] = Field(default_factory=lambda: ["SYN1", "SYN2", "SYN3", "SYN4"])
    val_subjects: list[str] = Field(default_factory=lambda: ["SYN5"])
    test_subjects: list[str] = Field(default_factory=lambda: ["SYN6"])
    # 2D-only training subjects: their 3D is never read; `distill` trains the student on
    # the teacher's poses for them (semi-supervised distillation), nothing else uses them.
    unlabelled_subjects: list[str] = Field(default_factory=list)
    train_stride: int = Field(1, ge=1)  # distance in frames between training window centres
    noise_px: float = Field(0.0, ge=0)  # Gaussian noise added to training 2D, in pixels
    # Detector-like 2D errors added to training windows (data/detector_noise.py): the
    # scale of its magnitudes and rates; 0 trains on exact 2D.
    detector_noise: float = Field(0.0, ge=0, le=5)
    # How often a subject's windows are drawn in training: "frames" (every window alike,
    # so a subject counts by its frames), "sqrt" (a subject's share grows with the square
    # root of its frames) or "equal" (every subject the same share).
    subject_weighting: Literal["frames", "sqrt", "equal"] = "frames"
    virtual_camera: VirtualCameraConfig = Field(default_factory=VirtualCameraConfig)

    @model_validator(mode="after")
    def _disjoint_splits(self) -> DataConfig:
        splits = {
            "train": self.train_subjects,
            "val": self.val_subjects,
            "test": self.test_subjects,
            "unlabelled": self.unlabelled_subjects,
        }
        names = list(splits)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                shared = set(splits[first]) & set(splits[second])
                if shared:
                    raise ValueError(f"subjects {sorted(shared)} are in both {first} and {second}")
        return self


class ModelConfig(_Section):
    """A model from the registry (`scjd_edge.models.registry`) and its size."""

    name: Literal["ste", "poseformerv2", "tcn"] = "ste"
    frames: int = Field(27, ge=1)  # frames the model sees per window (T teacher, N student)
    dim: int = Field(64, ge=8)
    depth: int = Field(4, ge=1)
    heads: int = Field(4, ge=1)
    mlp_ratio: float = Field(2.0, gt=0)
    drop_path: float = Field(0.0, ge=0, lt=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    # STE only: hidden width of a per-frame MLP head that reads all 17 joint tokens of a
    # frame at once (many parameters for few MACs: it runs once per frame, not per token);
    # 0 keeps MixSTE's per-joint Linear head.
    pose_head: int = Field(0, ge=0)
    # PoseFormerV2 only: DCT coefficients of the whole window and central frames kept.
    dct_coefficients: int = Field(3, ge=1)
    central_frames: int = Field(3, ge=1)
    # How the deployment contract feeds 2D to the model (scjd_edge/contract.py): "screen"
    # coordinates as they are, or "root_scale" (root-centred, scale-normalised).
    input_normalisation: Literal["screen", "root_scale"] = "screen"


class TrainConfig(_Section):
    epochs: int = Field(10, ge=1)
    max_steps: int | None = Field(None, ge=1)  # stop early after this many optimiser steps
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_steps: int = Field(100, ge=0)
    schedule: Literal["cosine", "exponential", "constant"] = "cosine"
    lr_decay: float = Field(0.99, gt=0, le=1)  # per epoch, for schedule=exponential
    grad_clip: float | None = Field(1.0, gt=0)
    amp: Literal["off", "bf16", "fp16"] = "off"  # CUDA only; ignored on CPU
    ema: float | None = Field(None, gt=0, lt=1)  # EMA decay of the weights, e.g. 0.999
    flip_augment: bool = True
    test_flip: bool = True
    val_every: int = Field(1, ge=1)  # epochs between validations
    val_max_windows: int | None = Field(None, ge=1)  # evenly subsample validation windows
    num_workers: int = Field(0, ge=0)
    log_every: int = Field(10, ge=1)
    checkpoint_every: int | None = Field(None, ge=1)  # also save last.pt every N steps


class DjedConfig(_Section):
    """Dynamic joint embedding distillation (METHOD.md 2a)."""

    pairs: list[tuple[int, int]] = Field(default_factory=lambda: [(-1, -1)])  # (teacher, student)
    temperature: float = Field(1.0, gt=0)
    context: Literal["attention", "similarity"] = "similarity"


class AjadConfig(_Section):
    """Adjacent joint attention distillation (METHOD.md 2b)."""

    pairs: list[tuple[int, int]] = Field(default_factory=lambda: [(-1, -1)])
    hops: int = Field(1, ge=1)
    # "teacher": the teacher's attention rows; "uniform": every graph neighbour alike, a
    # teacher-free control that tells a fixed prior from the teacher's knowledge.
    target: Literal["teacher", "uniform"] = "teacher"


class TcdConfig(_Section):
    """Temporal consistency distillation (METHOD.md 3)."""

    velocity_weight: float = Field(1.0, ge=0)


class DistillConfig(_Section):
    # T: the teacher's window, which the student's frames are sampled from. None takes it
    # from the teacher checkpoint; a number makes a teacher with another window an error.
    window_frames: int | None = Field(None, ge=1)
    input_frames: int = Field(9, ge=1)  # N: frames the student sees
    sampling: Literal["uniform", "motion", "central", "offsets"] = "uniform"
    # sampling "offsets": the N frame offsets from the delivered frame, e.g. log-spaced
    # [-27, -9, -3, -1, 0, 1, 3, 9, 27] or causal [-40, -27, -18, -9, -3, -1, 0].
    frame_offsets: list[int] | None = None
    pose_weight: float = Field(1.0, ge=0)  # ground truth at the student's frames
    # Share of the pose loss on the delivered frame alone (the rest on all N frames alike).
    delivered_weight: float = Field(0.0, ge=0, le=1)
    output_weight: float = Field(0.0, ge=0)  # teacher output at the student's frames
    djed_weight: float = Field(0.0, ge=0)
    ajad_weight: float = Field(0.0, ge=0)
    tcd_weight: float = Field(0.0, ge=0)
    djed: DjedConfig = Field(default_factory=DjedConfig)
    ajad: AjadConfig = Field(default_factory=AjadConfig)
    tcd: TcdConfig = Field(default_factory=TcdConfig)
    # Keep the teacher's targets of every training window on disk beside the teacher
    # (distill/teacher_cache.py): the teacher runs once per window, not once per step.
    teacher_cache: bool = False
    # Output and TCD targets: the teacher's poses averaged over the window and its mirror
    # (test-time flip), as the teacher is scored; DJED/AJAD features stay single-pass.
    teacher_flip: bool = False

    @model_validator(mode="after")
    def _offsets_match_sampling(self) -> DistillConfig:
        if self.sampling == "offsets":
            if self.frame_offsets is None:
                raise ValueError("sampling 'offsets' needs distill.frame_offsets")
            if len(self.frame_offsets) != self.input_frames:
                raise ValueError(
                    f"distill.frame_offsets has {len(self.frame_offsets)} offsets but "
                    f"distill.input_frames is {self.input_frames}"
                )
        elif self.frame_offsets is not None:
            raise ValueError(
                f"distill.frame_offsets is only read with sampling 'offsets', not {self.sampling!r}"
            )
        return self


class Recipe(_Section):
    name: str = "run"
    seed: int = Field(0, ge=0, lt=2**32)  # numpy's generators take 0 .. 2**32 - 1
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    distill: DistillConfig | None = None

    @model_validator(mode="after")
    def _cache_needs_plain_windows(self) -> Recipe:
        if self.distill and self.distill.teacher_cache and self.data.virtual_camera.enabled:
            raise ValueError(
                "distill.teacher_cache=true and data.virtual_camera.enabled=true exclude each "
                "other: cached teacher targets are for the un-augmented windows; turn one off"
            )
        return self

    @model_validator(mode="after")
    def _unlabelled_needs_teacher_poses(self) -> Recipe:
        if not self.data.unlabelled_subjects:
            return self
        if self.distill is None or self.distill.output_weight == 0:
            raise ValueError(
                "data.unlabelled_subjects are 2D-only: only a distilled student learns from "
                "them, through the teacher's poses (distill.output_weight > 0); empty the list "
                "to train without them"
            )
        if self.data.virtual_camera.enabled:
            raise ValueError(
                "data.unlabelled_subjects and data.virtual_camera.enabled=true exclude each "
                "other: re-rendering a window through a virtual camera needs its 3D"
            )
        return self


def resolve_recipe_path(recipe: str | Path) -> Path:
    """A path, or the bare name of a file in `recipes/` (with or without `.yaml`)."""
    candidates = [Path(recipe), RECIPES_DIR / str(recipe), RECIPES_DIR / f"{recipe}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
    raise ConfigError(f"recipe {recipe!r} not found (recipes in {RECIPES_DIR}: {', '.join(known)})")


def load_recipe(recipe: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, override and validate a recipe; errors name the file and the bad field."""
    path = resolve_recipe_path(recipe)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: not a recipe (not UTF-8 text; a recipe is a YAML file)"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the recipe ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {_one_line(error)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a recipe is a mapping of sections, got {type(raw).__name__}")
    for override in overrides:
        apply_override(raw, override)
    return validate_recipe(raw, source=str(path))


def validate_recipe(raw: dict[str, Any], source: str = "<recipe>") -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{source}: " + _describe(error)) from None


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Apply `section.key=value` to a raw recipe dict (value parsed as YAML)."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} is not of the form section.key=value")
    dotted, value_text = override.split("=", 1)
    keys = dotted.strip().split(".")
    node = raw
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: {key!r} is not a section")
        node = child
    try:
        node[keys[-1]] = yaml.safe_load(value_text)
    except yaml.YAMLError as error:
        raise ConfigError(
            f"override {override!r}: the value is not valid YAML ({_one_line(error)})"
        ) from None


def _one_line(error: yaml.YAMLError) -> str:
    """A YAML error's problem and position without the multi-line source excerpt."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            lines.append(f"unknown key '{location}'" + _suggestion(item["loc"]))
        elif not location:  # a check across sections names its fields itself
            lines.append(item["msg"].removeprefix("Value error, "))
        else:
            lines.append(f"'{location}': {item['msg']} (got {item.get('input')!r})")
    return "; ".join(lines)


def _suggestion(location: tuple) -> str:
    model: type[BaseModel] = Recipe
    for part in location[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        options = [annotation, *getattr(annotation, "__args__", ())]
        model = next((o for o in options if isinstance(o, type) and issubclass(o, BaseModel)), None)
        if model is None:
            return ""
    close = difflib.get_close_matches(str(location[-1]), list(model.model_fields), n=1, cutoff=0.5)
    return f" (did you mean '{'.'.join(map(str, location[:-1] + (close[0],)))}'?)" if close else ""
