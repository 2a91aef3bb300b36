"""BVH motion capture -> Human3.6M-17 joint positions and a VideoPose3D-format folder.

Supported skeletons (the two families of the CMU BVH releases; see the CMU data README):
- cgspeed "3dsMax-friendly" CMU files (root `Hips`; CMU units of 1/0.45 inch), e.g. 102_01;
- iClone CC_Base avatar files (root `CC_Base_Hip`; centimetres), e.g. 007_02.
A joint's local rotation is the product of its rotation channels in the listed order
(`Zrotation Yrotation Xrotation` gives Rz Ry Rx, per joint); a joint with position
channels is translated by its offset plus those channels. Resampling to 50 Hz slerps every
joint's local rotation and interpolates the root translation linearly, then runs forward
kinematics, so bone lengths stay exactly constant. Positions are converted to metres and
from Y-up to the Human3.6M Z-up world by (x, y, z) -> (x, -z, y).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scjd_edge.data.camera import h36m_cameras
from scjd_edge.data.pose_folder import write_pose_folder
from scjd_edge.errors import DataError
from scjd_edge.io import sha256_file, write_json

TARGET_FPS = 50.0
CAMERA_SUBJECT = "S1"  # Human3.6M extrinsics used to project converted BVH files
YAW_STEP_DEG = 30.0


@dataclass
class BvhJoint:
    name: str
    parent: int  # index of the parent joint, -1 for the root
    offset: np.ndarray  # (3,) in file units
    channels: list[str]  # e.g. ["Xposition", ..., "Zrotation", "Yrotation", "Xrotation"]
    first_channel: int  # column of its first channel in the motion rows
    end_site: bool = False


@dataclass
class BvhMotion:
    path: Path
    joints: list[BvhJoint]
    frame_time: float  # seconds between frames
    motion: np.ndarray  # (F, channels) the raw channel values (degrees, file units)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        for index, joint in enumerate(self.joints):
            if joint.name == name:
                return index
        raise DataError(f"{self.path}: no joint named {name!r} in the BVH hierarchy")


@dataclass(frozen=True)
class SkeletonFamily:
    """How one BVH skeleton family maps to Human3.6M-17."""

    name: str
    metres_per_unit: float
    hip_pair: tuple[str, str]  # Hip = midpoint of these two joints
    direct: dict[int, str]  # H36M joint -> BVH joint whose origin it is
    spine_chain: tuple[str, ...]  # Spine = half the arc length of Hip -> these joints
    head_joint: str  # Head = a point fixed in this joint's frame...
    head_offset: tuple[float, float, float] | None  # ...at this offset (None: its End Site)


CGSPEED = SkeletonFamily(
    name="cgspeed_max",
    metres_per_unit=0.0254 / 0.45,
    hip_pair=("LeftHip", "RightHip"),
    direct={
        1: "RightHip", 2: "RightKnee", 3: "RightAnkle", 4: "LeftHip", 5: "LeftKnee",
        6: "LeftAnkle", 8: "Neck", 9: "Head", 11: "LeftShoulder", 12: "LeftElbow",
        13: "LeftWrist", 14: "RightShoulder", 15: "RightElbow", 16: "RightWrist",
    },
    spine_chain=("Hips", "Chest", "Chest2", "Neck"),
    head_joint="Head",
    head_offset=None,
)  # fmt: skip

ICLONE = SkeletonFamily(
    name="iclone_cc",
    metres_per_unit=0.01,
    hip_pair=("CC_Base_L_Thigh", "CC_Base_R_Thigh"),
    direct={
        1: "CC_Base_R_Thigh", 2: "CC_Base_R_Calf", 3: "CC_Base_R_Foot", 4: "CC_Base_L_Thigh",
        5: "CC_Base_L_Calf", 6: "CC_Base_L_Foot", 8: "CC_Base_NeckTwist01", 9: "CC_Base_Head",
        11: "CC_Base_L_Upperarm", 12: "CC_Base_L_Forearm", 13: "CC_Base_L_Hand",
        14: "CC_Base_R_Upperarm", 15: "CC_Base_R_Forearm", 16: "CC_Base_R_Hand",
    },
    spine_chain=("CC_Base_Hip", "CC_Base_Waist", "CC_Base_Spine01", "CC_Base_Spine02",
                 "CC_Base_NeckTwist01"),
    head_joint="CC_Base_Head",
    head_offset=(0.0, 10.0, 0.0),  # 10 cm along the head's local +Y (the avatar has no top)
)  # fmt: skip

FAMILIES = (CGSPEED, ICLONE)


# --- parsing ------------------------------------------------------------------------------


def read_bvh(path: str | Path) -> BvhMotion:
    """Parse a BVH file; malformed input raises DataError naming the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise DataError(f"{path}: cannot read BVH file ({error})") from None
    motion_line = next((i for i, line in enumerate(lines) if line.strip() == "MOTION"), len(lines))
    header_end = min(motion_line + 3, len(lines))  # MOTION, Frames: N, Frame Time: t
    tokens = _Tokens(path, lines[:header_end])
    tokens.expect("HIERARCHY")
    joints: list[BvhJoint] = []
    tokens.expect("ROOT")
    _parse_joint(tokens, joints, parent=-1)
    tokens.expect("MOTION")
    tokens.expect("Frames:")
    frames = tokens.integer()
    tokens.expect("Frame")
    tokens.expect("Time:")
    frame_time = tokens.number()
    if frames < 1 or frame_time <= 0:
        raise DataError(
            f"{path}: line {tokens.line}: expected Frames >= 1 and Frame Time > 0, "
            f"got {frames} and {frame_time}"
        )
    channel_count = sum(len(joint.channels) for joint in joints)
    motion = _parse_motion(path, lines, header_end, frames, channel_count)
    return BvhMotion(path=path, joints=joints, frame_time=frame_time, motion=motion)


class _Tokens:
    """Whitespace tokens of the header lines, each with its 1-based line number."""

    def __init__(self, path: Path, lines: list[str]):
        self.path = path
        self._items = [
            (token, number) for number, line in enumerate(lines, start=1) for token in line.split()
        ]
        self._position = 0
        self.line = 0

    def take(self, what: str) -> str:
        if self._position >= len(self._items):
            raise DataError(f"{self.path}: line {self.line}: file ends early, expected {what}")
        token, self.line = self._items[self._position]
        self._position += 1
        return token

    def expect(self, word: str) -> None:
        token = self.take(repr(word))
        if token != word:
            raise DataError(f"{self.path}: line {self.line}: expected {word!r}, got {token!r}")

    def number(self) -> float:
        token = self.take("a number")
        try:
            return float(token)
        except ValueError:
            raise DataError(
                f"{self.path}: line {self.line}: expected a number, got {token!r}"
            ) from None

    def integer(self) -> int:
        token = self.take("an integer")
        if not re.fullmatch(r"\d+", token):
            raise DataError(f"{self.path}: line {self.line}: expected an integer, got {token!r}")
        return int(token)


VALID_CHANNELS = {f"{axis}{kind}" for axis in "XYZ" for kind in ("position", "rotation")}


def _parse_joint(tokens: _Tokens, joints: list[BvhJoint], parent: int) -> None:
    name = tokens.take("a joint name")
    index = len(joints)
    tokens.expect("{")
    tokens.expect("OFFSET")
    offset = np.array([tokens.number() for _ in range(3)])
    tokens.expect("CHANNELS")
    count = tokens.integer()
    channels = [tokens.take(f"{count} channel names") for _ in range(count)]
    bad = [channel for channel in channels if channel not in VALID_CHANNELS]
    if bad:
        raise DataError(
            f"{tokens.path}: line {tokens.line}: joint {name!r} declares CHANNELS {count} but "
            f"{bad[0]!r} is not a channel name (expected {count} of X/Y/Z position/rotation)"
        )
    first_channel = sum(len(joint.channels) for joint in joints)
    joints.append(BvhJoint(name, parent, offset, channels, first_channel))
    while True:
        token = tokens.take("JOINT, End Site or '}'")
        if token == "}":
            return
        if token == "JOINT":
            _parse_joint(tokens, joints, parent=index)
        elif token == "End":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            end_offset = np.array([tokens.number() for _ in range(3)])
            tokens.expect("}")
            joints.append(
                BvhJoint(f"{name}_EndSite", index, end_offset, [], first_channel, end_site=True)
            )
        else:
            raise DataError(
                f"{tokens.path}: line {tokens.line}: expected JOINT, End Site or '}}' in "
                f"joint {name!r}, got {token!r}"
            )


def _parse_motion(
    path: Path, lines: list[str], start: int, frames: int, channel_count: int
) -> np.ndarray:
    rows = [(number, line) for number, line in enumerate(lines[start:], start + 1) if line.strip()]
    if len(rows) < frames:
        last = rows[-1][0] if rows else start
        raise DataError(
            f"{path}: line {last}: file ends after {len(rows)} motion rows, "
            f"but the header says Frames: {frames} (truncated file?)"
        )
    motion = np.empty((frames, channel_count))
    for frame, (number, line) in enumerate(rows[:frames]):
        values = line.split()
        if len(values) != channel_count:
            raise DataError(
                f"{path}: line {number}: {len(values)} values in motion row {frame}, expected "
                f"{channel_count} (the channel count of the hierarchy)"
            )
        try:
            motion[frame] = [float(value) for value in values]
        except ValueError:
            bad = next(v for v in values if not _is_number(v))
            raise DataError(
                f"{path}: line {number}: non-numeric value {bad!r} in motion row {frame}"
            ) from None
    if not np.isfinite(motion).all():
        frame = int(np.argwhere(~np.isfinite(motion))[0][0])
        raise DataError(f"{path}: line {rows[frame][0]}: NaN/inf in motion row {frame}")
    return motion


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- quaternions and kinematics -------------------------------------------------------------

_AXES = {"X": (1.0, 0.0, 0.0), "Y": (0.0, 1.0, 0.0), "Z": (0.0, 0.0, 1.0)}


def _axis_quaternion(axis: str, degrees: np.ndarray) -> np.ndarray:
    half = np.deg2rad(degrees) / 2
    quaternion = np.zeros(degrees.shape + (4,))
    quaternion[..., 0] = np.cos(half)
    quaternion[..., 1:] = np.sin(half)[..., None] * np.array(_AXES[axis])
    return quaternion


def _quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def _quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    ).reshape(q.shape[:-1] + (3, 3))  # fmt: skip


def _slerp(q0: np.ndarray, q1: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """Shortest-arc spherical interpolation of (..., 4) unit quaternions; fraction (...,)."""
    dot = np.sum(q0 * q1, axis=-1)
    q1 = np.where(dot[..., None] < 0, -q1, q1)
    dot = np.clip(np.abs(dot), -1.0, 1.0)
    angle = np.arccos(dot)
    sin_angle = np.sin(angle)
    nearly_equal = sin_angle < 1e-6
    safe = np.where(nearly_equal, 1.0, sin_angle)
    weight0 = np.where(nearly_equal, 1 - fraction, np.sin((1 - fraction) * angle) / safe)
    weight1 = np.where(nearly_equal, fraction, np.sin(fraction * angle) / safe)
    result = weight0[..., None] * q0 + weight1[..., None] * q1
    return result / np.linalg.norm(result, axis=-1, keepdims=True)


def local_transforms(bvh: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Per frame and joint: local rotation quaternions (F, J, 4) and translations (F, J, 3)."""
    frames = len(bvh.motion)
    rotations = np.zeros((frames, len(bvh.joints), 4))
    rotations[..., 0] = 1.0
    translations = np.broadcast_to(
        np.array([joint.offset for joint in bvh.joints]), (frames, len(bvh.joints), 3)
    ).copy()
    for index, joint in enumerate(bvh.joints):
        for column, channel in enumerate(joint.channels, start=joint.first_channel):
            values = bvh.motion[:, column]
            axis = channel[0]
            if channel.endswith("rotation"):
                step = _axis_quaternion(axis, values)
                rotations[:, index] = _quaternion_multiply(rotations[:, index], step)
            else:
                translations[:, index, "XYZ".index(axis)] += values
    return rotations, translations


def forward_kinematics(
    bvh: BvhMotion, rotations: np.ndarray, translations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Local (F, J, 4) rotations and (F, J, 3) translations -> world positions (F, J, 3)
    and world rotation matrices (F, J, 3, 3), in file units and axes."""
    frames, count = rotations.shape[:2]
    local = _quaternion_to_matrix(rotations)
    positions = np.zeros((frames, count, 3))
    world = np.zeros((frames, count, 3, 3))
    for index, joint in enumerate(bvh.joints):
        if joint.parent < 0:
            positions[:, index] = translations[:, index]
            world[:, index] = local[:, index]
            continue
        parent_rotation = world[:, joint.parent]
        offset = np.einsum("fij,fj->fi", parent_rotation, translations[:, index])
        positions[:, index] = positions[:, joint.parent] + offset
        world[:, index] = parent_rotation @ local[:, index]
    return positions, world


def resample(bvh: BvhMotion, fps: float = TARGET_FPS) -> tuple[np.ndarray, np.ndarray]:
    """Local transforms at `fps`: rotations slerped, translations interpolated linearly.

    Output frame k is at time k / fps; frames run to the last input frame's time.
    """
    rotations, translations = local_transforms(bvh)
    duration = (len(bvh.motion) - 1) * bvh.frame_time
    times = np.arange(int(np.floor(duration * fps + 1e-6)) + 1) / fps
    position = np.clip(times / bvh.frame_time, 0, len(bvh.motion) - 1)
    before = np.minimum(np.floor(position).astype(int), len(bvh.motion) - 2)
    before = np.maximum(before, 0)
    after = np.minimum(before + 1, len(bvh.motion) - 1)
    fraction = position - before
    fraction_joints = np.broadcast_to(fraction[:, None], (len(times), rotations.shape[1]))
    new_rotations = _slerp(rotations[before], rotations[after], fraction_joints)
    weight = fraction[:, None, None]
    new_translations = (1 - weight) * translations[before] + weight * translations[after]
    return new_rotations, new_translations


# --- Human3.6M-17 mapping -------------------------------------------------------------------


def detect_family(bvh: BvhMotion) -> SkeletonFamily:
    names = {joint.name for joint in bvh.joints}
    for family in FAMILIES:
        needed = set(family.direct.values()) | set(family.spine_chain) | set(family.hip_pair)
        if needed <= names:
            return family
    raise DataError(
        f"{bvh.path}: unknown BVH skeleton (root {bvh.joints[0].name!r}); supported: the "
        f"cgspeed CMU skeleton (Hips, LeftHip, ..., Head) and the iClone CC_Base skeleton "
        f"(CC_Base_Hip, CC_Base_L_Thigh, ...)"
    )


def bvh_to_h36m(bvh: BvhMotion, fps: float = TARGET_FPS) -> np.ndarray:
    """(F, 17, 3) Human3.6M-17 joints at `fps`, metres, Z-up world (as captured)."""
    family = detect_family(bvh)
    rotations, translations = resample(bvh, fps)
    positions, world = forward_kinematics(bvh, rotations, translations)
    frames = len(positions)
    h36m = np.zeros((frames, 17, 3))
    left, right = (positions[:, bvh.index(name)] for name in family.hip_pair)
    h36m[:, 0] = (left + right) / 2
    for target, name in family.direct.items():
        h36m[:, target] = positions[:, bvh.index(name)]
    chain = [h36m[:, 0]] + [positions[:, bvh.index(name)] for name in family.spine_chain]
    h36m[:, 7] = _half_arc_point(np.stack(chain, axis=1))
    head = bvh.index(family.head_joint)
    if family.head_offset is None:
        end_site = next(
            i for i, joint in enumerate(bvh.joints) if joint.parent == head and joint.end_site
        )
        h36m[:, 10] = positions[:, end_site]
    else:
        h36m[:, 10] = positions[:, head] + world[:, head] @ np.array(family.head_offset)
    metres = h36m * family.metres_per_unit
    return np.stack([metres[..., 0], -metres[..., 2], metres[..., 1]], axis=-1)


def _half_arc_point(chain: np.ndarray) -> np.ndarray:
    """(F, K, 3) polyline -> (F, 3) the point at half its arc length."""
    segments = np.linalg.norm(np.diff(chain, axis=1), axis=-1)  # (F, K-1)
    cumulative = np.concatenate([np.zeros((len(chain), 1)), np.cumsum(segments, axis=1)], 1)
    half = cumulative[:, -1:] / 2
    segment = np.clip((cumulative[:, 1:] < half).sum(axis=1), 0, segments.shape[1] - 1)
    rows = np.arange(len(chain))
    start_length = cumulative[rows, segment]
    length = np.maximum(segments[rows, segment], 1e-12)
    fraction = np.clip((half[:, 0] - start_length) / length, 0, 1)[:, None]
    return chain[rows, segment] + fraction * (chain[rows, segment + 1] - chain[rows, segment])


def place_on_ground_plane(pose_world: np.ndarray, yaw_deg: float, shift_xy) -> np.ndarray:
    """Rotate (F, 17, 3) by `yaw_deg` about the vertical axis, then shift in x, y (metres)."""
    yaw = np.deg2rad(yaw_deg)
    rotation = np.array(
        [[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]]
    )
    placed = pose_world @ rotation.T
    placed[..., :2] += np.asarray(shift_xy, dtype=np.float64)
    return placed


def _best_placement(pose_world: np.ndarray, cameras) -> tuple[float, np.ndarray, float]:
    """Yaw (30 degree steps) and centring shift that keep most frames inside all 4 images."""
    best = (-1.0, 0.0, np.zeros(2))
    for yaw in np.arange(0.0, 360.0, YAW_STEP_DEG):
        rotated = place_on_ground_plane(pose_world, yaw, (0.0, 0.0))
        pelvis = rotated[:, 0, :2]
        shift = -(pelvis.min(axis=0) + pelvis.max(axis=0)) / 2
        placed = place_on_ground_plane(pose_world, yaw, shift)
        visible = np.ones(len(placed), dtype=bool)
        for camera in cameras:
            camera_space = camera.world_to_camera(placed)
            pixels = camera.project(camera_space)
            inside = (camera_space[..., 2] > 0) & (pixels >= 0).all(-1)
            inside &= (pixels[..., 0] < camera.res_w) & (pixels[..., 1] < camera.res_h)
            visible &= inside.all(axis=-1)
        fraction = float(visible.mean())
        if fraction > best[0]:
            best = (fraction, float(yaw), shift)
    return best[1], best[2], best[0]


# --- folder conversion ----------------------------------------------------------------------


def _subject_and_action(stem: str, prefix: str) -> tuple[str, str]:
    """CMU-style names ("102_01", "007_02") group by performer: BVH102, BVH07."""
    match = re.fullmatch(r"(\d+)_(\d+)", stem)
    if match:
        return f"{prefix}{int(match.group(1)):02d}", f"Motion {int(match.group(1)):02d}_{match[2]}"
    return f"{prefix}{stem}", f"Motion {stem}"


def convert_bvh_folder(
    bvh_dir: str | Path, out_dir: str | Path, subject_prefix: str = "BVH"
) -> list[Path]:
    """Convert every `*.bvh` in `bvh_dir` into a VideoPose3D-format folder `out_dir`.

    Writes data_3d_bvh.npz, data_2d_bvh_gt.npz (exact projections through the four
    Human3.6M cameras with the S1 extrinsics), cameras_bvh.json and clips_bvh.json (per
    sequence: source file, sha256, skeleton family, input fps, yaw and shift). Each
    sequence is turned about the vertical axis (30 degree steps) and centred on the
    origin so that the most frames are inside all four images. Files named like CMU
    trials ("SS_TT.bvh") become subject `<prefix><SS>`, action "Motion SS_TT"; other
    files become subject `<prefix><stem>`. Returns the written paths.
    """
    bvh_dir, out_dir = Path(bvh_dir), Path(out_dir)
    files = sorted(bvh_dir.glob("*.bvh"))
    if not files:
        raise DataError(f"{bvh_dir}: no .bvh files in this folder")
    cameras = h36m_cameras(CAMERA_SUBJECT)
    positions_3d: dict[str, dict[str, np.ndarray]] = {}
    positions_2d: dict[str, dict[str, list[np.ndarray]]] = {}
    clips: dict[str, dict] = {}
    for path in files:
        bvh = read_bvh(path)
        pose_world = bvh_to_h36m(bvh)
        yaw, shift, in_view = _best_placement(pose_world, cameras)
        placed = place_on_ground_plane(pose_world, yaw, shift)
        subject, action = _subject_and_action(path.stem, subject_prefix)
        with np.errstate(all="ignore"):  # NaN/Inf are refused below, with the file's name
            pose_3d = placed.astype(np.float32)
            views = [
                camera.project(camera.world_to_camera(placed)).astype(np.float32)
                for camera in cameras
            ]
        _require_finite(path, pose_3d, views)
        positions_3d.setdefault(subject, {})[action] = pose_3d
        positions_2d.setdefault(subject, {})[action] = views
        clips.setdefault(subject, {})[action] = {
            "source": path.name,
            "sha256": sha256_file(path),
            "skeleton": detect_family(bvh).name,
            "fps_in": round(bvh.fps, 4),
            "input_frames": len(bvh.motion),
            "frames": len(placed),
            "placement": {"yaw_deg": yaw, "shift_xy_m": [round(float(v), 4) for v in shift]},
            "in_view_fraction": round(in_view, 4),
        }
    written = write_pose_folder(
        out_dir,
        "bvh",
        positions_3d,
        positions_2d,
        {subject: cameras for subject in positions_3d},
        metadata={"synthetic": False, "source": "BVH conversion", "fps": TARGET_FPS},
        cameras_note=(
            f"Human3.6M cameras with the published extrinsics of {CAMERA_SUBJECT} for every "
            "subject. orientation = quaternion (w,x,y,z) rotating camera into world "
            "coordinates; translation = camera centre (metres)."
        ),
    )
    written.append(write_json(out_dir / "clips_bvh.json", {"fps": TARGET_FPS, "clips": clips}))
    return written


def _require_finite(path: Path, pose_3d: np.ndarray, views: list[np.ndarray]) -> None:
    """Refuse a conversion whose 3D or 2D poses hold NaN or Inf (nothing is written)."""
    for name, values in (("3D", pose_3d), *((f"2D camera {i}", v) for i, v in enumerate(views))):
        bad_frames = np.flatnonzero(~np.isfinite(values).reshape(len(values), -1).all(axis=1))
        if len(bad_frames):
            raise DataError(
                f"{path}: converts to {name} poses with NaN or Inf at frame {bad_frames[0]} "
                f"({len(bad_frames)} frames); check the file's MOTION values"
            )
