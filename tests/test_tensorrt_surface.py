"""The project and the stand-in are held to TensorRT's documented API, an independent list
(tests/trt_standin/reference_api.py, written from NVIDIA's documentation), in 10.x and 11.x:

- every `trt.X` / `trt.X.Y` in scjd_edge and every flag a build plan can hold is documented;
- every public member of every stand-in class, enum and of its cuda-python module is
  documented (so the project, whose TensorRT calls all run through the stand-in in
  tests/test_tensorrt_standin.py and meet an AttributeError on anything the stand-in
  lacks, calls only documented API), and the stand-in's parameters match the signatures
  that were read;
- every `cudart.X` the runner calls is a CUDA runtime function cuda-python documents.
"""

from __future__ import annotations

import ast
import inspect
import itertools
from pathlib import Path

import pytest
from trt_standin import install, reference_api

from scjd_edge.errors import ExportError
from scjd_edge.export.options import PRECISIONS, TensorRTOptions
from scjd_edge.export.tensorrt_plan import builder_plan

PACKAGE = Path(__file__).resolve().parents[1] / "scjd_edge"
MODES = {"10.x": "10.3.0", "11.x": "11.4.1"}
# TensorRT 10 only (removed in 11.0), named only in the module used on TensorRT 10 alone.
TRT10_ONLY = {"IInt8EntropyCalibrator2": "tensorrt_calibrator.py"}
# The stand-in's class names -> TensorRT's documented ones.
STANDIN_CLASSES = {
    "Builder": "Builder", "BuilderConfig": "IBuilderConfig", "Network": "INetworkDefinition",
    "Layer": "ILayer", "Tensor": "ITensor", "OnnxParser": "OnnxParser",
    "Profile": "IOptimizationProfile", "TimingCache": "ITimingCache", "Runtime": "Runtime",
    "Engine": "ICudaEngine", "Context": "IExecutionContext",
    "EngineInspector": "EngineInspector", "Logger": "Logger",
}  # fmt: skip


def attribute_chains(source: str, root: str) -> set[str]:
    """'X' and 'X.Y' for every attribute chain rooted at a name `root` (or self._root)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        rooted = isinstance(node, ast.Name) and node.id == root
        if chain and not rooted and isinstance(node, ast.Name) and node.id == "self":
            rooted, chain = chain[-1] == f"_{root}", chain[:-1]
        if rooted and chain:
            chain.reverse()
            head = chain[:2] if len(chain) < 2 or not chain[1].startswith("__") else chain[:1]
            found.add(".".join(head))
    return found


def undocumented(attributes: set[str], names: dict[str, set[str]]) -> set[str]:
    missing = set()
    for attribute in attributes:
        head, _, member = attribute.partition(".")
        if head not in names[""] or (member and head in names and member not in names[head]):
            missing.add(attribute)
    return missing


def project_chains(root: str) -> set[str]:
    return set().union(
        *(attribute_chains(p.read_text(encoding="utf-8"), root) for p in PACKAGE.rglob("*.py"))
    )


def test_scanner_finds_chains_and_the_reference_refuses_what_is_not_documented():
    code = "trt.Logger(trt.Logger.WARNING)\nconfig.set_flag(trt.BuilderFlag.STRICT_TYPES)\n"
    found = attribute_chains(code, "trt")
    assert found == {"Logger", "Logger.WARNING", "BuilderFlag", "BuilderFlag.STRICT_TYPES"}
    reference_10, reference_11 = reference_api.reference(10), reference_api.reference(11)
    assert undocumented(found, reference_10) == {"BuilderFlag.STRICT_TYPES"}
    assert undocumented({"BuilderFlag.FP16", "IInt8EntropyCalibrator2"}, reference_11) == {
        "BuilderFlag.FP16", "IInt8EntropyCalibrator2"
    }  # fmt: skip
    assert attribute_chains("self._cudart.cudaFree(p)", "cudart") == {"cudaFree"}


def test_project_source_uses_tensorrt_at_all():
    assert {"Builder", "Runtime", "OnnxParser", "TensorIOMode.INPUT"} <= project_chains("trt")
    assert {"cudaStreamDestroy", "cudaDriverGetVersion"} <= project_chains("cudart")


@pytest.mark.parametrize("major", [10, 11])
def test_every_trt_attribute_the_project_names_is_documented(major):
    attributes = project_chains("trt")
    if major == 11:
        attributes = {a for a in attributes if a.partition(".")[0] not in TRT10_ONLY}
    assert undocumented(attributes, reference_api.reference(major)) == set()


def test_trt10_only_api_is_named_only_where_trt10_alone_runs():
    for path in PACKAGE.rglob("*.py"):
        named = attribute_chains(path.read_text(encoding="utf-8"), "trt") & set(TRT10_ONLY)
        assert all(TRT10_ONLY[name] == path.name for name in named), path


def test_every_cuda_runtime_call_of_the_project_is_documented():
    functions = {chain.partition(".")[0] for chain in project_chains("cudart")}
    assert functions - reference_api.CUDART == set()


@pytest.mark.parametrize("mode", MODES)
def test_every_flag_a_plan_can_hold_is_documented(mode):
    names = reference_api.reference(int(MODES[mode].split(".")[0]))
    checked = 0
    for precision, dla_core, tf32 in itertools.product(PRECISIONS, (None, 0), (False, True)):
        options = TensorRTOptions(
            precision=precision, dla_core=dla_core, tf32=tf32, allow_gpu_fallback=True
        )
        try:
            plan = builder_plan(MODES[mode], options)
        except ExportError:  # refused requests (DLA fp32) hold no flags
            continue
        checked += 1
        assert set(plan["builder_flags"] + plan["cleared_flags"]) <= names["BuilderFlag"]
        assert set(plan["network_flags"]) <= names["NetworkDefinitionCreationFlag"]
    assert checked == 10  # 3 precisions x 2 TF32 on the GPU + fp16/int8 x 2 TF32 on DLA


def relu_model(path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )  # fmt: skip
    onnx.save(helper.make_model(graph), path)


def standin_objects(trt, onnx_path):
    """One object of every stand-in class, reached through the documented API."""
    logger = trt.Logger()
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse_from_file(str(onnx_path))
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        shape = [1 if d == -1 else d for d in network.get_input(i).shape]
        profile.set_shape(network.get_input(i).name, shape, shape, shape)
    config.add_optimization_profile(profile)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(builder.build_serialized_network(network, config))
    objects = [logger, builder, network, parser, config, profile, runtime, engine]
    objects += [config.create_timing_cache(b""), network.get_layer(0), network.get_input(0)]
    return [*objects, engine.create_execution_context(), engine.create_engine_inspector()]


def public_members(value) -> set[str]:
    kind = value if isinstance(value, type) else type(value)
    return {name for name in dir(kind) if not name.startswith("_")} - {"mro"}


@pytest.mark.parametrize("mode", MODES)
def test_every_member_of_the_stand_in_is_documented(mode, monkeypatch, tmp_path):
    state = install(monkeypatch, MODES[mode])
    names = reference_api.reference(int(MODES[mode].split(".")[0]))
    relu_model(tmp_path / "relu.onnx")
    for value in standin_objects(state.trt, tmp_path / "relu.onnx"):
        documented = STANDIN_CLASSES[type(value).__name__]
        assert public_members(value) - names[documented] == set(), documented
    module = {name for name in vars(state.trt) if not name.startswith("_")}
    enums = {name for name in module if isinstance(getattr(state.trt, name), type)}
    assert module - enums - names[""] == set()
    for enum_name in enums - {"Logger", "Builder", "OnnxParser", "Runtime"}:
        kind = getattr(state.trt, enum_name)
        members = set(getattr(kind, "__members__", ())) or public_members(kind)
        assert members - names[enum_name] == set(), enum_name
    cudart = {name for name in vars(state.cudart) if not name.startswith("_")}
    assert cudart - reference_api.CUDART == set()


@pytest.mark.parametrize("mode", MODES)
def test_stand_in_parameters_match_the_documented_signatures(mode, monkeypatch, tmp_path):
    state = install(monkeypatch, MODES[mode])
    relu = tmp_path / "relu.onnx"
    relu_model(relu)
    kinds = {STANDIN_CLASSES[type(v).__name__]: type(v) for v in standin_objects(state.trt, relu)}
    kinds |= {name: getattr(state.trt, name) for name in ("IInt8EntropyCalibrator2",)
              if hasattr(state.trt, name)}  # fmt: skip
    checked = 0
    for (documented, method), parameters in reference_api.SIGNATURES.items():
        if not hasattr(kinds.get(documented), method):
            continue  # not in the stand-in (or user-implemented, as the calibrator's get_batch)
        signature = inspect.signature(getattr(kinds[documented], method))
        assert tuple(signature.parameters)[1:] == parameters, (documented, method)
        checked += 1
    assert checked >= 2  # deserialize_cuda_engine, get_engine_information
