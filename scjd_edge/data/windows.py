"""Training/evaluation windows over pose sequences, fetched a whole batch at a time.

All sequences are padded (replicating their first and last frame) and concatenated once
into two tensors; a batch of windows is then one advanced-indexing gather, with no
per-frame or per-window Python loop. Augmentation (horizontal flip, a virtual camera, 2D
pixel noise, applied in that order) is drawn from a generator seeded by (seed, epoch, the
batch's first index, batch size), so a run that replays the same batches (same seed and
epoch) gets the same augmentation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from scjd_edge.config import VirtualCameraConfig
from scjd_edge.data.dataset import PoseSequence
from scjd_edge.data.detector_noise import DetectorNoise
from scjd_edge.data.skeleton import ROOT_JOINT, flip_pose
from scjd_edge.data.virtual_camera import SequenceCameras, ViewChange, render
from scjd_edge.errors import DataError

MIRROR_X = torch.tensor([-1.0, 1.0, 1.0])  # a camera-space point or direction, mirrored


class PoseWindows(Dataset):
    """Windows of `frames` consecutive frames centred on every `stride`-th frame.

    `__getitem__(index)` takes an int, a list of ints or a 1-D tensor and returns
    keypoints_2d (B, T, 17, 2) normalised screen coordinates, pose_3d (B, T, 17, 3)
    root-relative camera metres, frame_offsets (B, T) float32 (offset of each frame from
    the centre), sequence_index (B,) and centre_frame (B,) int64, labelled (B,) bool (False:
    2D-only data, pose_3d NaN), and with `detector_noise` keypoints_2d_exact (the 2D before
    those errors); an int gives the same keys without the batch dimension.
    Frames before a sequence's start or after its end repeat its first or last frame.
    `flip` mirrors half of the windows (x -> -x and left/right swapped, in 2D and 3D
    alike); `detector_noise` adds the detector-like 2D errors of `data/detector_noise.py`
    at that scale; `noise_px` adds Gaussian noise of that many pixels (converted with each
    sequence's image width) to the 2D. With `flip` a mirrored copy of every frame is kept
    in memory, so a flipped window is the same single gather.
    An enabled `virtual_camera` re-renders every window (after the flip: a mirrored window
    is the mirrored scene seen by the same camera) from a random viewpoint through its
    sequence's intrinsics (`data/virtual_camera.py`); every sequence then needs them.
    """

    def __init__(
        self,
        sequences: Sequence[PoseSequence],
        frames: int,
        stride: int = 1,
        flip: bool = False,
        noise_px: float = 0.0,
        seed: int = 0,
        virtual_camera: VirtualCameraConfig | None = None,
        detector_noise: float = 0.0,
    ):
        if not sequences:
            raise DataError("PoseWindows: no sequences given (is the split empty?)")
        if frames < 1 or stride < 1:
            raise ValueError(f"frames and stride must be >= 1, got {frames} and {stride}")
        self.sequences = list(sequences)
        self.frames = frames
        self.stride = stride
        self.flip = flip
        self.noise_px = float(noise_px)
        self.detector_noise = (
            DetectorNoise(float(detector_noise), fps=self.sequences[0].fps)
            if detector_noise > 0
            else None
        )
        self.seed = seed
        self.virtual_camera = virtual_camera if virtual_camera and virtual_camera.enabled else None
        self.epoch = 0
        self.pad_before = frames // 2
        self.pad_after = frames - 1 - self.pad_before
        self._build_tensors()

    def _build_tensors(self) -> None:
        keypoints_2d, pose_3d, root = [], [], []
        window_sequence, window_centre, window_start = [], [], []
        padded_start = 0
        for sequence_index, sequence in enumerate(self.sequences):
            pad = ((self.pad_before, self.pad_after), (0, 0), (0, 0))
            keypoints_2d.append(np.pad(sequence.keypoints_2d, pad, mode="edge"))
            root_relative = sequence.pose_3d - sequence.pose_3d[:, ROOT_JOINT : ROOT_JOINT + 1]
            pose_3d.append(np.pad(root_relative, pad, mode="edge"))
            root.append(np.pad(sequence.pose_3d[:, ROOT_JOINT], pad[:2], mode="edge"))
            centres = np.arange(0, sequence.num_frames, self.stride)
            window_sequence.append(np.full(len(centres), sequence_index))
            window_centre.append(centres)
            # Padded row of the window's first frame: centre - pad_before + pad_before.
            window_start.append(padded_start + centres)
            padded_start += sequence.num_frames + self.frames - 1
        self._keypoints_2d = torch.from_numpy(np.concatenate(keypoints_2d).astype(np.float32))
        self._pose_3d = torch.from_numpy(np.concatenate(pose_3d).astype(np.float32))
        self._num_rows = len(self._keypoints_2d)
        if self.flip:
            # Rows [N, 2N) hold the mirrored copies, so a flipped window is the same gather.
            self._keypoints_2d = torch.cat([self._keypoints_2d, flip_pose(self._keypoints_2d)])
            self._pose_3d = torch.cat([self._pose_3d, flip_pose(self._pose_3d)])
        if self.virtual_camera:
            self._cameras = SequenceCameras.of(self.sequences)
            self._root = torch.from_numpy(np.concatenate(root).astype(np.float32))
            if self.flip:
                self._root = torch.cat([self._root, self._root * MIRROR_X])
        self._sequence_labelled = torch.tensor([sequence.labelled for sequence in self.sequences])
        self._window_sequence = torch.from_numpy(np.concatenate(window_sequence)).long()
        self._window_centre = torch.from_numpy(np.concatenate(window_centre)).long()
        self._window_start = torch.from_numpy(np.concatenate(window_start)).long()
        self._frame_steps = torch.arange(self.frames)
        self._frame_offsets = (self._frame_steps - self.pad_before).float()
        # Noise sigma in normalised units per sequence: pixels * 2 / image width.
        pixel_to_normalised = [2.0 / sequence.res_w for sequence in self.sequences]
        self._pixel_to_normalised = torch.tensor(pixel_to_normalised, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self._window_start)

    @property
    def window_sequence_index(self) -> torch.Tensor:
        """(W,) int64: the sequence of every window, without gathering any frames."""
        return self._window_sequence

    def subject_weights(self, weighting: str) -> torch.Tensor | None:
        """(W,) sampling weight of every window so that each subject gets its share under
        `weighting` ("frames": None, every window alike; "sqrt"; "equal")."""
        if weighting == "frames":
            return None
        subjects = [sequence.subject for sequence in self.sequences]
        names = sorted(set(subjects))
        subject_of_sequence = torch.tensor([names.index(subject) for subject in subjects])
        window_subject = subject_of_sequence[self._window_sequence]
        counts = torch.bincount(window_subject, minlength=len(names)).double()
        share = counts.sqrt() if weighting == "sqrt" else torch.ones_like(counts)
        return (share / share.sum() / counts)[window_subject]

    @property
    def window_centre_frame(self) -> torch.Tensor:
        """(W,) int64: the centre frame of every window, without gathering any frames."""
        return self._window_centre

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of this epoch (call before iterating)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int | Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        single = isinstance(index, int | np.integer) or (
            isinstance(index, torch.Tensor) and index.ndim == 0
        )
        window_index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        batch_size = len(window_index)
        rows = self._window_start[window_index, None] + self._frame_steps  # (B, T)
        sequence_index = self._window_sequence[window_index]
        augment = (
            self.flip
            or self.noise_px > 0
            or self.virtual_camera is not None
            or self.detector_noise is not None
        )
        generator = self._augmentation_generator(window_index) if augment else None
        flipped = torch.zeros(batch_size, dtype=torch.bool)
        if self.flip:
            flipped = torch.rand(batch_size, generator=generator) < 0.5
            rows = rows + flipped[:, None].long() * self._num_rows
        rows = rows.reshape(-1)
        keypoints_2d = self._keypoints_2d.index_select(0, rows).view(batch_size, self.frames, -1, 2)
        pose_3d = self._pose_3d.index_select(0, rows).view(batch_size, self.frames, -1, 3)
        if self.virtual_camera:
            root = self._root.index_select(0, rows).view(batch_size, self.frames, 3)
            keypoints_2d, pose_3d = self._rerender(
                pose_3d, root, sequence_index, flipped, generator
            )
        exact = {}
        if self.detector_noise is not None:
            exact["keypoints_2d_exact"] = keypoints_2d
            keypoints_2d = self.detector_noise.corrupt(keypoints_2d, generator)
        if self.noise_px > 0:
            sigma = self.noise_px * self._pixel_to_normalised[sequence_index]
            noise = torch.empty_like(keypoints_2d).normal_(generator=generator)
            keypoints_2d.addcmul_(noise, sigma[:, None, None, None])
        batch = {
            "keypoints_2d": keypoints_2d,
            "pose_3d": pose_3d,
            "frame_offsets": self._frame_offsets.expand(batch_size, -1).clone(),
            "sequence_index": sequence_index,
            "centre_frame": self._window_centre[window_index],
            "labelled": self._sequence_labelled[sequence_index],
            "window_index": window_index,
            "flipped": flipped,
            **exact,
        }
        if single:
            return {key: value[0] for key, value in batch.items()}
        return batch

    def _rerender(self, pose_3d, root, sequence_index, flipped, generator):
        """The windows seen by their random virtual cameras: (keypoints_2d, pose_3d)."""
        cameras = self._cameras.gather(sequence_index)
        # A mirrored window is the mirrored scene: its up direction is mirrored too.
        cameras.up = torch.where(flipped[:, None], cameras.up * MIRROR_X, cameras.up)
        view = ViewChange.draw(self.virtual_camera, len(sequence_index), generator)
        return render(pose_3d, root, self.pad_before, cameras, view)

    def _augmentation_generator(self, window_index: torch.Tensor) -> torch.Generator:
        first = int(window_index[0]) if len(window_index) else 0
        entropy = [self.seed, self.epoch, first, len(window_index)]
        state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
        return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class WindowBatchSampler(Sampler[torch.Tensor]):
    """Yields whole batches of window indices (1-D int64 tensors).

    Shuffling is seeded by (seed, epoch); with `window_weights` an epoch is as many
    windows drawn with replacement in proportion to their weights. With `world_size > 1`
    each rank takes every `world_size`-th index of the shuffled order (padded by repeating
    indices, as DistributedSampler does, unless `drop_last`). Call `set_epoch` before each
    epoch.
    """

    def __init__(
        self,
        num_windows: int,
        batch_size: int,
        shuffle: bool,
        seed: int,
        drop_last: bool,
        rank: int = 0,
        world_size: int = 1,
        window_weights: torch.Tensor | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.num_windows = num_windows
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.window_weights = window_weights
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rank_indices(self) -> torch.Tensor:
        if self.shuffle:
            state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(2)
            generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
            if self.window_weights is None:
                order = torch.randperm(self.num_windows, generator=generator)
            else:
                order = torch.multinomial(
                    self.window_weights, self.num_windows, replacement=True, generator=generator
                )
        else:
            order = torch.arange(self.num_windows)
        if self.world_size > 1:
            if self.drop_last:
                order = order[: self.num_windows // self.world_size * self.world_size]
            else:
                missing = -self.num_windows % self.world_size
                order = torch.cat([order, order[:missing]])
            order = order[self.rank :: self.world_size]
        return order

    def _num_rank_indices(self) -> int:
        if self.world_size == 1:
            return self.num_windows
        if self.drop_last:
            return self.num_windows // self.world_size
        return -(-self.num_windows // self.world_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for batch in self._rank_indices().split(self.batch_size):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def __len__(self) -> int:
        count = self._num_rank_indices()
        if self.drop_last:
            return count // self.batch_size
        return -(-count // self.batch_size)


class WindowLoader(DataLoader):
    """A DataLoader over `PoseWindows` batches; `set_epoch` reseeds shuffling and augmentation."""

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self.dataset.set_epoch(epoch)


def make_loader(
    windows: PoseWindows,
    batch_size: int,
    shuffle: bool,
    seed: int,
    drop_last: bool,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    window_weights: torch.Tensor | None = None,
) -> WindowLoader:
    """Loader yielding `PoseWindows` batch dicts; call `loader.set_epoch(epoch)` each epoch.

    The sampler yields index batches and the windows gather each batch at once
    (`batch_size=None` disables per-sample collation).
    """
    sampler = WindowBatchSampler(
        len(windows),
        batch_size,
        shuffle,
        seed,
        drop_last,
        rank=rank,
        world_size=world_size,
        window_weights=window_weights,
    )
    return WindowLoader(
        windows,
        batch_size=None,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=False,
    )
