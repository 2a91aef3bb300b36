"""The H36M-17 skeleton helpers: flip, bones, adjacency, COCO conversion."""

from __future__ import annotations

import numpy as np
import torch

from scjd_edge.data.skeleton import (
    BONES,
    LEFT_JOINTS,
    NUM_JOINTS,
    PARENTS,
    RIGHT_JOINTS,
    adjacency_matrix,
    bone_lengths,
    coco_to_h36m,
    flip_pose,
)


def _asymmetric_pose(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(4, NUM_JOINTS, 3))


def test_flip_twice_is_identity_for_numpy_and_torch():
    pose = _asymmetric_pose(np.random.default_rng(0))
    np.testing.assert_allclose(flip_pose(flip_pose(pose)), pose)
    tensor = torch.from_numpy(pose[..., :2]).float()
    assert torch.equal(flip_pose(flip_pose(tensor)), tensor)
    assert not np.allclose(flip_pose(pose), pose)


def test_flip_negates_x_and_swaps_left_right_bone_lengths():
    pose = _asymmetric_pose(np.random.default_rng(1))
    flipped = flip_pose(pose)
    np.testing.assert_allclose(flipped[..., LEFT_JOINTS, 0], -pose[..., RIGHT_JOINTS, 0])
    np.testing.assert_allclose(flipped[..., RIGHT_JOINTS, 1:], pose[..., LEFT_JOINTS, 1:])
    lengths, flipped_lengths = bone_lengths(pose), bone_lengths(flipped)
    children = [child for _, child in BONES]
    for left, right in zip(LEFT_JOINTS, RIGHT_JOINTS, strict=True):
        left_bone, right_bone = children.index(left), children.index(right)
        np.testing.assert_allclose(flipped_lengths[..., left_bone], lengths[..., right_bone])
        np.testing.assert_allclose(flipped_lengths[..., right_bone], lengths[..., left_bone])
    centre_bones = [children.index(j) for j in (7, 8, 9, 10)]
    np.testing.assert_allclose(flipped_lengths[..., centre_bones], lengths[..., centre_bones])


def test_flip_does_not_modify_its_input():
    pose = _asymmetric_pose(np.random.default_rng(2))
    before = pose.copy()
    flip_pose(pose)
    np.testing.assert_array_equal(pose, before)


def test_bone_lengths_numpy_and_torch_agree():
    pose = _asymmetric_pose(np.random.default_rng(3))
    expected = np.linalg.norm(pose[:, 2] - pose[:, 1], axis=-1)  # RHip -> RKnee
    lengths = bone_lengths(pose)
    assert lengths.shape == (4, 16)
    np.testing.assert_allclose(lengths[:, BONES.index((1, 2))], expected)
    np.testing.assert_allclose(bone_lengths(torch.from_numpy(pose)).numpy(), lengths)


def test_adjacency_hops():
    one_hop = adjacency_matrix(1)
    assert (one_hop == one_hop.T).all() and one_hop.diagonal().all()
    assert one_hop.sum() == NUM_JOINTS + 2 * len(BONES)
    assert one_hop[0, 1] and not one_hop[0, 2]
    assert adjacency_matrix(2)[0, 2] and not adjacency_matrix(2)[0, 3]
    assert not adjacency_matrix(1, self_loops=False).diagonal().any()
    assert all(PARENTS[child] == parent for parent, child in BONES)


def test_coco_to_h36m_direct_and_derived_joints():
    rng = np.random.default_rng(4)
    coco = rng.uniform(0, 100, (2, 17, 3))
    h36m = coco_to_h36m(coco)
    np.testing.assert_allclose(h36m[:, 1, :2], coco[:, 12, :2])  # RHip = right_hip
    np.testing.assert_allclose(h36m[:, 13, :2], coco[:, 9, :2])  # LWrist = left_wrist
    np.testing.assert_allclose(h36m[:, 0, :2], (coco[:, 11, :2] + coco[:, 12, :2]) / 2)
    np.testing.assert_allclose(h36m[:, 0, 2], np.minimum(coco[:, 11, 2], coco[:, 12, 2]))
