"""Decode video files (mp4, avi, mkv, ... and animated GIF) into timestamped frames.

Only frames the sampler accepts are converted to images: with OpenCV every frame is
grabbed (decoded) but only the chosen ones are retrieved, which skips most of the
colour conversion work on a 30 fps file sampled to 5 fps.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from app.errors import AppError
from app.input_files import regular_file
from app.sources.base import Frame, FrameSource, Keep

GIF_SUFFIXES = {".gif"}

#: Frames larger than this are refused before they are decoded: a 4096x4096 frame takes
#: 50 MB as RGB (a GIF some more while Pillow composes it), which even a 1 GB Pi can
#: afford, while a hostile GIF declaring 65535x65535 would take 13 GB. `--max-megapixels`.
DEFAULT_MAX_PIXELS = 4096 * 4096
#: A file that decodes fewer frames than this share of what its container declares is
#: truncated or damaged, and its answer is about a part of it only: say so.
DECODED_SHARE_EXPECTED = 0.9

log = logging.getLogger(__name__)


def read_video(
    path: str | os.PathLike,
    keep: Callable[[float], bool] = lambda t: True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    warn_short: bool = True,
) -> Iterator[Frame]:
    """Yield the frames of a video file for which keep(timestamp) is true.

    Raises AppError if the file is missing, cannot be opened, holds no frames or frames
    of more than `max_pixels` pixels; warns when it ends far short of what it declares
    (unless `warn_short` is False: a loop's later passes, which would only repeat it).
    """
    path = Path(path)
    if not regular_file(path, "video"):
        raise AppError(f"video not found: {path}")
    reader = _read_gif if path.suffix.lower() in GIF_SUFFIXES else _read_with_opencv
    decoded = 0
    for frame_or_count in reader(path, keep, max_pixels, warn_short):
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
        size = _gif_screen_size(path) if os.path.isfile(path) else None
        if size is None or size[0] * size[1] > DEFAULT_MAX_PIXELS:  # read_video refuses or explains it
            return 0
        try:
            with Image.open(path) as image:
                return getattr(image, "n_frames", 1)
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
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


def _read_with_opencv(
    path: Path, keep: Callable[[float], bool], max_pixels: int, warn_short: bool
) -> Iterator[Frame | int]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise AppError(f"cannot open video {path}: not a format OpenCV can decode")
    try:
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        _check_size(path, width, height, max_pixels)
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        index, t = 0, 0.0
        while capture.grab():
            t = _timestamp(capture, index, fps)
            if keep(t):
                ok, image = capture.retrieve()
                if ok and image is not None:
                    _check_size(path, image.shape[1], image.shape[0], max_pixels)  # a stream may change size
                    yield Frame(index, t, _three_channels(image, "BGR"), "BGR")
            index += 1
            yield index  # frames decoded so far, sampled or not
        if warn_short:
            _warn_if_short(path, index, t, declared, fps)
    finally:
        capture.release()


def _check_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise AppError(
            f"{path}: {width}x{height} frames ({width * height / 1e6:.1f} megapixels) are over the limit of "
            f"{max_pixels / 1e6:.3g} (--max-megapixels)"
        )


def _warn_if_short(path: Path, decoded: int, last_t: float, declared: int, fps: float) -> None:
    """A truncated or damaged file decodes only a part: its answer is then about that part."""
    if declared <= 0 or decoded >= DECODED_SHARE_EXPECTED * declared:
        return
    seconds = ""
    if 1 <= fps <= 240:  # a rate outside this (a timescale of 0) makes no length worth quoting
        seconds = f", {last_t + 1 / fps:.1f} of {declared / fps:.1f} s"
    log.warning(
        "%s: decoded %d of the %d frames it declares%s: the file is truncated or damaged, "
        "and the result covers only that part",
        path,
        decoded,
        declared,
        seconds,
    )


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


def _gif_screen_size(path: Path) -> tuple[int, int] | None:
    """The logical screen size in a GIF's header, read before Pillow allocates anything."""
    with path.open("rb") as handle:
        header = handle.read(10)
    if len(header) < 10 or not header.startswith((b"GIF87a", b"GIF89a")):
        return None
    return struct.unpack("<HH", header[6:10])


def _read_gif(path: Path, keep: Callable[[float], bool], max_pixels: int, warn_short: bool) -> Iterator[Frame | int]:
    if (size := _gif_screen_size(path)) is not None:
        _check_size(path, *size, max_pixels)
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as exc:  # Pillow's own limit, for a frame bigger than its screen
        raise AppError(f"{path}: refused as a decompression bomb: {exc}") from None
    except (OSError, UnidentifiedImageError):
        raise AppError(f"cannot open {path}: not a readable GIF") from None
    with image:
        t = 0.0
        try:
            for index, frame in enumerate(ImageSequence.Iterator(image)):
                _check_size(path, *frame.size, max_pixels)
                if keep(t):
                    yield Frame(index, t, rgb_array(frame), "RGB")
                yield index + 1
                # GIF frame delays are in milliseconds; browsers treat 0 as 100 ms.
                t += (frame.info.get("duration") or 100) / 1000.0
        except (OSError, EOFError) as exc:
            raise AppError(f"{path} is damaged: {exc}") from None
        except Image.DecompressionBombError as exc:
            raise AppError(f"{path}: refused as a decompression bomb: {exc}") from None


def rgb_array(frame: Image.Image) -> np.ndarray:
    """The frame as an RGB array, with no full-size copy beyond the one that is returned.

    Pillow holds a GIF's frames after the first as RGB already (converting would copy them),
    and the first as palette indices, which a colour lookup turns into RGB in one pass.
    """
    if frame.mode == "RGB":
        return np.asarray(frame)
    if frame.mode == "P" and "transparency" not in frame.info:
        palette = np.zeros((256, 3), np.uint8)
        colours = np.frombuffer(bytes(frame.getpalette("RGB") or []), np.uint8).reshape(-1, 3)[:256]
        palette[: len(colours)] = colours
        return palette[np.asarray(frame)]
    return np.asarray(frame.convert("RGB"))


class FileSource(FrameSource):
    """A video file standing in for a camera: as fast as possible, or at its own rate."""

    live = False

    def __init__(
        self,
        path: str | os.PathLike,
        realtime: bool = False,
        loop: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.path = Path(path)
        self.max_pixels = max_pixels
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
        if not regular_file(self.path, "video"):
            raise AppError(f"video not found: {self.path}")
        self._closed = False

    def frames(self, keep: Keep) -> Iterator[Frame]:
        offset = 0.0  # stream time keeps increasing across loops
        index_offset = 0
        started = time.monotonic()
        while not self._closed:
            last_t, count = 0.0, 0
            first_pass = index_offset == 0  # a truncated file is said once, not on every loop
            for frame in read_video(self.path, lambda t, o=offset: keep(t + o), self.max_pixels, first_pass):
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
