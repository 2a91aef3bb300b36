"""The deployment contract: how a window of 2D keypoints becomes a model's inputs, and how
the model's output becomes the pose that is delivered.

Every checkpoint, ONNX file and TensorRT sidecar carries one `Deployment`; training,
evaluation, export, bench and infer all call its `prepare_model_inputs` and
`delivered_pose`, so a deployed model is fed exactly as it was trained.

    deployment = Deployment.student(window_frames=81, input_frames=9, sampling="uniform")
    model_keypoints_2d, frame_offsets, indices = deployment.prepare_model_inputs(windows)
    pose_3d = deployment.delivered_pose(model(model_keypoints_2d, frame_offsets), indices)

Input normalisation: "screen" feeds the sampled frames' normalised screen coordinates as
they are; "root_scale" centres every frame on its root (Hip) and divides by the person's 2D
size (the RMS joint distance from the root, averaged over the frames the model sees), so a
person of any size or place in the image gives the same input; the root joint's slot, which
would always be (0, 0), carries the root's screen position instead (where the person is,
and how they move). Root-relative 3D output in metres does not depend on the 2D size.

Stored form (`to_dict`, version 4): the fields below plus `lookahead_frames` and
`lookahead_seconds` for readers. Versions 2 and 3 (no `fps`) are read as 50 frames/s, the
rate of every data set the project trained on before the rate was recorded; version 2 (no
"offsets" sampling, no "root_scale") is read as it is; version 1 (scjd-edge
0.x checkpoints and ONNX files: no `version` key, `normalisation` given as a formula,
motion offsets as the text "computed per window") is upgraded.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from scjd_edge.data.skeleton import JOINT_LAYOUT, ROOT_JOINT
from scjd_edge.errors import ConfigError, DataError
from scjd_edge.sampling import (
    SAMPLING_MODES,
    STATIC_MODES,
    check_offsets,
    check_sampling,
    gather_frames,
    sample_frames,
    static_offsets,
)

CONTRACT_VERSION = 4
# The rate of every data set trained on before the contract recorded it (version <= 3).
UNRECORDED_FPS = 50.0
OUTPUT_MODES = ("all", "centre")
# 2D input: normalised screen coordinates x / w * 2 - [1, h / w] (docs/ARCHITECTURE.md),
# as they are or root-centred and scale-normalised (module docstring).
INPUT_NORMALISATIONS = ("screen", "root_scale")
# Below this 2D size (normalised screen units, ~0.5 px in a 1000 px image) a window is a
# single point, not a person: its scale is clamped instead of dividing by ~0.
_MIN_PERSON_SIZE = 1e-3
_V1_NORMALISATION = {"x / w * 2 - [1, h / w]": "screen", "": "screen"}
_V1_MOTION_OFFSETS = "computed per window"
_DERIVED_KEYS = ("lookahead_frames", "lookahead_seconds")


@dataclass(frozen=True)
class Deployment:
    """What pre- and post-processing a model needs.

    window_frames: T, frames of 2D context around the delivered (centre) frame.
    input_frames: N, frames the model sees (N == T for teachers).
    sampling: how the N frames are picked (`scjd_edge.sampling`).
    frame_offsets: the N offsets from the centre frame; None where they depend on the
        window (sampling "motion"). The largest is the lookahead: a causal model's
        offsets end at 0.
    output: "all" (the model returns all N frames; the centre one is delivered) or
        "centre" (the model returns the centre frame only).
    fps: frames per second of the 2D the model was trained on; 2D at another rate is
        resampled to it before windows are cut (`scjd_edge.data.frame_rate`).
    """

    window_frames: int
    input_frames: int
    sampling: str
    frame_offsets: tuple[int, ...] | None
    output: str = "all"
    input_normalisation: str = "screen"
    joint_layout: str = JOINT_LAYOUT
    units: str = "metres"
    root_relative: bool = True
    fps: float = UNRECORDED_FPS
    version: int = CONTRACT_VERSION

    def __post_init__(self) -> None:
        check_sampling(self.sampling, self.window_frames, self.input_frames)
        if not (isinstance(self.fps, int | float) and math.isfinite(self.fps) and self.fps > 0):
            raise ConfigError(f"deployment fps {self.fps!r}: expected a finite rate > 0 frames/s")
        if self.output not in OUTPUT_MODES:
            raise ConfigError(f"deployment output {self.output!r}: expected one of {OUTPUT_MODES}")
        if self.input_normalisation not in INPUT_NORMALISATIONS:
            raise ConfigError(
                f"deployment input_normalisation {self.input_normalisation!r}: expected one "
                f"of {INPUT_NORMALISATIONS}"
            )
        expected = static_offsets(self.sampling, self.window_frames, self.input_frames)
        offsets = None if self.frame_offsets is None else tuple(self.frame_offsets)
        if self.sampling == "offsets":
            if offsets is None or len(offsets) != self.input_frames:
                raise ConfigError(
                    f"deployment sampling 'offsets' needs {self.input_frames} frame_offsets, "
                    f"got {offsets}"
                )
            check_offsets(offsets, self.window_frames)
        elif self.sampling in STATIC_MODES and offsets != tuple(expected):
            raise ConfigError(
                f"deployment frame_offsets {offsets} do not match sampling {self.sampling!r} "
                f"of {self.input_frames} frames from {self.window_frames}: expected {expected}"
            )
        elif self.sampling == "motion" and offsets is not None:
            raise ConfigError(f"deployment sampling {self.sampling!r} has no fixed frame_offsets")

    @classmethod
    def teacher(
        cls, window_frames: int, output: str = "all", input_normalisation: str = "screen"
    ) -> Deployment:
        """A model that sees its whole window (a teacher, or with output "centre" a
        PoseFormerV2-style baseline)."""
        return cls.sampled(
            window_frames, window_frames, "full", output, input_normalisation=input_normalisation
        )

    @classmethod
    def student(
        cls,
        window_frames: int,
        input_frames: int,
        sampling: str,
        frame_offsets: list[int] | tuple[int, ...] | None = None,
        input_normalisation: str = "screen",
    ) -> Deployment:
        """A distilled student: N sampled frames of a T-frame window, all N out.
        `frame_offsets` are given for sampling "offsets" only."""
        return cls.sampled(
            window_frames, input_frames, sampling, "all", frame_offsets, input_normalisation
        )

    @classmethod
    def sampled(
        cls,
        window_frames: int,
        input_frames: int,
        sampling: str,
        output: str,
        frame_offsets: list[int] | tuple[int, ...] | None = None,
        input_normalisation: str = "screen",
    ) -> Deployment:
        offsets = static_offsets(sampling, window_frames, input_frames)
        if sampling == "offsets":
            offsets = frame_offsets
        elif frame_offsets is not None:
            raise ConfigError(
                f"frame_offsets are given for sampling 'offsets' only, not {sampling!r}"
            )
        return cls(
            window_frames=int(window_frames),
            input_frames=int(input_frames),
            sampling=sampling,
            frame_offsets=None if offsets is None else tuple(int(o) for o in offsets),
            output=output,
            input_normalisation=input_normalisation,
        )

    @property
    def delivered_frame(self) -> int:
        """Index in the window of the frame whose pose is delivered (its centre)."""
        return self.window_frames // 2

    @property
    def lookahead_frames(self) -> int:
        """Future frames a delivered pose needs: the delay of a streaming deployment (the
        largest offset the model sees; the window's far end where that depends on the
        window)."""
        if self.frame_offsets is None:
            return self.window_frames - 1 - self.delivered_frame
        return max(0, max(self.frame_offsets))

    @property
    def lookahead_seconds(self) -> float:
        """The lookahead as time at the model's frame rate."""
        return self.lookahead_frames / self.fps

    def prepare_model_inputs(
        self, keypoints_2d_windows: torch.Tensor | np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, 17, 2) normalised screen coordinates, T = window_frames -> the model's
        keypoints_2d (B, N, 17, 2) (after the input normalisation), frame_offsets (B, N)
        float32 and the picked window indices (B, N) long."""
        keypoints_2d = torch.as_tensor(keypoints_2d_windows)
        if keypoints_2d.ndim != 4 or keypoints_2d.shape[1:] != (self.window_frames, 17, 2):
            raise DataError(
                f"2D keypoint windows of shape {tuple(keypoints_2d.shape)}: the deployment "
                f"contract expects (B, window_frames={self.window_frames}, 17, 2)"
            )
        if self.frame_offsets is None:
            indices, frame_offsets = sample_frames(keypoints_2d, self.sampling, self.input_frames)
        else:
            offsets = torch.tensor(self.frame_offsets, dtype=torch.long, device=keypoints_2d.device)
            indices = (offsets + self.delivered_frame).expand(keypoints_2d.shape[0], -1).clone()
            frame_offsets = offsets.to(torch.float32).expand_as(indices).clone()
        model_keypoints_2d = gather_frames(keypoints_2d, indices)
        if self.input_normalisation == "root_scale":
            model_keypoints_2d = root_scale_normalise(model_keypoints_2d)
        return model_keypoints_2d, frame_offsets, indices

    def delivered_pose(self, pose_3d_out: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """The delivered (centre) frame's pose (B, 17, 3) from a model's raw output:
        (B, N, 17, 3) for output "all", (B, 1, 17, 3) for output "centre"."""
        if self.output == "centre":
            return pose_3d_out[:, 0]
        is_delivered = indices == self.delivered_frame
        if not bool(is_delivered.any(dim=1).all()):
            raise DataError("sampled frames do not hold the window's delivered frame")
        slot = is_delivered.to(torch.int8).argmax(dim=1).to(pose_3d_out.device)
        return pose_3d_out[torch.arange(pose_3d_out.shape[0], device=pose_3d_out.device), slot]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint (torch weights_only loading) or JSON metadata."""
        stored = asdict(self)
        stored["frame_offsets"] = None if self.frame_offsets is None else list(self.frame_offsets)
        stored["lookahead_frames"] = self.lookahead_frames
        stored["lookahead_seconds"] = self.lookahead_seconds
        return stored

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, stored: Any) -> Deployment:
        """Read a stored contract of any known version; ConfigError names what is wrong."""
        if not isinstance(stored, dict):
            raise ConfigError(f"deployment contract: expected a dict, got {type(stored).__name__}")
        fields = _upgrade(stored)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(fields) - known - set(_DERIVED_KEYS))
        if unknown:
            raise ConfigError(f"deployment contract: unknown keys {unknown}")
        missing = [
            key for key in ("window_frames", "input_frames", "sampling") if key not in fields
        ]
        if missing:
            raise ConfigError(f"deployment contract: missing keys {missing}")
        values = {key: value for key, value in fields.items() if key in known}
        try:
            values["window_frames"] = int(values["window_frames"])
            values["input_frames"] = int(values["input_frames"])
            values["fps"] = float(values.get("fps", UNRECORDED_FPS))
            offsets = values.get("frame_offsets")
            values["frame_offsets"] = None if offsets is None else tuple(int(o) for o in offsets)
        except (TypeError, ValueError, OverflowError) as error:
            raise ConfigError(f"deployment contract: {error}") from None
        if values["sampling"] not in SAMPLING_MODES:
            raise ConfigError(
                f"deployment contract: sampling {values['sampling']!r} is not one of "
                f"{SAMPLING_MODES}"
            )
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        try:
            stored = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"deployment contract is not JSON: {error}") from None
        return cls.from_dict(stored)


def root_scale_normalise(keypoints_2d: torch.Tensor) -> torch.Tensor:
    """(B, N, 17, 2) screen coordinates -> root-centred, scale-normalised 2D (module
    docstring), the root joint's slot holding the root's screen position."""
    root = keypoints_2d[:, :, ROOT_JOINT : ROOT_JOINT + 1]
    centred = keypoints_2d - root
    per_frame_size = centred.pow(2).sum(-1).mean(-1).sqrt()  # (B, N) RMS distance from root
    size = per_frame_size.mean(dim=1).clamp_min(_MIN_PERSON_SIZE)  # (B,)
    normalised = centred / size[:, None, None, None]
    return torch.cat(
        [normalised[:, :, :ROOT_JOINT], root, normalised[:, :, ROOT_JOINT + 1 :]], dim=2
    )


def _upgrade(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored contract in the current version's keys."""
    version = stored.get("version", 1)
    if version == CONTRACT_VERSION:
        return dict(stored)
    if version in (2, 3):  # 3 added values ("offsets", "root_scale"); 4 added fps
        return {**stored, "fps": UNRECORDED_FPS, "version": CONTRACT_VERSION}
    if version != 1:
        raise ConfigError(
            f"deployment contract version {version!r}: this scjd-edge reads versions 1 to "
            f"{CONTRACT_VERSION}"
        )
    fields = {key: value for key, value in stored.items() if key != "normalisation"}
    normalisation = stored.get("normalisation", "")
    if normalisation not in _V1_NORMALISATION:
        raise ConfigError(f"deployment contract: unknown normalisation {normalisation!r}")
    fields["input_normalisation"] = _V1_NORMALISATION[normalisation]
    if fields.get("frame_offsets") == _V1_MOTION_OFFSETS:
        fields["frame_offsets"] = None
    fields["fps"] = UNRECORDED_FPS
    fields["version"] = CONTRACT_VERSION
    return fields
