"""USB/V4L2 cameras and network streams (RTSP, HTTP MJPEG), through OpenCV's VideoCapture."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import cv2

from app.errors import AppError
from app.sources.base import Frame, FrameSource, Keep, SourceError
from app.sources.v4l2 import capture_devices


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
        if not is_stream(self.target):
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


def is_stream(target: str) -> bool:
    return "://" in target and not target.startswith("file://")  # a file:// URL is a file, not a camera


def first_v4l2_device() -> str | None:
    """The lowest-numbered /dev/video* that is a camera (not a codec, ISP or CSI node)."""
    devices = capture_devices()
    return devices[0] if devices else None
