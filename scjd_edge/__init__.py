"""scjd-edge: SCJD distillation and edge deployment for temporal 3D human pose lifting."""

__version__ = "0.1.0"
