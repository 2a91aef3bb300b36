"""Pictures of lifted poses: the 2D input beside the 3D skeleton (matplotlib, Agg).

The 3D panel shows camera coordinates turned so that up is up: plot x = camera x (right),
plot y = camera z (depth, away from the camera), plot z = -camera y (up), in metres.
Left limbs are blue, right limbs red, the spine and head grey. An animation keeps the same
axes for the whole sequence.

Outputs: `.gif` (Pillow), `.mp4` (ffmpeg; without ffmpeg a GIF is written instead and the
result says so), or a folder of PNG frames when the path is a directory (an existing one, a
path ending with '/', or a path without a file suffix).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scjd_edge.data.skeleton import BONES, LEFT_JOINTS, RIGHT_JOINTS
from scjd_edge.errors import ConfigError
from scjd_edge.io import atomic_path, claim_run_folder, mark_run_complete

LEFT_COLOUR, RIGHT_COLOUR, CENTRE_COLOUR = "tab:blue", "tab:red", "dimgray"
REFERENCE_COLOUR = "darkgray"
VIEW_ELEVATION, VIEW_AZIMUTH = 12.0, -70.0
DPI = 80


def bone_colour(child_joint: int) -> str:
    """Colour of the bone ending at `child_joint`: blue left, red right, grey centre."""
    if child_joint in LEFT_JOINTS:
        return LEFT_COLOUR
    if child_joint in RIGHT_JOINTS:
        return RIGHT_COLOUR
    return CENTRE_COLOUR


def camera_to_plot(pose_3d: np.ndarray) -> np.ndarray:
    """(..., 3) camera coordinates (x right, y down, z forward) -> plot axes with z up."""
    pose_3d = np.asarray(pose_3d)
    return np.stack([pose_3d[..., 0], pose_3d[..., 2], -pose_3d[..., 1]], axis=-1)


class PosePlot:
    """A figure with an optional 2D panel (pixels) and a 3D panel (metres), redrawable."""

    def __init__(
        self,
        radius_m: float,
        bounds_2d: tuple[float, float, float, float] | None = None,
        show_reference: bool = False,
    ):
        show_2d = bounds_2d is not None
        self.figure = Figure(figsize=(9.6 if show_2d else 4.8, 4.8), dpi=DPI)
        FigureCanvasAgg(self.figure)
        self.bones_2d = (
            self._panel_2d(self.figure.add_subplot(1, 2, 1), bounds_2d) if show_2d else []
        )
        axes_3d = self.figure.add_subplot(
            1, 2 if show_2d else 1, 2 if show_2d else 1, projection="3d"
        )
        self.axes_3d = axes_3d
        self.reference_3d = (
            self._bones_3d(axes_3d, REFERENCE_COLOUR, "--") if show_reference else []
        )
        self.bones_3d = self._bones_3d(axes_3d, None, "-")
        for set_limits in (axes_3d.set_xlim, axes_3d.set_ylim, axes_3d.set_zlim):
            set_limits(-radius_m, radius_m)
        axes_3d.set_box_aspect((1, 1, 1))
        axes_3d.set_xlabel("x (m)")
        axes_3d.set_ylabel("depth (m)")
        axes_3d.set_zlabel("up (m)")
        axes_3d.view_init(elev=VIEW_ELEVATION, azim=VIEW_AZIMUTH)
        axes_3d.locator_params(nbins=4)
        axes_3d.set_title("3D pose (m, root-relative)")
        self.title = self.figure.suptitle("", y=0.99)
        self.figure.tight_layout(rect=(0, 0, 1, 0.93))  # the top strip is the title's
        self.figure.set_layout_engine(None)  # laid out once; no extra draw per saved frame

    @staticmethod
    def _panel_2d(axes, bounds_2d: tuple[float, float, float, float]) -> list:
        x_min, x_max, y_min, y_max = bounds_2d
        axes.set_xlim(x_min, x_max)
        axes.set_ylim(y_max, y_min)  # image rows grow downwards
        axes.set_aspect("equal")
        axes.set_title("2D input (px)")
        return [axes.plot([], [], "o-", color=bone_colour(c), lw=2, ms=3)[0] for _, c in BONES]

    @staticmethod
    def _bones_3d(axes, colour: str | None, style: str) -> list:
        return [
            axes.plot([], [], [], style, color=colour or bone_colour(child), lw=2)[0]
            for _, child in BONES
        ]

    def draw(
        self,
        pose_3d: np.ndarray,
        keypoints_2d: np.ndarray | None = None,
        reference_3d: np.ndarray | None = None,
        title: str = "",
    ) -> None:
        """Show one frame: pose_3d (17, 3) metres, keypoints_2d (17, 2) px, reference (17, 3)."""
        if keypoints_2d is not None:
            for line, (parent, child) in zip(self.bones_2d, BONES, strict=True):
                line.set_data(keypoints_2d[[parent, child], 0], keypoints_2d[[parent, child], 1])
        for lines, pose in ((self.bones_3d, pose_3d), (self.reference_3d, reference_3d)):
            if pose is None or not lines:
                continue
            plot_pose = camera_to_plot(pose)
            for line, (parent, child) in zip(lines, BONES, strict=True):
                segment = plot_pose[[parent, child]]
                line.set_data_3d(segment[:, 0], segment[:, 1], segment[:, 2])
        self.title.set_text(title)


def plot_radius(*poses_3d: np.ndarray | None) -> float:
    """Half-size (m) of a cube around the origin holding every joint of every pose given."""
    extents = [np.abs(np.asarray(p)).max() for p in poses_3d if p is not None and np.size(p)]
    return float(max(extents, default=1.0)) * 1.05


def plot_bounds_2d(
    keypoints_2d: np.ndarray, image_size: tuple[int, int] | None = None
) -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) px: a square around all keypoints (..., 17, 2), 20% margin.

    Clipped to the image when its size is known, so a small person is not lost in a large
    frame and the view stays the same for the whole sequence.
    """
    points = np.asarray(keypoints_2d).reshape(-1, 2)
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    half = (points.max(axis=0) - points.min(axis=0)).max() * 0.6 + 1.0
    x_min, y_min = centre - half
    x_max, y_max = centre + half
    if image_size is not None:
        x_min, y_min = max(x_min, 0.0), max(y_min, 0.0)
        x_max, y_max = min(x_max, image_size[0]), min(y_max, image_size[1])
    return float(x_min), float(x_max), float(y_min), float(y_max)


def pose_figure(
    pose_3d: np.ndarray,
    keypoints_2d: np.ndarray | None = None,
    image_size: tuple[int, int] | None = None,
    reference_3d: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """One frame as a figure: the 2D input (if given) beside the 3D pose.

    pose_3d: (17, 3) root-relative camera coordinates, metres; keypoints_2d: (17, 2) pixels;
    reference_3d: (17, 3) e.g. ground truth, drawn dashed grey. Save it with `save_figure`.
    """
    bounds_2d = None if keypoints_2d is None else plot_bounds_2d(keypoints_2d, image_size)
    plot = PosePlot(plot_radius(pose_3d, reference_3d), bounds_2d, reference_3d is not None)
    plot.draw(pose_3d, keypoints_2d, reference_3d, title)
    return plot.figure


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write a figure atomically; the format comes from the file suffix (png, pdf, svg...)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=DPI)
    return path


def write_animation(
    path: str | Path,
    pose_3d: np.ndarray,
    keypoints_2d: np.ndarray | None = None,
    image_size: tuple[int, int] | None = None,
    fps: float = 25.0,
    max_frames: int = 300,
) -> dict:
    """Animate a sequence: pose_3d (F, 17, 3) metres beside keypoints_2d (F, 17, 2) px.

    Longer sequences are drawn every k-th frame (k = ceil(F / max_frames)), played at
    fps / k so the clip keeps its real duration. Returns {"path", "kind" ("gif" | "mp4" |
    "png"), "frames", "message"}; "message" explains a fallback (no ffmpeg for .mp4).
    """
    path, kind, message = resolve_picture_path(path)
    stride = max(1, math.ceil(len(pose_3d) / max_frames))
    frames = list(range(0, len(pose_3d), stride))
    bounds_2d = None if keypoints_2d is None else plot_bounds_2d(keypoints_2d, image_size)
    plot = PosePlot(plot_radius(pose_3d), bounds_2d)

    def draw(frame: int) -> None:
        frame_2d = None if keypoints_2d is None else keypoints_2d[frame]
        plot.draw(pose_3d[frame], frame_2d, title=f"frame {frame}")

    if kind == "png":
        return _write_png_frames(path, plot, draw, frames)
    if kind == "mp4":
        writer = animation.FFMpegWriter(fps=fps / stride, codec="h264")
    else:
        writer = animation.PillowWriter(fps=fps / stride)
    with _atomic_with_suffix(path) as staged, writer.saving(plot.figure, str(staged), DPI):
        for frame in frames:
            draw(frame)
            writer.grab_frame()
    return {"path": path, "kind": kind, "frames": len(frames), "message": message}


def resolve_picture_path(path: str | Path) -> tuple[Path, str, str | None]:
    """What `write_animation` will write: (path, kind "gif" | "mp4" | "png", fallback note).

    A directory (existing, ending with '/', or without a suffix) means PNG frames; .mp4
    without ffmpeg becomes the .gif beside it. Other suffixes are a ConfigError.
    """
    if str(path).endswith(("/", os.sep)) or Path(path).is_dir() or not Path(path).suffix:
        return Path(path), "png", None
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mp4" and not animation.FFMpegWriter.isAvailable():
        gif = path.with_suffix(".gif")
        return gif, "gif", f"ffmpeg not found: writing {gif.name} instead of {path.name}"
    if suffix not in (".gif", ".mp4"):
        raise ConfigError(
            f"--viz {path}: picture format {suffix!r} unknown; use .gif, .mp4 or a folder/"
        )
    return path, suffix.lstrip("."), None


def _write_png_frames(folder: Path, plot: PosePlot, draw, frames: list[int]) -> dict:
    claim_run_folder(folder, "infer", what="--viz")  # frames never overwrite others' files
    digits = len(str(frames[-1]))
    for frame in frames:
        draw(frame)
        save_figure(plot.figure, folder / f"frame_{frame:0{digits}d}.png")
    mark_run_complete(folder)
    return {"path": folder, "kind": "png", "frames": len(frames), "message": None}


@contextlib.contextmanager
def _atomic_with_suffix(path: Path) -> Iterator[Path]:
    """Like `atomic_path`, but the temporary file keeps the suffix (writers read it)."""
    with atomic_path(path) as tmp:
        staged = tmp.with_name(tmp.name + path.suffix)
        try:
            yield staged
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)
