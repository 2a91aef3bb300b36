"""The keypoint-file reader contract, tried with the same adversarial frame ids on every
reader: frames come out ordered by id, ids given twice in a frame list are refused, and a
stray huge id is a one-line DataError naming it (never a range of its size)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from scjd_edge.errors import DataError
from scjd_edge.infer.keypoint_files import MAX_GAP_SECONDS, read_detections

IMAGE = {"width": 640, "height": 480}


def pose_for(frame_id) -> np.ndarray:
    """(17, 3) pixels + score whose x encodes the id's place, so frames can be told apart."""
    place = abs(hash(str(frame_id))) % 400
    pose = np.full((17, 3), 0.9)
    pose[:, 0] = 100.0 + place + np.arange(17)
    pose[:, 1] = 50.0 + 10.0 * np.arange(17)
    return pose


def coco_results(ids) -> object:
    return [{"image_id": f, "keypoints": pose_for(f).reshape(-1).tolist()} for f in ids]


def coco_annotations(ids) -> object:
    return {"annotations": coco_results(ids), **IMAGE}


def coco_with_images(ids) -> object:
    images = [{"id": f, **IMAGE} for f in ids]
    return {"images": images, "annotations": coco_results(ids)}


def mmpose_frames(ids) -> object:
    frames = [
        {
            "frame_id": f,
            "instances": [
                {"keypoints": pose_for(f)[:, :2].tolist(), "keypoint_scores": [0.9] * 17}
            ],
        }
        for f in ids
    ]
    return {"frames": frames, **IMAGE}


def mmpose_instance_info(ids) -> object:
    return {"meta_info": {"dataset_name": "coco"}, "instance_info": mmpose_frames(ids)["frames"]}


def write(path: Path, reader: str, ids: list) -> Path:
    if reader == "npz":
        path = path.with_suffix(".npz")
        np.savez(
            path,
            keypoints=np.stack([pose_for(f) for f in ids]),
            frame_ids=np.array(ids),
            image_size=np.array([640, 480]),
        )
        return path
    path.write_text(json.dumps(WRITERS[reader](ids)))
    return path


WRITERS = {
    "coco_results": coco_results,
    "coco_annotations": coco_annotations,
    "coco_with_images": coco_with_images,
    "mmpose_frames": mmpose_frames,
    "mmpose_instance_info": mmpose_instance_info,
}
READERS = [*WRITERS, "npz"]
MERGES_REPEATED_IDS = {"coco_results", "coco_annotations"}  # one detection per person


def frames_of(path: Path) -> dict:
    detections = read_detections(path)
    return {
        frame_id: [person.keypoints[:, 0].tolist() for person in people]
        for frame_id, people in zip(detections.frame_ids, detections.people, strict=True)
    }


ORDER_CASES = {
    "shuffled": ([16, 1, 6, 2, 0, 3, 5, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15], list(range(17))),
    "negative": ([0, -2, -1, -3], [-3, -2, -1, 0]),
    "numbers-as-text": (["3", "1", "2"], [1, 2, 3]),
    "text": (["f10", "f2", "f1"], ["f1", "f2", "f10"]),
    "whole-floats": ([2.0, 0.0, 1.0], [0, 1, 2]),
}


@pytest.mark.parametrize(
    ("reader", "ids", "expected"),
    [
        pytest.param(reader, *case, id=f"{reader}-{name}")
        for reader in READERS
        for name, case in ORDER_CASES.items()
        # an npz array of floats is the same case as its ints
        if not (reader == "npz" and name == "whole-floats")
    ],
)
def test_every_reader_orders_frames_by_id(tmp_path, reader, ids, expected):
    path = write(tmp_path / "k.json", reader, ids)
    frames = frames_of(path)
    assert list(frames) == expected
    for given in ids:  # every frame keeps its own keypoints
        key = int(given) if not str(given).startswith("f") else given
        assert frames[key] == [pose_for(given)[:, 0].tolist()]


@pytest.mark.parametrize("reader", READERS)
def test_a_gap_is_filled_as_missing_frames_except_between_listed_images(tmp_path, reader):
    frames = frames_of(write(tmp_path / "k.json", reader, [0, 1, 3]))
    if reader == "coco_with_images":
        assert list(frames) == [0, 1, 3]  # the images are the frames
    else:
        assert list(frames) == [0, 1, 2, 3] and frames[2] == []


@pytest.mark.parametrize("reader", READERS)
def test_an_id_given_twice(tmp_path, reader):
    path = write(tmp_path / "k.json", reader, [0, 1, 1, 2])
    if reader in MERGES_REPEATED_IDS:
        assert [len(people) for people in frames_of(path).values()] == [1, 2, 1]
    else:
        with pytest.raises(DataError, match=r"frame id 1 is given twice \(entries 1 and 2\)"):
            read_detections(path)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("huge", [2_000_000_000, 2e9, -(2**40)])
def test_one_stray_huge_id_is_an_error_naming_it_not_a_range(tmp_path, reader, huge):
    ids = [*range(29), huge]
    path = write(tmp_path / "k.json", reader, ids)
    started = time.perf_counter()
    with pytest.raises(DataError) as error:
        read_detections(path)
    assert time.perf_counter() - started < 5.0
    message = str(error.value)
    assert "\n" not in message and str(int(huge)) in message
    assert f"more than {MAX_GAP_SECONDS:g} s" in message


BAD_IDS = [(1.5, "must be a whole number"), (2**60, "beyond"), (True, "must be a number or a text")]


@pytest.mark.parametrize(
    ("reader", "bad", "message"),
    [
        (reader, bad, message)
        for reader in READERS
        for bad, message in BAD_IDS
        if not (reader == "npz" and bad is True)  # a bool inside an int array is the number 1
    ],
)
def test_ids_that_are_no_frame_numbers_are_named(tmp_path, reader, bad, message):
    path = write(tmp_path / "k.json", reader, [0, 1, bad])
    with pytest.raises(DataError, match=message):
        read_detections(path)


def test_ultralytics_frames_have_no_ids_and_keep_file_order(tmp_path):
    path = tmp_path / "u.json"
    path.write_text(json.dumps({"frames": [[pose_for(f).tolist()] for f in (5, 1, 3)], **IMAGE}))
    frames = frames_of(path)
    assert list(frames) == [0, 1, 2]
    assert [people[0] for people in frames.values()] == [
        pose_for(f)[:, 0].tolist() for f in (5, 1, 3)
    ]


def test_the_gap_limit_follows_the_files_frame_rate(tmp_path):
    detections = coco_results([0, 1, 50])
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"frames": mmpose_frames([0, 1, 50])["frames"], "fps": 2}))
    with pytest.raises(DataError, match="no frame between ids 1 and 50 .*at 2 frames/s"):
        read_detections(path)
    path.write_text(json.dumps(detections))  # no fps: 10 s at 60 frames/s, 600 frames
    with pytest.raises(DataError, match="3 frame ids spread over 51 frames"):
        read_detections(path)  # within the gap limit, but most of the range is empty
