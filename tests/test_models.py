"""Models: shapes, features, attention maps, offsets, registry errors, ONNX export."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from scjd_edge.config import ModelConfig
from scjd_edge.errors import ConfigError
from scjd_edge.export.onnx_export import export_onnx
from scjd_edge.models import ModelFeatures, available_models, count_parameters, create_model
from scjd_edge.models.layers import Attention, sinusoidal_embedding
from scjd_edge.models.poseformerv2 import dct_matrix

FRAMES = 9
TINY = {
    "ste": ModelConfig(name="ste", frames=FRAMES, dim=16, depth=2, heads=2),
    "ste_pose_head": ModelConfig(name="ste", frames=FRAMES, dim=16, depth=1, heads=2, pose_head=32),
    "poseformerv2": ModelConfig(
        name="poseformerv2", frames=FRAMES, dim=8, depth=1, heads=2, central_frames=3
    ),
    "tcn": ModelConfig(name="tcn", frames=FRAMES, dim=16, depth=2),
}


def _inputs(batch: int, frames: int = FRAMES, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    keypoints_2d = torch.randn(batch, frames, 17, 2, generator=generator) * 0.3
    frame_offsets = (torch.arange(frames, dtype=torch.float32) - frames // 2).expand(batch, -1)
    return keypoints_2d, frame_offsets.contiguous()


@pytest.fixture(params=sorted(TINY))
def family(request) -> str:
    return request.param


@pytest.fixture
def model(family) -> nn.Module:
    torch.manual_seed(0)
    return create_model(TINY[family]).eval()


def test_registry_knows_every_family():
    assert available_models() == ["poseformerv2", "ste", "tcn"]


def test_forward_shape_and_root_relative_output(model):
    keypoints_2d, frame_offsets = _inputs(batch=3)
    with torch.no_grad():
        pose_3d = model(keypoints_2d, frame_offsets)
    frames_out = FRAMES if model.predicts_all_frames else 1
    assert pose_3d.shape == (3, frames_out, 17, 3)
    assert torch.count_nonzero(pose_3d[:, :, 0]) == 0
    assert pose_3d[:, :, 1:].abs().sum() > 0


def test_return_features_shapes_and_same_pose(model, family):
    config = TINY[family]
    keypoints_2d, frame_offsets = _inputs(batch=2)
    with torch.no_grad():
        pose_plain = model(keypoints_2d, frame_offsets)
        pose_with, features = model(keypoints_2d, frame_offsets, return_features=True)
    torch.testing.assert_close(pose_with, pose_plain, atol=1e-5, rtol=1e-5)
    assert isinstance(features, ModelFeatures)
    if family == "tcn":  # no joint tokens: nothing for the feature distillation terms
        assert features == ModelFeatures()
        return
    frames = FRAMES if model.predicts_all_frames else config.central_frames
    assert len(features.joint_embeddings) == len(features.spatial_attention) == config.depth
    for embedding in features.joint_embeddings:
        assert embedding.shape == (2, frames, 17, config.dim)
    for attention in features.spatial_attention:
        assert attention.shape == (2, frames, config.heads, 17, 17)
        assert bool((attention >= 0).all())
        torch.testing.assert_close(attention.sum(dim=-1), torch.ones(2, frames, config.heads, 17))


def test_attention_math_path_matches_sdpa_and_returns_softmax_rows():
    torch.manual_seed(0)
    attention = Attention(dim=12, heads=3).eval()
    tokens = torch.randn(4, 17, 12)
    with torch.no_grad():
        fused = attention(tokens)
        explicit, weights = attention(tokens, return_attention=True)
    torch.testing.assert_close(explicit, fused, atol=1e-6, rtol=1e-5)
    assert weights.shape == (4, 3, 17, 17)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(4, 3, 17))


def test_every_parameter_gets_a_gradient(model):
    model.train()
    keypoints_2d, frame_offsets = _inputs(batch=2)
    model(keypoints_2d, frame_offsets).pow(2).mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_ste_temporal_encoding_depends_on_the_real_offsets():
    torch.manual_seed(0)
    model = create_model(TINY["ste"]).eval()
    keypoints_2d, contiguous = _inputs(batch=1)
    sparse = contiguous * 4  # the same 2D frames, said to be 4 frames apart
    with torch.no_grad():
        pose_contiguous = model(keypoints_2d, contiguous)
        pose_sparse = model(keypoints_2d, sparse)
        pose_again = model(keypoints_2d, contiguous.clone())
    assert (pose_sparse - pose_contiguous).abs().max() > 1e-4
    torch.testing.assert_close(pose_again, pose_contiguous)


def test_ste_runs_on_any_number_of_frames():
    model = create_model(TINY["ste"]).eval()
    keypoints_2d, frame_offsets = _inputs(batch=2, frames=5)
    with torch.no_grad():
        assert model(keypoints_2d, frame_offsets * 20).shape == (2, 5, 17, 3)


def test_poseformerv2_ignores_offsets_and_needs_its_window():
    model = create_model(TINY["poseformerv2"]).eval()
    keypoints_2d, frame_offsets = _inputs(batch=2)
    with torch.no_grad():
        torch.testing.assert_close(
            model(keypoints_2d, frame_offsets), model(keypoints_2d, frame_offsets * 3)
        )
    with pytest.raises(ValueError, match="9-frame window"):
        model(*_inputs(batch=2, frames=7))


def test_dct_matrix_is_orthonormal_and_row_zero_is_the_mean():
    basis = dct_matrix(9)
    torch.testing.assert_close(basis @ basis.T, torch.eye(9), atol=1e-6, rtol=0)
    signal = torch.arange(9, dtype=torch.float32)
    assert (basis @ signal)[0].item() == pytest.approx(signal.mean().item() * 3.0)  # sqrt(9)


def test_sinusoidal_embedding_of_real_offsets():
    offsets = torch.tensor([[0.0, 0.5, -3.0]])
    embedding = sinusoidal_embedding(offsets, dim=7)
    assert embedding.shape == (1, 3, 7)
    torch.testing.assert_close(embedding[0, 0, :3], torch.zeros(3))  # sin(0)
    torch.testing.assert_close(embedding[0, 0, 3:6], torch.ones(3))  # cos(0)
    assert embedding[..., 6].abs().max() == 0  # odd width: zero pad
    assert embedding[0, 1, 0].item() == pytest.approx(np.sin(0.5))  # first channel: 1 rad/frame


def test_create_model_rejects_bad_configs_with_config_errors():
    with pytest.raises(ConfigError, match=r"known: poseformerv2, ste"):
        create_model(ModelConfig.model_construct(**{**TINY["ste"].model_dump(), "name": "gpt"}))
    with pytest.raises(ConfigError, match=r"model.dim=18 must be divisible by model.heads=4"):
        create_model(ModelConfig(name="ste", dim=18, heads=4))
    with pytest.raises(ConfigError, match=r"model.central_frames=11 exceeds model.frames=9"):
        create_model(ModelConfig(name="poseformerv2", frames=9, dim=8, heads=2, central_frames=11))
    with pytest.raises(ConfigError, match="odd"):
        create_model(ModelConfig(name="poseformerv2", frames=9, dim=8, heads=2, central_frames=4))


def test_count_parameters_counts_every_learned_value():
    model = create_model(TINY["ste"])
    dim = TINY["ste"].dim
    joint_embed = 2 * dim + dim
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    assert count_parameters(model.joint_embed) == joint_embed
    assert count_parameters(nn.Linear(3, 4)) == 16


def test_onnx_export_matches_torch_at_two_batch_sizes(model, tmp_path):
    path = tmp_path / "model.onnx"
    export_onnx(model, _inputs(batch=2), path, metadata={}, simplify=False)
    assert not model.training  # the exporter leaves the model in eval mode
    onnx.checker.check_model(onnx.load(str(path)))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    graph_inputs = [graph_input.name for graph_input in session.get_inputs()]
    # PoseFormerV2 and the TCN never read frame_offsets, so the exporter drops that input.
    expected_inputs = ["keypoints_2d", "frame_offsets"][: 2 if model.predicts_all_frames else 1]
    assert graph_inputs == expected_inputs
    assert [output.name for output in session.get_outputs()] == ["pose_3d"]
    for batch in (1, 5):
        keypoints_2d, frame_offsets = _inputs(batch, seed=batch)
        feeds = {"keypoints_2d": keypoints_2d.numpy(), "frame_offsets": frame_offsets.numpy()}
        (onnx_pose,) = session.run(None, {name: feeds[name] for name in graph_inputs})
        with torch.no_grad():
            torch_pose = model(keypoints_2d, frame_offsets).numpy()
        assert onnx_pose.shape == torch_pose.shape
        np.testing.assert_allclose(onnx_pose, torch_pose, atol=1e-4, rtol=0)
