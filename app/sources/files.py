"""Decode video files (mp4, avi, mkv, ... and animated GIF) into timestamped frames.

Only frames the sampler accepts are converted to images: with OpenCV every frame is
grabbed (decoded) but only the chosen ones are retrieved, which skips most of the
colour conversion work on a 30 fps file sampled to 5 fps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from app.errors import AppError
from app.sources.base import Frame, FrameSource, Keep

# FFmpeg inside OpenCV prints its own complaints ("moov atom not found") to stderr for a
# damaged file; our one-line error says it better. Read at the first VideoCapture.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

GIF_SUFFIXES = {".gif"}


def read_video(path: str | os.PathLike, keep: Callable[[float], bool] = lambda t: True) -> Iterator[Frame]:
    """Yield the frames of a video file for which keep(timestamp) is true.

    Raises AppError if the file is missing, cannot be opened or holds no frames.
    """
    path = Path(path)
    if not path.is_file():
        raise AppError(f"video not found: {path}")
    reader = _read_gif if path.suffix.lower() in GIF_SUFFIXES else _read_with_opencv
    decoded = 0
    for frame_or_count in reader(path, keep):
        if isinstance(frame_or_count, int):
            decoded = frame_or_count
            continue
        decoded = frame_or_count.index + 1
        yield frame_or_count
    if decoded == 0:
        raise AppError(f"no frames could be decoded from {path}: is it a video file?")


def frame_count(path: str | os.PathLike) -> int:
    """The container's frame count (0 if it does not say): for progress display only."""
    path = Path(path)
    if path.suffix.lower() in GIF_SUFFIXES:
        try:
            with Image.open(path) as image:
                return getattr(image, "n_frames", 1)
        except (OSError, UnidentifiedImageError):
            return 0
    capture = cv2.VideoCapture(str(path))
    try:
        return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        capture.release()


def video_fps(path: str | os.PathLike) -> float:
    """The frame rate the container states (0 if it does not say)."""
    capture = cv2.VideoCapture(str(path))
    try:
        return capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()


def _read_with_opencv(path: Path, keep: Callable[[float], bool]) -> Iterator[Frame | int]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise AppError(f"cannot open video {path}: not a format OpenCV can decode")
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        index = 0
        while capture.grab():
            t = _timestamp(capture, index, fps)
            if keep(t):
                ok, image = capture.retrieve()
                if ok and image is not None:
                    yield Frame(index, t, _three_channels(image, "BGR"), "BGR")
            index += 1
            yield index  # frames decoded so far, sampled or not
    finally:
        capture.release()


def _timestamp(capture: cv2.VideoCapture, index: int, fps: float) -> float:
    """The frame's presentation time; falls back to index/fps where the container has none."""
    msec = capture.get(cv2.CAP_PROP_POS_MSEC)
    if msec > 0 or index == 0:
        return msec / 1000.0
    return index / fps if fps > 0 else float(index)


def _three_channels(image: np.ndarray, order: str) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if order == "BGR" else cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR if order == "BGR" else cv2.COLOR_RGBA2RGB)
    return image


def _read_gif(path: Path, keep: Callable[[float], bool]) -> Iterator[Frame | int]:
    try:
        image = Image.open(path)
    except (OSError, UnidentifiedImageError):
        raise AppError(f"cannot open {path}: not a readable GIF") from None
    with image:
        t = 0.0
        try:
            for index, frame in enumerate(ImageSequence.Iterator(image)):
                if keep(t):
                    yield Frame(index, t, np.asarray(frame.convert("RGB")), "RGB")
                yield index + 1
                # GIF frame delays are in milliseconds; browsers treat 0 as 100 ms.
                t += (frame.info.get("duration") or 100) / 1000.0
        except (OSError, EOFError) as exc:
            raise AppError(f"{path} is damaged: {exc}") from None


class FileSource(FrameSource):
    """A video file standing in for a camera: as fast as possible, or at its own rate."""

    live = False

    def __init__(self, path: str | os.PathLike, realtime: bool = False, loop: bool = False) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.realtime = realtime
        self.loop = loop
        self._closed = False

    @property
    def paced(self) -> bool:
        return self.realtime

    @property
    def fps(self) -> float | None:
        fps = video_fps(self.path)
        return fps if 1 <= fps <= 240 else None  # outside that, the container's rate is not to be trusted

    def open(self) -> None:
        if not self.path.is_file():
            raise AppError(f"video not found: {self.path}")
        self._closed = False

    def frames(self, keep: Keep) -> Iterator[Frame]:
        offset = 0.0  # stream time keeps increasing across loops
        index_offset = 0
        started = time.monotonic()
        while not self._closed:
            last_t, count = 0.0, 0
            for frame in read_video(self.path, lambda t, o=offset: keep(t + o)):
                if self._closed:
                    return
                t = frame.t + offset
                if self.realtime:
                    delay = started + t - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                last_t, count = frame.t, frame.index + 1
                yield Frame(frame.index + index_offset, t, frame.image, frame.order, time.monotonic())
            if not self.loop:
                return
            offset += last_t + (last_t / max(1, count - 1) if count > 1 else 0.2)
            index_offset += count

    def close(self) -> None:
        self._closed = True
