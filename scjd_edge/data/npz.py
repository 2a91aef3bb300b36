"""Reading npz data files without running code from them.

VideoPose3D-format files keep nested dicts in object arrays, which numpy stores as
pickles; `np.load(allow_pickle=True)` would run whatever a crafted pickle names. Here an
object array is unpickled by a restricted unpickler that builds only plain containers
(dict, list, tuple, str, numbers, bool, None) and numpy arrays, dtypes and scalars;
anything else in a file is a `DataError` naming the file, as is a truncated or corrupt file.
"""

from __future__ import annotations

import io
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from scjd_edge.errors import DataError

# The globals numpy's own pickles of arrays refer to (numpy 1.x and 2.x module names).
_ALLOWED_GLOBALS = frozenset(
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
) | {("numpy", "ndarray"), ("numpy", "dtype")}

_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refused to load {module}.{name} (a data file may hold only dicts, lists, "
                "strings, numbers and arrays)"
            )
        return super().find_class(module, name)


def read_npz(path: str | Path, keys: list[str] | None = None) -> dict[str, Any]:
    """The arrays of an npz file by key (only `keys`, if given); a 0-d object array is
    unwrapped to the dict or list it holds. A missing key is a DataError."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            wanted = list(members) if keys is None else keys
            for key in wanted:
                if key not in members:
                    raise DataError(
                        f"{path}: missing key {key!r} (keys in the file: {', '.join(members)})"
                    )
            return {key: _read_member(archive.read(members[key]), path, key) for key in wanted}
    except _READ_ERRORS as error:
        raise DataError(f"{path}: not a readable npz file ({error})") from None


def _read_member(raw: bytes, path: Path, key: str) -> Any:
    stream = io.BytesIO(raw)
    version = npy_format.read_magic(stream)
    if version == (1, 0):
        _, _, dtype = npy_format.read_array_header_1_0(stream)
    else:
        _, _, dtype = npy_format.read_array_header_2_0(stream)
    if not dtype.hasobject:
        stream.seek(0)
        return npy_format.read_array(stream, allow_pickle=False)
    try:
        value = _ArraysOnlyUnpickler(stream).load()
    except Exception as error:  # any fault while decoding untrusted bytes is a bad file
        raise DataError(f"{path}: key {key!r} is not a plain data object ({error})") from None
    if not isinstance(value, np.ndarray):
        raise DataError(f"{path}: key {key!r} holds a {type(value).__name__}, not an array")
    return value.item() if value.shape == () else value


def read_npz_dict(path: str | Path, key: str) -> dict:
    """`read_npz(path)[key]`, which must be a dict (the VideoPose3D and 3DHP layouts)."""
    value = read_npz(path, [key])[key]
    if not isinstance(value, dict):
        raise DataError(
            f"{path}: key {key!r} must hold a dict (VideoPose3D format), got {type(value).__name__}"
        )
    return value
