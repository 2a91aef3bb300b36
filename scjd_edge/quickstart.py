"""`scjd-edge quickstart`: the whole path in one command, stage by stage.

data -> teacher -> SCJD student -> baseline -> ONNX (FP32, FP16, INT8) -> bench -> test
-> report.md

By default on `builtin:cmu` (real CMU motion capture shipped with the package, CMU v2:
every subject on its own body) with the frontier's recipes at short budgets (the student
and the TCN-27 baseline get the same steps, about the same time); `--data
builtin:synthetic` runs the procedural data (a test of scale and of the pipeline, not of
accuracy). Every stage writes its outputs in its own sub-folder of the
run folder and, when it completes, a `done.json` listing those outputs (paths relative to
the run folder, sha256 of each). A stage counts as done only if that record reads and
every listed file still has its hash; otherwise it runs again (an interrupted training
resumes from its `last.pt`), so a Ctrl-C costs at most one epoch and the run folder can
be moved or used from any working directory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape

from scjd_edge.config import Recipe, load_recipe
from scjd_edge.data.builtin import BUILTIN_CMU, BUILTIN_SYNTHETIC, CMU_SPLIT
from scjd_edge.errors import ConfigError
from scjd_edge.io import (
    claim_run_folder,
    json_sha256,
    mark_run_complete,
    read_run_marker,
    remove_run_files,
    sha256_file,
    write_json,
    write_text,
)
from scjd_edge.train.engine import TrainingInterrupted

SETTINGS_NAME = "quickstart.json"
DONE_NAME = "done.json"
REPORT_NAME = "report.md"
POSE_PICTURE_NAME = "pose.png"
# What a training stage writes: removed (and nothing else) when the stage must run afresh.
TRAINING_OUTPUTS = ("best.pt", "last.pt", "log.jsonl")


@dataclass(frozen=True)
class RecipeSet:
    teacher: str
    student: str
    baseline: str | None  # trained with the student's budget, for comparison
    budget: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = ((), (), ())


# The frontier's winners (benchmarks/frontier.py) at short budgets: teacher, student and
# baseline overrides (the student's and the TCN's steps take about the same time).
QUICK_FRONTIER = RecipeSet(
    "frontier_tcn_teacher_cmu",
    "frontier_scjd_cmu",
    "tcn27_cmu",
    (("train.max_steps=1000",), ("train.max_steps=2000",), ("train.max_steps=2000",)),
)
# Built-in data sets by name; data folders by the file that marks them.
BUILTIN_RECIPES = {
    BUILTIN_CMU: QUICK_FRONTIER,
    BUILTIN_SYNTHETIC: RecipeSet("teacher_synth", "scjd_synth", None),
}
RECIPES_BY_MARKER = {
    "data_3d_cmu.npz": QUICK_FRONTIER,
    "data_3d_h36m.npz": RecipeSet("teacher_h36m_243", "scjd_h36m_243to27", None),
}

# --tiny: the smallest run that still passes every stage (CI); its numbers mean nothing.
TINY_TRAIN = (
    "train.epochs=1",
    "train.max_steps=40",
    "train.val_max_windows=128",
    "data.train_stride=64",
)
TINY_TEACHER = (*TINY_TRAIN, "model.dim=16")


@dataclass(frozen=True)
class BenchPlan:
    batches: tuple[int, ...]
    seconds: float
    rounds: int
    eval_windows: int
    calib_samples: int


# The test stage scores every model on the whole test split; the bench adds latency and
# the accuracy of each deployed file on a subset of it.
FULL_BENCH = BenchPlan(batches=(1, 64), seconds=0.5, rounds=2, eval_windows=1024, calib_samples=256)
TINY_BENCH = BenchPlan(batches=(1,), seconds=0.2, rounds=2, eval_windows=256, calib_samples=64)


def run_quickstart(
    data: str = BUILTIN_CMU,
    out_dir: str | Path = Path("runs/quickstart"),
    tiny: bool = False,
    device: str | None = None,
    console: Console | None = None,
) -> Path:
    """Run (or finish) every stage into `out_dir`; returns the path of report.md."""
    console = console or Console(highlight=False)
    out_dir = Path(out_dir)
    settings = {"data": str(data), "tiny": tiny}
    recipes = _recipes(str(data), tiny)
    _claim_run_folder(out_dir, settings)
    _announce(str(data), console)
    stage = _StageRunner(out_dir, console)
    teacher = stage(
        "teacher", lambda folder, resume: _teacher(recipes["teacher"], folder, resume, device)
    )
    teacher_checkpoint = out_dir / teacher["checkpoint"]
    stage(
        "student",
        lambda folder, resume: _student(
            recipes["student"], teacher_checkpoint, folder, resume, device
        ),
        inputs=[teacher_checkpoint],
    )
    if "baseline" in recipes:
        stage(
            "baseline",
            lambda folder, resume: _teacher(recipes["baseline"], folder, resume, device),
        )
    checkpoints = {name: out_dir / stage.records[name]["checkpoint"] for name in recipes}
    plan = TINY_BENCH if tiny else FULL_BENCH
    export = stage(
        "export",
        lambda folder, _: _export(checkpoints["student"], folder, plan),
        inputs=[checkpoints["student"]],
    )
    onnx_files = [out_dir / row["path"] for row in export["artifacts"] if _ok(row)]
    models = [*checkpoints.values(), *onnx_files]
    stage(
        "bench",
        lambda folder, _: _bench(models, str(data), folder, plan, console),
        inputs=models,
    )
    stage(
        "test",
        lambda folder, _: _test(checkpoints, str(data), folder, device),
        inputs=list(checkpoints.values()),
    )
    _print_results(stage.records["test"]["models"], str(data), console)
    picture = _pose_picture(out_dir / POSE_PICTURE_NAME, recipes["student"], out_dir, export)
    report = write_text(
        out_dir / REPORT_NAME, render_report(settings, stage.records, picture, out_dir)
    )
    mark_run_complete(out_dir)
    console.print(f"[bold green]done[/]: {escape(str(report))}")
    return report


def _print_results(models: dict[str, dict[str, Any]], data: str, console: Console) -> None:
    from rich.table import Table

    first = next(iter(models.values()))
    table = Table(
        title=f"test split of {data} ({', '.join(first['subjects'])}, {first['poses']} poses)"
    )
    for column in ("model", "test MPJPE (mm)", "MACs per delivered pose (M)", "lookahead"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for role, row in models.items():
        table.add_row(
            f"{ROLE_TITLES[role]} ({row['recipe']})",
            f"{row['mpjpe_mm']:.1f}",
            f"{row['macs_per_delivered_pose'] / 1e6:.2f}",
            f"{row['lookahead_frames']} frames",
        )
    console.print(table)


def _announce(data: str, console: Console) -> None:
    if data == BUILTIN_CMU:
        console.print(
            "[bold]quickstart on REAL motion capture[/] (builtin:cmu: CMU Graphics Lab "
            "database, shipped with scjd-edge, every subject on its own body; train "
            f"{', '.join(CMU_SPLIT['train'])}; validation {', '.join(CMU_SPLIT['validation'])}; "
            f"test {', '.join(CMU_SPLIT['test'])})."
        )
    elif data == BUILTIN_SYNTHETIC:
        console.print(
            "[bold]quickstart on SYNTHETIC data[/]: procedural motion generated by scjd-edge "
            "(a test of scale and of the pipeline); its numbers say nothing about "
            "real-world accuracy."
        )


def _claim_run_folder(out_dir: Path, settings: dict[str, Any]) -> None:
    """A run folder is quickstart's (or new, or empty: nothing in a folder scjd-edge did
    not write is touched) and belongs to one data set and size: mixing them would mix
    results."""
    path = out_dir / SETTINGS_NAME
    if read_run_marker(out_dir) is not None and path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"{path}: not a readable quickstart settings file ({error}); delete it to "
                "start this run folder afresh, or choose another --out"
            ) from None
        if previous != settings:
            raise ConfigError(
                f"{out_dir} holds a quickstart run with {previous}, not {settings}: "
                "choose another --out or delete that folder"
            )
    claim_run_folder(out_dir, "quickstart", json_sha256(settings))
    if not path.is_file():
        write_json(path, settings)


def _recipes(data: str, tiny: bool) -> dict[str, Recipe]:
    """The recipes for `data` by role (teacher, student, baseline), with --tiny sizes."""
    if data in BUILTIN_RECIPES:
        names = BUILTIN_RECIPES[data]
    else:
        folder = Path(data)
        found = [
            names for marker, names in RECIPES_BY_MARKER.items() if (folder / marker).is_file()
        ]
        if not found:
            known = ", ".join([*BUILTIN_RECIPES, *RECIPES_BY_MARKER])
            raise ConfigError(
                f"--data {data}: no data set quickstart knows (one of {known}); "
                "for other data run train-teacher and distill with your own recipes"
            )
        names = found[0]
    teacher_budget, student_budget, baseline_budget = names.budget
    overrides = {
        "teacher": (*teacher_budget, *TINY_TEACHER) if tiny else teacher_budget,
        "student": (*student_budget, *TINY_TRAIN) if tiny else student_budget,
        "baseline": (*baseline_budget, *TINY_TRAIN) if tiny else baseline_budget,
    }
    roles = {"teacher": names.teacher, "student": names.student, "baseline": names.baseline}
    return {
        role: load_recipe(name, (f"data.path={data}", *overrides[role]))
        for role, name in roles.items()
        if name is not None
    }


class _StageRunner:
    """Runs a stage unless its `done.json` vouches for its outputs and the inputs they were
    made from (files of earlier stages); keeps every record."""

    def __init__(self, out_dir: Path, console: Console) -> None:
        self.out_dir = out_dir
        self.console = console
        self.records: dict[str, dict[str, Any]] = {}

    def __call__(
        self,
        name: str,
        work: Callable[[Path, bool], dict[str, Any]],
        inputs: Sequence[Path] = (),
    ) -> dict[str, Any]:
        folder = self.out_dir / name
        input_hashes = {self._relative(path): sha256_file(path) for path in inputs}
        record = self._finished(folder, input_hashes)
        if record is None:
            record = self._run(name, folder, work)
            record["inputs"] = input_hashes
            write_json(folder / DONE_NAME, record)
        else:
            self.console.print(f"[dim]{name}: done earlier ({escape(str(folder))}), skipped[/]")
        self.records[name] = record
        return record

    def _finished(self, folder: Path, inputs: dict[str, str]) -> dict[str, Any] | None:
        """The stage's record if it reads, was made from `inputs` and every output it lists
        is unchanged."""
        done = folder / DONE_NAME
        if not done.is_file():
            return None
        try:
            record = json.loads(done.read_text(encoding="utf-8"))
            if record["inputs"] != inputs:  # made from an earlier stage's older outputs
                remove_run_files(folder, (DONE_NAME, *TRAINING_OUTPUTS))
                return None
            intact = all(
                (self.out_dir / path).is_file() and sha256_file(self.out_dir / path) == digest
                for path, digest in record["outputs"].items()
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            intact = False
        if not intact:
            self.console.print(
                f"[yellow]{done}: unreadable, or its outputs are missing or changed; "
                "running the stage again[/]"
            )
            done.unlink()
            return None
        return record

    def _run(self, name: str, folder: Path, work) -> dict[str, Any]:
        # An unfinished stage runs again in its folder: each command refuses a folder that
        # holds files scjd-edge did not write, and replaces only its own outputs.
        resume = (folder / "last.pt").is_file()
        self.console.rule(f"{name}{' (resuming)' if resume else ''}")
        started = time.perf_counter()
        try:
            result = work(folder, resume)
        except TrainingInterrupted:
            raise TrainingInterrupted(
                f"quickstart interrupted in its {name} stage; {folder / 'last.pt'} is saved. "
                "Run the same quickstart command again to continue from it."
            ) from None
        files = result.pop("files")
        result["outputs"] = {self._relative(path): sha256_file(path) for path in map(Path, files)}
        result["stage_seconds"] = round(time.perf_counter() - started, 1)
        return result

    def _relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.out_dir.resolve()).as_posix()


def _teacher(recipe: Recipe, folder: Path, resume: bool, device: str | None) -> dict[str, Any]:
    from scjd_edge.train.tasks import train_teacher

    summary = train_teacher(recipe, folder, resume=resume, device=device)
    return _training_record(summary, recipe, folder)


def _student(
    recipe: Recipe, teacher: Path, folder: Path, resume: bool, device: str | None
) -> dict[str, Any]:
    from scjd_edge.distill.task import distill

    summary = distill(recipe, teacher, folder, resume=resume, device=device)
    return _training_record(summary, recipe, folder)


def _training_record(summary: dict[str, Any], recipe: Recipe, folder: Path) -> dict[str, Any]:
    best = Path(summary["best_checkpoint"])
    if not best.is_file():
        raise ConfigError(
            f"{folder}: training of recipe {recipe.name!r} ended without a best checkpoint "
            f"(best validation MPJPE {summary['best_val_mpjpe_mm']}); see {folder / 'log.jsonl'}"
        )
    keys = ("best_val_mpjpe_mm", "best_epoch", "total_steps", "wall_time_s")
    return {
        "recipe": recipe.name,
        "checkpoint": f"{folder.name}/{best.name}",
        **{key: summary[key] for key in keys},
        "files": [best],
    }


def _export(checkpoint: Path, folder: Path, plan: BenchPlan) -> dict[str, Any]:
    from scjd_edge.export.exporter import MANIFEST_NAME, export_checkpoint

    manifest = export_checkpoint(
        checkpoint, folder, fp16=True, int8=True, calib_samples=plan.calib_samples
    )
    artifacts = [{**row, "path": f"{folder.name}/{row['file']}"} for row in manifest["artifacts"]]
    files = [folder / row["file"] for row in artifacts if _ok(row)]
    return {"artifacts": artifacts, "files": [*files, folder / MANIFEST_NAME]}


def _ok(row: dict[str, Any]) -> bool:
    return row["status"] == "ok"


def _bench(
    models: list[Path], data: str, folder: Path, plan: BenchPlan, console: Console
) -> dict[str, Any]:
    from scjd_edge.bench.runner import run_bench

    claim_run_folder(folder, "quickstart bench")
    run_bench(
        models,
        data,
        backends=["torch", "onnxruntime"],
        batches=list(plan.batches),
        seconds=plan.seconds,
        rounds=plan.rounds,
        eval_windows=plan.eval_windows,
        out_dir=folder,
        console=console,
    )
    mark_run_complete(folder)
    names = {"markdown": "bench.md", "plot": "bench.png", "json": "bench.json"}
    record: dict[str, Any] = {key: f"{folder.name}/{name}" for key, name in names.items()}
    record["files"] = [folder / name for name in names.values()]
    return record


def _test(
    checkpoints: dict[str, Path], data: str, folder: Path, device: str | None
) -> dict[str, Any]:
    """Test-split accuracy and cost of every trained model, reported once (never steering).

    MACs per delivered pose = MACs of one forward x forwards per delivered pose (1: every
    model delivers the centre frame of one window) x test-time passes (2 with flip).
    Lookahead = future frames the delivered pose waits for (`Deployment.lookahead_frames`).
    """
    from scjd_edge.bench.flops import macs_per_delivered_pose, model_cost
    from scjd_edge.train.checkpoint import load_checkpoint, recipe_of
    from scjd_edge.train.evaluate import InputCondition, evaluate_checkpoint

    claim_run_folder(folder, "quickstart test")
    rows = {}
    for role, checkpoint in checkpoints.items():
        result = evaluate_checkpoint(checkpoint, data, split="test", device=device)
        detector = evaluate_checkpoint(
            checkpoint, data, "test", device=device, condition=InputCondition(two_d="detector")
        )
        loaded = load_checkpoint(checkpoint)
        recipe = recipe_of(loaded, source=str(checkpoint))
        deployment = loaded["deployment"]
        passes = 2 if result["test_flip"] else 1
        cost = model_cost(recipe.model, deployment.input_frames)
        rows[role] = {
            "recipe": recipe.name,
            "model": recipe.model.name,
            "input_frames": deployment.input_frames,
            "window_frames": deployment.window_frames,
            "mpjpe_mm": result["overall"]["mpjpe"],
            "detector_mpjpe_mm": detector["overall"]["mpjpe"],
            "per_subject_mm": {
                subject: [values["mpjpe"], detector["per_subject"][subject]["mpjpe"]]
                for subject, values in result["per_subject"].items()
            },
            "p_mpjpe_mm": result["overall"]["p_mpjpe"],
            "poses": result["poses"],
            "subjects": result["subjects"],
            "test_flip": result["test_flip"],
            "macs_per_forward": cost.macs_per_window,
            "macs_per_delivered_pose": macs_per_delivered_pose(cost, passes),
            "lookahead_frames": deployment.lookahead_frames,
        }
    path = write_json(folder / "test.json", {"models": rows})
    mark_run_complete(folder)
    return {"models": rows, "files": [path]}


def _pose_picture(
    path: Path, recipe: Recipe, out_dir: Path, export: dict[str, Any]
) -> dict[str, Any]:
    """The deployed student (INT8 ONNX when it passed its gate) on the middle frame of the
    first test sequence, beside the ground truth; written to `path` as PNG."""
    from scjd_edge.data.camera import image_coordinates
    from scjd_edge.data.formats import load_dataset
    from scjd_edge.export.runtime import load_predictor
    from scjd_edge.infer.lifting import lift_sequence
    from scjd_edge.infer.viz import pose_figure, save_figure

    by_precision = {row["precision"]: row for row in export["artifacts"] if _ok(row)}
    row = by_precision.get("int8") or by_precision["fp32"]
    model_path = out_dir / row["path"]
    dataset = load_dataset(recipe.data.path, keypoints=recipe.data.keypoints)
    sequence = dataset.select(list(recipe.data.test_subjects), "test")[0]
    pose_3d = lift_sequence(load_predictor(model_path), sequence.keypoints_2d.astype(np.float32))
    frame = sequence.num_frames // 2
    truth = sequence.pose_3d[frame] - sequence.pose_3d[frame, :1]
    error_mm = 1000.0 * float(np.linalg.norm(pose_3d[frame] - truth, axis=-1).mean())
    keypoints_px = image_coordinates(sequence.keypoints_2d[frame], sequence.res_w, sequence.res_h)
    title = f"{row['file']}: {sequence.subject} {sequence.action}, frame {frame}"
    figure = pose_figure(
        pose_3d[frame], keypoints_px, (sequence.res_w, sequence.res_h), truth, title
    )
    save_figure(figure, path)
    return {
        "path": path.name,
        "model": row["file"],
        "model_path": row["path"],
        "subject": sequence.subject,
        "action": sequence.action,
        "camera": sequence.camera,
        "frame": frame,
        "mpjpe_mm": error_mm,
    }


ROLE_TITLES = {
    "teacher": "teacher",
    "student": "SCJD student",
    "baseline": "baseline (same budget as the student)",
}


def render_report(
    settings: dict[str, Any], stages: dict[str, dict[str, Any]], picture: dict, out_dir: Path
) -> str:
    """report.md: what ran, on which data, test results, export and bench, the pictures."""
    data = settings["data"]
    lines = ["# scjd-edge quickstart report", ""]
    if data == BUILTIN_SYNTHETIC:
        lines += [
            "> **Every number below comes from SYNTHETIC data**: procedural motion on the "
            "Human3.6M skeleton generated by scjd-edge itself, a test of scale and of the "
            "pipeline. It says nothing about accuracy on real people.",
            "",
        ]
    elif data == BUILTIN_CMU:
        lines += [
            "Data: `builtin:cmu`, REAL optical motion capture from the CMU Graphics Lab "
            "database shipped with scjd-edge (CMU v2: every subject on its own body, so the "
            "test subjects are bodies no model saw; Human3.6M 17-joint layout, exact 2D "
            "through 4 Human3.6M cameras, 50 frames/s). The data used in this project was "
            "obtained from mocap.cs.cmu.edu. The database was created with funding from "
            "NSF EIA-0196217.",
            "",
        ]
    if settings["tiny"]:
        lines += ["> `--tiny` run: the smallest models and a few steps; numbers mean nothing.", ""]
    lines += [f"Run folder `{out_dir}`, data `{data}`.", ""]
    lines += _results_section(stages["test"]["models"])
    lines += _stages_section(stages)
    lines += _export_section(stages["export"]["artifacts"])
    bench_markdown = (out_dir / stages["bench"]["markdown"]).read_text(encoding="utf-8")
    lines += ["", "## Benchmark", "", _demote_headings(bench_markdown).strip(), ""]
    lines += [
        "## Latency vs accuracy",
        "",
        f"![Pareto plot: latency vs MPJPE]({stages['bench']['plot']})",
        "",
        "## A lifted pose",
        "",
        f"![3D pose]({picture['path']})",
        "",
        f"`{picture['model']}` on {picture['subject']} / {picture['action']} "
        f"(camera {picture['camera']}), frame {picture['frame']}: coloured skeleton = model, "
        f"dashed grey = ground truth; MPJPE of this frame {picture['mpjpe_mm']:.1f} mm.",
        "",
        "## Next",
        "",
        "- Lift your own detector output: `scjd-edge infer "
        f"{out_dir / picture['model_path']} --keypoints people.json --viz out.gif`",
        "- On a Jetson or desktop GPU: `scjd-edge export <student>.onnx --out engines --trt "
        "--precision fp16` (engines are built from the ONNX alone), then `scjd-edge bench` "
        "on the engine.",
    ]
    return "\n".join(lines) + "\n"


def _results_section(models: dict[str, dict[str, Any]]) -> list[str]:
    first = next(iter(models.values()))
    subjects = list(first["per_subject_mm"])
    lines = [
        "## Results on the test split",
        "",
        "| model | recipe | test MPJPE, exact 2D (mm) | detector-like 2D (mm) | "
        + " | ".join(f"{subject} exact / detector" for subject in subjects)
        + " | P-MPJPE (mm) | MACs per delivered pose (M) | lookahead (frames) "
        "| input frames / window |",
        "|---|---|---:|---:|" + "---:|" * len(subjects) + "---:|---:|---:|---|",
    ]
    for role, row in models.items():
        per_subject = " | ".join(
            f"{exact:.1f} / {detector:.1f}" for exact, detector in row["per_subject_mm"].values()
        )
        lines.append(
            f"| {ROLE_TITLES[role]} | `{row['recipe']}` ({row['model']}) | {row['mpjpe_mm']:.1f} "
            f"| {row['detector_mpjpe_mm']:.1f} | {per_subject} | {row['p_mpjpe_mm']:.1f} | "
            f"{row['macs_per_delivered_pose'] / 1e6:.2f} | {row['lookahead_frames']} | "
            f"{row['input_frames']} / {row['window_frames']} |"
        )
    return [
        *lines,
        "",
        *_verdict(models),
        f"Test subjects {', '.join(first['subjects'])}, {first['poses']} poses (centre frame "
        "of every window, every camera), root-relative, millimetres, torch FP32; exact 2D = "
        "projections of the motion capture, detector-like 2D = the same with the errors of a "
        "real 2D detector (scjd_edge/data/detector_noise.py). MACs per delivered pose = MACs "
        "of one forward x forwards per delivered pose (1) x test-time passes (2 with flip; "
        "MACs, not FLOPs = 2 x MACs). Lookahead = future frames a delivered pose needs (at 50 "
        "frames/s, 20 ms each). Reported once; models were selected on the validation "
        "subjects only.",
        "",
    ]


def _verdict(models: dict[str, dict[str, Any]]) -> list[str]:
    """One plain sentence: is the student at least level with the baseline, in each 2D?"""
    if "baseline" not in models:
        return []
    student, baseline = models["student"], models["baseline"]
    verdicts = []
    for key, name in (("mpjpe_mm", "exact 2D"), ("detector_mpjpe_mm", "detector-like 2D")):
        lead = baseline[key] - student[key]
        level = "at least level with" if lead >= 0 else "NOT level with (worse than)"
        verdicts.append(f"with {name} the student is {level} the baseline ({lead:+.1f} mm)")
    sentence = "; ".join(verdicts)
    return [f"**{sentence[0].upper()}{sentence[1:]}**, after the same training steps.", ""]


def _stages_section(stages: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "## Training",
        "",
        "| stage | recipe | steps | best validation MPJPE (mm) | time (s) |",
        "|---|---|---:|---:|---:|",
    ]
    for name in ("teacher", "student", "baseline"):
        if name in stages:
            stage = stages[name]
            lines.append(
                f"| {name} | `{stage['recipe']}` | {stage['total_steps']} | "
                f"{stage['best_val_mpjpe_mm']:.1f} | {stage['stage_seconds']:.0f} |"
            )
    return [
        *lines,
        "",
        "Validation MPJPE: centre frame of validation windows, root-relative, millimetres "
        "(model selection only).",
        "",
    ]


def _export_section(artifacts: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Export (student)",
        "",
        "| file | precision | status | size (MB) | validation MPJPE (mm) | vs torch FP32 (mm) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in artifacts:
        if _ok(row):
            lines.append(
                f"| `{row['path']}` | {row['precision']} | ok | {row['size_bytes'] / 1e6:.3f} | "
                f"{row['mpjpe_mm']:.2f} | {row['mpjpe_delta_mm']:+.3f} |"
            )
        else:
            lines.append(
                f"| `{row['path']}` | {row['precision']} | {row['status']}: {row['reason']} | | | |"
            )
    return lines


def _demote_headings(markdown: str) -> str:
    """Headings of an embedded report two levels down, so they nest under ours."""
    return "\n".join(
        "##" + line if line.startswith("#") else line for line in markdown.splitlines()
    )
