"""Training: the one engine, the checkpoint format, the teacher task and evaluation."""
