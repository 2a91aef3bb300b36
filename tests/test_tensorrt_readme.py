"""The README's Jetson recipe runs as written (on the TensorRT stand-in, TensorRT 10 mode),
and its INT8 step fails the way the README says when the INT8 gate refuses the model."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
from test_tensorrt_standin import cli, tiny_student
from trt_standin import VERSIONS, install

README = Path(__file__).resolve().parents[1] / "README.md"
FAST_BENCH = ["--iters", "2", "--warmup", "1", "--rounds", "1", "--eval-windows", "32"]


def recipe_commands() -> list[list[str]]:
    """Every `scjd-edge ...` command in the README's Jetson section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Deploying on a Jetson (TensorRT)")[1].split("\n## ")[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.strip())
            if words[:1] == ["scjd-edge"]:
                commands.append(words[1:])
    return commands


def coco_results(path: Path, frames: int) -> None:
    """A COCO results JSON: one person per frame, inside a 1920x1080 image."""
    rng = np.random.default_rng(0)
    people = []
    for frame in range(frames):
        joints = rng.uniform((300, 200), (1500, 900), (17, 2))
        keypoints = [value for x, y in joints for value in (x, y, 0.9)]
        people.append({"image_id": frame, "category_id": 1, "score": 0.9, "keypoints": keypoints})
    path.write_text(json.dumps(people))


def localise(words: list[str], folder: Path) -> list[str]:
    """The README's paths inside `folder`, its data set the built-in synthetic one."""
    paths = {"best.pt": folder / "best.pt", "data/cmu": "builtin:synthetic"}
    paths["people.json"], paths["poses.npz"] = folder / "people.json", folder / "poses.npz"
    out = []
    for word in words:
        head = word.split("/")[0]
        if word in paths:
            out.append(str(paths[word]))
        elif head in ("exports", "engines"):
            out.append(str(folder / word))
        else:
            out.append(word)
    return out + (FAST_BENCH if words[0] == "bench" else [])


def test_readme_recipe_has_the_steps_it_describes():
    verbs = [words[0] for words in recipe_commands()]
    assert verbs == ["export", "export", "export", "export", "bench", "infer"]


def test_readme_jetson_recipe_runs_as_written(monkeypatch, tmp_path):
    install(monkeypatch, VERSIONS["10"])  # JetPack 6's TensorRT (both modes: test_tensorrt_standin)
    monkeypatch.chdir(tmp_path)  # bench writes runs/bench
    tiny_student(tmp_path / "best.pt")
    coco_results(tmp_path / "people.json", 30)
    for words in recipe_commands():
        result = cli(*localise(words, tmp_path))
        assert result.exit_code == 0, (words, result.output)
    for engine in ("engines/fp16/best.fp16.engine", "engines/int8/best.int8.engine"):
        assert (tmp_path / engine).is_file() and (tmp_path / f"{engine}.json").is_file()
    dla = json.loads((tmp_path / "engines/dla/best.fp16.engine.json").read_text())
    assert dla["plan"]["profile"] == {"min": 8, "opt": 8, "max": 8}
    bench = json.loads((tmp_path / "runs/bench/bench.json").read_text())
    assert all(row["status"] == "ok" for row in bench["rows"] if row["backend"] == "tensorrt")
    assert np.load(tmp_path / "poses.npz")["pose_3d"].shape == (30, 17, 3)


def test_readme_recipe_when_the_int8_gate_refuses(monkeypatch, tmp_path):
    install(monkeypatch, "10.3.0")
    tiny_student(tmp_path / "best.pt")
    first, _, int8_engine, *_ = [localise(words, tmp_path) for words in recipe_commands()]
    result = cli(*first, "--max-mpjpe-drop", "-1000")  # a gate no model passes
    assert result.exit_code == 1
    assert (tmp_path / "exports/best.onnx").is_file()
    assert (tmp_path / "exports/best.fp16.onnx").is_file()
    assert not (tmp_path / "exports/best.int8.onnx").exists()
    result = cli(*int8_engine)
    assert result.exit_code == 2
    assert "best.int8.onnx:ONNXfilenotfound" in re.sub(r"\s+", "", result.output)
