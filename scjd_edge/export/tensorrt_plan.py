"""TensorRT engines from the exported ONNX files: the build plan, the build and the sidecar.

Supports the name-based Python API of TensorRT 10 (JetPack 6) and 11. Precision comes from
the ONNX graph where it can: an FP16 ONNX (FP16 weights and compute) and a QDQ INT8 ONNX
are built as strongly typed networks, so TensorRT runs exactly the types in the file.
TensorRT 11 removed the FP16/INT8 builder flags and the calibrators and always builds
strongly typed. TensorRT 10 builds weakly typed networks with builder flags where that is
the only way to reach the wanted precision: an INT8 engine whose unquantized layers run in
FP16 (flags INT8 + FP16 on the QDQ graph), and DLA engines. TF32 is cleared unless asked.

`builder_plan` and the sidecar checks are plain functions (tested without a GPU);
`build_engine` imports TensorRT lazily. Running an engine is `tensorrt_runner`'s job.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.contract import Deployment
from scjd_edge.errors import ConfigError, ExportError, ScjdError
from scjd_edge.export.options import TensorRTOptions
from scjd_edge.export.tensorrt_calibrator import calibration_cache_path, make_entropy_calibrator
from scjd_edge.io import atomic_path, sha256_file, write_json

INSTALL_GUIDANCE = (
    "TensorRT is not installed (the Python module `tensorrt` cannot be imported). "
    "On Jetson it comes with JetPack 6 (`sudo apt install nvidia-tensorrt`, which also "
    "provides the Python bindings; in a venv created with --system-site-packages, then "
    '`pip install "scjd-edge[jetson]"`); on a desktop or server with an NVIDIA GPU install '
    'NVIDIA\'s wheels: `pip install "scjd-edge[trt]"` for CUDA 12 drivers (or '
    '"scjd-edge[trt-cu13]"; `pip install tensorrt` alone leaves cuda-python out). '
    "The ONNX, FP16 and INT8 exports need no TensorRT."
)
# NVIDIA, "Working with DLA" (TensorRT 11.4.1 docs): TensorRT 10.7 was the last 10.x release
# with DLA; DLA was unavailable in 11.0-11.3 (11.4.0: Windows on ARM only) and returned in
# 11.4.1 for Jetson AGX Orin on JetPack 7.2.2+, strongly typed.
LAST_TRT10_WITH_DLA = (10, 7)
FIRST_TRT11_WITH_DLA = (11, 4, 1)
SIDECAR_KEYS = ("tensorrt_version", "gpu_name", "compute_capability", "precision", "plan")
SIDECAR_KEYS += ("deployment", "onnx", "engine_sha256", "sidecar_sha256")
# Op domains TensorRT's ONNX parser imports: the default ONNX domain. ONNX Runtime's contrib
# ops (com.microsoft, e.g. DynamicQuantizeMatMul) have no importer, nor have the dynamic /
# integer quantization ops of the CPU INT8 export (onnx/onnx-tensorrt docs/operators.md:
# DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv "N").
TENSORRT_OP_DOMAINS = ("", "ai.onnx")
NO_TENSORRT_IMPORTER = ("DynamicQuantizeLinear", "MatMulInteger", "ConvInteger")
NO_TENSORRT_IMPORTER += ("QLinearMatMul", "QLinearConv")


def require_tensorrt() -> Any:
    """The `tensorrt` module, or an ExportError that says how to install it."""
    try:
        import tensorrt
    except ImportError:
        raise ExportError(INSTALL_GUIDANCE) from None
    return tensorrt


def tensorrt_version_parts(version: str | int) -> tuple[int, int, int]:
    """'10.3.0.30' -> (10, 3, 0); a bare major version 11 -> (11, 0, 0)."""
    parts = [*str(version).split("."), "0", "0"][:3]
    try:
        return int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        raise ExportError(f"TensorRT version {version!r} is not of the form MAJOR.MINOR") from None


def builder_plan(
    trt_version: str | int,
    options: TensorRTOptions,
    timing_cache: str | Path | None = None,
) -> dict[str, Any]:
    """How to build the engine `options` asks for with TensorRT `trt_version`.

    Returns a JSON-able dict: `build_from` (which ONNX precision to parse: "fp32", "fp16"
    or "int8" QDQ), `strongly_typed`, `network_flags`, `builder_flags` and `cleared_flags`
    (names of NetworkDefinitionCreationFlag / BuilderFlag members), `device`, `dla_core`,
    `profile` (batch min/opt/max), `workspace_bytes`, `optimization_level`, `timing_cache`
    and `notes` (each decision in words). Raises ExportError for what cannot be built.
    """
    version = tensorrt_version_parts(trt_version)
    major, precision = version[0], options.precision
    if major < 10:
        raise ExportError(
            f"TensorRT {trt_version} is too old: scjd-edge builds with the name-based API of "
            "TensorRT 10 or newer (JetPack 6 ships TensorRT 10)"
        )
    dla = options.dla_core is not None
    if dla:
        _check_dla(version, precision)
    notes: list[str] = []
    strongly_typed = major >= 11 or not (dla or precision == "int8")
    if major >= 11:
        notes.append(
            "TensorRT 11 builds strongly typed networks only: precision comes from the ONNX"
        )
    calibrated = dla and precision == "int8" and major == 10
    build_from, builder_flags = _precision_source(precision, strongly_typed)
    if calibrated:
        build_from = "fp32"
        notes.append(
            "INT8 on DLA with TensorRT 10: implicit quantization (DLA takes no Q/DQ): TensorRT "
            "calibrates the FP32 ONNX with IInt8EntropyCalibrator2 on training windows "
            "(--calib-data) and keeps the calibration cache beside the engine"
        )
    notes += _precision_notes(major, precision, build_from, builder_flags)
    profile = _profile(options, notes)
    if dla:
        notes.append(_dla_note(options))
        if options.allow_gpu_fallback:
            builder_flags = [*builder_flags, "GPU_FALLBACK"]
    cleared = [] if options.tf32 else ["TF32"]
    if cleared:
        notes.append("TF32 cleared: FP32 layers compute in full FP32 (--tf32 allows TF32)")
    return {
        "tensorrt_version": str(trt_version),
        "precision": precision,
        "build_from": build_from,
        "strongly_typed": strongly_typed,
        # TensorRT 11 deprecates the flag (strong typing is always on): never passed there.
        "network_flags": ["STRONGLY_TYPED"] if strongly_typed and major == 10 else [],
        "builder_flags": builder_flags,
        "cleared_flags": cleared,
        "device": "DLA" if dla else "GPU",
        "dla_core": options.dla_core,
        "profile": profile,
        "workspace_bytes": int(options.workspace_mb) << 20,
        "optimization_level": int(options.optimization_level),
        "timing_cache": None if timing_cache is None else str(timing_cache),
        "inspect": bool(options.inspect),
        "calibration": "entropy2" if calibrated else None,
        "notes": notes,
    }


def _dla_note(options: TensorRTOptions) -> str:
    if options.allow_gpu_fallback:
        return (
            f"DLA core {options.dla_core}; layers DLA cannot run fall back to the GPU "
            "(--allow-gpu-fallback; the sidecar lists where each layer runs)"
        )
    return (
        f"DLA core {options.dla_core}, no GPU fallback: every layer must run on DLA "
        "(--allow-gpu-fallback lets the others run on the GPU)"
    )


def _precision_source(precision: str, strongly_typed: bool) -> tuple[str, list[str]]:
    """(ONNX precision to parse, builder flags) for a requested engine precision."""
    if precision == "int8":
        # Explicit quantization (QDQ ONNX) except on DLA with TensorRT 10 (builder_plan).
        return "int8", [] if strongly_typed else ["INT8", "FP16"]
    if precision == "fp16" and not strongly_typed:
        return "fp32", ["FP16"]
    return precision, []


def _precision_notes(major: int, precision: str, build_from: str, flags: list[str]) -> list[str]:
    notes = []
    if flags:
        notes.append(f"weakly typed network with builder flags {flags}")
    if precision == "int8" and "FP16" in flags:
        notes.append("INT8 engine: quantized layers in INT8, the others in FP16")
    elif precision == "int8":
        notes.append(
            "INT8 engine on TensorRT 11: quantized layers in INT8, the others in the QDQ "
            "ONNX's FP32 (TensorRT 11 has no FP16 flag and scjd-edge writes no FP16 QDQ ONNX)"
        )
    if precision == "fp16" and major >= 11:
        notes.append("FP16 engine built from the FP16 ONNX (TensorRT 11 has no FP16 builder flag)")
    if build_from != precision and precision != "int8":
        notes.append(f"{precision} engine built from the {build_from.upper()} ONNX")
    return notes


def _profile(options: TensorRTOptions, notes: list[str]) -> dict[str, int]:
    if options.dla_core is None:
        return {"min": options.min_batch, "opt": options.opt_batch, "max": options.max_batch}
    fixed = options.opt_batch
    notes.append(
        f"DLA has no dynamic shapes: profile min = opt = max = {fixed} (--opt-batch); "
        "other batch sizes are padded or split into calls of that size"
    )
    return {"min": fixed, "opt": fixed, "max": fixed}


def _check_dla(version: tuple[int, int, int], precision: str) -> None:
    label = ".".join(map(str, version))
    if precision == "fp32":
        raise ExportError(
            "DLA runs FP16 or INT8 only: use --precision fp16 or int8 with --dla-core"
        )
    if version[0] == 10 and version[:2] > LAST_TRT10_WITH_DLA:
        raise ExportError(
            f"TensorRT {label} has no DLA support (TensorRT 10.7 was the last 10.x release "
            "with DLA; JetPack 6 ships TensorRT 10.3)"
        )
    if version[0] >= 11 and version < FIRST_TRT11_WITH_DLA:
        raise ExportError(
            f"TensorRT {label} has no DLA support (restored in 11.4.1 for Jetson AGX Orin on "
            "JetPack 7.2.2+); on JetPack 6 use its TensorRT 10"
        )


def check_engine_source(onnx_path: str | Path) -> None:
    """Raise ExportError when TensorRT's parser has no importer for an op of the ONNX file."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    foreign = sorted(
        {
            node.op_type
            for node in graph.node
            if node.domain not in TENSORRT_OP_DOMAINS or node.op_type in NO_TENSORRT_IMPORTER
        }
    )
    if foreign:
        raise ExportError(
            f"{onnx_path}: TensorRT cannot build an engine from it (its ops {', '.join(foreign)} "
            "have no TensorRT importer; an .int8.cpu.onnx is for ONNX Runtime on a CPU); build "
            "from the FP32 .onnx, the .fp16.onnx or the QDQ .int8.onnx"
        )


def profile_shapes(profile: dict[str, int], input_frames: int) -> dict[str, dict[str, list[int]]]:
    """Min/opt/max shapes of each model input for a batch profile (N = input_frames)."""
    shapes = {}
    for name, tail in (("keypoints_2d", [input_frames, 17, 2]), ("frame_offsets", [input_frames])):
        shapes[name] = {level: [profile[level], *tail] for level in ("min", "opt", "max")}
    return shapes


def sidecar_path(engine_path: str | Path) -> Path:
    """`model.fp16.engine` -> `model.fp16.engine.json`."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def read_sidecar(engine_path: str | Path) -> dict[str, Any]:
    """The engine's JSON sidecar, with every key the runner and the bench rely on; its
    `deployment` read as a Deployment (a contract of any stored version)."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise ExportError(
            f"{engine_path}: its sidecar {path.name} is missing; an engine is only trusted "
            "with the sidecar written beside it by `scjd-edge export --trt`"
        )
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ExportError(f"{path}: not valid JSON ({error})") from None
    missing = [key for key in SIDECAR_KEYS if key not in sidecar]
    if not isinstance(sidecar, dict) or missing:
        raise ExportError(
            f"{path}: not an scjd-edge engine sidecar (missing {missing}); rebuild the engine "
            "with `scjd-edge export --trt`"
        )
    _check_integrity(sidecar, path, Path(engine_path))
    try:
        sidecar["deployment"] = Deployment.from_dict(sidecar["deployment"])
    except ConfigError as error:
        raise ExportError(f"{path}: {error}") from None
    return sidecar


def engine_sidecar(engine_path: str | Path, onnx_path: str | Path | None = None) -> dict[str, Any]:
    """The engine's sidecar, or, for an engine built elsewhere (trtexec, DeepStream) that has
    none, what its source ONNX says: the contract and precision from the ONNX metadata (the
    engine's I/O comes from the engine itself). The sidecar is preferred when both exist."""
    if onnx_path is None or sidecar_path(engine_path).is_file():
        return read_sidecar(engine_path)
    from scjd_edge.export.onnx_export import read_deployment, read_metadata

    try:
        deployment, metadata = read_deployment(onnx_path), read_metadata(onnx_path)
    except ScjdError as error:
        raise ExportError(f"--onnx {onnx_path}: {error}") from None
    return {
        "precision": metadata.get("precision", "fp32"),
        "plan": {"dla_core": None, "device": None},
        "onnx": Path(onnx_path).name,
        "onnx_sha256": sha256_file(onnx_path),
        "onnx_metadata": metadata,
        "deployment": deployment,
        "engine_sha256": sha256_file(engine_path),
        "sidecar": None,  # no build record: TensorRT itself refuses a plan of another version
    }


def sidecar_digest(sidecar: dict[str, Any]) -> str:
    """sha256 of every sidecar entry but the digest itself (canonical JSON): covers the
    contract, precision, plan and source ONNX metadata the runner and the bench trust."""
    body = {key: value for key, value in sidecar.items() if key != "sidecar_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_integrity(sidecar: dict[str, Any], path: Path, engine_path: Path) -> None:
    if sidecar["sidecar_sha256"] != sidecar_digest(sidecar):
        raise ExportError(
            f"{path}: edited after the build (its sidecar_sha256 no longer matches its "
            "content); rebuild the engine with `scjd-edge export --trt`"
        )
    if sidecar["engine_sha256"] != sha256_file(engine_path):
        raise ExportError(
            f"{engine_path}: not the engine its sidecar {path.name} describes (sha256 differs); "
            "rebuild it with `scjd-edge export --trt`"
        )


def check_sidecar(
    sidecar: dict[str, Any], runtime_info: dict[str, Any], source: str = "engine sidecar"
) -> None:
    """Raise ExportError unless the engine was built for this TensorRT and GPU.

    Both dicts hold `tensorrt_version`, `gpu_name` and `compute_capability` ("8.7"). A
    TensorRT engine only runs with the TensorRT version and the GPU model it was built for.
    """
    for key in ("tensorrt_version", "gpu_name", "compute_capability"):
        if key not in sidecar:
            raise ExportError(f"{source}: key {key!r} is missing")
    problems = [
        f"{label} {sidecar[key]!r} at build time, {runtime_info.get(key)!r} here"
        for key, label in (
            ("tensorrt_version", "TensorRT"),
            ("compute_capability", "compute capability"),
            ("gpu_name", "GPU"),
        )
        if str(sidecar[key]) != str(runtime_info.get(key))
    ]
    if problems:
        raise ExportError(
            f"{source}: the engine does not fit this machine ({'; '.join(problems)}); "
            "rebuild it here from the ONNX with `scjd-edge export --trt`"
        )


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    plan: dict[str, Any],
    deployment: Deployment,
    calibration_inputs: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Build and write the engine and its JSON sidecar; returns the sidecar dict.

    calibration_inputs: prepared model inputs by name, (S, ...) float32, for a plan with
    `calibration` (INT8 on DLA, TensorRT 10). Any TensorRT or CUDA error becomes an
    ExportError naming the ONNX file; on failure neither the engine nor its sidecar is
    left behind.
    """
    trt = require_tensorrt()
    check_engine_source(onnx_path)
    companions = (sidecar_path(engine_path), layers_path(engine_path))
    for stale in (Path(engine_path), *companions, calibration_cache_path(engine_path)):
        stale.unlink(missing_ok=True)
    if plan.get("calibration") and calibration_inputs is None:
        raise ExportError(
            "INT8 on DLA with TensorRT 10 is calibrated by TensorRT (DLA takes no Q/DQ): "
            "pass --calib-data with the data set whose training split calibrates it"
        )
    try:
        return _build(trt, Path(onnx_path), Path(engine_path), plan, deployment, calibration_inputs)
    except ScjdError:
        raise
    except Exception as error:  # TensorRT raises RuntimeError/TypeError/... of its own
        raise ExportError(
            f"{onnx_path}: TensorRT build failed: {type(error).__name__}: {error}"
        ) from None


def _build(
    trt: Any,
    onnx_path: Path,
    engine_path: Path,
    plan: dict,
    deployment: Deployment,
    calibration_inputs: dict[str, np.ndarray] | None,
) -> dict:
    from scjd_edge.export.onnx_export import read_metadata
    from scjd_edge.export.tensorrt_runner import current_runtime_info

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    for name in plan["network_flags"]:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ExportError(f"{onnx_path}: TensorRT cannot parse it: {'; '.join(errors)}")
    config = _builder_config(trt, builder, plan)
    profile = builder.create_optimization_profile()
    graph_inputs = {network.get_input(i).name for i in range(network.num_inputs)}
    shapes = profile_shapes(plan["profile"], int(deployment.input_frames))
    shapes = {name: levels for name, levels in shapes.items() if name in graph_inputs}
    for name, levels in shapes.items():
        profile.set_shape(name, levels["min"], levels["opt"], levels["max"])
    config.add_optimization_profile(profile)
    if plan["device"] == "DLA" and "GPU_FALLBACK" not in plan["builder_flags"]:
        _check_all_on_dla(config, network)
    calibrator = None
    if plan.get("calibration"):
        calibrator = make_entropy_calibrator(
            trt, calibration_inputs, plan["profile"]["opt"], calibration_cache_path(engine_path)
        )
        config.int8_calibrator = calibrator
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.close()
    if serialized is None:
        raise ExportError(f"{onnx_path}: TensorRT failed to build an engine (see its log above)")
    timing_cache = config.get_timing_cache() if plan["timing_cache"] else None
    if timing_cache is not None:
        with atomic_path(plan["timing_cache"]) as tmp:
            tmp.write_bytes(bytes(timing_cache.serialize()))
    information = _inspect(trt, logger, serialized, plan)
    if plan.get("inspect"):
        write_json(layers_path(engine_path), information)
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(bytes(serialized))
    record = {
        **current_runtime_info(),
        "precision": plan["precision"],
        "plan": plan,
        "inputs": shapes,
        "outputs": {
            network.get_output(i).name: list(network.get_output(i).shape)
            for i in range(network.num_outputs)
        },
        "layer_devices": layer_placement(information, plan["device"] == "DLA"),
        "calibration_cache": calibration_cache_path(engine_path).name if calibrator else None,
        "onnx": onnx_path.name,
        "onnx_sha256": sha256_file(onnx_path),
        "onnx_metadata": read_metadata(onnx_path),
        "deployment": deployment.to_dict(),
        "engine_sha256": sha256_file(engine_path),
    }
    record["sidecar_sha256"] = sidecar_digest(record)
    write_json(sidecar_path(engine_path), record)
    return {**record, "deployment": deployment}


def _builder_config(trt: Any, builder: Any, plan: dict[str, Any]) -> Any:
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan["workspace_bytes"])
    config.builder_optimization_level = plan["optimization_level"]
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector's detail
    for name in plan["builder_flags"]:
        config.set_flag(getattr(trt.BuilderFlag, name))
    for name in plan["cleared_flags"]:
        config.clear_flag(getattr(trt.BuilderFlag, name))
    if plan["device"] == "DLA":
        if builder.num_DLA_cores <= plan["dla_core"]:
            raise ExportError(
                f"DLA core {plan['dla_core']} requested, this device has "
                f"{builder.num_DLA_cores} DLA cores"
            )
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(plan["dla_core"])
    if plan["timing_cache"]:
        cache_file = Path(plan["timing_cache"])
        cached = cache_file.read_bytes() if cache_file.is_file() else b""
        if not config.set_timing_cache(config.create_timing_cache(cached), ignore_mismatch=False):
            raise ExportError(
                f"timing cache {cache_file}: TensorRT refused it (written by another GPU or "
                "TensorRT version); delete it or pass another --timing-cache"
            )
    return config


def _check_all_on_dla(config: Any, network: Any) -> None:
    """Without GPU fallback every layer must run on DLA: say which cannot, before the build."""
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    refused = [layer.name for layer in layers if not config.can_run_on_DLA(layer)]
    if refused:
        raise ExportError(
            f"{len(refused)} of {len(layers)} layers cannot run on DLA (e.g. {refused[0]!r}) and "
            "GPU fallback is off: pass --allow-gpu-fallback to run them on the GPU"
        )


def layers_path(engine_path: str | Path) -> Path:
    """`model.fp16.engine` -> `model.fp16.engine.layers.json` (the inspector's output)."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".layers.json")


def _inspect(trt: Any, logger: Any, serialized: Any, plan: dict[str, Any]) -> dict[str, Any]:
    """The built engine's layer information (IEngineInspector, JSON) as a dict."""
    runtime = trt.Runtime(logger)
    if plan["dla_core"] is not None:
        runtime.DLA_core = int(plan["dla_core"])
    engine = runtime.deserialize_cuda_engine(bytes(serialized))
    if engine is None:
        raise ExportError("TensorRT cannot deserialize the engine it just built")
    inspector = engine.create_engine_inspector()
    return json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


def layer_placement(information: dict[str, Any], dla_engine: bool) -> dict[str, Any]:
    """Device and precision of every layer of a built engine, from its inspector JSON.

    In a DLA engine each DLA subgraph is one `{ForeignNode[first...last]}` layer (as in
    TensorRT's DLA build logs, NVIDIA/TensorRT#3143); GPU subgraphs compiled by Myelin use
    the same name with LayerType "Myelin", so those count as GPU. Precision is read from the
    tensors' "Format/Datatype" (DETAILED profiling verbosity), None where it is not given.
    """
    rows = []
    for layer in information.get("Layers", []):
        detailed = isinstance(layer, dict)
        name = layer.get("Name", "") if detailed else str(layer)
        kind = layer.get("LayerType") if detailed else None
        formats = (
            [t.get("Format/Datatype", "") for t in layer.get("Outputs", [])] if detailed else []
        )
        foreign = name.startswith("{ForeignNode[") and kind != "Myelin"
        device = "DLA" if dla_engine and foreign else "GPU"
        rows.append(
            {"layer": name, "type": kind, "device": device, "precision": _precision(formats)}
        )
    on_dla = sum(row["device"] == "DLA" for row in rows)
    precisions: dict[str, int] = {}
    for row in rows:
        precisions[str(row["precision"])] = precisions.get(str(row["precision"]), 0) + 1
    return {
        "source": "engine inspector",
        "dla_layers": on_dla,
        "gpu_layers": len(rows) - on_dla,
        "precisions": precisions,
        "layers": rows,
    }


def _precision(formats: list[str]) -> str | None:
    text = " ".join(formats).lower()
    for precision, words in (
        ("int8", ("int8",)),
        ("fp16", ("fp16", "half")),
        ("fp32", ("fp32", "float")),
    ):
        if any(word in text for word in words):
            return precision
    return None


def describe_layers(placement: dict[str, Any]) -> str:
    """One line: '12 layers: 3 on DLA, 9 on GPU; precision fp16 10, fp32 2'."""
    precisions = ", ".join(
        f"{name} {count}" for name, count in sorted(placement["precisions"].items())
    )
    total = placement["dla_layers"] + placement["gpu_layers"]
    return (
        f"{total} layers: {placement['dla_layers']} on DLA, {placement['gpu_layers']} on GPU; "
        f"precision {precisions}"
    )
