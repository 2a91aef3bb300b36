"""The project calls only TensorRT API that exists: every `trt.X` / `trt.X.Y` in scjd_edge and
every flag name a build plan can hold must be in the stand-in's 10.x and 11.x surface.

Method calls on TensorRT objects (builder, config, network, engine, context) are held to
the surface at run time: the stand-in's classes use __slots__, so an unknown attribute is
an AttributeError in tests/test_tensorrt_standin.py, which runs the code in both modes.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from trt_standin import surface

from scjd_edge.errors import ExportError
from scjd_edge.export.options import PRECISIONS, TensorRTOptions
from scjd_edge.export.tensorrt_plan import builder_plan

PACKAGE = Path(__file__).resolve().parents[1] / "scjd_edge"
MODES = {"10.x": "10.3.0", "11.x": "11.4.1"}
# TensorRT 10 only (removed in 11.0), named only in the module used on TensorRT 10 alone.
TRT10_ONLY = {"IInt8EntropyCalibrator2": "tensorrt_calibrator.py"}


def trt_attributes(source: str) -> set[str]:
    """'X' and 'X.Y' for every attribute chain rooted at a name `trt` in `source`."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id == "trt" and chain:
            chain.reverse()
            head = chain[:2] if len(chain) < 2 or not chain[1].startswith("__") else chain[:1]
            found.add(".".join(head))
    return found


def missing_from(attributes: set[str], names: dict[str, set[str]]) -> set[str]:
    missing = set()
    for attribute in attributes:
        head, _, member = attribute.partition(".")
        if head not in names[""] or (member and head in names and member not in names[head]):
            missing.add(attribute)
    return missing


def project_attributes() -> set[str]:
    return set().union(
        *(trt_attributes(path.read_text(encoding="utf-8")) for path in PACKAGE.rglob("*.py"))
    )


def test_scanner_finds_attribute_chains_and_flags_unknown_ones():
    code = "trt.Logger(trt.Logger.WARNING)\nconfig.set_flag(trt.BuilderFlag.STRICT_TYPES)\n"
    found = trt_attributes(code)
    assert found == {"Logger", "Logger.WARNING", "BuilderFlag", "BuilderFlag.STRICT_TYPES"}
    assert missing_from(found, surface("10.3.0")) == {"BuilderFlag.STRICT_TYPES"}


def test_project_source_uses_tensorrt_at_all():
    attributes = project_attributes()
    assert {"Builder", "Runtime", "OnnxParser", "TensorIOMode.INPUT"} <= attributes


@pytest.mark.parametrize("mode", MODES)
def test_every_trt_attribute_the_project_names_exists(mode):
    attributes = project_attributes()
    if mode == "11.x":
        attributes -= set(TRT10_ONLY)
    assert missing_from(attributes, surface(MODES[mode])) == set()


def test_trt10_only_api_is_named_only_where_trt10_alone_runs():
    for path in PACKAGE.rglob("*.py"):
        named = trt_attributes(path.read_text(encoding="utf-8")) & set(TRT10_ONLY)
        assert all(TRT10_ONLY[name] == path.name for name in named), path


@pytest.mark.parametrize("mode", MODES)
def test_every_flag_a_plan_can_hold_exists(mode):
    version = MODES[mode]
    names = surface(version)
    checked = 0
    for precision, dla_core, tf32 in itertools.product(PRECISIONS, (None, 0), (False, True)):
        options = TensorRTOptions(
            precision=precision, dla_core=dla_core, tf32=tf32, allow_gpu_fallback=True
        )
        try:
            plan = builder_plan(version, options)
        except ExportError:  # refused requests (DLA fp32) hold no flags
            continue
        checked += 1
        assert set(plan["builder_flags"] + plan["cleared_flags"]) <= names["BuilderFlag"]
        assert set(plan["network_flags"]) <= names["NetworkDefinitionCreationFlag"]
    assert checked == 10  # 3 precisions x 2 TF32 on the GPU + fp16/int8 x 2 TF32 on DLA
