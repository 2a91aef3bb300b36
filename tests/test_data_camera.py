"""Camera model: normalisation, extrinsics, distorted projection, H36M constants."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from scjd_edge.data.builtin import CMU_PACKAGE_DIR
from scjd_edge.data.camera import (
    H36M_CAMERA_INTRINSICS,
    Camera,
    camera_to_world,
    h36m_cameras,
    image_coordinates,
    look_at_camera,
    normalize_screen_coordinates,
    project_to_2d,
    rotation_matrix_to_quaternion,
    world_to_camera,
)
from scjd_edge.errors import DataError


def test_normalize_known_values_and_round_trip():
    uv = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]])
    normalised = normalize_screen_coordinates(uv, w=1000, h=1002)
    np.testing.assert_allclose(normalised, [[-1.0, -1.002], [1.0, 1.002], [0.0, 0.0]])
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 1000, (50, 17, 2)).astype(np.float32)
    back = image_coordinates(normalize_screen_coordinates(pixels, 1000, 1002), 1000, 1002)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, pixels, atol=1e-3)


def test_projection_without_distortion_is_pinhole():
    camera = Camera("pinhole", 1000, 1000, center=(500.0, 400.0), focal_length=(1000.0, 900.0))
    pixels = project_to_2d(np.array([0.5, 0.25, 2.0]), camera)
    np.testing.assert_allclose(pixels, [500 + 1000 * 0.25, 400 + 900 * 0.125])


def test_projection_with_distortion_matches_hand_computation():
    camera = Camera(
        "distorted", 1000, 1000, center=(510.0, 490.0), focal_length=(1100.0, 1050.0),
        radial_distortion=(-0.2, 0.25, -0.01), tangential_distortion=(0.002, -0.003),
    )  # fmt: skip
    point = [0.3, -0.2, 2.5]
    # By hand: x = (0.12, -0.08); r2 = 0.0144 + 0.0064 = 0.0208;
    # radial = 1 - 0.2 r2 + 0.25 r2^2 - 0.01 r2^3; p.x = 0.002*0.12 - 0.003*(-0.08) = 0.00048
    x, y, r2 = 0.12, -0.08, 0.0208
    radial = 1 - 0.2 * r2 + 0.25 * r2**2 - 0.01 * r2**3
    scale = radial + 0.00048
    expected_u = 1100.0 * (x * scale + 0.002 * r2) + 510.0
    expected_v = 1050.0 * (y * scale - 0.003 * r2) + 490.0
    assert math.isclose(expected_u, 641.574, abs_tol=1e-3)  # the hand-computed value
    np.testing.assert_allclose(project_to_2d(np.array(point), camera), [expected_u, expected_v])


def test_world_to_camera_identity_and_rotation():
    points = np.array([[1.0, 2.0, 3.0], [-0.5, 0.0, 4.0]])
    identity = (1.0, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(world_to_camera(points, identity, (1.0, 1.0, 1.0)), points - 1.0)
    # 90 degrees about z: camera x axis = world y axis, so world (0, 1, 0) is camera (1, 0, 0).
    quarter_turn = (math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4))
    np.testing.assert_allclose(
        world_to_camera(np.array([0.0, 1.0, 0.0]), quarter_turn, (0, 0, 0)), [1, 0, 0], atol=1e-12
    )
    centre = (3.0, 2.0, 1.0)
    back = camera_to_world(world_to_camera(points, quarter_turn, centre), quarter_turn, centre)
    np.testing.assert_allclose(back, points, atol=1e-12)


def test_rotation_matrix_quaternion_round_trip_and_look_at():
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q = q if q[0] >= 0 else -q
        rotated = camera_to_world(np.eye(3), q, (0, 0, 0))  # columns: rotated basis vectors
        np.testing.assert_allclose(rotation_matrix_to_quaternion(rotated.T), q, atol=1e-9)
    camera = look_at_camera(H36M_CAMERA_INTRINSICS[1], (5.0, 1.0, 1.8), (0.0, 0.0, 1.0))
    target_in_camera = camera.world_to_camera(np.array([0.0, 0.0, 1.0]))
    assert target_in_camera[2] > 0
    np.testing.assert_allclose(target_in_camera[:2], 0.0, atol=1e-9)
    up_in_camera = camera.world_to_camera(np.array([0.0, 0.0, 2.0]))
    assert up_in_camera[1] < 0  # image y points down


def test_h36m_constants_and_extrinsics():
    assert [c.id for c in H36M_CAMERA_INTRINSICS] == [
        "54138969", "55011271", "58860488", "60457274",
    ]  # fmt: skip
    assert (H36M_CAMERA_INTRINSICS[0].res_w, H36M_CAMERA_INTRINSICS[0].res_h) == (1000, 1002)
    for subject in ("S1", "S5", "S6", "S7", "S8", "S9", "S11"):
        cameras = h36m_cameras(subject)
        assert len(cameras) == 4
        for camera in cameras:
            assert 4.0 < np.linalg.norm(camera.translation[:2]) < 6.0  # metres from the centre
            # The capture volume's centre is in front of every camera.
            assert camera.world_to_camera(np.array([0.0, 0.0, 1.0]))[2] > 3.0
    with pytest.raises(DataError, match="S2"):
        h36m_cameras("S2")


def test_h36m_extrinsics_match_cmu_camera_file():
    content = json.loads((CMU_PACKAGE_DIR / "cameras_cmu.json").read_text())
    for subject, entry in content["subjects"].items():
        expected = h36m_cameras(entry["h36m_extrinsics"])
        for index, camera_entry in enumerate(entry["cameras"]):
            camera = Camera.from_dict(camera_entry, f"cameras_cmu.json {subject}")
            assert camera.id == expected[index].id
            np.testing.assert_allclose(camera.orientation, expected[index].orientation)
            np.testing.assert_allclose(camera.translation, expected[index].translation)
            np.testing.assert_allclose(camera.focal_length, expected[index].focal_length)


def test_camera_from_dict_errors_name_the_key():
    entry = H36M_CAMERA_INTRINSICS[0].with_extrinsics((1, 0, 0, 0), (0, 0, 0)).to_dict()
    del entry["focal_length"]
    with pytest.raises(DataError, match="my.json.*focal_length"):
        Camera.from_dict(entry, "my.json")
    entry = H36M_CAMERA_INTRINSICS[0].with_extrinsics((2, 0, 0, 0), (0, 0, 0)).to_dict()
    with pytest.raises(DataError, match="my.json.*orientation"):
        Camera.from_dict(entry, "my.json")
