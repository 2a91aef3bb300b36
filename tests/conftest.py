"""The test kit: split constants, one thread fixture, a checkpoint factory, and one session
of tiny models trained on the built-in real CMU data (`builtin:cmu`, shipped with the
package) with their ONNX FP32 / FP16 / INT8 exports, so the export, bench and infer tests
run anywhere.

`cmu_data_dir` is only for tests that compare against the files of the shared CMU folder
(set SCJD_DATA_DIR to point elsewhere). Under CI (CI=true) a missing folder fails those
tests; on a developer machine they are skipped with the reason.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from scjd_edge.config import ModelConfig, validate_recipe
from scjd_edge.data.builtin import BUILTIN_CMU, CMU_SPLIT

DEFAULT_CMU_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmu2"

# The standard CMU split as recipe `data` keys.
CMU_SUBJECTS = {
    "train_subjects": CMU_SPLIT["train"],
    "val_subjects": CMU_SPLIT["validation"],
    "test_subjects": CMU_SPLIT["test"],
}
# The session's tiny models: a T = 9 teacher and an N = 5 of 9 uniform SCJD student.
TINY_WINDOW, TINY_INPUT_FRAMES = 9, 5
TINY_STEPS = 40


@pytest.fixture(scope="session")
def cmu_data_dir() -> Path:
    return _shared_folder("SCJD_DATA_DIR", DEFAULT_CMU_DIR, "data_3d_cmu.npz", "CMU data")


# CMU's raw BVH files (converter inputs) ship only with the retired v1 folder; its
# converted data is never read.
DEFAULT_BVH_DIR = DEFAULT_CMU_DIR.parent / "cmu" / "bvh"


@pytest.fixture(scope="session")
def cmu_bvh_dir() -> Path:
    return _shared_folder("SCJD_BVH_DIR", DEFAULT_BVH_DIR, "007_02.bvh", "CMU BVH files")


def _shared_folder(variable: str, default: Path, marker: str, what: str) -> Path:
    """A folder of ../shared: failing under CI when missing, else skipping with the reason."""
    path = Path(os.environ.get(variable, default))
    if not (path / marker).is_file():
        message = f"{what} not found in {path} (set {variable})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def one_thread():
    """Tiny models run far faster on one thread than on cores shared with other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def make_checkpoint():
    """`make_checkpoint(path, model=ModelConfig(...), kind="teacher", deployment=None)`: an
    untrained checkpoint in the one format (for tests of checks that need no training)."""
    from scjd_edge.contract import Deployment
    from scjd_edge.train.checkpoint import save_untrained_checkpoint

    def make(
        path: Path,
        model: ModelConfig,
        kind: str = "teacher",
        deployment: Deployment | None = None,
    ) -> Path:
        torch.manual_seed(0)
        recipe = validate_recipe({"name": f"tiny_{kind}", "model": model.model_dump()})
        return save_untrained_checkpoint(
            path,
            recipe,
            kind,
            deployment or Deployment.teacher(model.frames),
            {"name": "synthetic", "source": "test", "synthetic": True},
        )

    return make


def tiny_recipe(name: str, model: dict[str, Any], **sections: Any):
    """A recipe of tiny size on builtin:cmu (standard split), trained TINY_STEPS steps."""
    return validate_recipe(
        {
            "name": name,
            "data": {"path": BUILTIN_CMU, **CMU_SUBJECTS, "train_stride": 8},
            "model": {"name": "ste", "dim": 32, "depth": 1, "heads": 2, **model},
            "train": {
                "epochs": 1,
                "max_steps": TINY_STEPS,
                "batch_size": 64,
                "lr": 3e-3,
                "warmup_steps": 5,
                "val_max_windows": 128,
                "log_every": 1000,
            },
            **sections,
        }
    )


@dataclass(frozen=True)
class TinyModels:
    teacher: Path  # best.pt of a T = 9 STE teacher
    student: Path  # best.pt of an N = 5 (uniform of T = 9) SCJD student
    teacher_export: dict[str, Path]  # precision ("fp32", "fp16", "int8") -> ONNX file
    student_export: dict[str, Path]
    student_manifest: dict[str, Any]


def _every_layer_faster(fp32_onnx, int8_onnx, layers, feeds_by_batch) -> list[dict[str, Any]]:
    return [{"layer": layer, "faster": True} for layer in layers]


@contextmanager
def int8_speed_step_skipped():
    """The CPU INT8 form's speed step, for tiny models, finds every layer faster: their
    kernels run at the profiler's resolution, so timing them would make the exported files
    depend on the machine's load. The real step is tested on its own (test_quantize.py)."""
    from scjd_edge.export import cpu_int8

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cpu_int8, "layer_speed", _every_layer_faster)
        yield


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, one_thread) -> TinyModels:
    """Trained through the real engine (train-teacher, distill) and exported once."""
    from scjd_edge.distill.task import distill
    from scjd_edge.export.exporter import export_checkpoint
    from scjd_edge.train.tasks import train_teacher

    work = tmp_path_factory.mktemp("tiny_models")
    teacher_recipe = tiny_recipe("tiny_teacher", {"frames": TINY_WINDOW})
    teacher = Path(train_teacher(teacher_recipe, work / "teacher", device="cpu")["best_checkpoint"])
    student_recipe = tiny_recipe(
        "tiny_student",
        {"frames": TINY_INPUT_FRAMES},
        distill={
            "window_frames": TINY_WINDOW,
            "input_frames": TINY_INPUT_FRAMES,
            "sampling": "uniform",
        },
    )
    student = Path(
        distill(student_recipe, teacher, work / "student", device="cpu")["best_checkpoint"]
    )
    exports, manifests = {}, {}
    for role, checkpoint in (("teacher", teacher), ("student", student)):
        with int8_speed_step_skipped():
            manifests[role] = export_checkpoint(
                checkpoint, work / f"{role}_export", fp16=True, int8=True
            )
        exports[role] = {
            row["precision"]: work / f"{role}_export" / row["file"]
            for row in manifests[role]["artifacts"]
            if row["status"] == "ok"
        }
    return TinyModels(
        teacher=teacher,
        student=student,
        teacher_export=exports["teacher"],
        student_export=exports["student"],
        student_manifest=manifests["student"],
    )
