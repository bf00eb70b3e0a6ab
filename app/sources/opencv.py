"""USB/V4L2 cameras and network streams (RTSP, HTTP MJPEG), through OpenCV's VideoCapture.

A camera is opened with OpenCV's V4L2 backend itself and no open parameters: that
backend takes none (cap_v4l.cpp has no open-with-parameters entry, so OpenCV applies them
as properties and gives up on the unknown timeouts), so a camera given by number would
never open and one given by path would fall to whichever other backend accepts them. Its
reads are bounded by OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT instead (cap_v4l.cpp: tryIoctl
waits in select() that long for a frame, read once per process). Network streams keep
the open/read timeouts, which the FFmpeg backend honours.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator

import cv2

from app.errors import AppError
from app.sources import v4l2
from app.sources.base import Frame, FrameSource, Keep, SourceError
from app.sources.v4l2 import capture_devices

log = logging.getLogger(__name__)

#: How long a read waits for a frame before the camera counts as failed (OpenCV's default: 10 s).
READ_TIMEOUT_S = 5
os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", str(READ_TIMEOUT_S))


class OpenCVSource(FrameSource):
    """A USB/V4L2 camera (`/dev/video0` or an index) or a network stream (rtsp://, http://).

    Only the thread reading frames ever touches the VideoCapture once reading has begun:
    releasing it from another thread while grab() runs crashes the process. close() from
    the watchdog therefore only asks; the reader releases the device on its way out,
    which the read timeout below guarantees it reaches.
    """

    def __init__(
        self,
        target: str,
        width: int = 640,
        height: int = 480,
        timeout_s: float = READ_TIMEOUT_S,
        model_size: tuple[int, int] = (172, 172),
    ) -> None:
        self.target = target
        self.name = target
        self.width = width  # asked of a camera that lists no mode covering the model's input
        self.height = height
        self.timeout_ms = int(timeout_s * 1000)
        self.model_size = model_size  # (height, width)
        self._capture: cv2.VideoCapture | None = None
        self._lock = threading.Lock()
        self._closing = False
        self._reading = False
        self._camera: v4l2.Capability | None = None  # what the camera said at its first open
        self._device: str | None = None  # its node at the last open

    def open(self) -> None:
        capture = self._open_stream() if is_stream(self.target) else self._open_camera()
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a queue of old ones
        if not capture.isOpened():  # V4L2 renegotiates on each setting and may lose the device
            raise AppError(f"cannot open video source {self.target}: it went away while being set up")
        with self._lock:
            self._capture, self._closing = capture, False
        self._started = time.monotonic()

    def _open_stream(self) -> cv2.VideoCapture:
        # Bounded waits: a dead network camera must fail an open or a read, not hang it.
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms]
        capture = cv2.VideoCapture(self.target, cv2.CAP_ANY, timeouts)
        if not capture.isOpened():
            raise AppError(f"cannot open video source {self.target}")
        return capture

    def _open_camera(self) -> cv2.VideoCapture:
        device = self._camera_node()
        camera = check_camera(device)
        self._camera = self._camera or camera  # what it said at the first open: followed after a replug
        self._device = device
        mode = v4l2.choose_mode(v4l2.modes(device), self.model_size)
        capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not capture.isOpened():
            raise AppError(f"cannot open {device}: is another program using it (fuser -v {device})?")
        # Ask for a small picture: the model only needs ~172 pixels a side. Each setting
        # renegotiates the format; the height completes the size.
        if mode is not None:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*mode.fourcc))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, mode.width if mode else self.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, mode.height if mode else self.height)
        if capture.isOpened():
            fourcc = v4l2.fourcc_text(int(capture.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF)
            width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fps = capture.get(cv2.CAP_PROP_FPS)
            log.info("%s: %s %dx%d at %g fps (read back from the camera)", device, fourcc, width, height, fps)
        return capture

    def _camera_node(self) -> str:
        """The node to open: the one given, or where the same camera came back after a replug."""
        given = device_path(self.target)
        if self._camera is None:
            return given
        found = v4l2.find_camera(self._camera, given)
        if found is None:
            return given  # not plugged in: check_camera names what is missing
        if found != given and found != self._device:
            log.warning(
                "%s came back as %s (%s at %s): following it", given, found, self._camera.card, self._camera.bus
            )
        return found

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


def device_path(target: str) -> str:
    """`--source 0` is /dev/video0, as OpenCV numbers V4L2 cameras."""
    return f"/dev/video{target}" if target.isdigit() else target


def check_camera(device: str) -> v4l2.Capability:
    """What the camera at `device` says it is; AppError naming what is wrong and which cameras there are, if none."""
    if os.path.exists(device):
        if not os.access(device, os.R_OK | os.W_OK):
            raise AppError(f"no permission to use {device}: add the user to the video group (sudo adduser $USER video)")
        caps = v4l2.query(device)
        if caps is None:
            raise AppError(f"{device} is not a V4L2 video device{_cameras_hint()}")
        if not caps.is_camera:
            raise AppError(f"{device} is not a camera ({caps.card}, driver {caps.driver}){_cameras_hint()}")
        return caps
    raise AppError(f"{device} does not exist (is the camera plugged in?){_cameras_hint()}")


def _cameras_hint() -> str:
    found = capture_devices()
    return f": cameras found: {', '.join(found)}" if found else ": no V4L2 camera found"


def is_stream(target: str) -> bool:
    return "://" in target and not target.startswith("file://")  # a file:// URL is a file, not a camera


def first_v4l2_device() -> str | None:
    """The lowest-numbered /dev/video* that is a camera (not a codec, ISP or CSI node)."""
    devices = capture_devices()
    return devices[0] if devices else None
