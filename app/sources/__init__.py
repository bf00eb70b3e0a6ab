"""Frame sources behind one small interface: files, V4L2/USB cameras, network streams.

The Raspberry Pi camera lives in app/picamera.py (it needs picamera2, which only exists
on a Pi); `open_source` picks between them from the `--source` text.
"""

from __future__ import annotations

import glob
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2

from app.errors import AppError
from app.sources.files import Frame, read_video

Keep = Callable[[float], bool]


class SourceError(Exception):
    """The source failed while running (camera unplugged, stream dropped): reopen it."""


class FrameSource(ABC):
    """Yields timestamped frames. `live` sources are reopened on failure; files just end."""

    name: str = "source"
    live: bool = True
    #: A display that shows this source itself (the Pi camera's own preview) can be
    #: used instead of drawing frames in Python.
    native_preview: bool = False

    @property
    def paced(self) -> bool:
        """Frames come at the source's own rate (a camera, a file played in real time)."""
        return self.live

    @abstractmethod
    def open(self) -> None:
        """Start capturing; raises AppError if the source cannot be opened at all."""

    @abstractmethod
    def frames(self, keep: Keep) -> Iterator[Frame]:
        """Frames in capture order; `keep(t)` false lets a source skip converting a frame.

        Raises SourceError when the source fails mid-stream; ends when a file ends.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the device; safe to call from another thread to unblock frames()."""


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


class OpenCVSource(FrameSource):
    """A USB/V4L2 camera (`/dev/video0` or an index) or a network stream (rtsp://, http://).

    Only the thread reading frames ever touches the VideoCapture once reading has begun:
    releasing it from another thread while grab() runs crashes the process. close() from
    the watchdog therefore only asks; the reader releases the device on its way out,
    which the read timeout below guarantees it reaches.
    """

    def __init__(self, target: str, width: int = 640, height: int = 480, timeout_s: float = 5.0) -> None:
        self.target = target
        self.name = target
        self.width = width
        self.height = height
        self.timeout_ms = int(timeout_s * 1000)
        self._capture: cv2.VideoCapture | None = None
        self._lock = threading.Lock()
        self._closing = False
        self._reading = False

    def open(self) -> None:
        target: str | int = int(self.target) if self.target.isdigit() else self.target
        # Bounded waits: a dead network camera must fail an open or a read, not hang it.
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms]
        capture = cv2.VideoCapture(target, cv2.CAP_ANY, timeouts)
        if not capture.isOpened():
            raise AppError(f"cannot open video source {self.target}")
        if not _is_stream(self.target):
            # Ask a camera for a small picture: the model only needs ~172 pixels a side.
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a queue of old ones
        with self._lock:
            self._capture, self._closing = capture, False
        self._started = time.monotonic()

    def frames(self, keep: Keep) -> Iterator[Frame]:
        with self._lock:
            capture = self._capture
            if capture is None or self._closing:
                return
            self._reading = True
        try:
            index = 0
            while not self._closing:
                ok = capture.grab()
                now = time.monotonic()
                if self._closing:
                    return
                if not ok:
                    raise SourceError(f"{self.target} stopped delivering frames")
                t = now - self._started
                if keep(t):
                    ok, image = capture.retrieve()
                    if not ok or image is None:
                        raise SourceError(f"{self.target} returned an unreadable frame")
                    yield Frame(index, t, image, "BGR", now)
                index += 1
        finally:
            with self._lock:
                self._reading = False
                self._release()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            if not self._reading:
                self._release()

    def _release(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()


def _is_stream(target: str) -> bool:
    return "://" in target


def first_v4l2_device() -> str | None:
    devices = sorted(glob.glob("/dev/video[0-9]*"), key=lambda d: int(d.removeprefix("/dev/video")))
    return devices[0] if devices else None


def open_source(
    spec: str, *, realtime: bool = False, loop: bool = False, model_size: tuple[int, int] = (172, 172)
) -> FrameSource:
    """Build (not yet open) the source named by `--source`.

    auto: the Pi camera if picamera2 finds one, else the first V4L2 device.
    picam / picamera: the Pi camera. /dev/videoN or N: a V4L2 camera.
    rtsp://, http://, https://: a network stream. Anything else: a video file.
    """
    if spec == "auto":
        from app.sources.picamera import PiCameraSource, pi_camera_available

        if pi_camera_available():
            source: FrameSource = PiCameraSource(model_size=model_size)
        elif (device := first_v4l2_device()) is not None:
            source = OpenCVSource(device)
        else:
            raise AppError("no camera found (no Pi camera, no /dev/video*): pass --source FILE|URL|/dev/videoN")
        print(f"source auto: using {source.name}", file=sys.stderr)
        return source
    if spec in ("picam", "picamera"):
        from app.sources.picamera import PiCameraSource

        return PiCameraSource(model_size=model_size)
    if file_source(spec) is None:
        return OpenCVSource(spec)
    return FileSource(spec, realtime=realtime, loop=loop)


def file_source(spec: str) -> Path | None:
    """The video file a `--source` names, or None for a camera or a stream."""
    if spec in ("auto", "picam", "picamera") or spec.isdigit() or spec.startswith("/dev/video") or _is_stream(spec):
        return None
    return Path(spec)
