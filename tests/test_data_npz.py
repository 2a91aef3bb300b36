"""Data files cannot run code: the restricted npz reader, and broken files as one line."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from scjd_edge.cli import app
from scjd_edge.data.builtin import cmu_folder
from scjd_edge.data.formats import load_dataset
from scjd_edge.data.npz import read_npz
from scjd_edge.data.pose_folder import write_pose_folder
from scjd_edge.errors import DataError


class _Payload:
    """Unpickling this calls os.system: what a crafted data file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _crafted_npz(path, marker) -> None:
    """An npz whose `positions_3d` is an object array holding the payload in a dict."""
    holder = np.empty((), dtype=object)
    holder[()] = {"CMU01": {"Walk 01": _Payload(marker)}}
    np.savez(path, positions_3d=holder)


def test_a_pickle_payload_in_a_data_file_does_not_run(tmp_path):
    marker = tmp_path / "payload-ran"
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("data_3d_cmu.npz", "data_2d_cmu_gt.npz"):
        _crafted_npz(folder / name, marker)
    with pytest.raises(DataError, match=r"data_3d_cmu\.npz: key 'positions_3d' .*refused"):
        load_dataset(folder)
    result = CliRunner().invoke(app, ["data", "info", str(folder)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "refusedtoloadposix.system" in "".join(result.output.split())  # rich wraps lines
    assert not marker.exists()


def test_the_reader_returns_plain_containers_and_arrays(tmp_path):
    path = tmp_path / "plain.npz"
    holder = np.empty((), dtype=object)
    holder[()] = {"a": [np.arange(3, dtype=np.float32), ("x", 1, 2.5, True, None)]}
    np.savez(path, nested=holder, flat=np.ones((2, 2)))
    content = read_npz(path)
    np.testing.assert_array_equal(content["nested"]["a"][0], np.arange(3))
    assert content["nested"]["a"][1] == ("x", 1, 2.5, True, None)
    assert content["flat"].shape == (2, 2)


def test_a_truncated_npz_is_one_line_naming_the_file(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("data_3d_cmu.npz", "data_2d_cmu_gt.npz", "cameras_cmu.json"):
        (folder / name).write_bytes((cmu_folder() / name).read_bytes())
    whole = (folder / "data_2d_cmu_gt.npz").read_bytes()
    (folder / "data_2d_cmu_gt.npz").write_bytes(whole[: len(whole) // 2])
    result = CliRunner().invoke(app, ["data", "info", str(folder)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "data_2d_cmu_gt.npz:notareadablenpzfile" in "".join(result.output.split())


def test_a_corrupt_member_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "data_3d_toy.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("positions_3d.npy", b"\x93NUMPY garbage")
    with pytest.raises(DataError, match=r"data_3d_toy\.npz: not a readable npz file"):
        read_npz(path)


def test_a_sequence_with_zero_frames_is_one_line_naming_the_file(tmp_path):
    from scjd_edge.data.camera import H36M_CAMERA_INTRINSICS, look_at_camera

    camera = look_at_camera(H36M_CAMERA_INTRINSICS[0], (0.0, -4.0, 1.5), (0.0, 0.0, 1.0))
    empty_3d = np.zeros((0, 17, 3), np.float32)
    empty_2d = np.zeros((0, 17, 2), np.float32)
    write_pose_folder(
        tmp_path, "toy", {"S1": {"Walk 1": empty_3d}}, {"S1": {"Walk 1": [empty_2d]}},
        {"S1": [camera]},
    )  # fmt: skip
    with pytest.raises(DataError) as error:
        load_dataset(tmp_path)
    message = str(error.value)
    assert "data_3d_toy.npz" in message and "0 frames" in message and "\n" not in message


def test_every_pickle_global_but_numpy_arrays_is_refused(tmp_path):
    path = tmp_path / "eval.npz"
    holder = np.empty((), dtype=object)
    holder[()] = {"x": pickle.loads(pickle.dumps(complex(1, 2)))}  # complex needs a global
    np.savez(path, data=holder)
    with pytest.raises(DataError, match="refused to load builtins.complex"):
        read_npz(path)
