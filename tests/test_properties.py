"""Property-based tests (Hypothesis): generated keypoint files, numeric options, recipes
and deployment contracts must give a correct result or one line, never a traceback, and
never change a file outside `--out`.

No training: the model is an untrained tiny STE exported to ONNX once per module. The
examples are derandomised (the same ones on every run, so CI is reproducible) and bounded
so that this file runs in well under 2 minutes on one CPU core.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from scjd_edge.cli import app
from scjd_edge.config import load_recipe
from scjd_edge.contract import Deployment
from scjd_edge.errors import ConfigError, ExportError, ScjdError
from scjd_edge.export.onnx_export import (
    METADATA_PREFIX,
    build_metadata,
    export_onnx,
    read_deployment,
    read_metadata,
)
from scjd_edge.infer.keypoint_files import _frame_sort_key
from scjd_edge.infer.keypoints import load_keypoints
from scjd_edge.limits import Range
from scjd_edge.models.registry import create_model

# An overflow or invalid value in numpy is a failure here: inputs must be refused before.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
WINDOW = 9
WIDTH, HEIGHT = 640, 480
FAST = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    """An untrained STE (T = 9) exported with its metadata: a real file, no training."""
    torch.manual_seed(0)
    recipe = load_recipe(
        "teacher_synth", ["model.dim=16", "model.depth=1", f"model.frames={WINDOW}"]
    )
    model = create_model(recipe.model)
    checkpoint = {
        "deployment": Deployment.teacher(WINDOW),
        "recipe": recipe.model_dump(mode="json"),
        "kind": "teacher",
    }
    path = tmp_path_factory.mktemp("properties") / "tiny.onnx"
    offsets = torch.arange(WINDOW, dtype=torch.float32)[None] - WINDOW // 2
    sample = (torch.randn(2, WINDOW, 17, 2) * 0.1, offsets.repeat(2, 1))
    export_onnx(model, sample, path, build_metadata(checkpoint, "fp32", "0" * 64), simplify=False)
    return path


# --- keypoint files ------------------------------------------------------------------------

FRAME_IDS = st.one_of(
    st.integers(-3, 40),
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=True, allow_infinity=True),
    st.from_regex(r"-{0,2}[0-9]{1,25}", fullmatch=True),
    st.text(alphabet="f0123456789- ", max_size=5),
    st.booleans(),
)
COORDINATES = st.one_of(
    st.floats(-200, 900),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0]),
)


@st.composite
def keypoint_files(draw) -> tuple[str, bytes]:
    """(file name, bytes) of a detector file in any supported layout, adversarial ids,
    keypoints and scores; mostly plausible, so both outcomes are reached."""
    layout = draw(st.sampled_from(["coco", "coco_annotations", "mmpose", "ultralytics", "npz"]))
    count = draw(st.integers(1, 30))
    if draw(st.booleans()):
        ids = draw(st.permutations(list(range(count))))
    else:
        ids = draw(st.lists(FRAME_IDS, min_size=count, max_size=count))
    base = np.stack([np.linspace(200, 400, 17), np.linspace(100, 400, 17), np.full(17, 0.9)], -1)
    poses = np.repeat(base[None], count, axis=0) + draw(st.floats(-50, 50))
    for _ in range(draw(st.integers(0, 4))):
        frame, joint, axis = (
            draw(st.integers(0, count - 1)),
            draw(st.integers(0, 16)),
            draw(st.integers(0, 2)),
        )
        poses[frame, joint, axis] = draw(COORDINATES)
    header = {"width": WIDTH, "height": HEIGHT}
    if draw(st.booleans()):
        header["fps"] = draw(st.one_of(st.floats(allow_nan=True), st.integers(-5, 200)))
    if layout == "npz":
        return "k.npz", _npz_bytes(poses, ids, draw(st.booleans()))
    if layout == "ultralytics":
        content = {"frames": [[pose.tolist()] for pose in poses], **header}
    elif layout == "mmpose":
        frames = [
            {
                "frame_id": f,
                "instances": [
                    {"keypoints": p[:, :2].tolist(), "keypoint_scores": p[:, 2].tolist()}
                ],
            }
            for f, p in zip(ids, poses, strict=True)
        ]
        content = {"meta_info": {}, "instance_info": frames, **header}
    else:
        entries = [
            {"image_id": f, "keypoints": p.reshape(-1).tolist(), "score": 0.9}
            for f, p in zip(ids, poses, strict=True)
        ]
        content = {"annotations": entries, **header} if layout == "coco_annotations" else entries
    return "k.json", json.dumps(content).encode()


def _npz_bytes(poses: np.ndarray, ids: list, with_ids: bool) -> bytes:
    import io

    arrays = {"keypoints": poses, "image_size": np.array([WIDTH, HEIGHT])}
    if with_ids and all(isinstance(f, int) and not isinstance(f, bool) for f in ids):
        arrays["frame_ids"] = np.array(ids, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and "Traceback" not in message


def is_ordered(frame_ids: list) -> bool:
    keys = [_frame_sort_key(f) for f in frame_ids]
    return keys == sorted(keys) and len(set(map(repr, frame_ids))) == len(frame_ids)


@settings(FAST, max_examples=300)
@given(keypoint_files(), st.sampled_from(["coco", "h36m"]), st.floats(0, 1))
def test_any_keypoint_file_reads_as_ordered_finite_frames_or_one_line(file, layout, min_score):
    name, content = file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            track = load_keypoints(path, layout, min_score=min_score)
        except ScjdError as error:
            assert one_line(str(error)), str(error)
            event("refused: " + str(error).split(": ", 2)[-1][:40])
        else:
            event("read")
            assert track.keypoints_2d.shape == (len(track.frame_ids), 17, 2)
            assert np.isfinite(track.keypoints_2d).all()
            assert is_ordered(track.frame_ids)
            if all(isinstance(f, int) for f in track.frame_ids):
                assert track.frame_ids == list(range(track.frame_ids[0], track.frame_ids[-1] + 1))
        assert path.read_bytes() == content


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_cli(args: list, root: Path, out: Path) -> tuple[int, list[str]]:
    """Run the CLI; assert no traceback, no file changed under `root` except `out`, and
    exit 0 or exit 2 with exactly one (error) line. Returns (exit code, output lines)."""
    before = snapshot(root)
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    if result.exit_code == 2:
        assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    after = snapshot(root)
    after.pop(str(out.relative_to(root)), None)
    assert after == before
    return result.exit_code, lines


def lifted_poses_are_ordered_and_finite(out: Path) -> None:
    with np.load(out) as poses:
        assert np.isfinite(poses["pose_3d"]).all()
        assert is_ordered(poses["frame_ids"].tolist())
        assert len(poses["pose_3d"]) == len(poses["frame_ids"])


@settings(FAST, max_examples=40)
@given(keypoint_files(), st.sampled_from(["coco", "h36m"]), st.booleans())
def test_infer_on_any_keypoint_file_lifts_in_order_or_says_one_line(
    tiny_onnx, file, layout, stream
):
    name, content = file
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / name).write_bytes(content)
        out = root / "poses.npz"
        args = ["infer", tiny_onnx, "--keypoints", root / name, "--format", layout, "--out", out]
        code, lines = run_cli([*args, *(["--stream"] if stream else [])], root, out)
        event(f"exit {code}" + (": " + lines[0].split(": ", 2)[-1][:40] if code else ""))
        if code == 0:
            lifted_poses_are_ordered_and_finite(out)


# --- numeric options -----------------------------------------------------------------------

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**50), 2**50),
    st.sampled_from([0, 1, -1, 0.5, 1e-300, 2**40]),
)


@settings(FAST, max_examples=500)
@given(NUMBERS, st.booleans(), st.booleans())
def test_a_range_accepts_exactly_the_finite_numbers_inside_it(value, whole, above):
    bounds = Range(0, 10, above=above, whole=whole)
    inside = (
        math.isfinite(value)
        and (value > 0 if above else value >= 0)
        and value <= 10
        and (not whole or float(value).is_integer())
    )
    try:
        bounds.check(value, "--x")
    except ConfigError as error:
        assert not inside and one_line(str(error)) and str(error).startswith("--x ")
    else:
        assert inside


def option_text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


@settings(FAST, max_examples=30)
@given(
    st.one_of(
        st.tuples(
            st.sampled_from(["--min-score", "--smooth-beta", "--smooth-min-cutoff"]), NUMBERS
        ),
        st.tuples(st.just("--batch-size"), st.integers(-(2**50), 2**50)),
    )
)
def test_infer_options_are_used_when_valid_and_named_when_not(tiny_onnx, option_value):
    option, value = option_value
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        keypoints = root / "k.json"
        poses = [[[200.0 + j * 10, 100.0 + j * 15, 0.9] for j in range(17)]] * 12
        keypoints.write_text(
            json.dumps({"frames": [[p] for p in poses], "width": WIDTH, "height": HEIGHT})
        )
        out = root / "poses.npz"
        args = ["infer", tiny_onnx, "--keypoints", keypoints, "--smooth", "--out", out]
        code, lines = run_cli([*args, option, option_text(value)], root, out)
        event(f"{option} exit {code}")
        if code == 0:
            lifted_poses_are_ordered_and_finite(out)
        else:
            assert lines[0].startswith(f"error: {option} "), lines


# --- recipes -------------------------------------------------------------------------------

RECIPE_KEYS = [
    "seed", "train.lr", "train.epochs", "train.batch_size", "train.max_steps", "train.ema",
    "train.warmup_steps", "data.noise_px", "data.train_stride", "model.dim", "model.depth",
    "model.heads", "model.frames", "model.mlp_ratio", "distill.input_frames",
    "distill.window_frames", "distill.djed_weight", "distill.ajad_weight",
]  # fmt: skip
YAML_VALUES = st.one_of(
    st.sampled_from(
        [".nan", ".inf", "-.inf", "nan", "inf", "1e400", "-1", "0", "[1", "{}", "true"]
    ),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=8),
)


def finite_numbers(value) -> bool:
    if isinstance(value, dict):
        return all(finite_numbers(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(finite_numbers(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


@settings(FAST, max_examples=150)
@given(
    st.sampled_from(["teacher_synth", "scjd_synth"]),
    st.lists(st.tuples(st.sampled_from(RECIPE_KEYS), YAML_VALUES), max_size=3),
)
def test_any_recipe_override_gives_a_finite_recipe_or_one_line(name, overrides):
    try:
        recipe = load_recipe(name, [f"{key}={value}" for key, value in overrides])
    except ConfigError as error:
        assert one_line(str(error)), str(error)
        event("refused")
    else:
        event("valid")
        assert finite_numbers(recipe.model_dump(mode="python"))


@settings(FAST, max_examples=30)
@given(
    st.sampled_from(["teacher_synth", "scjd_synth"]),
    st.lists(st.tuples(st.sampled_from(RECIPE_KEYS), YAML_VALUES), max_size=3),
)
def test_training_commands_refuse_bad_recipes_in_one_line_and_write_only_in_out(
    tiny_onnx, name, overrides
):
    """Through the CLI, with data that does not exist: whatever the overrides, the command
    ends before any training with one line, and writes nothing outside --out."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "notes.md").write_text("a user's file beside the run")
        out = root / "run"
        command = ["train-teacher", name] if name == "teacher_synth" else ["distill", name]
        teacher = [] if name == "teacher_synth" else ["--teacher", root / "none.pt"]
        args = [*command, *[f"{key}={value}" for key, value in overrides], *teacher]
        before = snapshot(root)
        result = CliRunner().invoke(
            app, [str(arg) for arg in [*args, "--data", root / "no_data", "--out", out]]
        )
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert len(lines) == 1 and lines[0].startswith("error:"), result.output
        after = {
            path: digest for path, digest in snapshot(root).items() if not path.startswith("run/")
        }
        assert after == before
        event(lines[0].split(":")[1][:30])


# --- deployment contracts in ONNX files ----------------------------------------------------

CONTRACT_FIELDS = {
    "window_frames": st.one_of(
        st.integers(-3, 300), st.floats(allow_nan=True), st.text(max_size=3)
    ),
    "input_frames": st.one_of(st.integers(-3, 300), st.floats(allow_nan=True)),
    "sampling": st.sampled_from(["full", "uniform", "motion", "central", "offsets", "x"]),
    "frame_offsets": st.one_of(st.none(), st.lists(st.integers(-200, 200), max_size=12)),
    "output": st.sampled_from(["all", "centre", "x"]),
    "fps": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 500)),
    "version": st.integers(0, 6),
}


def contract_metadata(base: Path, contract: dict) -> onnx.ModelProto:
    """The tiny model's metadata with `contract` as scjd_edge.deployment."""
    proto = onnx.load(base)
    for prop in proto.metadata_props:
        if prop.key == METADATA_PREFIX + "deployment":
            prop.value = json.dumps(contract)
    return proto


@settings(FAST, max_examples=60)
@given(st.fixed_dictionaries({}, optional=CONTRACT_FIELDS))
def test_an_edited_contract_is_always_refused_with_one_line(tiny_onnx, changes):
    stored = json.loads(read_metadata(tiny_onnx)["deployment"])
    contract = {**stored, **changes}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "edited.onnx"
        onnx.save(contract_metadata(tiny_onnx, contract), path)
        if json.dumps(contract) == json.dumps(stored):
            assert read_deployment(path) == Deployment.from_dict(stored)
            return
        with pytest.raises(ExportError) as error:
            read_deployment(path)
        assert one_line(str(error.value)) and "edited after export" in str(error.value)


@settings(FAST, max_examples=40)
@given(
    st.sampled_from(
        ["deployment", "precision", "window_frames", "source_checkpoint_sha256", "kind", "new_key"]
    ),
    st.text(max_size=20),
)
def test_any_edit_of_scjd_edge_metadata_is_refused_by_the_loaders(tiny_onnx, key, value):
    from scjd_edge.export.runtime import load_predictor

    proto = onnx.load(tiny_onnx)
    props = {prop.key: prop for prop in proto.metadata_props}
    full_key = METADATA_PREFIX + key
    unchanged = full_key in props and props[full_key].value == value
    if full_key in props:
        props[full_key].value = value
    else:
        proto.metadata_props.add(key=full_key, value=value)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "edited.onnx"
        onnx.save(proto, path)
        if unchanged:
            assert load_predictor(path).deployment.window_frames == WINDOW
            return
        with pytest.raises(ExportError) as error:
            load_predictor(path)
        assert one_line(str(error.value)), str(error.value)
