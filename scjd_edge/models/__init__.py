"""Models: shared layers, the registry, and the registered families.

Importing the package registers every model, so `create_model` knows them all.
"""

from scjd_edge.models import poseformerv2, ste, tcn
from scjd_edge.models.layers import ModelFeatures
from scjd_edge.models.registry import (
    available_models,
    count_parameters,
    create_model,
    register_model,
)

__all__ = [
    "ModelFeatures",
    "available_models",
    "count_parameters",
    "create_model",
    "poseformerv2",
    "register_model",
    "ste",
    "tcn",
]
