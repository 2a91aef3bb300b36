"""The one table of model files (export.runtime.MODEL_FORMATS) that runtime and bench read."""

from __future__ import annotations

import pytest

from scjd_edge.bench.runner import run_bench
from scjd_edge.errors import ConfigError, ExportError
from scjd_edge.export.runtime import BACKENDS, load_predictor, model_format


@pytest.mark.parametrize(
    ("name", "kind", "default_backend"),
    [
        ("a/best.pt", "checkpoint", "torch"),
        ("best.PTH", "checkpoint", "torch"),
        ("m.int8.onnx", "onnx", "onnxruntime"),
        ("m.engine", "engine", "tensorrt"),
        ("m.plan", "engine", "tensorrt"),
    ],
)
def test_suffix_gives_format_and_default_backend(name, kind, default_backend):
    found = model_format(name)
    assert (found.name, found.backends[0]) == (kind, default_backend)


def test_every_backend_belongs_to_one_format_and_unknown_files_are_named():
    assert BACKENDS == ("torch", "torch-compile", "onnxruntime", "tensorrt")
    assert model_format("model.tflite") is None
    with pytest.raises(ExportError, match=r"model.tflite: cannot tell how to run it"):
        load_predictor("model.tflite")
    with pytest.raises(ConfigError, match=r"model.tflite: unknown model file type \(expected "):
        run_bench(models=["model.tflite"], data="builtin:cmu")
