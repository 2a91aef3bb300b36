"""The VideoPose3D-style TCN: strided form equals the dilated network, sizes, training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scjd_edge.config import ModelConfig, validate_recipe
from scjd_edge.contract import Deployment
from scjd_edge.errors import ConfigError
from scjd_edge.models import create_model
from scjd_edge.models.tcn import KERNEL
from scjd_edge.train.checkpoint import load_checkpoint
from scjd_edge.train.tasks import train_teacher


def _dilated_reference(model, keypoints_2d: torch.Tensor) -> torch.Tensor:
    """The same weights run as VideoPose3D's dilated network over the whole window (eval
    mode), keeping only its single output frame."""

    def conv_bn_relu(layer, features, dilation):
        # (C_out, kernel * C_in) frame-major -> a convolution's (C_out, C_in, kernel)
        weight = layer.linear.weight.unflatten(1, (layer.kernel, -1)).transpose(1, 2)
        return F.relu(layer.norm(F.conv1d(features, weight, dilation=dilation)))

    batch, frames = keypoints_2d.shape[:2]
    features = conv_bn_relu(
        model.expand, keypoints_2d.reshape(batch, frames, 34).transpose(1, 2), 1
    )
    for level, block in enumerate(model.blocks, start=1):
        dilation = KERNEL**level
        crop = dilation * (KERNEL - 1) // 2
        inner = conv_bn_relu(block.layers[0], features, dilation)
        features = features[:, :, crop:-crop] + conv_bn_relu(block.layers[1], inner, 1)
    pose_3d = model.head(features.transpose(1, 2)).reshape(batch, 1, 17, 3)
    return pose_3d - pose_3d[:, :, :1]


@pytest.mark.parametrize("depth", [2, 3])
def test_strided_form_equals_the_dilated_network(depth):
    torch.manual_seed(depth)
    model = create_model(ModelConfig(name="tcn", frames=3**depth, dim=32, depth=depth))
    for module in model.modules():  # non-trivial normalisation statistics
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model.eval()
    keypoints_2d = torch.randn(4, 3**depth, 17, 2)
    with torch.no_grad():
        strided = model(keypoints_2d, torch.zeros(4, 3**depth))
        dilated = _dilated_reference(model, keypoints_2d)
    assert strided.shape == (4, 1, 17, 3)
    torch.testing.assert_close(strided, dilated, atol=1e-5, rtol=1e-5)


def test_the_window_must_be_three_to_the_depth():
    with pytest.raises(
        ConfigError, match=r"model.frames=81: a TCN of model.depth=3 sees exactly 27"
    ):
        create_model(ModelConfig(name="tcn", frames=81, depth=3))
    model = create_model(ModelConfig(name="tcn", frames=9, depth=2, dim=16)).eval()
    with pytest.raises(ValueError, match="windows of 9 frames, got 27"):
        model(torch.zeros(1, 27, 17, 2), torch.zeros(1, 27))


def test_trains_as_a_centre_frame_baseline(tmp_path):
    recipe = validate_recipe(
        {
            "name": "tcn-tiny",
            "data": {"path": "builtin:synthetic", "train_stride": 40},
            "model": {"name": "tcn", "frames": 9, "dim": 16, "depth": 2},
            "train": {"epochs": 1, "max_steps": 3, "batch_size": 16, "val_max_windows": 32},
        }
    )
    summary = train_teacher(recipe, tmp_path, device="cpu")
    checkpoint = load_checkpoint(summary["best_checkpoint"])
    assert checkpoint["kind"] == "baseline"
    assert checkpoint["deployment"] == Deployment.teacher(9, output="centre")
    assert checkpoint["step"] == 3
