"""Detector-like 2D: the errors of a real 2D keypoint detector, added to exact 2D windows.

Users feed a detector's 2D, not projections of motion capture. This model turns exact 2D
into "detector-like" 2D for a second evaluation condition and for training augmentation.
Magnitudes are relative to the person's 2D size `s`: the diagonal of the bounding box of
the exact keypoints, median over the window (a person of any size gets the same relative
error). Terms, in the order applied:

1. Left/right inversions: the labels of a left/right joint pair (hips, knees, ankles,
   shoulders, elbows, wrists) swapped, in runs of INVERSION_FRAMES frames on average,
   INVERSION_RATE of pair-frames. Assumed: Ronchi & Perona (ICCV 2017, "Benchmarking and
   Error Diagnosis in Multi-Instance Pose Estimation") name inversion as one of four
   localisation errors found on ~25 % of keypoints of COCO's best methods, without a
   per-type rate we could read.
2. Jitter: per joint and axis an AR(1) process with lag-1 correlation JITTER_RHO at 50
   frames/s and per-joint spread proportional to COCO's OKS sigmas (cocoapi cocoeval.py
   `kpt_oks_sigmas`; joints COCO lacks take the nearest COCO joint's), scaled so that the
   mean per-joint error is that of CPN detections on Human3.6M: 6.67 px (SmoothNet README,
   "2D Keypoint Results", 1000 px frames) at REFERENCE_SIZE_PX. The correlation is derived
   from the same table: CPN's acceleration error 2.91 px/frame^2 against 6.67 px gives an
   AR(1) coefficient of ~0.95 (independent noise would give 2.45x, not 0.44x).
3. Gross outliers ("miss" in Ronchi & Perona): OUTLIER_RATE of joint-frames moved by a
   random direction and a distance uniform in OUTLIER_RADIUS x s. Assumed rate.
4. Dropouts: a joint missing (confidence 0), in runs of DROPOUT_FRAMES frames on average,
   DROPOUT_RATE of joint-frames (MotionBERT trains with 5 % of joints masked,
   configs/pretrain/MB_pretrain.yaml `mask_ratio`); as `infer` does with a detector's
   missing joints, a dropped joint is interpolated linearly in time from the frames that
   have it (held at the nearest one at a window's ends; kept where no frame has it).

Noise is drawn per window: a window is a stationary sample of the process, so each
delivered pose sees the input distribution it would see in a stream (MPJPE is the same in
expectation; velocity error across consecutive poses is not modelled). `scale` multiplies
every magnitude and rate (rates capped at MAX_RATE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from scjd_edge.data.skeleton import LEFT_JOINTS, RIGHT_JOINTS

CPN_H36M_MEAN_ERROR_PX = 6.67
# Median bounding-box diagonal of CMU v2's people in the four Human3.6M cameras (the
# cameras and distances Human3.6M's own frames were taken with), in pixels.
REFERENCE_SIZE_PX = 336.0
JITTER_RHO = 0.95  # per frame at 50 frames/s
REFERENCE_FPS = 50.0
# COCO OKS sigmas per Human3.6M joint: Hip, RHip, RKnee, RFoot, LHip, LKnee, LFoot, Spine
# (hip's), Thorax (shoulder's), Neck/Nose (nose), Head (ear's), LShoulder, LElbow,
# LWrist, RShoulder, RElbow, RWrist.
COCO_SIGMAS = (
    0.107, 0.107, 0.087, 0.089, 0.107, 0.087, 0.089, 0.107, 0.079, 0.026, 0.035,
    0.079, 0.072, 0.062, 0.079, 0.072, 0.062,
)  # fmt: skip
INVERSION_RATE, INVERSION_FRAMES = 0.01, 3.0
OUTLIER_RATE, OUTLIER_RADIUS = 0.01, (0.1, 0.5)
DROPOUT_RATE, DROPOUT_FRAMES = 0.05, 5.0
MAX_RATE = 0.5


def jitter_sigmas() -> torch.Tensor:
    """(17,) per-axis jitter spread per joint, as a fraction of the person's size."""
    weights = torch.tensor(COCO_SIGMAS, dtype=torch.float64)
    # A 2D isotropic Gaussian of per-axis spread sigma has mean norm sigma * sqrt(pi / 2).
    mean_error = CPN_H36M_MEAN_ERROR_PX / REFERENCE_SIZE_PX
    return (weights * mean_error / (weights.mean() * math.sqrt(math.pi / 2))).float()


@dataclass(frozen=True)
class DetectorNoise:
    """The error model of the module docstring at `scale` for 2D arriving at `fps`."""

    scale: float = 1.0
    fps: float = REFERENCE_FPS

    def corrupt(self, keypoints_2d: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B, T, 17, 2) exact 2D windows (any units) -> detector-like 2D, same units."""
        batch, frames = keypoints_2d.shape[:2]
        size = person_size(keypoints_2d)[:, None, None, None]  # (B, 1, 1, 1)
        noisy = self._inverted(keypoints_2d, generator)
        jitter = self._jitter((batch, frames, 17, 2), generator)
        noisy = noisy + jitter * jitter_sigmas().to(noisy)[:, None] * self.scale * size
        noisy = noisy + self._outliers((batch, frames, 17), generator).to(noisy) * size
        dropped = self._runs((batch, frames, 17), DROPOUT_RATE, DROPOUT_FRAMES, generator)
        return fill_dropped(noisy, dropped)

    def _rate(self, rate: float) -> float:
        return min(MAX_RATE, rate * self.scale)

    def _frames(self, frames_at_50: float) -> float:
        return max(1.0, frames_at_50 * self.fps / REFERENCE_FPS)

    def _inverted(self, keypoints_2d: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, frames = keypoints_2d.shape[:2]
        pairs = len(LEFT_JOINTS)
        swap = self._runs((batch, frames, pairs), INVERSION_RATE, INVERSION_FRAMES, generator)
        left, right = list(LEFT_JOINTS), list(RIGHT_JOINTS)
        inverted = keypoints_2d.clone()
        inverted[:, :, left] = torch.where(
            swap[..., None], keypoints_2d[:, :, right], inverted[:, :, left]
        )
        inverted[:, :, right] = torch.where(
            swap[..., None], keypoints_2d[:, :, left], inverted[:, :, right]
        )
        return inverted

    def _jitter(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Unit-variance AR(1) noise along dim 1, stationary from the first frame."""
        rho = JITTER_RHO ** (REFERENCE_FPS / self.fps)
        innovations = torch.randn(shape, generator=generator)
        steps = [innovations[:, 0]]
        for frame in range(1, shape[1]):
            steps.append(rho * steps[-1] + math.sqrt(1 - rho**2) * innovations[:, frame])
        return torch.stack(steps, dim=1)

    def _outliers(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """(B, T, 17, 2) displacements in units of the person's size (mostly zero)."""
        hit = torch.rand(shape, generator=generator) < self._rate(OUTLIER_RATE)
        low, high = OUTLIER_RADIUS
        radius = low + (high - low) * torch.rand(shape, generator=generator)
        angle = 2 * math.pi * torch.rand(shape, generator=generator)
        offset = torch.stack([angle.cos(), angle.sin()], dim=-1) * radius[..., None]
        return offset * hit[..., None]

    def _runs(
        self, shape: tuple[int, int, int], rate: float, mean_frames_at_50: float, generator
    ) -> torch.Tensor:
        """(B, T, K) bool: a two-state Markov chain per (B, K) along T, on for `rate` of
        the frames in runs of `mean_frames` on average, stationary from the first frame."""
        rate, mean_frames = self._rate(rate), self._frames(mean_frames_at_50)
        stop = 1.0 / mean_frames
        start = rate * stop / (1.0 - rate)
        state = torch.rand((shape[0], shape[2]), generator=generator) < rate
        states = []
        for _ in range(shape[1]):
            states.append(state)
            draw = torch.rand((shape[0], shape[2]), generator=generator)
            state = torch.where(state, draw >= stop, draw < start)
        return torch.stack(states, dim=1)


def person_size(keypoints_2d: torch.Tensor) -> torch.Tensor:
    """(B, T, 17, 2) -> (B,) bounding-box diagonal of the keypoints, median over frames."""
    extent = keypoints_2d.amax(dim=2) - keypoints_2d.amin(dim=2)  # (B, T, 2)
    return extent.norm(dim=-1).median(dim=1).values


def fill_dropped(keypoints_2d: torch.Tensor, dropped: torch.Tensor) -> torch.Tensor:
    """(B, T, J, 2) with (B, T, J) dropped joints replaced by linear interpolation in time
    between the nearest frames that have them (held at the ends; kept where none has)."""
    frames = keypoints_2d.shape[1]
    present = ~dropped
    index = torch.arange(frames).view(1, frames, 1).expand_as(present)
    before = torch.where(present, index, -1).cummax(dim=1).values
    after = torch.where(present, index, frames).flip(1).cummin(dim=1).values.flip(1)
    has_before, has_after = before >= 0, after < frames
    at_before = _gather_frames(keypoints_2d, before.clamp(min=0))
    at_after = _gather_frames(keypoints_2d, after.clamp(max=frames - 1))
    weight = ((index - before) / (after - before).clamp(min=1)).to(keypoints_2d)[..., None]
    between = at_before + weight * (at_after - at_before)
    filled = torch.where(
        (has_before & has_after)[..., None],
        between,
        torch.where(
            has_before[..., None],
            at_before,
            torch.where(has_after[..., None], at_after, keypoints_2d),
        ),
    )
    return torch.where(dropped[..., None], filled, keypoints_2d)


def _gather_frames(keypoints_2d: torch.Tensor, frame_index: torch.Tensor) -> torch.Tensor:
    """keypoints_2d[b, frame_index[b, t, j], j] for every (b, t, j)."""
    return keypoints_2d.gather(1, frame_index[..., None].expand_as(keypoints_2d))
