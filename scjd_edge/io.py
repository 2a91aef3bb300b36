"""Every file and folder the project writes: atomic files, folder transactions, hashing.

A file is written to a temporary name in the same folder and renamed over the target,
so an interrupted write never leaves a half-written file behind. A multi-file output
(an export folder) is built in a hidden sibling folder and swapped in with one atomic
exchange (`staged_folder`), so the folder always holds either the old complete set or the
new complete set. `check_writable` lets commands refuse an unwritable output before the
expensive work; a full disk at write time is an `OutputError`, not a traceback.

Every run folder a command writes carries a marker, `.scjd-edge-run.json` (the command
and the sha256 of its recipe or settings, and whether it completed): a folder holding files
without that marker was not written by scjd-edge and is refused (`claim_run_folder`); only
files a command names as its own are ever removed from a marked folder (`remove_run_files`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.errors import OutputError

# Tests only: `SCJD_EDGE_KILL_AT=<point>` kills the process (SIGKILL) at that point of a
# folder transaction ("built": before the swap, "swapped": after it, before clean-up).
KILL_AT_ENV = "SCJD_EDGE_KILL_AT"
_STAGING_MARK = ".new-"
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
RUN_MARKER_NAME = ".scjd-edge-run.json"
_RUN_MARKER_FORMAT = "scjd-edge-run"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename."""
    target = Path(path)
    with _as_output_error(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        with _as_output_error(target, only=_WRITE_ERRNOS):
            yield tmp_path
            tmp_path.chmod(0o644)  # mkstemp makes 0600; written files are for everyone to read
            os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Write a compressed npz atomically (object arrays, e.g. nested dicts, are allowed)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return Path(path)


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line to a log (not atomic: a crash may tear the last line)."""
    target = Path(path)
    with _as_output_error(target), open(target, "a", encoding="utf-8") as log_file:
        log_file.write(line + "\n")


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def json_sha256(obj: Any) -> str:
    """sha256 of `obj` as canonical JSON (sorted keys, no spaces): a recipe's identity."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def integrity_sha256(payloads: list[bytes], metadata: dict[str, Any]) -> str:
    """sha256 over binary `payloads` (e.g. a serialised graph, an engine's bytes) and the
    `metadata` that says how to use them (canonical JSON).

    Each payload is length-prefixed, so moving bytes between payloads changes the hash;
    the caller leaves the key that stores this hash out of `metadata`.
    """
    digest = hashlib.sha256()
    for payload in payloads:
        digest.update(len(payload).to_bytes(8, "little"))
        digest.update(payload)
    digest.update(json_sha256(metadata).encode("ascii"))
    return digest.hexdigest()


def read_run_marker(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The folder's scjd-edge run marker, or None when it has none (or not a readable one)."""
    try:
        marker = json.loads((Path(folder) / RUN_MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(marker, dict) and marker.get("format") == _RUN_MARKER_FORMAT:
        return marker
    return None


def first_unmarked_file(folder: str | os.PathLike) -> Path | None:
    """A file (or empty folder) inside `folder` when `folder` holds things but no marker."""
    target = Path(folder)
    if not target.is_dir() or read_run_marker(target) is not None:
        return None
    entries = sorted(target.rglob("*"))
    return next((path for path in entries if not path.is_dir()), entries[0] if entries else None)


def check_run_folder(folder: str | os.PathLike, what: str = "--out") -> Path:
    """Refuse, before any work, an output folder that holds files scjd-edge did not write
    (anything in it without a run marker): OutputError naming the first such file."""
    target = check_writable(folder, what, folder=True)
    foreign = first_unmarked_file(target)
    if foreign is not None:
        raise OutputError(
            f"{foreign}: {what} {target} holds files scjd-edge did not write (no "
            f"{RUN_MARKER_NAME}); they are left alone: choose a new or empty folder"
        )
    return target


def claim_run_folder(
    folder: str | os.PathLike, command: str, recipe_sha256: str | None = None, what: str = "--out"
) -> Path:
    """Make `folder` a run folder of `command`, or refuse it (`check_run_folder`).

    A missing or empty folder, or one already marked by scjd-edge, gets the marker
    (command, recipe_sha256, complete=False); nothing in a refused folder is touched.
    """
    target = check_run_folder(folder, what)
    write_run_marker(target, command, recipe_sha256, complete=False)
    return target


def write_run_marker(
    folder: str | os.PathLike, command: str, recipe_sha256: str | None, complete: bool
) -> Path:
    marker = {
        "format": _RUN_MARKER_FORMAT,
        "command": command,
        "recipe_sha256": recipe_sha256,
        "complete": complete,
    }
    return write_json(Path(folder) / RUN_MARKER_NAME, marker)


def mark_run_complete(folder: str | os.PathLike) -> None:
    """Record in the folder's marker that its command finished."""
    marker = read_run_marker(folder)
    if marker is not None:
        write_run_marker(folder, marker["command"], marker.get("recipe_sha256"), complete=True)


def remove_run_files(folder: str | os.PathLike, names: tuple[str, ...]) -> list[str]:
    """Delete the files `names` (a command's own outputs) from a marked run folder.

    Anything else in the folder stays. A folder without a scjd-edge marker is refused
    (OutputError naming its first file) and nothing is deleted. Returns the names removed.
    """
    target = Path(folder)
    foreign = first_unmarked_file(target)
    if foreign is not None:
        raise OutputError(
            f"{foreign}: {target} holds files scjd-edge did not write (no {RUN_MARKER_NAME}); "
            "nothing was deleted: move them away or choose another --out"
        )
    removed = []
    for name in names:
        path = target / name
        if path.is_file():
            with _as_output_error(path):
                path.unlink()
            removed.append(name)
    return removed


def check_writable(path: str | os.PathLike, what: str, folder: bool = False) -> Path:
    """Refuse, before any work, an output file (or `folder`) that cannot be written.

    An existing `path` must be of the right kind, and its nearest existing ancestor a
    folder in which a file can be created (a probe file is made and removed). Raises
    OutputError naming `what` (e.g. "--out") and the path.
    """
    target = Path(path)
    if target.exists() and target.is_dir() != folder:
        expected = "a folder" if folder else "a file"
        raise OutputError(f"{what} {target}: exists and is not {expected}")
    ancestor = target if target.is_dir() else target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{what} {target}: {ancestor} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as error:
        raise OutputError(
            f"{what} {target}: cannot write in {ancestor} ({error.strerror})"
        ) from None
    return target


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Build a folder's new contents in a staging folder, then swap it in atomically.

    Yields the empty staging folder (a hidden sibling of `folder`). When the block ends
    without an exception the staging folder replaces `folder` in one atomic exchange
    (renameat2 RENAME_EXCHANGE on Linux; elsewhere two renames); on an exception it is
    deleted and `folder` is untouched. Files named in `keep` (e.g. a cache) are carried
    from the old folder when the new one lacks them. Staging folders of killed runs are
    removed by the next transaction on the same folder.
    """
    target = Path(folder)
    with _as_output_error(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{_STAGING_MARK}", dir=target.parent))
    lock = os.open(staging, os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)  # marks the staging folder as alive
    try:
        staging.chmod(0o755)
        _remove_abandoned_staging(target)
        yield staging
        with _as_output_error(target):
            for name in keep:
                if (target / name).is_file() and not (staging / name).exists():
                    shutil.copy2(target / name, staging / name)
            _kill_point("built")
            _swap_in(staging, target)
            _kill_point("swapped")
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the new files, or the old folder
        os.close(lock)


def _swap_in(staging: Path, target: Path) -> None:
    """Put `staging` at `target`; the previous `target` (if any) ends up at `staging`."""
    if not target.exists():
        os.rename(staging, target)
        return
    if not target.is_dir():
        raise OutputError(f"{target} is a file, not a folder")
    if _exchange(staging, target):
        return
    # No atomic exchange here: two renames. The old set is parked under a name that the
    # clean-up of staging folders never matches, so a kill in between cannot lose it.
    old = target.with_name(f".{target.name}.old-{staging.name.rsplit('-', 1)[-1]}")
    os.rename(target, old)
    os.rename(staging, target)
    os.rename(old, staging)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the call is unavailable."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _remove_abandoned_staging(target: Path) -> None:
    """Delete staging folders of `target` that no live process holds (killed runs)."""
    for staging in target.parent.glob(f".{target.name}{_STAGING_MARK}*"):
        try:
            lock = os.open(staging, os.O_RDONLY)
        except OSError:
            continue  # removed meanwhile, or not a folder
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # another export is building there right now
        finally:
            os.close(lock)
        shutil.rmtree(staging, ignore_errors=True)


def _kill_point(point: str) -> None:
    if os.environ.get(KILL_AT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def _as_output_error(target: Path, only: frozenset[int] | None = None) -> Iterator[None]:
    """OS errors of writing `target` (full disk, read-only, ...) as OutputError.

    `only`: the errno values to convert (all when None); a writer's body may also read
    files, and their errors keep their own type.
    """
    try:
        yield
    except OutputError:
        raise
    except Exception as error:
        code = getattr(error, "errno", None) if isinstance(error, OSError) else None
        if code is not None and (only is None or code in only):
            raise OutputError(f"{target}: cannot write ({error.strerror})") from None
        if _disk_full(target):  # writers such as torch.save wrap ENOSPC in other types
            raise OutputError(f"{target}: cannot write (no space left on device)") from None
        raise


def _disk_full(target: Path) -> bool:
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
