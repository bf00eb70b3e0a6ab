"""A stand-in for picamera2, the one piece of hardware this machine lacks.

It records what the app asks for (stream sizes, formats, controls, previews, overlays)
and hands out frames of one known colour in the format that was configured, the way
the real library lays them out in memory:

* "YUV420" lores: I420 planes stacked, (height * 3 / 2, width) uint8;
* "RGB888": B, G, R bytes per pixel (picamera2 names formats after little-endian words).

Tests set FAKE_PICAMERA_COLOUR (R,G,B) and FAKE_PICAMERA_PLATFORM (VC4 or PISP), and can
read back `Picamera2.instances` for what was configured.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

import numpy as np


def _colour() -> tuple[int, int, int]:
    r, g, b = (int(v) for v in os.environ.get("FAKE_PICAMERA_COLOUR", "255,0,0").split(","))
    return r, g, b


def _i420(width: int, height: int, rgb: tuple[int, int, int]) -> np.ndarray:
    r, g, b = rgb
    # BT.601 full-range-free (studio swing) as libcamera's default YUV420 encodes.
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    frame = np.empty((height * 3 // 2, width), np.uint8)
    frame[:height] = round(y)
    chroma = frame[height:].reshape(-1)
    quarter = (width // 2) * (height // 2)
    chroma[:quarter] = round(u)
    chroma[quarter:] = round(v)
    return frame


class Preview:
    NULL = "NULL"
    DRM = "DRM"
    QT = "QT"
    QTGL = "QTGL"


class _Request:
    def __init__(self, camera: Picamera2) -> None:
        self._camera = camera
        self.released = False

    def make_array(self, name: str) -> np.ndarray:
        stream = self._camera.configuration[name]
        width, height = stream["size"]
        fmt = stream["format"]
        rgb = _colour()
        if fmt == "YUV420":
            return _i420(width, height, rgb)
        if fmt in ("RGB888", "XBGR8888"):
            channels = 3 if fmt == "RGB888" else 4
            frame = np.zeros((height, width, channels), np.uint8)
            frame[..., 0], frame[..., 1], frame[..., 2] = rgb[2], rgb[1], rgb[0]
            return frame
        raise ValueError(f"fake picamera2 cannot make {fmt}")

    def get_metadata(self) -> dict[str, Any]:
        return {"SensorTimestamp": self._camera.sensor_ns}

    def release(self) -> None:
        self.released = True


class Picamera2:
    instances: ClassVar[list[Picamera2]] = []

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        return [{"Model": "imx708", "Num": 0}]

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_num = camera_num
        self.configuration: dict[str, Any] = {}
        self.started = False
        self.closed = False
        self.previews: list[Any] = []
        self.overlays: list[np.ndarray] = []
        self.sensor_ns = 1_000_000_000
        Picamera2.instances.append(self)

    def create_video_configuration(self, main=None, lores=None, controls=None, buffer_count=6, **kwargs):
        return {
            "main": dict(main or {}),
            "lores": dict(lores or {}),
            "controls": dict(controls or {}),
            "buffer_count": buffer_count,
            **kwargs,
        }

    def align_configuration(self, config: dict[str, Any]) -> None:
        config["aligned"] = True

    def configure(self, config: dict[str, Any]) -> None:
        self.configuration = config

    def start(self, *args: Any, **kwargs: Any) -> None:
        self.started = True

    def start_preview(self, preview: Any = None, **kwargs: Any) -> None:
        self.previews.append((preview, kwargs))

    def set_overlay(self, overlay: np.ndarray | None) -> None:
        self.overlays.append(None if overlay is None else np.array(overlay))

    def capture_request(self) -> _Request:
        if not self.started or self.closed:
            raise RuntimeError("camera not running")
        fps = self.configuration.get("controls", {}).get("FrameRate", 30.0)
        time.sleep(1.0 / fps)
        self.sensor_ns += int(1e9 / fps)
        return _Request(self)

    def stop(self) -> None:
        self.started = False

    def stop_preview(self) -> None:
        self.previews.append(("stopped", {}))

    def close(self) -> None:
        self.closed = True
