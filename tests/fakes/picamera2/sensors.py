"""The stand-in's cameras (FAKE_PICAMERA_CAMERAS) and what each sensor advertises as
camera_controls (name: (min, max, default)), as picamera2.py: camera_controls reports
libcamera's Camera::controls() after configure.

Camera Module 3 (imx708) has a focus lens, so AfMode and LensPosition; libcamera's
default AfMode is Manual (rpicam-apps asks for Continuous itself). Camera Module 2
(imx219) is fixed focus. FrameDurationLimits' minimum is the configured sensor mode's
fastest frame (the binned 2304x1296 mode of an imx708 does 56 fps, the 1640x1232 mode of
an imx219 42); FAKE_PICAMERA_MAX_FPS stands for a slower mode (or a long exposure).
"""

from __future__ import annotations

import os
from typing import Any

#: global_camera_info entries, by FAKE_PICAMERA_CAMERAS name (picamera2.py: global_camera_info).
CAMERAS = {
    "imx708": {"Model": "imx708", "Location": 2, "Rotation": 180, "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a"},
    "imx219": {"Model": "imx219", "Location": 2, "Rotation": 180, "Id": "/base/soc/i2c0mux/i2c@1/imx219@10"},
    "usb": {
        "Model": "UVC Camera (046d:0825)",
        "Location": 2,
        "Id": "/base/scb/pcie@7d500000/pci@0,0/usb@1-1.2:1.0-046d:0825",
    },
}


def camera_list() -> list[dict[str, Any]]:
    names = [n for n in os.environ.get("FAKE_PICAMERA_CAMERAS", "imx708").split(",") if n]
    return [dict(CAMERAS[name], Num=num) for num, name in enumerate(names)]


AF_MANUAL, AF_AUTO, AF_CONTINUOUS = 0, 1, 2
MAX_FPS = {"imx708": 56.03, "imx219": 41.85}
COMMON = {
    "AeEnable": (False, True, None),
    "AnalogueGain": (1.0, 16.0, None),
    "ExposureTime": (26, 220_000_000, None),
    "NoiseReductionMode": (0, 4, 0),
    "ScalerCrop": ((0, 0, 0, 0), (65535, 65535, 65535, 65535), (0, 0, 0, 0)),
}
FOCUS = {"AfMode": (AF_MANUAL, AF_CONTINUOUS, AF_MANUAL), "AfTrigger": (0, 1, 0), "LensPosition": (0.0, 15.0, 1.0)}


def max_fps(model: str) -> float:
    given = os.environ.get("FAKE_PICAMERA_MAX_FPS")
    return float(given) if given else MAX_FPS.get(model, 30.0)


def camera_controls(model: str, rpi_camera: bool) -> dict[str, tuple[Any, Any, Any]]:
    fastest = round(1e6 / max_fps(model))
    controls: dict[str, tuple[Any, Any, Any]] = {"FrameDurationLimits": (fastest, 1_000_000, fastest)}
    if rpi_camera:
        controls |= COMMON
    if model == "imx708":
        controls |= FOCUS
    return controls
