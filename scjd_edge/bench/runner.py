"""`scjd-edge bench`: every model file x backend x precision x batch, one row each.

For each input (checkpoint, ONNX file, TensorRT engine with its sidecar) the runner picks
the backends that can run it (torch eager / torch.compile on CPU and CUDA; ONNX Runtime
with the CPU, CUDA and TensorRT execution providers that are installed; TensorRT), then
per backend measures accuracy from that backend's own outputs on the evaluation windows.
Then every row (file x backend x batch size) is timed, all in the same interleaved rounds:
the model alone (`Predictor.run_model` on prepared inputs) and end to end
(`Predictor.__call__` on raw windows: sampling + model + centre frame).
A failure is a row with its reason; it never stops the other rows (as `yolo benchmark`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from scjd_edge import __version__
from scjd_edge.bench.device import device_report, power_sampler
from scjd_edge.bench.flops import (
    DELIVERED_POSE_CONVENTION,
    FRAME_CONVENTION,
    MAC_CONVENTION,
    ModelCost,
    delivered_cost,
    model_cost,
)
from scjd_edge.bench.plots import write_pareto_plot
from scjd_edge.bench.ratios import RATIO_CONVENTION, precision_ratios
from scjd_edge.bench.report import (
    SCHEMA,
    SCHEMA_VERSION,
    STATUS_BELOW_GATE,
    STATUS_FAILED,
    STATUS_OK,
    print_report,
    write_reports,
)
from scjd_edge.bench.timing import TimedCall, measure_interleaved, phase_stats
from scjd_edge.config import ModelConfig
from scjd_edge.contract import Deployment
from scjd_edge.data.builtin import CMU_SPLIT
from scjd_edge.data.formats import PoseDataset, load_dataset
from scjd_edge.data.windows import PoseWindows
from scjd_edge.errors import ConfigError, DataError, ExportError, ScjdError
from scjd_edge.export.runtime import (
    BACKENDS,
    FORMAT_BY_NAME,
    MODEL_FORMATS,
    MODEL_SUFFIXES,
    model_format,
)
from scjd_edge.io import sha256_file
from scjd_edge.limits import check_window_batch
from scjd_edge.metrics import mpjpe, p_mpjpe

CUDA_GRAPH_VARIANT = "engine+graph"
LAYER_PROFILE_ITERATIONS = 10  # profiled calls per TensorRT row (bench --layer-profile)
# Test subjects of the data sets whose split is fixed (data/README, METHOD.md), used when
# no checkpoint's recipe names them.
DEFAULT_TEST_SUBJECTS = {"cmu": CMU_SPLIT["test"], "h36m": ["S9", "S11"], "synthetic": ["SYN6"]}
# Execution provider chains ONNX Runtime is asked for, by short name (the row's variant).
ORT_PROVIDER_CHAINS = {
    "CPU EP": ("CPUExecutionProvider",),
    "CUDA EP": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "TensorRT EP": (
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ),
}
TIMING_CONVENTION = (
    "model = Predictor.run_model on prepared inputs (the network alone); e2e = "
    "Predictor.__call__ on raw 2D windows (frame sampling + model + centre frame); latency "
    "per call of `batch` windows; all rows of the run timed in the same interleaved rounds "
    "(round r: row 1 model, row 1 e2e, row 2 model, ...; `warmup` untimed calls of each "
    "before the first round), percentiles over all rounds of a row; poses/s = batch / mean "
    "latency; CPU timed with "
    "time.perf_counter, torch on CUDA with CUDA events; TensorRT rows also carry "
    "engine_timing: CUDA events around execute_async_v3 alone (compute) and around the "
    "host-to-device / device-to-host copies from pinned buffers, per call of `batch` "
    "windows (split into engine calls of at most the profile's max batch)"
)


@dataclass
class ModelSource:
    """What the bench knows about one input file before running it."""

    path: Path
    format: str  # checkpoint / onnx / engine
    name: str = ""  # shown in the reports: the file name, with its folder if that is ambiguous
    kind: str | None = None
    source: str = ""  # sha256 of the source checkpoint
    precision: str = "fp32"
    deployment: Deployment | None = None
    model_config: ModelConfig | None = None
    test_subjects: list[str] | None = None
    cost: ModelCost | None = None
    cost_note: str | None = None
    problem: str | None = None  # the file cannot be used at all
    engine_onnx: Path | None = None  # source ONNX of an engine without sidecar


@dataclass(frozen=True)
class Target:
    """One way to run a file: backend, device, and ONNX Runtime providers."""

    backend: str
    device: str
    variant: str
    providers: tuple[str, ...] | None = None


@dataclass
class EvaluationSet:
    """Evenly spaced test windows per window length T, and their centre-frame truth."""

    dataset: PoseDataset
    subjects: list[str]
    windows_wanted: int
    keypoints_2d: dict[int, np.ndarray] = field(default_factory=dict)  # T -> (W, T, 17, 2)
    pose_3d_centre: np.ndarray | None = None  # (W, 17, 3) metres, root-relative
    available_windows: int = 0

    def windows(self, window_frames: int) -> np.ndarray:
        if window_frames not in self.keypoints_2d:
            sequences = self.dataset.select(self.subjects, "test")
            windows = PoseWindows(sequences, frames=window_frames)
            self.available_windows = len(windows)
            count = min(self.windows_wanted, len(windows))
            indices = np.unique(np.linspace(0, len(windows) - 1, count).round().astype(np.int64))
            batch = windows[torch.from_numpy(indices)]
            self.keypoints_2d[window_frames] = batch["keypoints_2d"].numpy()
            # Windows are centred on every frame, so their centres do not depend on T.
            self.pose_3d_centre = batch["pose_3d"][:, window_frames // 2].numpy()
        return self.keypoints_2d[window_frames]


def run_bench(
    models: list[Path],
    data: str,
    backends: list[str] | None = None,
    batches: list[int] = (1, 8, 64),
    iters: int | None = None,
    seconds: float | None = None,
    warmup: int = 10,
    rounds: int = 3,
    threads: int | None = None,
    out_dir: Path = Path("runs/bench"),
    eval_windows: int = 2048,
    gate_mm: float = 1.0,
    test_subjects: list[str] | None = None,
    devices: list[str] | None = None,
    console: Console | None = None,
    cuda_graph: bool = False,
    layer_profile: bool = False,
    engine_onnx: Path | None = None,
    stem: str = "bench",
    extra_markdown: Callable[[dict], str] | None = None,
    goals: Callable[[dict], list[dict]] | None = None,
) -> dict:
    """Benchmark `models` and write `stem`.json/.csv/.md/.png in `out_dir`; returns the report.

    backends: subset of runtime.BACKENDS (default: all that can run each file here).
    batches: windows per call; iters / seconds: per row and timing round; all rows are timed
    in the same `rounds` interleaved rounds (timing.measure_interleaved), and the report's
    `speed_ratios` compare like-for-like rows round by round (ratios.py).
    eval_windows: cap on the evenly spaced test windows that MPJPE is measured on.
    gate_mm: a row whose MPJPE is more than this worse than the torch FP32 row of the same
    source model gets status "below_gate". test_subjects: default from the checkpoints'
    recipes, else the data set's standard test split. devices: "cpu" and/or "cuda"
    (default: both where CUDA exists). cuda_graph: also time TensorRT engines replayed from
    a CUDA graph (variant "engine+graph"). layer_profile: after the timed rounds, each
    TensorRT row (without graph) gets `layer_profile`, the engine's per-layer times from
    TensorRT's IProfiler. engine_onnx: the source ONNX of engines that have no sidecar
    (built by trtexec or DeepStream). extra_markdown(report) -> text appended to the
    markdown report; goals(report) -> the `goals` list stored in the report
    (scjd_edge.bench.goals).
    """
    console = console or Console()
    _check_arguments(models, backends, batches, eval_windows)
    if threads:
        torch.set_num_threads(threads)
    sources = [describe_model_file(Path(path), engine_onnx) for path in models]
    _name_sources(sources)
    windows = [source.deployment.window_frames for source in sources if source.deployment]
    if windows:  # before any window is gathered for timing
        check_window_batch(max(batches), max(windows), "--batch")
    dataset = load_dataset(data)
    subjects = test_subjects or _test_subjects(dataset, sources)
    evaluation = EvaluationSet(dataset, subjects, eval_windows)
    settings = {
        "backends": list(backends) if backends else None,
        "devices": list(devices) if devices else None,
        "batches": list(batches),
        "iters": iters,
        "seconds": seconds,
        "warmup": warmup,
        "rounds": rounds,
        "threads": threads,
        "eval_windows": eval_windows,
        "gate_mm": gate_mm,
        "cuda_graph": cuda_graph,
        "layer_profile": layer_profile,
    }
    ort_trt_cache = Path(out_dir) / "ort_tensorrt_cache"
    device = device_report()
    warnings = list(device["warnings"]) + _load_warning(device)
    rows, timings = [], []
    for source in sources:
        targets = [t for t in _targets(source, backends, cuda_graph) if _on(t, devices)]
        if not targets and source.problem is None:
            warnings.append(f"{source.name}: none of the requested backends runs it")
        for target in targets:
            console.print(f"[dim]bench {source.name} on {target.backend} {target.variant}[/]")
            target_rows, target_timings = _prepare_target(
                source, target, evaluation, settings, ort_trt_cache
            )
            rows += target_rows
            timings += target_timings
    console.print(f"[dim]timing {len(timings)} rows in {rounds} interleaved rounds[/]")
    time_rows(timings, settings)
    _apply_gate(rows, gate_mm)
    _refuse_when_nothing_ran(rows)
    report = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "package_version": __version__,
        "device": device,
        "data": _data_record(evaluation, data),
        "settings": settings,
        "conventions": {
            "macs": MAC_CONVENTION,
            "frames": FRAME_CONVENTION,
            "delivered_pose": DELIVERED_POSE_CONVENTION,
            "timing": TIMING_CONVENTION,
            "speed_ratios": RATIO_CONVENTION,
            "status": f"ok; below_gate = MPJPE more than {gate_mm} mm worse than the torch "
            "FP32 row of the same source model; failed = the row could not run (reason given)",
        },
        "rows": rows,
        "speed_ratios": precision_ratios(rows),
        "warnings": warnings,
    }
    report["goals"] = goals(report) if goals else []
    print_report(report, console)
    extra = extra_markdown(report) if extra_markdown else ""
    paths = write_all(report, out_dir, stem=stem, extra_markdown=extra)
    for path in paths.values():
        console.print(f"wrote {path}")
    return report


def write_all(
    report: dict, out_dir: str | Path, stem: str = "bench", extra_markdown: str = ""
) -> dict[str, Path]:
    """JSON, CSV, markdown and Pareto PNG of `report` in `out_dir`; returns {kind: path}."""
    paths = write_reports(report, out_dir, stem, extra_markdown)
    paths["png"] = write_pareto_plot(Path(out_dir) / f"{stem}.png", report)
    return paths


def _check_arguments(models, backends, batches, eval_windows) -> None:
    if not models:
        raise ConfigError("bench: no model files given (checkpoints, ONNX files or engines)")
    unknown = [name for name in backends or [] if name not in BACKENDS]
    if unknown:
        raise ConfigError(f"--backends: unknown {unknown} (expected some of {BACKENDS})")
    if not batches or any(batch < 1 for batch in batches):
        raise ConfigError(f"--batch: batch sizes must be >= 1, got {list(batches)}")
    if eval_windows < 1:
        raise ConfigError(f"--eval-windows must be >= 1, got {eval_windows}")
    for path in models:
        if model_format(path) is None:
            raise ConfigError(
                f"{path}: unknown model file type (expected {', '.join(MODEL_SUFFIXES)})"
            )
    _backends_without_files(models, backends)


def _backends_without_files(models, backends) -> None:
    """A requested backend that runs none of the files is an error, not silently dropped."""
    formats = {model_format(path) for path in models}
    for backend in backends or []:
        if not any(backend in kind.backends for kind in formats):
            suffixes = [
                suffix
                for kind in MODEL_FORMATS
                if backend in kind.backends
                for suffix in kind.suffixes
            ]
            raise ConfigError(
                f"--backends {backend}: none of the given files runs on it ({backend} runs "
                f"{', '.join(suffixes)} files; `scjd-edge export --trt` builds TensorRT engines)"
            )


def _refuse_when_nothing_ran(rows: list[dict]) -> None:
    if any(row["status"] != STATUS_FAILED for row in rows):
        return
    if not rows:
        raise ConfigError("bench: no model file runs on the requested backends and devices")
    first = rows[0]
    raise ScjdError(
        f"bench: all {len(rows)} rows failed (nothing to report); first, {first['model']} on "
        f"{first['backend']} {first['variant']}: {first['reason']}"
    )


# --- model files --------------------------------------------------------------------------


def describe_model_file(path: Path, engine_onnx: Path | None = None) -> ModelSource:
    """Read a file's metadata (kind, deployment, model config, source identity) and cost.

    engine_onnx: the source ONNX of an engine without sidecar. A file that cannot be read
    gives a ModelSource with `problem` set, which becomes failed rows instead of stopping
    the run.
    """
    kind = model_format(path).name
    source = ModelSource(
        path=path, format=kind, engine_onnx=engine_onnx if kind == "engine" else None
    )
    try:
        {"checkpoint": _read_checkpoint, "onnx": _read_onnx, "engine": _read_engine}[source.format](
            source
        )
    except ScjdError as error:
        source.problem = str(error)
        return source
    source.cost, source.cost_note = _cost_of(source)
    return source


def _name_sources(sources: list[ModelSource]) -> None:
    """File names, prefixed with their folder when two inputs share a name (run/best.pt)."""
    counts = Counter(source.path.name for source in sources)
    for source in sources:
        ambiguous = counts[source.path.name] > 1
        source.name = (
            f"{source.path.parent.name}/{source.path.name}" if ambiguous else source.path.name
        )


def _read_checkpoint(source: ModelSource) -> None:
    from scjd_edge.train.checkpoint import load_checkpoint, recipe_of

    checkpoint = load_checkpoint(source.path)
    recipe = recipe_of(checkpoint, source=str(source.path))
    source.kind = checkpoint["kind"]
    source.source = sha256_file(source.path)
    source.deployment = checkpoint["deployment"]
    source.model_config = recipe.model
    source.test_subjects = list(recipe.data.test_subjects)


def _read_onnx(source: ModelSource) -> None:
    from scjd_edge.export.onnx_export import read_deployment, read_metadata

    metadata = read_metadata(source.path)
    _apply_metadata(source, metadata, f"onnx:{sha256_file(source.path)}")
    source.deployment = read_deployment(source.path)
    source.precision = metadata.get("precision", "fp32")


def _read_engine(source: ModelSource) -> None:
    """The sidecar's contract, and the source ONNX's metadata it carries (or the ONNX beside)."""
    from scjd_edge.export.onnx_export import read_metadata
    from scjd_edge.export.tensorrt_plan import engine_sidecar

    sidecar = engine_sidecar(source.path, source.engine_onnx)
    source.deployment = sidecar["deployment"]
    source.source = f"engine:{sha256_file(source.path)}"
    metadata = sidecar.get("onnx_metadata")
    beside = source.path.with_name(sidecar["onnx"])
    if metadata is None and beside.is_file():
        metadata = read_metadata(beside)
    if metadata:
        _apply_metadata(source, metadata, f"onnx:{sidecar.get('onnx_sha256')}")
    source.precision = sidecar["precision"]


def _apply_metadata(source: ModelSource, metadata: dict[str, str], fallback_source: str) -> None:
    """Kind, source identity (the checkpoint an ONNX came from) and model config."""
    source.kind = metadata.get("kind")
    source.source = metadata.get("source_checkpoint_sha256", fallback_source)
    if "model_config" in metadata:
        source.model_config = ModelConfig.model_validate(json.loads(metadata["model_config"]))


def _delivered_cost(source: ModelSource) -> dict | None:
    """The model's cost per forward and per delivered pose (no test-time flip here)."""
    if source.cost is None:
        return None
    return delivered_cost(source.cost, source.deployment.lookahead_frames, test_time_passes=1)


def _cost_of(source: ModelSource) -> tuple[ModelCost | None, str | None]:
    if source.model_config is None:
        where = "the engine's source ONNX (named in its sidecar) is not beside it"
        if source.format == "onnx":
            where = "the ONNX metadata has no scjd_edge.model_config"
        return None, f"n/a: {where}, so the source model cannot be rebuilt to count"
    frames = int(source.deployment.input_frames)
    return _cached_cost(source.model_config.model_dump_json(), frames), None


_COST_CACHE: dict[tuple[str, int], ModelCost] = {}


def _cached_cost(model_config_json: str, frames: int) -> ModelCost:
    key = (model_config_json, frames)
    if key not in _COST_CACHE:
        _COST_CACHE[key] = model_cost(ModelConfig.model_validate_json(model_config_json), frames)
    return _COST_CACHE[key]


def _targets(
    source: ModelSource, backends: list[str] | None, cuda_graph: bool = False
) -> list[Target]:
    """Backends that run this file here, as filtered by `backends`."""
    wanted = [b for b in FORMAT_BY_NAME[source.format].backends if not backends or b in backends]
    cuda = torch.cuda.is_available()
    targets = []
    for backend in wanted:
        if backend in ("torch", "torch-compile"):
            variant = "compile" if backend == "torch-compile" else "eager"
            targets += [Target(backend, device, variant) for device in ["cpu"] + ["cuda"] * cuda]
        elif backend == "onnxruntime":
            targets += _onnxruntime_targets()
        else:
            targets.append(Target("tensorrt", "cuda:0", "engine"))
            if cuda_graph:
                targets.append(Target("tensorrt", "cuda:0", CUDA_GRAPH_VARIANT))
    return targets


def _on(target: Target, devices: list[str] | None) -> bool:
    return devices is None or target.device.partition(":")[0] in devices


def _onnxruntime_targets() -> list[Target]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [
        Target("onnxruntime", "cpu" if len(chain) == 1 else "cuda", variant, chain)
        for variant, chain in ORT_PROVIDER_CHAINS.items()
        if chain[0] in available
    ]


# --- one backend --------------------------------------------------------------------------


def _prepare_target(
    source: ModelSource,
    target: Target,
    evaluation: EvaluationSet,
    settings: dict,
    ort_trt_cache: Path,
) -> tuple[list[dict], list[RowTiming]]:
    """Rows (one per batch) for one file on one backend, with accuracy measured, and what
    to time for each; failures become failed rows."""
    base = _base_row(source, target)
    if source.problem:
        return [_failed(base, batch, source.problem) for batch in settings["batches"]], []
    try:
        windows = evaluation.windows(int(source.deployment.window_frames))
        started = time.perf_counter()
        predictor = _load(source, target, settings["threads"], ort_trt_cache)
        predictor(windows[:1])  # first output: torch.compile / TensorRT EP build here
        base["startup_s"] = time.perf_counter() - started
        accuracy = _accuracy(predictor, windows, evaluation.pose_3d_centre, settings["batches"])
    except Exception as error:  # any backend error is this row's failure, not the run's
        return [_failed(base, batch, _reason(error)) for batch in settings["batches"]], []
    base.update(accuracy, precision=predictor.precision)
    rows, timings = [], []
    for batch in settings["batches"]:
        row = dict(base, batch=batch)
        rows.append(row)
        try:
            timings.append(RowTiming.of(row, predictor, windows, target))
        except Exception as error:  # e.g. inputs the predictor cannot prepare
            row.update(status=STATUS_FAILED, reason=_reason(error))
    return rows, timings


def _base_row(source: ModelSource, target: Target) -> dict[str, Any]:
    size_mb = source.path.stat().st_size / 1e6 if source.path.is_file() else None
    return {
        "model": source.name or source.path.name,
        "path": str(source.path),
        "kind": source.kind,
        "source": source.source or f"file:{source.path}",
        "format": source.format,
        "backend": target.backend,
        "variant": target.variant,
        "device": target.device,
        "precision": source.precision,
        "status": STATUS_OK,
        "reason": None,
        "model_latency": None,
        "end_to_end_latency": None,
        "mpjpe_mm": None,
        "p_mpjpe_mm": None,
        "mpjpe_delta_mm": None,
        "file_size_mb": size_mb,
        "startup_s": None,
        "cost": _delivered_cost(source),
        "cost_note": source.cost_note,
    }


def _load(source: ModelSource, target: Target, threads: int | None, ort_trt_cache: Path):
    from scjd_edge.export.runtime import load_predictor

    predictor = load_predictor(
        source.path,
        backend=target.backend,
        device=target.device,
        providers=_providers(target, ort_trt_cache),
        threads=threads,
        engine_onnx=source.engine_onnx,
    )
    if target.variant == CUDA_GRAPH_VARIANT:
        predictor.run_model.cuda_graph = True
    if target.backend == "onnxruntime" and predictor.device != _provider_device(target):
        raise ExportError(
            f"{source.path}: requested {target.variant}, but ONNX Runtime runs it on "
            f"{predictor.device} (the provider failed to initialise)"
        )
    return predictor


def _providers(target: Target, cache: Path) -> list | None:
    """The provider chain; ONNX Runtime's TensorRT EP keeps engine and timing caches in `cache`."""
    if not target.providers:
        return None
    options = {
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache),
    }
    return [
        (name, options) if name == "TensorrtExecutionProvider" else name
        for name in target.providers
    ]


def _provider_device(target: Target) -> str:
    """What Predictor.device reads when the first provider of the chain runs the model."""
    return target.providers[0].removesuffix("ExecutionProvider").lower()


def _accuracy(predictor, windows: np.ndarray, truth: np.ndarray, batches: list[int]) -> dict:
    """MPJPE and P-MPJPE (mm) of the backend's own centre-frame outputs on `windows`.

    Chunks all have the largest requested batch size (the last one padded by repeating
    windows), so fixed-shape backends see only shapes they are timed with.
    """
    chunk = max(batches)
    predictions = []
    for start in range(0, len(windows), chunk):
        part = windows[start : start + chunk]
        padded = _repeat_to(part, chunk)
        predictions.append(np.asarray(predictor(padded))[: len(part)])
    pose_3d = np.concatenate(predictions).astype(np.float64) * 1000.0
    truth_mm = truth.astype(np.float64) * 1000.0
    if not np.isfinite(pose_3d).all():
        raise FloatingPointError("the backend returned non-finite poses")
    return {
        "mpjpe_mm": float(mpjpe(pose_3d, truth_mm)),
        "p_mpjpe_mm": float(p_mpjpe(pose_3d, truth_mm)),
    }


@dataclass
class RowTiming:
    """What is timed for one row: the model alone and end to end, one batch per call."""

    row: dict
    model: TimedCall
    end_to_end: TimedCall
    engine_phases: list[dict[str, float]]  # TensorRT: CUDA-event phases of every model call
    run_model: Any  # the predictor's run_model (TensorRT: profile and CUDA-graph facts)
    sampler: Any = None  # Jetson: tegrastats around this row's model rounds
    profile_layers: Callable[[int], dict] | None = None  # TensorRT: IProfiler pass

    @classmethod
    def of(cls, row: dict, predictor, windows: np.ndarray, target: Target) -> RowTiming:
        batch = row["batch"]
        batch_windows = _repeat_to(windows[:batch], batch)
        model_keypoints_2d, frame_offsets, _ = predictor.prepare(batch_windows)
        device = target.device if target.backend.startswith("torch") else "cpu"
        engine_phases: list[dict[str, float]] = []

        def run_model() -> None:
            predictor.run_model(model_keypoints_2d, frame_offsets)
            if target.backend == "tensorrt":
                engine_phases.append(predictor.run_model.last_phases_ms)

        sampler = power_sampler()
        profile_layers = None
        if target.backend == "tensorrt" and target.variant != CUDA_GRAPH_VARIANT:

            def profile_layers(iterations: int) -> dict:
                runner = predictor.run_model
                return runner.layer_profile(model_keypoints_2d, frame_offsets, iterations)

        return cls(
            row=row,
            model=TimedCall(run_model, batch, device, _entered_each_round(sampler)),
            end_to_end=TimedCall(lambda: predictor(batch_windows), batch, device),
            engine_phases=engine_phases,
            run_model=predictor.run_model,
            sampler=sampler,
            profile_layers=profile_layers,
        )


def _entered_each_round(sampler):
    return contextlib.nullcontext if sampler is None else lambda: sampler


def time_rows(timings: list[RowTiming], settings: dict) -> None:
    """Time every row in the same interleaved rounds (round r: row A model, row A end to
    end, row B model, ...; timing.measure_interleaved) and store the statistics in the
    rows; a row whose calls fail becomes a failed row."""
    calls = [call for timing in timings for call in (timing.model, timing.end_to_end)]
    results = measure_interleaved(
        calls, settings["warmup"], settings["iters"], settings["seconds"], settings["rounds"]
    )
    for index, timing in enumerate(timings):
        model_stats, end_to_end_stats = results[2 * index : 2 * index + 2]
        error = next((r for r in (model_stats, end_to_end_stats) if isinstance(r, Exception)), None)
        if error is not None:
            timing.row.update(status=STATUS_FAILED, reason=_reason(error))
            continue
        timing.row.update(
            model_latency=model_stats.as_dict(), end_to_end_latency=end_to_end_stats.as_dict()
        )
        _add_engine_and_power(timing, settings["warmup"], model_stats.iterations)
        if settings.get("layer_profile") and timing.profile_layers is not None:
            try:  # after every timed round: profiling slows the engine down
                timing.row["layer_profile"] = timing.profile_layers(LAYER_PROFILE_ITERATIONS)
            except Exception as error:  # a profile that fails leaves the row's timing valid
                timing.row["layer_profile"] = {"error": _reason(error)}


def _add_engine_and_power(timing: RowTiming, warmup: int, iterations: int) -> None:
    batch = timing.row["batch"]
    if timing.engine_phases:
        runner = timing.run_model
        timing.row["engine_timing"] = {
            **phase_stats(timing.engine_phases[warmup:], batch),
            "engine_calls_per_batch": -(-batch // runner.max_batch),
            "profile_batch": [runner.min_batch, runner.max_batch],
            "cuda_graph": runner.cuda_graph,
        }
    if timing.sampler is not None:
        timing.row["power"] = timing.sampler.summary(poses=batch * iterations)


def _repeat_to(windows: np.ndarray, count: int) -> np.ndarray:
    """Exactly `count` windows: `windows` cycled (first `count` if there are more)."""
    repeats = -(-count // len(windows))
    return np.concatenate([windows] * repeats)[:count]


def _failed(base: dict, batch: int, reason: str) -> dict:
    return dict(base, batch=batch, status=STATUS_FAILED, reason=reason)


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else 'no message'}"


def _apply_gate(rows: list[dict], gate_mm: float) -> None:
    """Delta to the FP32 reference row of the same source model; below_gate past it.

    The reference is torch FP32 (eager), else ONNX Runtime FP32 on the CPU (an engine
    benched on a device without its checkpoint is gated against the ONNX it came from).
    """
    reference = {}
    for kind in (("torch", "eager", "fp32"), ("onnxruntime", "CPU EP", "fp32")):
        for row in rows:
            is_reference = (row["backend"], row["variant"], row["precision"]) == kind
            if is_reference and row["mpjpe_mm"] is not None:
                reference.setdefault(row["source"], row["mpjpe_mm"])
    for row in rows:
        if row["mpjpe_mm"] is None or row["source"] not in reference:
            continue
        baseline = reference[row["source"]]
        row["mpjpe_delta_mm"] = row["mpjpe_mm"] - baseline
        if row["status"] == STATUS_OK and row["mpjpe_delta_mm"] > gate_mm:
            row["status"] = STATUS_BELOW_GATE
            row["reason"] = (
                f"MPJPE {row['mpjpe_mm']:.2f} mm is {row['mpjpe_delta_mm']:.2f} mm worse than "
                f"torch fp32 ({baseline:.2f} mm); gate {gate_mm} mm"
            )


# --- data ---------------------------------------------------------------------------------


def _test_subjects(dataset: PoseDataset, sources: list[ModelSource]) -> list[str]:
    known = set(dataset.subjects())
    for source in sources:
        if source.test_subjects and set(source.test_subjects) <= known:
            return source.test_subjects
    default = DEFAULT_TEST_SUBJECTS.get(dataset.name)
    if default and set(default) <= known:
        return default
    raise DataError(
        f"{dataset.source}: cannot tell the test subjects of this {dataset.name} data (no "
        f"checkpoint's recipe names subjects it has: {', '.join(sorted(known))}); pass "
        "test_subjects"
    )


def _data_record(evaluation: EvaluationSet, data: str) -> dict:
    dataset = evaluation.dataset
    windows = len(next(iter(evaluation.keypoints_2d.values()), []))
    return {
        "name": dataset.name,
        "source": dataset.source or data,
        "synthetic": bool(dataset.synthetic),
        "split": "test",
        "subjects": evaluation.subjects,
        "windows": windows,
        "available_windows": evaluation.available_windows,
        "protocol": (
            f"centre frame of {windows} windows evenly spaced over the "
            f"{evaluation.available_windows} windows (one centred on every frame of every "
            f"camera view; edges repeat the first/last frame) of test subjects "
            f"{', '.join(evaluation.subjects)}; {dataset.keypoints} 2D input; MPJPE on "
            "root-relative poses, P-MPJPE after Procrustes alignment with scale; each "
            "backend's own outputs"
        ),
    }


def _load_warning(device: dict) -> list[str]:
    load, cores = device.get("load_average_1m"), device["cpu"]["available_cores"]
    if load is not None and cores and load > 0.5 * cores:
        return [
            f"load average {load} on {cores} cores when the bench started: other processes "
            "compete for the CPU, so latencies are pessimistic"
        ]
    return []
