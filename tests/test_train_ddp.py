"""DDP: two CPU processes under torchrun (gloo) train a few steps and end with equal weights."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

RANK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from scjd_edge.config import validate_recipe
    from scjd_edge.train.engine import fit, seed_everything
    from scjd_edge.train.tasks import TeacherTask

    out_dir = sys.argv[1]
    recipe = validate_recipe({
        "data": {"path": "builtin:synthetic", "train_stride": 40},
        "model": {"name": "ste", "frames": 9, "dim": 16, "depth": 1, "heads": 2},
        "train": {"epochs": 1, "max_steps": 6, "batch_size": 32, "warmup_steps": 2,
                  "log_every": 1, "val_max_windows": 64, "ema": 0.9},
    })
    rank = int(os.environ["RANK"])
    seed_everything(recipe.seed + rank)  # different initial weights: DDP must broadcast rank 0's
    task = TeacherTask(recipe)
    initial = sum(p.double().sum().item() for p in task.model.parameters())
    summary = fit(recipe, out_dir, task)
    weights = torch.cat([p.detach().flatten() for p in task.model.parameters()]).double()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"initial": initial, "sum": weights.sum().item(),
                   "abs_sum": weights.abs().sum().item(), "step": summary["step"],
                   "world_size": summary["world_size"]}, f)
    """
)


@pytest.mark.slow
def test_two_process_ddp_ranks_agree(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", str(script), str(out_dir)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    ranks = [json.loads((out_dir / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["initial"] != ranks[1]["initial"]
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
    assert ranks[0]["step"] == ranks[1]["step"] == 6
    assert ranks[0]["sum"] == ranks[1]["sum"] and ranks[0]["abs_sum"] == ranks[1]["abs_sum"]
    # Only rank 0 writes the run's files.
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "best.pt",
        "last.pt",
        "log.jsonl",
        "rank0.json",
        "rank1.json",
    ]
