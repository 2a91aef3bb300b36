"""Bring detected 2D skeletons to the position and size the lifting model was trained on.

The models here read absolute normalised screen coordinates (x / w * 2 - [1, h / w]). In
the training data a person fills a typical part of a 1000 px camera image; a 95 px walker
in a 768 px video is 3x smaller than anything the model saw, and the model then answers
with a skeleton of the wrong size (0.6 m tall). `rescale_to_training_size` removes that
difference, frame by frame: it moves the root (Hip, joint 0) to the training data's median
root position and scales the skeleton about the root so that its RMS joint distance from
the root equals the training median. The lifted pose is root-relative, so nothing is lost
that the output keeps; what the model no longer sees is where in the image the person is
and how large they appear, which it cannot interpret for another camera anyway.

The constants come from CMU v2's training subjects (`CMU_SPLIT["train"]`; every frame of
every camera): `training_2d_statistics` derives them and a test checks they still match.
A model whose deployment contract already normalises its input (root-centred and scaled)
would not need this step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scjd_edge.data.builtin import CMU_SPLIT
from scjd_edge.data.skeleton import ROOT_JOINT

# Median over the CMU training frames, normalised screen coordinates (see module docstring).
TRAINING_ROOT_POSITION = (0.0387, -0.1676)
TRAINING_RMS_SIZE = 0.1968
TRAINING_SUBJECTS = tuple(CMU_SPLIT["train"])


def skeleton_rms_size(keypoints_2d: np.ndarray) -> np.ndarray:
    """(..., 17, 2) -> (...): root-mean-square distance of the joints from the root joint."""
    centred = keypoints_2d - keypoints_2d[..., ROOT_JOINT : ROOT_JOINT + 1, :]
    return np.sqrt((centred**2).sum(axis=-1).mean(axis=-1))


def rescale_to_training_size(keypoints_2d: np.ndarray) -> np.ndarray:
    """(..., 17, 2) normalised screen coordinates -> the same skeletons with the root at
    TRAINING_ROOT_POSITION and RMS size TRAINING_RMS_SIZE (each frame on its own)."""
    keypoints_2d = np.asarray(keypoints_2d, dtype=np.float32)
    root = keypoints_2d[..., ROOT_JOINT : ROOT_JOINT + 1, :]
    size = skeleton_rms_size(keypoints_2d)[..., None, None]
    scale = TRAINING_RMS_SIZE / np.maximum(size, 1e-6)
    return ((keypoints_2d - root) * scale + np.float32(TRAINING_ROOT_POSITION)).astype(np.float32)


def training_2d_statistics(
    data_dir: str | Path, subjects: tuple[str, ...] = TRAINING_SUBJECTS
) -> tuple[tuple[float, float], float]:
    """(median root position, median RMS size) of a data set's normalised 2D keypoints."""
    from scjd_edge.data.formats import load_dataset

    sequences = load_dataset(data_dir).select(list(subjects), "train")
    keypoints_2d = np.concatenate([sequence.keypoints_2d for sequence in sequences])
    root = np.median(keypoints_2d[:, ROOT_JOINT], axis=0)
    return (float(root[0]), float(root[1])), float(np.median(skeleton_rms_size(keypoints_2d)))
