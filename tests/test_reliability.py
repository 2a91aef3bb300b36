"""Bad inputs and faults through the CLI: exit 2 and one line, or a correct result.

Every refused command must exit with status 2, print exactly one `error:` line (its last
line) naming the file or field, print no traceback, and change no file. Exports are
killed (SIGKILL) at several points and the folder must then hold either the old complete
set or the new complete set. Models are tiny (2 training steps) to keep this fast.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from scjd_edge import io as scjd_io
from scjd_edge.cli import app
from scjd_edge.config import load_recipe
from scjd_edge.errors import ExportError, TrainingDiverged
from scjd_edge.export.exporter import MANIFEST_NAME, export_checkpoint
from scjd_edge.export.onnx_export import check_parity
from scjd_edge.export.runtime import load_predictor, torch_predictor
from scjd_edge.io import RUN_MARKER_NAME
from scjd_edge.train.checkpoint import build_model_from_checkpoint, load_checkpoint
from scjd_edge.train.engine import fit
from scjd_edge.train.tasks import TeacherTask, train_teacher

TINY = ["train.max_steps=2", "model.dim=16", "model.depth=1", "model.frames=9"]
TINY_VALIDATION = ["train.val_max_windows=32"]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A tiny teacher run (best.pt, last.pt) and an export of best.pt."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("reliability")
    train_teacher(load_recipe("teacher_synth", TINY + TINY_VALIDATION), root / "run")
    export_checkpoint(root / "run" / "best.pt", root / "export")
    return root


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` (hidden ones included), by relative path."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def refuse(args: list[str], *names: str, root: Path, new_files: set[str] = frozenset()) -> str:
    """Run the CLI; assert exit 2, one final error line naming `names`, nothing changed."""
    before = snapshot(root)
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]], result.output
    for name in names:
        assert str(name) in lines[-1], lines[-1]
    after = snapshot(root)
    assert {path: after[path] for path in after if path not in new_files} == before
    return lines[-1]


def poisoned_checkpoint(source: Path, out: Path, scale: float) -> Path:
    """A copy of `source` whose first weight matrix is multiplied by `scale` (NaN/huge)."""
    checkpoint = torch.load(source, weights_only=True)
    for key in ("model_state", "ema_state"):
        state = checkpoint[key]
        if state is not None:
            name = next(n for n, v in state.items() if v.is_floating_point() and v.ndim == 2)
            state[name] = state[name] * scale
    torch.save(checkpoint, out)
    return out


# --- silent wrong results -----------------------------------------------------------------


def test_diverged_training_stops_at_the_step_with_exit_2(tmp_path):
    run = tmp_path / "r" / "nan"
    line = refuse(
        ["train-teacher", "teacher_synth", "--out", run, *TINY[:3], "data.noise_px=1e30"],
        "training diverged at step 1",
        "no checkpoint saved",
        root=tmp_path,
        new_files={"r/nan/log.jsonl", f"r/nan/{RUN_MARKER_NAME}"},
    )
    assert "loss is nan" in line or "loss is inf" in line
    assert sorted(p.name for p in run.iterdir()) == [RUN_MARKER_NAME, "log.jsonl"]  # no NaN .pt
    refuse(["export", run / "last.pt", "--out", tmp_path / "e"], "last.pt", root=tmp_path)


class _NanLossFromStep(TeacherTask):
    """The teacher's real loss, made NaN from optimiser step `nan_step` on."""

    def __init__(self, recipe, nan_step):
        super().__init__(recipe)
        self.calls, self.nan_step = 0, nan_step

    def loss(self, batch):
        self.calls += 1
        total, terms = super().loss(batch)
        return (total * math.nan if self.calls >= self.nan_step else total), terms


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    recipe = load_recipe("teacher_synth", [*TINY, "train.max_steps=4", "train.checkpoint_every=1"])
    with pytest.raises(TrainingDiverged, match="diverged at step 3: loss is nan; kept .*last.pt"):
        fit(recipe, tmp_path, _NanLossFromStep(recipe, nan_step=3))
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2
    assert not (tmp_path / "best.pt").exists()


def test_nan_weights_are_refused_by_export_and_evaluate(work, tmp_path):
    nan = poisoned_checkpoint(work / "run" / "best.pt", tmp_path / "nan.pt", float("nan"))
    refuse(["export", nan, "--out", work / "export"], "nan.pt", "NaN or Inf", root=work)
    refuse(
        ["evaluate", nan, "--data", "builtin:synthetic", "--json", tmp_path / "e.json"],
        "nan.pt",
        "NaN or Inf",
        root=tmp_path,
    )


def test_finite_weights_with_infinite_outputs_fail_the_export(work, tmp_path):
    huge = poisoned_checkpoint(work / "run" / "best.pt", tmp_path / "huge.pt", 1e38)
    refuse(["export", huge, "--out", work / "export"], "huge.pt", "NaN or Inf", root=work)
    refuse(
        ["evaluate", huge, "--data", "builtin:synthetic", "--json", tmp_path / "e.json"],
        "huge.pt",
        "NaN or Inf",
        root=tmp_path,
    )


def test_parity_gate_fails_on_nan_outputs_instead_of_passing_as_zero(work):
    from scjd_edge.export.exporter import load_split_windows

    model, checkpoint = build_model_from_checkpoint(work / "run" / "best.pt")
    with torch.no_grad():
        next(p for p in model.parameters() if p.ndim == 2).fill_(float("nan"))
    nan_torch = torch_predictor(model, checkpoint["deployment"], "nan-torch")
    onnx_model = load_predictor(work / "export" / "best.onnx", backend="onnxruntime")
    from scjd_edge.data.formats import load_dataset

    window_frames = checkpoint["deployment"].window_frames
    dataset = load_dataset("builtin:synthetic")
    windows = load_split_windows(dataset, ["SYN5"], "val", window_frames, 8)
    with pytest.raises(ExportError, match="outputs NaN or Inf"):
        check_parity(nan_torch, onnx_model, *windows, tolerance_mm=0.1)
    with pytest.raises(ExportError, match="outputs NaN or Inf"):
        check_parity(onnx_model, nan_torch, *windows, tolerance_mm=0.1)


def test_training_into_an_existing_run_without_resume_is_refused(work):
    refuse(
        ["train-teacher", "teacher_synth", "--out", work / "run", *TINY],
        "last.pt",
        "--resume",
        root=work,
    )


def test_onnx_metadata_copied_from_another_graph_is_detected(work, tmp_path):
    proto = onnx.load(work / "export" / "best.onnx")
    weight = next(init for init in proto.graph.initializer if len(init.dims) == 2)
    values = onnx.numpy_helper.to_array(weight) * 2.0
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    forged = tmp_path / "forged.onnx"
    onnx.save(proto, forged)
    with pytest.raises(ExportError, match="written for another graph"):
        load_predictor(forged, backend="onnxruntime")
    refuse(
        ["bench", forged, "--data", "builtin:synthetic", "--out", tmp_path / "b", "--batch", "1"],
        "forged.onnx",
        "another graph",
        root=tmp_path,
    )


# --- one line instead of a traceback ------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.lr=[1", "train.lr=[1"),
        ("seed=-5", "'seed'"),
        ("data.noise_px=.inf", "'data.noise_px'"),
        ("train.batch_size=a", "'train.batch_size'"),
        ("train.lr.x=1", "'lr' is not a section"),
        ("model.nope=1", "unknown key 'model.nope'"),
    ],
)
def test_bad_overrides_name_the_key(override, named, tmp_path):
    out = tmp_path / "run"
    refuse(["train-teacher", "teacher_synth", "--out", out, override], named, root=tmp_path)
    assert not out.exists()


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)), b"train: {lr: [1\n", b"- a list\n"],
    ids=["binary", "yaml", "list"],
)
def test_bad_recipe_files_name_the_file(content, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(content)
    refuse(["train-teacher", recipe, "--out", tmp_path / "run"], "recipe.yaml", root=tmp_path)


def test_bench_refuses_bad_batches_idle_backends_and_all_failed_rows(work, tmp_path):
    onnx_path = work / "export" / "best.onnx"
    bench = ["bench", "--data", "builtin:synthetic", "--out", tmp_path / "b"]
    refuse([*bench, "--batch", "a", onnx_path], "--batch", "'a'", root=tmp_path)
    refuse(
        [*bench, "--backends", "onnxruntime,tensorrt", onnx_path],
        "--backends tensorrt",
        ".engine",
        root=tmp_path,
    )
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    refuse([*bench, "--batch", "1", broken], "all 1 rows failed", "broken.onnx", root=tmp_path)
    assert not (tmp_path / "b").exists()


def outputs_inside_a_file(work: Path, blocker: Path) -> dict[str, list]:
    """Each output-writing command with its output under `blocker` (a file or folder)."""
    best = work / "run" / "best.pt"
    keypoints = work / "keypoints.npz"
    return {
        "train-teacher": ["train-teacher", "teacher_synth", "--out", blocker / "run", *TINY],
        "export": ["export", best, "--out", blocker / "export"],
        "evaluate": ["evaluate", best, "--data", "builtin:synthetic", "--json", blocker / "e.json"],
        "infer": ["infer", best, "--keypoints", keypoints, "--out", blocker / "poses.json"],
        "synth": ["data", "synth", "--out", blocker / "synth"],
        "quickstart": ["quickstart", "--tiny", "--out", blocker / "quick"],
        "bench": ["bench", best, "--data", "builtin:synthetic", "--out", blocker / "bench"],
    }


@pytest.mark.parametrize(
    "command", ["train-teacher", "export", "evaluate", "infer", "synth", "quickstart", "bench"]
)
def test_output_inside_a_file_is_refused_before_work(work, tmp_path, command):
    blocker = tmp_path / "a_file"
    blocker.write_text("I am a file")
    args = outputs_inside_a_file(work, blocker)[command]
    refuse(args, "a_file", "is a file", root=tmp_path)


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may write in (chmod; for root, a read-only tmpfs mount)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    mounted = False
    if os.access(folder, os.W_OK):  # root ignores permissions
        mounted = _mount(folder, "ro,size=64k")
    yield folder
    if mounted:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)
    folder.chmod(0o755)


@pytest.mark.parametrize("command", ["train-teacher", "export", "evaluate", "synth"])
def test_read_only_output_folder_is_refused_before_work(work, read_only_dir, command):
    args = outputs_inside_a_file(work, read_only_dir)[command]
    refuse(args, "read_only", "cannot write", root=read_only_dir.parent)


def _mount(folder: Path, options: str) -> bool:
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip("cannot make a read-only or full folder here (not root, no mount)")
    return True


@pytest.fixture
def full_disk(tmp_path):
    """A 64 kB tmpfs (root only): big enough to start writing, too small to finish."""
    folder = tmp_path / "full"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full file system needs a tmpfs mount (root)")
    _mount(folder, "size=64k")
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], check=True)  # a failed writer's
    # traceback may still hold a file open


def test_disk_full_at_write_time_is_one_line(work, full_disk):
    refuse(["data", "synth", "--out", full_disk / "synth"], "space left", root=full_disk)
    (full_disk / "filler").write_bytes(bytes(32 * 1024))  # the ONNX file needs ~55 kB
    refuse(
        ["export", work / "run" / "best.pt", "--out", full_disk / "export"],
        "best.onnx",
        "space left",
        root=full_disk,
    )
    assert not (full_disk / "export").exists()
    assert not [p for p in full_disk.iterdir() if p.name.startswith(".")]  # no staging left
    line = refuse(
        ["train-teacher", "teacher_synth", "--out", full_disk / "run", *TINY],
        "run",
        "space left",
        root=full_disk,
        new_files={"run/log.jsonl", f"run/{RUN_MARKER_NAME}"},
    )
    assert "last.pt" in line or "best.pt" in line or "log.jsonl" in line
    print(line)


def test_convert_bvh_refuses_nan_output(cmu_bvh_dir, tmp_path):
    lines = (cmu_bvh_dir / "007_02.bvh").read_text().splitlines()
    header_end = next(i for i, line in enumerate(lines) if line.startswith("Frames:"))
    frames = lines[header_end + 2 : header_end + 42]
    values = frames[10].split()
    values[0] = "1e308"  # the root's X position: finite in the file, NaN once placed
    frames[10] = " ".join(values)
    folder = tmp_path / "bvh"
    folder.mkdir()
    text = [*lines[:header_end], "Frames: 40", lines[header_end + 1], *frames]
    (folder / "07_02.bvh").write_text("\n".join(text) + "\n")
    refuse(
        ["data", "convert-bvh", folder, "--out", tmp_path / "out"],
        "07_02.bvh",
        "NaN or Inf",
        root=tmp_path,
    )
    assert not (tmp_path / "out").exists()


# --- whole or absent: exports killed at any point -----------------------------------------


def export_set(folder: Path) -> dict[str, str] | None:
    """The folder's files if they are one complete export (manifest lists all, hashes
    match), else None."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    files = snapshot(folder)
    files.pop(RUN_MARKER_NAME, None)  # what wrote the folder, not one of its artifacts
    listed = {row["file"]: row["sha256"] for row in manifest["artifacts"] if row["status"] == "ok"}
    if set(files) != {MANIFEST_NAME, *listed}:
        return None
    if any(files[name] != digest for name, digest in listed.items()):
        return None
    return files


def export_in_child(checkpoint: Path, out: Path, kill_at: str | None = None) -> int:
    """Fork (warm imports), export in the child; returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 1
        try:
            if kill_at:
                os.environ[scjd_io.KILL_AT_ENV] = kill_at
            export_checkpoint(checkpoint, out)
            code = 0
        finally:
            os._exit(code)
    return pid


def wait(pid: int, timeout_s: float = 300.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"export child {pid} did not finish in {timeout_s} s")


@pytest.mark.parametrize("kill", ["built", "swapped", 1.0, 3.0])
def test_killed_export_leaves_the_old_or_the_new_complete_set(work, tmp_path, kill):
    """SIGKILL at the transaction's two commit points (test hook) and after delays."""
    folder = tmp_path / "export"
    shutil.copytree(work / "export", folder)
    old = export_set(folder)
    assert old is not None and "best.onnx" in old
    if isinstance(kill, str):
        status = wait(export_in_child(work / "run" / "last.pt", folder, kill_at=kill))
        assert os.WTERMSIG(status) == signal.SIGKILL
    else:
        pid = export_in_child(work / "run" / "last.pt", folder)
        time.sleep(kill)
        os.kill(pid, signal.SIGKILL)
        wait(pid)
    now = export_set(folder)
    assert now is not None, sorted(snapshot(folder))
    assert now == old or "last.onnx" in now
    if kill == "built":
        assert now == old
    if kill == "swapped":
        assert sorted(now) == ["last.onnx", MANIFEST_NAME]
    if isinstance(kill, str):  # a staging folder is left beside it; the next export cleans up
        export_checkpoint(work / "run" / "last.pt", folder)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_two_exports_into_one_folder_never_mix(work, tmp_path):
    folder = tmp_path / "export"
    pids = [export_in_child(work / "run" / name, folder) for name in ("best.pt", "last.pt")]
    assert [os.WEXITSTATUS(wait(pid)) for pid in pids] == [0, 0]
    final = export_set(folder)
    assert final is not None
    assert sorted(final) in (["best.onnx", MANIFEST_NAME], ["last.onnx", MANIFEST_NAME])
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    source = work / "run" / ("best.pt" if "best.onnx" in final else "last.pt")
    assert manifest["checkpoint_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["train-teacher", "teacher_synth", "--out", "{file}"], "exists and is not a folder"),
        (["export", "{best}", "--out", "{file}"], "exists and is not a folder"),
        (["data", "synth", "--out", "{file}"], "exists and is not a folder"),
        (
            ["evaluate", "{best}", "--data", "builtin:synthetic", "--json", "{folder}"],
            "exists and is not a file",
        ),
        (["infer", "{best}", "--keypoints", "k.npz", "--viz", "{file}/v.gif"], "is a file"),
        (["distill", "scjd_synth", "--teacher", "{nan}", "--out", "{folder}/s"], "NaN or Inf"),
    ],
    ids=["train", "export", "synth", "evaluate", "infer-viz", "distill-nan-teacher"],
)
def test_more_outputs_of_the_wrong_kind_and_bad_inputs(work, tmp_path, args, named):
    (tmp_path / "file").write_text("a file")
    (tmp_path / "folder").mkdir()
    nan = poisoned_checkpoint(work / "run" / "best.pt", tmp_path / "nan.pt", float("nan"))
    paths = {"file": tmp_path / "file", "folder": tmp_path / "folder", "nan": nan}
    paths["best"] = work / "run" / "best.pt"
    refuse([arg.format(**paths) for arg in args], named, root=tmp_path)


def test_export_refuses_a_folder_with_files_it_did_not_write(work, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    refuse(["export", work / "run" / "best.pt", "--out", folder], "notes.txt", root=tmp_path)


@pytest.mark.parametrize("atomic_exchange", [True, False], ids=["renameat2", "two-renames"])
def test_staged_folder_commits_whole_rolls_back_and_keeps_caches(
    tmp_path, monkeypatch, atomic_exchange
):
    if not atomic_exchange:  # the path taken where renameat2 does not exist
        monkeypatch.setattr(scjd_io, "_exchange", lambda first, second: False)
    folder = tmp_path / "folder"
    with scjd_io.staged_folder(folder) as staging:
        (staging / "a").write_text("1")
        (staging / "cache").write_text("c")
    with (
        pytest.raises(RuntimeError, match="the build failed"),
        scjd_io.staged_folder(folder) as staging,
    ):
        (staging / "b").write_text("2")
        raise RuntimeError("the build failed")
    assert sorted(p.name for p in folder.iterdir()) == ["a", "cache"]
    with scjd_io.staged_folder(folder, keep=("cache",)) as staging:
        (staging / "b").write_text("2")
    assert sorted(p.name for p in folder.iterdir()) == ["b", "cache"]
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]


# --- round 3: nothing deleted that is not ours, nothing accepted that was edited ----------


def write_mmpose(path: Path, frame_ids: list[int]) -> Path:
    """MMPose-layout JSON of a synthetic sequence (H36M-17 pixels): frame k holds the
    sequence's frame k, written in the order of `frame_ids`."""
    from scjd_edge.data.camera import image_coordinates
    from scjd_edge.data.formats import load_dataset

    sequence = load_dataset("builtin:synthetic").sequences[0]
    pixels = image_coordinates(sequence.keypoints_2d, sequence.res_w, sequence.res_h)
    frames = [
        {
            "frame_id": frame,
            "instances": [{"keypoints": pixels[frame].tolist(), "keypoint_scores": [1.0] * 17}],
        }
        for frame in frame_ids
    ]
    content = {"meta_info": {}, "instance_info": frames}
    path.write_text(json.dumps({**content, "width": sequence.res_w, "height": sequence.res_h}))
    return path


def folder_commands(work: Path, folder: Path, keypoints: Path) -> dict[str, list]:
    """Every command that writes a folder, writing into `folder`."""
    best, onnx_path = work / "run" / "best.pt", work / "export" / "best.onnx"
    student = ["distill.window_frames=9", "distill.input_frames=3", "model.frames=3"]
    bench = ["bench", onnx_path, "--data", "builtin:synthetic", "--batch", "1"]
    return {
        "train-teacher": ["train-teacher", "teacher_synth", "--out", folder, *TINY],
        "distill": ["distill", "scjd_synth", "--teacher", best, "--out", folder, *student],
        "export": ["export", best, "--out", folder],
        "bench": [*bench, "--seconds", "0.05", "--rounds", "1", "--out", folder],
        "infer": [
            "infer",
            onnx_path,
            "--keypoints",
            keypoints,
            "--format",
            "h36m",
            "--viz",
            folder,
        ],
        "quickstart": ["quickstart", "--tiny", "--out", folder],
        "data synth": ["data", "synth", "--out", folder],
    }


@pytest.mark.parametrize(
    "command", ["train-teacher", "distill", "export", "bench", "infer", "quickstart", "data synth"]
)
def test_a_folder_holding_a_users_file_is_refused_and_left_alone(work, tmp_path, command):
    """Issue 29, case 1: `quickstart --out project` with `project/teacher/notes.md`."""
    notes = tmp_path / "project" / "teacher" / "notes.md"
    notes.parent.mkdir(parents=True)
    notes.write_text("my notes")
    keypoints = write_mmpose(tmp_path / "k.json", list(range(12)))
    args = folder_commands(work, tmp_path / "project", keypoints)[command]
    line = refuse(args, str(notes), "did not write", root=tmp_path)
    assert notes.read_text() == "my notes" and "left alone" in line
    assert not (tmp_path / "project" / "quickstart.json").exists()


def test_a_users_file_in_our_own_folder_survives_a_rerun(work, tmp_path):
    keypoints = write_mmpose(tmp_path / "k.json", list(range(12)))
    folder = tmp_path / "bench"
    args = [str(arg) for arg in folder_commands(work, folder, keypoints)["bench"]]
    assert CliRunner().invoke(app, args).exit_code == 0
    (folder / "notes.md").write_text("my notes")
    first = (folder / "bench.json").read_bytes()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (folder / "notes.md").read_text() == "my notes"
    assert (folder / "bench.json").read_bytes() != first  # its own output, rewritten
    assert json.loads((folder / RUN_MARKER_NAME).read_text())["complete"] is True


def test_a_stale_quickstart_stage_loses_only_its_own_files(tmp_path):
    from rich.console import Console

    from scjd_edge.quickstart import _StageRunner

    stage = tmp_path / "teacher"
    claim = scjd_io.claim_run_folder(stage, "train-teacher", "abc")
    for name in ("best.pt", "last.pt", "log.jsonl", "notes.md"):
        (claim / name).write_text(name)
    (stage / "done.json").write_text(json.dumps({"inputs": {"x": "old"}, "outputs": {}}))
    runner = _StageRunner(tmp_path, Console(quiet=True))
    assert runner._finished(stage, {"x": "new"}) is None
    assert sorted(p.name for p in stage.iterdir()) == [RUN_MARKER_NAME, "notes.md"]
    (stage / RUN_MARKER_NAME).unlink()  # a folder scjd-edge did not mark: nothing goes
    (stage / "best.pt").write_text("a user's")
    with pytest.raises(scjd_io.OutputError, match="best.pt.*nothing was deleted"):
        scjd_io.remove_run_files(stage, ("best.pt",))
    assert (stage / "best.pt").read_text() == "a user's"


def lifted(tmp_path: Path, model: Path, keypoints: Path, name: str):
    out = tmp_path / f"{name}.npz"
    args = ["infer", model, "--keypoints", keypoints, "--format", "h36m", "--out", out]
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    with np.load(out) as poses:
        return poses["frame_ids"].tolist(), poses["pose_3d"]


def test_mmpose_frames_out_of_file_order_are_lifted_in_id_order(work, tmp_path):
    """Issue 29, case 2: an MMPose file whose frame_ids read 16, 1, 6, 2, 27, ..."""
    shuffled = list(range(30))
    random.Random(29).shuffle(shuffled)
    model = work / "export" / "best.onnx"
    ids, poses = lifted(tmp_path, model, write_mmpose(tmp_path / "s.json", shuffled), "s")
    expected_ids, expected = lifted(
        tmp_path, model, write_mmpose(tmp_path / "o.json", sorted(shuffled)), "o"
    )
    assert ids == expected_ids == list(range(30))
    np.testing.assert_array_equal(poses, expected)


def test_one_stray_huge_coco_id_is_one_line_not_all_memory(work, tmp_path):
    """Issue 29, case 3: 30 COCO detections, one with image_id 2e9."""
    pose = [100.0, 200.0, 1.0] * 17
    entries = [{"image_id": f, "keypoints": pose} for f in range(29)]
    entries.append({"image_id": 2e9, "keypoints": pose})
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(entries))
    started = time.perf_counter()
    model = work / "export" / "best.onnx"
    args = ["infer", model, "--keypoints", path, "--image-size", "640x480"]
    refuse(args, "coco.json", "between ids 28 and 2000000000", root=tmp_path)
    assert time.perf_counter() - started < 30


def edited_onnx(source: Path, out: Path, strip: bool = False) -> Path:
    """A copy of `source` whose deployment contract says another window (the rest kept)."""
    proto = onnx.load(source)
    props = {prop.key: prop for prop in proto.metadata_props}
    contract = json.loads(props["scjd_edge.deployment"].value)
    contract["window_frames"] = contract["input_frames"] = 53
    contract["frame_offsets"] = list(range(-26, 27)) if contract["frame_offsets"] else None
    props["scjd_edge.deployment"].value = json.dumps(contract)
    props["scjd_edge.window_frames"].value = "53"
    if strip:
        proto.metadata_props.remove(props["scjd_edge.integrity_sha256"])
    onnx.save(proto, out)
    return out


@pytest.mark.parametrize("strip", [False, True], ids=["edited", "edited-and-hash-removed"])
def test_an_onnx_whose_contract_was_edited_is_refused_by_every_loader(work, tmp_path, strip):
    """Issue 29, case 4: scjd_edge.deployment edited to another window."""
    edited = edited_onnx(work / "export" / "best.onnx", tmp_path / "edited.onnx", strip)
    named = "no scjd_edge.integrity_sha256" if strip else "was edited after export"
    with pytest.raises(ExportError, match=named):
        load_predictor(edited)
    keypoints = write_mmpose(tmp_path / "k.json", list(range(12)))
    refuse(["infer", edited, "--keypoints", keypoints, "--format", "h36m"], named, root=tmp_path)
    bench = ["bench", edited, "--data", "builtin:synthetic", "--batch", "1"]
    refuse([*bench, "--out", tmp_path / "b"], "edited.onnx", named, root=tmp_path)
    from scjd_edge.export.quantize import convert_fp16

    with pytest.raises(ExportError, match=named):  # FP16 / INT8 / engines start here too
        convert_fp16(edited, tmp_path / "edited.fp16.onnx")
    assert not (tmp_path / "edited.fp16.onnx").exists()


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--gate-mm", "nan", "--gate-mm nan: expected a finite number"),
        ("--gate-mm", "-1", "--gate-mm -1: expected >= 0"),
        ("--seconds", "inf", "--seconds inf: expected a finite number"),
        ("--batch", "2**40", "--batch '2**40': expected whole numbers"),
        ("--batch", str(2**40), "--batch 1099511627776 (windows of 9 frames): needs about"),
        ("--batch", "0", "--batch 0: expected a whole number >= 1"),
        ("--eval-windows", "0", "--eval-windows 0"),
    ],
)
def test_bench_numbers_are_finite_and_in_range_before_any_work(
    work, tmp_path, option, value, named
):
    """Issue 29, case 5 (bench)."""
    bench = ["bench", work / "export" / "best.onnx", "--data", "builtin:synthetic"]
    refuse([*bench, "--out", tmp_path / "b", option, value], named, root=tmp_path)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--min-score", "nan", "--min-score nan: expected a finite number >= 0 and <= 1"),
        ("--min-score", "1.5", "--min-score 1.5"),
        ("--batch-size", str(2**40), "--batch-size 1099511627776 (windows of 9 frames)"),
        ("--smooth-beta", "-inf", "--smooth-beta -inf"),
        ("--image-size", "0x480", "--image-size 0"),
    ],
)
def test_infer_numbers_are_finite_and_in_range_before_any_work(
    work, tmp_path, option, value, named
):
    """Issue 29, case 5 (infer)."""
    keypoints = write_mmpose(tmp_path / "k.json", list(range(12)))
    model = work / "export" / "best.onnx"
    args = [
        "infer",
        model,
        "--keypoints",
        keypoints,
        "--format",
        "h36m",
        "--out",
        tmp_path / "p.npz",
    ]
    refuse([*args, option, value], named, root=tmp_path)


def test_a_model_too_large_for_this_machine_is_one_line_before_it_is_built(tmp_path):
    out = tmp_path / "run"
    args = ["train-teacher", "teacher_synth", "--out", out, "model.dim=1048576", "model.depth=1"]
    refuse(args, "teacher_synth", "parameters", "model.dim or model.depth smaller", root=tmp_path)
    assert not out.exists()
