"""Video files and cameras as a stream of RGB frames (OpenCV, from the `[video]` extra)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from scjd_edge.errors import ConfigError, DataError
from scjd_edge.infer.detectors import VIDEO_INSTALL_HINT

DEFAULT_FPS = 25.0  # when a camera or file does not say its frame rate


def import_cv2():
    try:
        import cv2
    except ImportError as error:
        raise ConfigError(f"video input needs OpenCV ({error}); {VIDEO_INSTALL_HINT}") from None
    return cv2


class VideoSource:
    """Frames of a video file or a camera. `source`: a file path, or a camera index ("0").

    `fps` is the file's frame rate (DEFAULT_FPS when it gives none), `image_size` (W, H),
    `frame_count` None for a camera. Iterate with `frames(max_frames)`.
    """

    def __init__(self, source: str | Path):
        cv2 = import_cv2()
        text = str(source)
        self.is_camera = text.isdigit()
        if not self.is_camera and not Path(text).is_file():
            raise DataError(f"{text}: video file not found (or give a camera index, e.g. 0)")
        self.name = f"camera {text}" if self.is_camera else text
        self._capture = cv2.VideoCapture(int(text) if self.is_camera else text)
        if not self._capture.isOpened():
            raise DataError(f"{self.name}: cannot be opened as a video (unknown format or device)")
        ok, first = self._capture.read()
        if not ok or first is None:
            self._capture.release()
            raise DataError(f"{self.name}: no frame could be decoded")
        self._first = first
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if np.isfinite(fps) and fps > 0 else DEFAULT_FPS
        self.image_size = (int(first.shape[1]), int(first.shape[0]))
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = None if self.is_camera or count <= 0 else count
        self._cv2 = cv2

    def frames(self, max_frames: int | None = None) -> Iterator[np.ndarray]:
        """RGB frames (H, W, 3) uint8 in order, at most `max_frames`; closes the source after."""
        try:
            frame, index = self._first, 0
            while frame is not None and (max_frames is None or index < max_frames):
                yield self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB)
                index += 1
                ok, frame = self._capture.read()
                frame = frame if ok else None
        finally:
            self.close()

    def close(self) -> None:
        self._capture.release()
