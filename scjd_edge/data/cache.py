"""Folders derived from package or user data, built once under `$SCJD_CACHE_DIR`.

A cached folder carries a stamp (`builtin.json`) of what it was built from and is named
by that stamp's digest, so two versions of the package (or of its data) never share, nor
rebuild under each other, one folder; a folder is built in a staging folder and renamed
into place, so a reader never sees a half-written one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scjd_edge.io import write_json

STAMP_FILE = "builtin.json"


def cache_root() -> Path:
    """`$SCJD_CACHE_DIR`, or ~/.cache/scjd-edge."""
    return Path(os.environ.get("SCJD_CACHE_DIR") or "~/.cache/scjd-edge").expanduser()


def cached_folder(name: str, stamp: dict[str, Any], build: Callable[[Path], Any]) -> Path:
    """`<cache root>/<name>-<digest of stamp>`, built by `build(staging)` and renamed into
    place unless it is there with this stamp (a damaged one is rebuilt)."""
    digest = hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache_root() / f"{name}-{digest}"
    if stamp_of(folder) == stamp:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        build(staging)
        write_json(staging / STAMP_FILE, stamp)
        if folder.exists() and stamp_of(folder) != stamp:
            shutil.rmtree(folder, ignore_errors=True)  # built from other inputs
        try:
            os.rename(staging, folder)
        except OSError:
            if stamp_of(folder) != stamp:  # not a concurrent writer that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def stamp_of(folder: Path) -> Any:
    try:
        return json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
