"""Sparse frame sampling (METHOD.md section 1): which N of a window's T frames a model sees.

Every picked frame keeps its true signed offset from the window's centre frame (index
T // 2). `scjd_edge.contract.Deployment` is the only user outside the distillation losses:
training, evaluation, export, infer and bench all go through it, so the deployed
pre-processing is exactly the one the model was trained with.

Modes:
- `full`: all T frames (teachers).
- `uniform`: stride s = (T - 1) / (N - 1) rounded to whole frames, centred on the centre
  frame, first frame 0 and last frame T - 1 (the whole window is covered).
- `motion`: frames evenly spaced in cumulative 2D motion (the arc length of the pose
  trajectory), centre frame always kept; fast motion gets denser samples.
- `central`: the N contiguous frames around the centre frame.
- `offsets`: N offsets listed in the recipe (e.g. log-spaced 0, +-1, +-3, +-9, +-27, or
  causal ones that end at 0); `check_offsets` says which lists are valid.
"""

from __future__ import annotations

import numpy as np
import torch

from scjd_edge.errors import ConfigError

SAMPLING_MODES = ("full", "uniform", "motion", "central", "offsets")
STATIC_MODES = ("full", "uniform", "central")  # offsets computed from T and N alone

# Added per frame to the cumulative motion so that it is strictly increasing: a window
# with no motion at all is then sampled uniformly in time.
_MOTION_TIME_EPSILON = 1e-6


def check_sampling(mode: str, window_frames: int, num_frames: int) -> None:
    """Raise ConfigError unless `mode` can pick `num_frames` frames from `window_frames`."""
    if mode not in SAMPLING_MODES:
        raise ConfigError(f"sampling mode {mode!r} is unknown (expected one of {SAMPLING_MODES})")
    if window_frames < 1 or window_frames % 2 == 0:
        raise ConfigError(
            f"window of {window_frames} frames: the window must have an odd number of frames "
            "so that it has a centre frame"
        )
    if mode == "full":
        if num_frames != window_frames:
            raise ConfigError(
                f"sampling 'full' uses all {window_frames} frames of the window, "
                f"got input_frames={num_frames}"
            )
        return
    if mode == "offsets":
        if not 1 <= num_frames <= window_frames:
            raise ConfigError(
                f"sampling 'offsets': input_frames={num_frames} must be 1 .. the window's "
                f"{window_frames} frames"
            )
        return
    if num_frames < 1 or num_frames % 2 == 0 or num_frames > window_frames:
        raise ConfigError(
            f"sampling {mode!r}: input_frames={num_frames} must be odd (so the centre frame is "
            f"one of them) and at most the window's {window_frames} frames"
        )


def check_offsets(offsets: list[int] | tuple[int, ...], window_frames: int) -> None:
    """Raise ConfigError unless `offsets` are strictly increasing, hold 0 (the delivered
    frame) and lie inside a centred window of `window_frames` frames."""
    offsets = [int(offset) for offset in offsets]
    half = window_frames // 2
    if not offsets or 0 not in offsets:
        raise ConfigError(f"frame_offsets {offsets}: must hold 0, the delivered frame")
    if any(b <= a for a, b in zip(offsets, offsets[1:], strict=False)):
        raise ConfigError(f"frame_offsets {offsets}: must be strictly increasing")
    if offsets[0] < -half or offsets[-1] > window_frames - 1 - half:
        raise ConfigError(
            f"frame_offsets {offsets}: must lie in -{half} .. {window_frames - 1 - half} "
            f"(a window of {window_frames} frames)"
        )


def static_offsets(mode: str, window_frames: int, num_frames: int) -> list[int] | None:
    """The N frame offsets of a mode computed from T and N alone; None for `motion` and
    `offsets` (the window's motion, or the recipe, gives them)."""
    check_sampling(mode, window_frames, num_frames)
    centre = window_frames // 2
    if mode == "full":
        return list(range(-centre, centre + 1))
    if mode == "central":
        return list(range(-(num_frames // 2), num_frames // 2 + 1))
    if mode == "uniform":
        if num_frames == 1:
            return [0]
        stride = (window_frames - 1) / (num_frames - 1)
        slots = np.arange(num_frames) - (num_frames - 1) / 2
        # np.round rounds half to even, which is symmetric about zero.
        return [int(v) for v in np.round(slots * stride)]
    return None


def sample_frames(
    keypoints_2d: torch.Tensor, mode: str, num_frames: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick N frames of each window.

    keypoints_2d: (B, T, 17, 2) normalised screen coordinates.
    Returns indices (B, N) long, sorted and unique, in [0, T), always holding the centre
    frame T // 2; and frame_offsets (B, N) float32 = indices - T // 2.
    """
    batch, window_frames = keypoints_2d.shape[:2]
    offsets = static_offsets(mode, window_frames, num_frames)
    centre = window_frames // 2
    if offsets is not None:
        indices = torch.tensor(offsets, dtype=torch.long, device=keypoints_2d.device) + centre
        indices = indices.expand(batch, -1).clone()
    elif mode == "motion":
        indices = _motion_indices(keypoints_2d, num_frames)
    else:
        raise ConfigError(f"sampling {mode!r} takes its offsets from the deployment contract")
    return indices, (indices - centre).to(torch.float32)


def _motion_indices(keypoints_2d: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(B, T, 17, 2) -> (B, N) frame indices evenly spaced in cumulative 2D motion.

    The N targets are split in two runs that meet at the centre frame: slots 0..k* spread
    evenly over the motion before the centre, slots k*..N-1 over the motion after it, with
    k* proportional to the share of motion before the centre (so the spacing in motion is
    as even as the fixed centre allows). Targets are mapped to frames through the inverse
    of the cumulative motion, then made strictly increasing and kept inside the window.
    """
    batch, window_frames = keypoints_2d.shape[:2]
    centre = window_frames // 2
    device = keypoints_2d.device
    if num_frames == 1:
        return torch.full((batch, 1), centre, dtype=torch.long, device=device)

    # float64: the time term must stay resolvable next to the accumulated motion.
    step = (keypoints_2d[:, 1:] - keypoints_2d[:, :-1]).detach().double().norm(dim=-1).mean(-1)
    frames = torch.arange(window_frames, device=device, dtype=torch.float64)
    motion = torch.cat([step.new_zeros(batch, 1), step.cumsum(dim=1)], dim=1)
    motion = motion + _MOTION_TIME_EPSILON * frames  # (B, T), strictly increasing
    total = motion[:, -1:]
    at_centre = motion[:, centre : centre + 1]

    slots = torch.arange(num_frames, device=device)
    lowest_centre_slot = max(1, num_frames - 1 - centre)
    highest_centre_slot = min(num_frames - 2, centre)
    centre_slot = torch.round(at_centre / total * (num_frames - 1)).long()
    centre_slot = centre_slot.clamp(lowest_centre_slot, highest_centre_slot)  # (B, 1)

    before = slots.double() / centre_slot.double() * at_centre
    after_fraction = (slots - centre_slot).double() / (num_frames - 1 - centre_slot).double()
    after = at_centre + after_fraction * (total - at_centre)
    targets = torch.where(slots <= centre_slot, before, after)  # (B, N), motion units

    rounded = torch.round(_invert_monotone(motion, targets)).long()
    rounded[:, 0], rounded[:, -1] = 0, window_frames - 1  # the whole window is covered
    # Strictly increasing: a running maximum of (index - slot), shifted back by the slot.
    increasing = torch.cummax(rounded - slots, dim=1).values + slots
    # Slots before the centre slot lie in [slot, centre - (centre_slot - slot)], slots after
    # it in [centre + (slot - centre_slot), T - N + slot]; both bounds are the centre frame
    # at the centre slot itself.
    lower = torch.where(slots < centre_slot, slots, centre + slots - centre_slot)
    upper = torch.where(
        slots <= centre_slot,
        centre - (centre_slot - slots),
        window_frames - num_frames + slots,
    )
    # Both bounds rise by at least one per slot, so the clamped indices stay strictly
    # increasing.
    return torch.minimum(torch.maximum(increasing, lower), upper)


def _invert_monotone(values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Fractional positions p with values(p) = targets, by linear interpolation.

    values: (B, T) strictly increasing; targets: (B, N) within [values[:, 0], values[:, -1]].
    """
    last = values.shape[1] - 1
    right = torch.searchsorted(values, targets.contiguous()).clamp(1, last)
    left = right - 1
    left_value = values.gather(1, left)
    right_value = values.gather(1, right)
    fraction = ((targets - left_value) / (right_value - left_value)).clamp(0.0, 1.0)
    return left.to(values.dtype) + fraction


def gather_frames(sequence: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """(B, T, ...) -> (B, N, ...): the frames at `indices` (B, N) of each sample."""
    index = indices.reshape(indices.shape + (1,) * (sequence.ndim - 2))
    return sequence.gather(1, index.expand(indices.shape + sequence.shape[2:]))
