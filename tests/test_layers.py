"""The layering of docs/ARCHITECTURE.md: a module imports only from layers before its own."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "scjd_edge"
# Lowest first; units in one layer do not import each other's layer-mates upwards either.
LAYERS = (
    ("__init__", "errors", "io", "config", "metrics", "limits"),
    ("data",),
    ("sampling", "contract"),
    ("models",),
    ("train",),
    ("distill",),
    ("export",),
    ("bench", "infer"),
    ("quickstart",),
    ("cli",),
)
LAYER_OF = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
# Within a layer these may be imported by their layer-mates (a shared utility of the layer).
LAYER_MATES = {
    ("io", "errors"),
    ("config", "errors"),
    ("limits", "errors"),
    ("contract", "sampling"),
}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> list[tuple[str, str, str]]:
    """(importing file, importing unit, imported unit) for every scjd_edge import, including
    imports inside functions."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scjd_edge"):
                found.append((str(relative), _unit(module), _unit(node.module)))
    return found


def test_every_unit_has_a_layer():
    units = {path.stem for path in PACKAGE.glob("*.py")} | {
        path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()
    }
    assert units == set(LAYER_OF)


def test_no_import_runs_up_the_layers():
    imports = _imports()
    assert len(imports) > 100  # the scan sees the package's own imports
    upward = [
        f"{path}: {unit} imports {target}"
        for path, unit, target in imports
        if target != unit
        and LAYER_OF[target] >= LAYER_OF[unit]
        and (unit, target) not in LAYER_MATES
    ]
    assert upward == []
