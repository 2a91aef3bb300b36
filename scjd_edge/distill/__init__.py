"""SCJD distillation: sparse frame sampling, the distillation losses and the distill task."""
