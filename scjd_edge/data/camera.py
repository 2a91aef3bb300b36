"""Camera models: screen normalisation, world -> camera transform and distorted projection.

Conventions (the Human3.6M / VideoPose3D model, as stated in the CMU data README):
- world and camera coordinates in metres; camera axes x right, y down, z forward;
- `orientation` is a unit quaternion (w, x, y, z) rotating camera coordinates into world
  coordinates and `translation` is the camera centre in world coordinates, so
  `X_cam = R(q)^-1 (X_world - t)`;
- projection: `x = clip(X_cam.xy / X_cam.z, -1, 1)`, `r2 = |x|^2`,
  `uv = f * (x * (1 + k1 r2 + k2 r2^2 + k3 r2^3 + p.x) + p * r2) + c` in pixels;
- normalised screen coordinates: `uv / w * 2 - [1, h / w]` (x in [-1, 1]).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.errors import DataError

H36M_CAMERAS_JSON = Path(__file__).with_name("h36m_cameras.json")
H36M_CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")


@dataclass(frozen=True)
class Camera:
    """One calibrated camera. Pixel units for intrinsics, metres for the extrinsics.

    `orientation` and `translation` are None for an intrinsics-only camera.
    """

    id: str
    res_w: int
    res_h: int
    center: tuple[float, float]
    focal_length: tuple[float, float]
    radial_distortion: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tangential_distortion: tuple[float, float] = (0.0, 0.0)
    orientation: tuple[float, float, float, float] | None = None
    translation: tuple[float, float, float] | None = None

    def with_extrinsics(self, orientation, translation) -> Camera:
        """The same intrinsics placed in the world (quaternion w,x,y,z; centre in metres)."""
        return replace(
            self,
            orientation=tuple(float(v) for v in orientation),
            translation=tuple(float(v) for v in translation),
        )

    def world_to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world metres -> (..., 3) camera metres."""
        self._require_extrinsics()
        return world_to_camera(points_world, self.orientation, self.translation)

    def camera_to_world(self, points_camera: np.ndarray) -> np.ndarray:
        """(..., 3) camera metres -> (..., 3) world metres."""
        self._require_extrinsics()
        return camera_to_world(points_camera, self.orientation, self.translation)

    def direction_to_camera(self, direction_world) -> np.ndarray:
        """(3,) world direction -> (3,) the same direction in camera coordinates."""
        self._require_extrinsics()
        return quaternion_rotate(quaternion_conjugate(self.orientation), direction_world)

    def project(self, points_camera: np.ndarray) -> np.ndarray:
        """(..., 3) camera metres -> (..., 2) pixels, with lens distortion."""
        return project_to_2d(points_camera, self)

    def to_dict(self) -> dict[str, Any]:
        """The `cameras_*.json` entry (CMU layout: translation in metres and millimetres)."""
        entry: dict[str, Any] = {
            "id": self.id,
            "center": list(self.center),
            "focal_length": list(self.focal_length),
            "radial_distortion": list(self.radial_distortion),
            "tangential_distortion": list(self.tangential_distortion),
            "res_w": self.res_w,
            "res_h": self.res_h,
        }
        if self.orientation is not None and self.translation is not None:
            entry["orientation"] = list(self.orientation)
            entry["translation"] = list(self.translation)
            entry["translation_mm"] = [v * 1000.0 for v in self.translation]
        return entry

    @classmethod
    def from_dict(cls, entry: dict[str, Any], where: str) -> Camera:
        """Read a `cameras_*.json` entry; `where` names the file and key for errors.

        `translation` is read in metres, or `translation_mm` in millimetres.
        """
        try:
            camera = cls(
                id=str(entry["id"]),
                res_w=int(entry["res_w"]),
                res_h=int(entry["res_h"]),
                center=_floats(entry["center"], 2),
                focal_length=_floats(entry["focal_length"], 2),
                radial_distortion=_floats(entry.get("radial_distortion", [0, 0, 0]), 3),
                tangential_distortion=_floats(entry.get("tangential_distortion", [0, 0]), 2),
            )
            if "translation" in entry:
                translation = _floats(entry["translation"], 3)
            else:
                translation = tuple(v / 1000.0 for v in _floats(entry["translation_mm"], 3))
            orientation = _floats(entry["orientation"], 4)
        except KeyError as error:
            raise DataError(f"{where}: missing key {error.args[0]!r} in a camera entry") from None
        except (TypeError, ValueError) as error:
            raise DataError(f"{where}: malformed camera entry ({error})") from None
        norm = float(np.linalg.norm(orientation))
        if abs(norm - 1.0) > 1e-3:
            raise DataError(
                f"{where}: key 'orientation' of camera {camera.id} must be a unit quaternion "
                f"(w, x, y, z), its norm is {norm:.4f}"
            )
        return camera.with_extrinsics(orientation, translation)

    def _require_extrinsics(self) -> None:
        if self.orientation is None or self.translation is None:
            raise ValueError(f"camera {self.id} has no extrinsics (orientation, translation)")


def read_cameras_json(path: Path, subjects: list[str]) -> dict[str, list[Camera]]:
    """Per subject the cameras of a `cameras_<name>.json` (CMU layout), for `subjects`."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not a readable JSON file ({error})") from None
    by_subject = content.get("subjects") if isinstance(content, dict) else None
    if not isinstance(by_subject, dict):
        raise DataError(f"{path}: missing key 'subjects' (a dict subject -> {{'cameras': [...]}})")
    cameras = {}
    for subject in subjects:
        entry = by_subject.get(subject)
        if not isinstance(entry, dict) or "cameras" not in entry:
            raise DataError(
                f"{path}: missing key subjects[{subject!r}]['cameras'] for subject {subject} "
                f"(subjects in the file: {', '.join(by_subject)})"
            )
        cameras[subject] = [
            Camera.from_dict(camera, f"{path}: subjects[{subject!r}]['cameras'][{index}]")
            for index, camera in enumerate(entry["cameras"])
        ]
    return cameras


def _floats(values, count: int) -> tuple[float, ...]:
    result = tuple(float(v) for v in values)
    if len(result) != count:
        raise ValueError(f"expected {count} numbers, got {len(result)}")
    return result


# Human3.6M intrinsics (published calibration; the same for every subject). Pixels.
H36M_CAMERA_INTRINSICS = (
    Camera(
        id="54138969", res_w=1000, res_h=1002,
        center=(512.54150390625, 515.4514770507812),
        focal_length=(1145.0494384765625, 1143.7811279296875),
        radial_distortion=(-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
        tangential_distortion=(-0.0009756988729350269, -0.00142447161488235),
    ),
    Camera(
        id="55011271", res_w=1000, res_h=1000,
        center=(508.8486328125, 508.0649108886719),
        focal_length=(1149.6756591796875, 1147.5916748046875),
        radial_distortion=(-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
        tangential_distortion=(-0.0016190266469493508, -0.0027408944442868233),
    ),
    Camera(
        id="58860488", res_w=1000, res_h=1000,
        center=(519.8158569335938, 501.40264892578125),
        focal_length=(1149.1407470703125, 1148.7989501953125),
        radial_distortion=(-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
        tangential_distortion=(0.0014843869721516967, -0.0007599993259645998),
    ),
    Camera(
        id="60457274", res_w=1000, res_h=1002,
        center=(514.9682006835938, 501.88201904296875),
        focal_length=(1145.5113525390625, 1144.77392578125),
        radial_distortion=(-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
        tangential_distortion=(-0.0005872055771760643, -0.0018133620033040643),
    ),
)  # fmt: skip


@lru_cache(maxsize=1)
def _h36m_extrinsics() -> dict[str, list[dict[str, Any]]]:
    return json.loads(H36M_CAMERAS_JSON.read_text(encoding="utf-8"))["extrinsics"]


def h36m_subjects_with_cameras() -> list[str]:
    """Human3.6M subjects whose published extrinsics ship with the package."""
    return list(_h36m_extrinsics())


def h36m_cameras(subject: str) -> list[Camera]:
    """The four Human3.6M cameras placed as in the capture of `subject` (e.g. "S9")."""
    extrinsics = _h36m_extrinsics()
    if subject not in extrinsics:
        raise DataError(
            f"{H36M_CAMERAS_JSON}: no extrinsics for subject {subject!r} "
            f"(known: {', '.join(extrinsics)})"
        )
    cameras = []
    for intrinsics, entry in zip(H36M_CAMERA_INTRINSICS, extrinsics[subject], strict=True):
        translation_m = [v / 1000.0 for v in entry["translation_mm"]]
        cameras.append(intrinsics.with_extrinsics(entry["orientation"], translation_m))
    return cameras


def normalize_screen_coordinates(uv: np.ndarray, w: int, h: int) -> np.ndarray:
    """(..., 2) pixels -> (..., 2) normalised coordinates `uv / w * 2 - [1, h / w]`."""
    uv = np.asarray(uv)
    dtype = uv.dtype if uv.dtype.kind == "f" else np.float64
    return (uv / w * 2 - np.array([1.0, h / w])).astype(dtype)


def image_coordinates(uv_normalized: np.ndarray, w: int, h: int) -> np.ndarray:
    """(..., 2) normalised coordinates -> (..., 2) pixels (inverse of the above)."""
    uv_normalized = np.asarray(uv_normalized)
    dtype = uv_normalized.dtype if uv_normalized.dtype.kind == "f" else np.float64
    return ((uv_normalized + np.array([1.0, h / w])) * w / 2).astype(dtype)


def quaternion_rotate(quaternion, vectors: np.ndarray) -> np.ndarray:
    """Rotate (..., 3) vectors by the unit quaternion (w, x, y, z)."""
    q = np.asarray(quaternion, dtype=np.float64)
    w, axis = q[..., :1], q[..., 1:]
    vectors = np.asarray(vectors, dtype=np.float64)
    twice_cross = 2.0 * np.cross(axis, vectors)
    return vectors + w * twice_cross + np.cross(axis, twice_cross)


def quaternion_conjugate(quaternion) -> np.ndarray:
    q = np.array(quaternion, dtype=np.float64)
    q[..., 1:] *= -1
    return q


def world_to_camera(points_world: np.ndarray, rotation_quat, translation) -> np.ndarray:
    """(..., 3) world metres -> (..., 3) camera metres: `R(q)^-1 (X - t)`.

    `rotation_quat` (w, x, y, z) rotates camera into world coordinates; `translation` is
    the camera centre. Returns the dtype of `points_world` (float64 inside).
    """
    points = np.asarray(points_world)
    delta = points.astype(np.float64) - np.asarray(translation, dtype=np.float64)
    result = quaternion_rotate(quaternion_conjugate(rotation_quat), delta)
    return result.astype(points.dtype if points.dtype.kind == "f" else np.float64)


def camera_to_world(points_camera: np.ndarray, rotation_quat, translation) -> np.ndarray:
    """(..., 3) camera metres -> (..., 3) world metres: `R(q) X + t`."""
    points = np.asarray(points_camera)
    world = quaternion_rotate(rotation_quat, points) + np.asarray(translation, dtype=np.float64)
    return world.astype(points.dtype if points.dtype.kind == "f" else np.float64)


def project_to_2d(points_camera: np.ndarray, intrinsics: Camera) -> np.ndarray:
    """(..., 3) camera metres -> (..., 2) pixels through a distorted pinhole camera.

    Points behind the camera are not rejected; the normalised image plane coordinates are
    clipped to [-1, 1] as in the H36M/VideoPose3D model.
    """
    points = np.asarray(points_camera)
    plane = np.clip(points[..., :2] / points[..., 2:3], -1.0, 1.0).astype(np.float64)
    pixels = distort_and_scale(
        plane,
        np.asarray(intrinsics.focal_length),
        np.asarray(intrinsics.center),
        np.asarray(intrinsics.radial_distortion, dtype=np.float64),
        np.asarray(intrinsics.tangential_distortion, dtype=np.float64),
    )
    return pixels.astype(points.dtype if points.dtype.kind == "f" else np.float64)


def distort_and_scale(plane, focal, center, radial, tangential):
    """Image-plane points `X.xy / X.z` (..., 2) -> pixels (..., 2): the lens model above.

    Written with operators numpy arrays and torch tensors share, so one formula serves the
    loaders (numpy, one camera) and the virtual camera (torch, a camera per window):
    `focal`, `center`, `tangential` (..., 2) and `radial` (..., 3) broadcast against `plane`.
    """
    x, y = plane[..., 0:1], plane[..., 1:2]
    r2 = x**2 + y**2
    k1, k2, k3 = radial[..., 0:1], radial[..., 1:2], radial[..., 2:3]
    radial_term = 1.0 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tangential_term = tangential[..., 0:1] * x + tangential[..., 1:2] * y
    distorted = plane * (radial_term + tangential_term) + tangential * r2
    return focal * distorted + center


def rotation_matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """(3, 3) proper rotation matrix -> (4,) unit quaternion (w, x, y, z), w >= 0."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    candidates = np.array([trace, m[0, 0], m[1, 1], m[2, 2]])
    largest = int(np.argmax(candidates))
    if largest == 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [s / 4, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif largest == 1:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif largest == 2:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def look_at_camera(intrinsics: Camera, centre, target, roll_rad: float = 0.0) -> Camera:
    """Place `intrinsics` at `centre` (metres, Z-up world) looking at `target`.

    The image's x axis stays horizontal (then rolled by `roll_rad` about the optical axis)
    and its y axis points down.
    """
    centre = np.asarray(centre, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    cos_roll, sin_roll = np.cos(roll_rad), np.sin(roll_rad)
    right, down = cos_roll * right + sin_roll * down, -sin_roll * right + cos_roll * down
    camera_to_world_rotation = np.stack([right, down, forward], axis=1)
    quaternion = rotation_matrix_to_quaternion(camera_to_world_rotation)
    return intrinsics.with_extrinsics(quaternion, centre)
