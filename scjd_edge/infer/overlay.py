"""Pictures of a video's result: the 2D skeleton drawn on each frame beside the 3D skeleton.

Left: the video frame with the H36M-17 skeleton the model lifted (left limbs blue, right
red, joints held from an earlier frame drawn as hollow rings). Right: the 3D pose in a
fixed 2 m cube (x right, depth away from the camera, up), standing on a grey ground plane
at the height of its lowest joint, the same axes and scale in every frame. Written as MP4
(OpenCV, codec mp4v) or GIF (Pillow); long videos are drawn every k-th frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scjd_edge.data.skeleton import BONES, LEFT_JOINTS, RIGHT_JOINTS
from scjd_edge.errors import ConfigError
from scjd_edge.infer.viz import VIEW_AZIMUTH, VIEW_ELEVATION, bone_colour, camera_to_plot
from scjd_edge.io import atomic_path

PANEL_HALF_WIDTH_M = 1.0  # the 3D panel shows x and depth in [-1, 1] m, up in [0, 2] m
RGB = {"left": (31, 119, 180), "right": (214, 39, 40), "centre": (105, 105, 105)}


def joint_rgb(child_joint: int) -> tuple[int, int, int]:
    if child_joint in LEFT_JOINTS:
        return RGB["left"]
    if child_joint in RIGHT_JOINTS:
        return RGB["right"]
    return RGB["centre"]


def draw_skeleton_2d(
    frame_rgb: np.ndarray, keypoints_2d: np.ndarray, held: np.ndarray | None = None
) -> np.ndarray:
    """A copy of the frame with the (17, 2) px skeleton drawn; held joints hollow."""
    import cv2

    picture = np.ascontiguousarray(frame_rgb.copy())
    thickness = max(1, round(min(picture.shape[:2]) / 300))
    points = np.round(keypoints_2d).astype(int)
    for parent, child in BONES:
        cv2.line(picture, tuple(points[parent]), tuple(points[child]), joint_rgb(child),
                 thickness + 1, cv2.LINE_AA)  # fmt: skip
    for joint, point in enumerate(points):
        fill = -1 if held is None or not held[joint] else 1
        cv2.circle(picture, tuple(point), thickness + 2, joint_rgb(joint), fill, cv2.LINE_AA)
    return picture


class Pose3DPanel:
    """A square matplotlib 3D panel of `size_px`, fixed axes and ground plane, rendered to RGB."""

    def __init__(self, size_px: int):
        dpi = 100
        self.figure = Figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        axes = self.figure.add_subplot(1, 1, 1, projection="3d")
        half = PANEL_HALF_WIDTH_M
        axes.set_xlim(-half, half)
        axes.set_ylim(-half, half)
        axes.set_zlim(0, 2 * half)
        axes.set_box_aspect((1, 1, 1))
        axes.view_init(elev=VIEW_ELEVATION, azim=VIEW_AZIMUTH)
        axes.set_xlabel("x (m)")
        axes.set_ylabel("depth (m)")
        axes.set_zlabel("up (m)")
        axes.locator_params(nbins=4)
        grid = np.linspace(-half, half, 5)
        for value in grid:  # the ground plane at height 0
            axes.plot([value, value], [-half, half], [0, 0], color="0.75", lw=0.8)
            axes.plot([-half, half], [value, value], [0, 0], color="0.75", lw=0.8)
        self.bones = [axes.plot([], [], [], "-", color=bone_colour(c), lw=2.5)[0] for _, c in BONES]
        self.axes = axes
        self.figure.subplots_adjust(left=0, right=1, bottom=0.02, top=0.95)

    def render(self, pose_3d: np.ndarray | None, label: str = "") -> np.ndarray:
        """(17, 3) camera-space metres (or None: empty) -> (size, size, 3) uint8 RGB."""
        if pose_3d is not None:
            plot_pose = camera_to_plot(pose_3d)
            plot_pose[:, 2] -= plot_pose[:, 2].min()  # stand on the ground plane
        for line, (parent, child) in zip(self.bones, BONES, strict=True):
            if pose_3d is None:
                line.set_data_3d([], [], [])
            else:
                segment = plot_pose[[parent, child]]
                line.set_data_3d(segment[:, 0], segment[:, 1], segment[:, 2])
        self.axes.set_title(
            f"{label}: 3D (m), root-relative, lowest joint on the ground", fontsize=9
        )
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def compose_frame(
    frame_rgb: np.ndarray,
    panel: Pose3DPanel,
    keypoints_2d: np.ndarray | None,
    held: np.ndarray | None,
    pose_3d: np.ndarray | None,
    label: str,
) -> np.ndarray:
    """The frame with its 2D skeleton (if any) beside the 3D panel, same height."""
    left = frame_rgb if keypoints_2d is None else draw_skeleton_2d(frame_rgb, keypoints_2d, held)
    right = panel.render(pose_3d, label)
    height = min(left.shape[0], right.shape[0])
    return np.concatenate([left[:height], right[:height]], axis=1)


def picture_kind(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise ConfigError(f"--viz {path}: with --video the picture is a .mp4 or .gif file")
    return suffix.lstrip(".")


def write_overlay(
    path: Path,
    frames: Iterable[np.ndarray],
    result,
    fps: float,
    max_frames: int = 600,
) -> dict:
    """Draw every frame of a `StreamResult` (frames: the video's RGB frames, in order).

    Every k-th frame is drawn when there are more than `max_frames`; the picture plays at
    fps / k so it keeps the video's duration. Returns {"path", "frames"}.
    """
    kind = picture_kind(path)
    stride = max(1, math.ceil(result.frames_read / max_frames))
    row_of = {int(index): row for row, index in enumerate(result.frame_indices)}
    written = []
    panel = palette = None
    with atomic_path(path) as tmp:
        staged = tmp.with_name(tmp.name + "." + kind)
        writer = None
        try:
            for index, frame in enumerate(frames):
                if index % stride:
                    continue
                panel = panel or Pose3DPanel(frame.shape[0])
                row = row_of.get(index)
                picture = compose_frame(
                    frame,
                    panel,
                    None if row is None else result.keypoints_2d[row],
                    None if row is None else result.interpolated[row],
                    None if row is None or row >= len(result.pose_3d) else result.pose_3d[row],
                    f"frame {index}" + ("" if row is not None else " (no person yet)"),
                )
                if kind == "mp4":
                    writer = writer or _mp4_writer(staged, picture.shape, fps / stride)
                    writer.write(picture[..., ::-1])  # OpenCV wants BGR
                else:
                    palette = palette or _gif_palette(picture)
                    written.append(_gif_frame(picture, palette))
                    continue
                written.append(None)
        finally:
            if writer is not None:
                writer.release()
        if kind == "gif" and written:
            written[0].save(staged, save_all=True, append_images=written[1:],
                            duration=round(1000 * stride / fps), loop=0)  # fmt: skip
        if not written:
            raise ConfigError(f"--viz {path}: the video had no frame to draw")
        staged.replace(tmp)
    return {"path": Path(path), "frames": len(written)}


def _mp4_writer(path: Path, shape: tuple[int, ...], fps: float):
    import cv2

    height, width = shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise ConfigError(f"{path}: OpenCV cannot write MP4 (mp4v) here; use a .gif name")
    return writer


def _gif_palette(picture: np.ndarray):
    """One palette for the whole GIF: the first frame's colours plus the exact skeleton
    colours (a per-frame adaptive palette drops the few pixels of a thin blue line)."""
    from PIL import Image

    skeleton = [channel for rgb in RGB.values() for channel in rgb]
    scenery = Image.fromarray(picture).quantize(256 - len(RGB), Image.Quantize.MEDIANCUT)
    palette = Image.new("P", (1, 1))
    palette.putpalette(scenery.getpalette()[: 3 * (256 - len(RGB))] + skeleton)
    return palette


def _gif_frame(picture: np.ndarray, palette):
    from PIL import Image

    image = Image.fromarray(picture)
    scale = min(1.0, 480 / image.height)  # GIFs get large: at most 480 px high
    if scale < 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    return image.quantize(palette=palette, dither=Image.Dither.NONE)


def draw_people(frame_rgb: np.ndarray, people: list[tuple[int, np.ndarray, np.ndarray]]):
    """A copy of the frame with each (track id, (17, 2) px, held (17,)) skeleton and its id."""
    import cv2

    picture = np.ascontiguousarray(frame_rgb.copy())
    for track_id, keypoints_2d, held in people:
        picture = draw_skeleton_2d(picture, keypoints_2d, held)
        top = keypoints_2d[:, 1].min()
        x = int(np.median(keypoints_2d[:, 0]))
        cv2.putText(picture, str(track_id), (x - 6, max(12, int(top) - 6)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)  # fmt: skip
    return picture


def write_people_overlay(path: Path, frames: Iterable[np.ndarray], result, shown_track: int):
    """Every track's 2D skeleton and id on the video, beside the 3D of `shown_track`.

    `result`: a `people_stream.PeopleResult`. Written at the video's frame rate.
    """
    rows = {
        track_id: {int(f): row for row, f in enumerate(track.frame_indices)}
        for track_id, track in result.tracks.items()
    }
    shown = result.tracks[shown_track]

    def pictures():
        panel = None
        for index, frame in enumerate(frames):
            panel = panel or Pose3DPanel(frame.shape[0])
            people = [
                (track_id, result.tracks[track_id].keypoints_2d[row[index]],
                 result.tracks[track_id].interpolated[row[index]])
                for track_id, row in rows.items() if index in row
            ]  # fmt: skip
            shown_row = rows[shown_track].get(index)
            pose = None if shown_row is None else shown.pose_3d[shown_row]
            right = panel.render(pose, f"frame {index}, track {shown_track}")
            left = draw_people(frame, people)
            height = min(left.shape[0], right.shape[0])
            yield np.concatenate([left[:height], right[:height]], axis=1)

    return write_pictures(path, pictures(), result.video_fps)


def write_pictures(path: Path, pictures: Iterable[np.ndarray], fps: float) -> dict:
    """RGB pictures -> an MP4 (mp4v) or GIF file, atomically. Returns {"path", "frames"}."""
    kind = picture_kind(path)
    written = []
    palette = None
    with atomic_path(path) as tmp:
        staged = tmp.with_name(tmp.name + "." + kind)
        writer = None
        try:
            for picture in pictures:
                if kind == "mp4":
                    writer = writer or _mp4_writer(staged, picture.shape, fps)
                    writer.write(picture[..., ::-1])
                    written.append(None)
                else:
                    palette = palette or _gif_palette(picture)
                    written.append(_gif_frame(picture, palette))
        finally:
            if writer is not None:
                writer.release()
        if kind == "gif" and written:
            written[0].save(staged, save_all=True, append_images=written[1:],
                            duration=round(1000 / fps), loop=0)  # fmt: skip
        if not written:
            raise ConfigError(f"--viz {path}: the video had no frame to draw")
        staged.replace(tmp)
    return {"path": Path(path), "frames": len(written)}
