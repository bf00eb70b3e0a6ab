"""Annotated output files: a video of the run (`--record`) and a single picture (`snapshot`).

Both burn the overlay into copies of the source's frames, so what they show is what a
preview shows. Small frames (a Pi camera's model-sized stream, a 360p clip) are scaled
up first, so the overlay's text stays readable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import cv2

from app.errors import AppError
from app.inference.labels import Scored
from app.overlay import READABLE_HEIGHT, LiveOverlay, Size, annotate, output_size
from app.sources.base import Frame, FrameSource

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
LIVE_RECORD_FPS = 30.0  # a camera's frames are resampled to this constant rate
SNAPSHOT_MIN_HEIGHT = 720


def check_output_path(path: Path, suffixes: tuple[str, ...]) -> None:
    """Fail before the run, not after it: the folder must exist and the type be known."""
    if not path.parent.is_dir():
        raise AppError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.suffix.lower() not in suffixes:
        raise AppError(f"cannot write {path}: the name must end in {', '.join(suffixes)}")


def source_fps(source: FrameSource) -> float:
    """A source with a constant rate of its own (a file) records at it; anything else at LIVE_RECORD_FPS."""
    return source.fps or LIVE_RECORD_FPS


class Recorder:
    """Writes every frame with the overlay to a video file (MPEG-4 part 2, "mp4v").

    The output has a constant frame rate and follows the frames' timestamps: a frame is
    repeated over a gap and skipped if it comes early, so the video plays at real speed
    even when a camera delivers frames unevenly.
    """

    def __init__(self, path: str | os.PathLike, overlay: LiveOverlay, fps: float) -> None:
        self.path = Path(path)
        check_output_path(self.path, VIDEO_SUFFIXES)
        self.overlay = overlay
        self.fps = fps
        self.written = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: Size = (0, 0)
        self._offset = 0.0  # added to frame times after a live source restarted its clock
        self._last_t = 0.0

    def on_frame(self, frame: Frame) -> None:
        """Pipeline frame listener (capture thread)."""
        if self._writer is None:
            height, width = frame.image.shape[:2]
            self._writer = self._open(output_size((width, height), READABLE_HEIGHT))
            self._offset = -frame.t  # the video starts with the first frame
        t = frame.t + self._offset
        if t < self._last_t:  # a reopened camera starts counting from 0 again
            self._offset += self._last_t - t + 1 / self.fps
            t = self._last_t + 1 / self.fps
        self._last_t = t
        due = round(t * self.fps) + 1  # frames the video should hold once this one is in
        repeats = due - self.written if self.written else 1
        if repeats <= 0:
            return
        image = annotate(frame.image, frame.order, self.overlay, self._size, out_order="BGR")
        for _ in range(repeats):
            self._writer.write(image)
        self.written += repeats

    def _open(self, size: Size) -> cv2.VideoWriter:
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
        if not writer.isOpened():
            raise AppError(f"cannot write video {self.path}: OpenCV has no encoder for it")
        self._size = size
        return writer

    def close(self) -> None:
        """Pipeline closer: finish the file."""
        if self._writer is None:
            log.warning("no frames were recorded to %s", self.path)
            return
        self._writer.release()
        log.info("recorded %d frames (%.1f s) to %s", self.written, self.written / self.fps, self.path)


class Snapshot:
    """Keeps the newest frame and, at the end, saves it with the overlay as a picture."""

    def __init__(
        self,
        path: str | os.PathLike,
        overlay: LiveOverlay,
        seconds: float | None = None,
        stop: Callable[[], None] | None = None,
    ) -> None:
        self.path = Path(path)
        check_output_path(self.path, PICTURE_SUFFIXES)
        self.overlay = overlay
        self.seconds = seconds
        self.stop = stop
        self.size: Size = (0, 0)  # of the saved picture
        self.shown: tuple[Scored, ...] = ()  # the labels it shows
        self._last: Frame | None = None

    def on_frame(self, frame: Frame) -> None:
        """Pipeline frame listener (capture thread)."""
        self._last = frame
        if self.seconds is not None and frame.t >= self.seconds and self.stop is not None:
            self.stop()

    def save(self) -> None:
        """Pipeline closer: write the picture (the format follows the file name)."""
        frame = self._last
        if frame is None:
            raise AppError(f"no frame was captured: {self.path} not written")
        height, width = frame.image.shape[:2]
        size = output_size((width, height), SNAPSHOT_MIN_HEIGHT)
        image = annotate(frame.image, frame.order, self.overlay, size, out_order="BGR")
        params = [cv2.IMWRITE_PNG_COMPRESSION, 9] if self.path.suffix.lower() == ".png" else []
        if not cv2.imwrite(str(self.path), image, params):
            raise AppError(f"cannot write {self.path}")
        self.size, self.shown = size, self.overlay.view.top
