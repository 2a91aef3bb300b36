"""The model registry: `@register_model(name)` on a class, `create_model(config)` to build it.

A registered class takes a `ModelConfig` and implements `forward(keypoints_2d (B, N, 17, 2),
frame_offsets (B, N), return_features=False)` and `predicts_all_frames` (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from scjd_edge.config import ModelConfig
from scjd_edge.errors import ConfigError

_MODELS: dict[str, Callable[[ModelConfig], nn.Module]] = {}


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make the model buildable as `ModelConfig(name=name, ...)`."""

    def register(model_class: type[nn.Module]) -> type[nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model name {name!r} is registered twice")
        _MODELS[name] = model_class
        return model_class

    return register


def available_models() -> list[str]:
    return sorted(_MODELS)


def create_model(model_config: ModelConfig) -> nn.Module:
    """Build the registered model named `model_config.name`, sized by the config."""
    if model_config.name not in _MODELS:
        raise ConfigError(
            f"model.name={model_config.name!r} is not a registered model "
            f"(known: {', '.join(available_models())})"
        )
    if model_config.dim % model_config.heads:
        raise ConfigError(
            f"model.dim={model_config.dim} must be divisible by model.heads={model_config.heads}"
        )
    return _MODELS[model_config.name](model_config)


def count_parameters(model: nn.Module) -> int:
    """Number of learned values in the model (all parameters; buffers excluded)."""
    return sum(parameter.numel() for parameter in model.parameters())
