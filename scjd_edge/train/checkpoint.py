"""The one checkpoint format (docs/ARCHITECTURE.md "Checkpoints").

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, saved atomically
with `torch.save` and read back with `torch.load(weights_only=True)`, so loading one never
runs code from the file. It carries the validated recipe, so the model can be rebuilt from
the file alone, and the deployment contract that export, infer and bench obey.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scjd_edge import __version__
from scjd_edge.config import Recipe, validate_recipe
from scjd_edge.contract import Deployment
from scjd_edge.errors import CheckpointError, ConfigError
from scjd_edge.io import atomic_path

FORMAT = "scjd-edge-checkpoint"
FORMAT_VERSION = 1
KINDS = ("teacher", "student", "baseline")
REQUIRED_KEYS = (
    "format", "format_version", "package_version", "kind", "recipe", "model_state",
    "optimizer_state", "scheduler_state", "ema_state", "rng_state", "epoch", "step",
    "metrics", "data", "deployment",
)  # fmt: skip


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write `payload` (every key of REQUIRED_KEYS but the three format keys) atomically.

    `payload["deployment"]` is a `Deployment`; it is stored as plain data.
    """
    checkpoint = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        **payload,
    }
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    if not isinstance(checkpoint["deployment"], Deployment):
        raise ValueError("checkpoint payload: 'deployment' must be a Deployment")
    checkpoint["deployment"] = checkpoint["deployment"].to_dict()
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return Path(path)


def save_untrained_checkpoint(
    path: str | Path,
    recipe: Recipe,
    kind: str,
    deployment: Deployment,
    data: dict[str, Any],
) -> Path:
    """A checkpoint of the recipe's model at its initial weights (seeded by the caller):
    for timing runs and tests of checks that need no training."""
    from scjd_edge.models.registry import create_model

    return save_checkpoint(
        path,
        {
            "kind": kind,
            "recipe": recipe.model_dump(mode="json"),
            "model_state": create_model(recipe.model).state_dict(),
            "optimizer_state": {},
            "scheduler_state": {},
            "ema_state": None,
            "rng_state": {},
            "epoch": 0,
            "step": 0,
            "metrics": {},
            "data": data,
            "deployment": deployment,
        },
    )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint; every problem is a CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: not a scjd-edge checkpoint (it holds objects other than tensors and "
            f"plain data, which weights_only loading refuses: {_first_line(error)})"
        ) from None
    except Exception as error:  # torch.load raises many kinds on a damaged file
        raise CheckpointError(
            f"{path}: not a readable torch file (corrupt or truncated?): {_first_line(error)}"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint)
        raise CheckpointError(
            f"{path}: not a scjd-edge checkpoint (expected format {FORMAT!r}, found {found!r}); "
            "train one with `scjd-edge train-teacher` or `scjd-edge distill`"
        )
    if checkpoint.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format_version {checkpoint.get('format_version')!r} written by "
            f"scjd-edge {checkpoint.get('package_version')!r}; this is scjd-edge {__version__}, "
            f"which reads format_version {FORMAT_VERSION}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks the keys {missing}")
    if checkpoint["kind"] not in KINDS:
        raise CheckpointError(f"{path}: 'kind' is {checkpoint['kind']!r}, expected one of {KINDS}")
    try:
        checkpoint["deployment"] = Deployment.from_dict(checkpoint["deployment"])
    except ConfigError as error:
        raise CheckpointError(f"{path}: 'deployment': {error}") from None
    recipe_of(checkpoint, source=str(path))
    checkpoint["path"] = str(path)
    return checkpoint


def recipe_of(checkpoint: dict[str, Any], source: str = "<checkpoint>") -> Recipe:
    """The checkpoint's recipe, validated against this package's schema."""
    try:
        return validate_recipe(checkpoint["recipe"], source=f"{source} (recipe)")
    except ConfigError as error:
        raise CheckpointError(f"{error} (the checkpoint does not fit this scjd-edge)") from None


def build_model_from_checkpoint(
    checkpoint_or_path: dict[str, Any] | str | Path,
    use_ema: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model from the checkpoint's recipe and load its (EMA) weights, in eval mode."""
    from scjd_edge.models.registry import create_model

    if isinstance(checkpoint_or_path, dict):
        checkpoint = checkpoint_or_path
    else:
        checkpoint = load_checkpoint(checkpoint_or_path)
    source = checkpoint.get("path", "<checkpoint>")
    recipe = recipe_of(checkpoint, source=source)
    model = create_model(recipe.model)
    use_ema = use_ema and checkpoint.get("ema_state") is not None
    state = checkpoint["ema_state"] if use_ema else checkpoint["model_state"]
    non_finite = [
        name
        for name, value in state.items()
        if torch.is_tensor(value) and value.is_floating_point() and not value.isfinite().all()
    ]
    if non_finite:
        raise CheckpointError(
            f"{source}: weight {non_finite[0]!r} ({len(non_finite)} tensors in all) holds NaN "
            "or Inf: the training diverged; use an earlier checkpoint or retrain"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(
            f"{source}: the weights do not fit model {recipe.model.name!r} built from the "
            f"checkpoint's recipe (model: {recipe.model.model_dump()}): {_first_line(error)}"
        ) from None
    return model.to(device).eval(), checkpoint


def capture_rng_state() -> dict[str, Any]:
    """The python, numpy and torch RNG states as tensors and lists (weights_only loadable)."""
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    state = {
        "python": _to_lists(random.getstate()),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(value: Any) -> Any:
    return [_to_lists(item) for item in value] if isinstance(value, tuple | list) else value


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
