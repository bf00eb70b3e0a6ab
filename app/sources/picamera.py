"""The Raspberry Pi camera through picamera2 (Camera Module 2/3, HQ, AI camera).

Two streams: a full-size `main` stream for the preview, and a small `lores` stream near
the model's input size, so the ISP does the scaling in hardware and Python only touches
a few hundred pixels a side. On a Pi 4 (VC4 ISP) the lores stream must be YUV420; on a
Pi 5 (PiSP) it can be RGB. picamera2's "RGB888" is B, G, R in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np

from app.errors import AppError
from app.sources.base import Frame, FrameSource, Keep, SourceError

PREVIEW_SIZE = (1280, 720)
CAMERA_FPS = 30.0


def pi_camera_available() -> bool:
    """True if picamera2 is importable and sees at least one camera."""
    try:
        from picamera2 import Picamera2
    except ImportError:
        return False
    try:
        return bool(Picamera2.global_camera_info())
    except Exception:  # libcamera raises various errors when no camera stack is present
        return False


#: picamera2 rounds stream widths down to a multiple of this (64 for a VC4 YUV420 or a PiSP
#: stream, its "optimal" alignment). Choosing such a width ourselves keeps the rounding
#: from changing the aspect ratio, which would squash the picture the model sees.
LORES_WIDTH_ALIGN = 64


def lores_size(model_size: tuple[int, int], main_size: tuple[int, int]) -> tuple[int, int]:
    """The smallest (width, height) with the main stream's aspect that covers the model input.

    The width is a multiple of LORES_WIDTH_ALIGN and the height even (YUV420 needs it);
    the centre crop to the model's square happens later.
    """
    model_h, model_w = model_size
    main_w, main_h = main_size
    aspect = main_w / main_h
    needed = max(model_w, model_h * aspect)
    width = int(np.ceil(needed / LORES_WIDTH_ALIGN)) * LORES_WIDTH_ALIGN
    height = round(width / aspect / 2) * 2
    return width, height


def is_pi5_isp() -> bool:
    """Pi 5's PiSP can output RGB on lores; Pi 4's VC4 only YUV420."""
    try:
        from picamera2.platform import Platform, get_platform
    except ImportError:
        return False
    return get_platform() == Platform.PISP


class PiCameraSource(FrameSource):
    native_preview = True

    def __init__(
        self,
        model_size: tuple[int, int] = (172, 172),
        preview_size: tuple[int, int] = PREVIEW_SIZE,
        camera_fps: float = CAMERA_FPS,
        camera_index: int = 0,
    ) -> None:
        self.name = f"picamera{camera_index}"
        self.model_size = model_size
        self.preview_size = preview_size
        self.camera_fps = camera_fps
        self.camera_index = camera_index
        self.camera: Any = None  # the Picamera2 object, for the preview to share
        #: Called with the configured Picamera2 before it starts: picamera2's own preview
        #: (app/display/picamera_preview.py) must be started first, or start() runs a null one.
        self.on_configured: Callable[[Any], None] | None = None
        self._lores_format = "YUV420"

    @property
    def fps(self) -> float | None:
        return self.camera_fps

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise AppError(
                "picamera2 is not installed: on Raspberry Pi OS run ./setup.sh (apt python3-picamera2)"
            ) from None
        self._lores_format = "RGB888" if is_pi5_isp() else "YUV420"
        lores = lores_size(self.model_size, self.preview_size)
        try:
            camera = Picamera2(self.camera_index)
            config = camera.create_video_configuration(
                main={"size": self.preview_size, "format": "XBGR8888"},
                lores={"size": lores, "format": self._lores_format},
                controls={"FrameRate": self.camera_fps},
                buffer_count=4,
            )
            camera.align_configuration(config)  # sizes the ISP can produce without padding
            camera.configure(config)
            if self.on_configured is not None:
                self.on_configured(camera)
            camera.start()
        except AppError:
            camera.close()  # a preview that could not start: free the camera for a retry
            raise
        except Exception as exc:  # libcamera reports busy/absent cameras with assorted errors
            raise AppError(f"cannot open the Pi camera {self.camera_index}: {exc}") from None
        self.camera = camera
        self._first_timestamp: int | None = None

    def frames(self, keep: Keep) -> Iterator[Frame]:
        index = 0
        while (camera := self.camera) is not None:
            try:
                request = camera.capture_request()
            except Exception as exc:
                if self.camera is None:
                    return
                raise SourceError(f"Pi camera stopped: {exc}") from None
            now = time.monotonic()
            try:
                t = self._stream_time(request.get_metadata(), now)
                if keep(t):
                    image, order = self._to_image(request.make_array("lores"))
                    yield Frame(index, t, image, order, now)
            finally:
                request.release()
            index += 1

    def _stream_time(self, metadata: dict, now: float) -> float:
        """Seconds since the first frame, from the sensor's own timestamps when present."""
        stamp = metadata.get("SensorTimestamp")
        if stamp is None:
            stamp = int(now * 1e9)
        if self._first_timestamp is None:
            self._first_timestamp = stamp
        return (stamp - self._first_timestamp) / 1e9

    def _to_image(self, array: np.ndarray) -> tuple[np.ndarray, str]:
        if self._lores_format == "YUV420":
            # I420 planes stacked: height * 3/2 rows of `width` bytes.
            return cv2.cvtColor(array, cv2.COLOR_YUV2RGB_I420), "RGB"
        return array[:, :, :3], "BGR"  # "RGB888" is BGR in memory

    def close(self) -> None:
        camera, self.camera = self.camera, None
        if camera is not None:
            try:
                camera.stop()
            finally:
                camera.close()
