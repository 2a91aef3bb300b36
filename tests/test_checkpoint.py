"""The one checkpoint format: round trip, weights_only loading, and every named error."""

import random

import numpy as np
import pytest
import torch

from scjd_edge.config import validate_recipe
from scjd_edge.contract import Deployment
from scjd_edge.errors import CheckpointError
from scjd_edge.models.registry import create_model
from scjd_edge.train.checkpoint import (
    FORMAT_VERSION,
    build_model_from_checkpoint,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)

TINY_MODEL = {"name": "ste", "frames": 9, "dim": 16, "depth": 1, "heads": 2}


def _payload(model_config=TINY_MODEL, ema=True):
    recipe = validate_recipe({"model": model_config})
    torch.manual_seed(0)
    model = create_model(recipe.model)
    ema_model = create_model(recipe.model)
    return (
        {
            "kind": "teacher",
            "recipe": recipe.model_dump(mode="json"),
            "model_state": model.state_dict(),
            "optimizer_state": {},
            "scheduler_state": {},
            "ema_state": ema_model.state_dict() if ema else None,
            "rng_state": capture_rng_state(),
            "epoch": 1,
            "step": 10,
            "metrics": {"val_mpjpe_mm": 50.0},
            "data": {"name": "synthetic", "source": "builtin:synthetic", "synthetic": True},
            "deployment": Deployment.teacher(recipe.model.frames),
        },
        model,
        ema_model,
    )


def test_round_trip_rebuilds_the_model_with_ema_or_live_weights(tmp_path):
    payload, model, ema_model = _payload()
    path = save_checkpoint(tmp_path / "run" / "best.pt", payload)
    checkpoint = load_checkpoint(path)
    assert checkpoint["format_version"] == FORMAT_VERSION
    assert checkpoint["metrics"] == {"val_mpjpe_mm": 50.0}
    keypoints_2d = torch.randn(2, 9, 17, 2)
    frame_offsets = torch.arange(-4, 5).float().expand(2, -1)
    for use_ema, reference in ((True, ema_model), (False, model)):
        rebuilt, _ = build_model_from_checkpoint(path, use_ema=use_ema)
        assert not rebuilt.training
        with torch.no_grad():
            expected = reference.eval()(keypoints_2d, frame_offsets)
            assert torch.equal(rebuilt(keypoints_2d, frame_offsets), expected)
    assert [p.name for p in tmp_path.joinpath("run").iterdir()] == ["best.pt"]  # no temp left


def test_rng_states_survive_weights_only_loading(tmp_path):
    payload, _, _ = _payload()
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    payload["rng_state"] = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(load_checkpoint(save_checkpoint(tmp_path / "a.pt", payload))["rng_state"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_file(tmp_path):
    payload, _, _ = _payload()
    path = save_checkpoint(tmp_path / "full.pt", payload)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pt: not a readable torch file"):
        load_checkpoint(truncated)


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable torch file"):
        load_checkpoint(path)


def test_foreign_torch_file(tmp_path):
    path = tmp_path / "state_dict.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a scjd-edge checkpoint"):
        load_checkpoint(path)


class _Pickled:
    pass


def test_file_with_arbitrary_objects_is_refused_without_running_them(tmp_path):
    path = tmp_path / "pickle.pt"
    torch.save({"format": "scjd-edge-checkpoint", "thing": _Pickled()}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path)


def test_other_format_version(tmp_path):
    payload, _, _ = _payload()
    path = save_checkpoint(tmp_path / "old.pt", payload)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["format_version"] = FORMAT_VERSION + 1
    checkpoint["package_version"] = "9.9.9"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=r"format_version 2 written by scjd-edge '9\.9\.9'"):
        load_checkpoint(path)


def test_recipe_this_package_does_not_know(tmp_path):
    payload, _, _ = _payload()
    payload["recipe"]["model"]["name"] = "resnet"
    with pytest.raises(CheckpointError, match=r"model\.name"):
        load_checkpoint(save_checkpoint(tmp_path / "odd.pt", payload))


def test_weights_that_do_not_fit_the_recipe_model(tmp_path):
    payload, _, _ = _payload()
    payload["recipe"]["model"]["dim"] = 32  # the saved weights are 16 wide
    path = save_checkpoint(tmp_path / "mismatch.pt", payload)
    with pytest.raises(CheckpointError, match="do not fit model 'ste'"):
        build_model_from_checkpoint(path)


def test_payload_missing_keys_is_a_programming_error(tmp_path):
    payload, _, _ = _payload()
    del payload["deployment"]
    with pytest.raises(ValueError, match="deployment"):
        save_checkpoint(tmp_path / "x.pt", payload)
