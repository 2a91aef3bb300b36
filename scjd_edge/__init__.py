"""scjd-edge: SCJD distillation and edge deployment for temporal 3D human pose lifting."""

import os

# Idle OpenMP threads sleep instead of spinning. With the default (spinning) a torch thread
# that waits for a core another process holds slows every small op many-fold (observed:
# the test suite took 15 min instead of 1 on 2 busy cores). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
