"""Frame sources behind one small interface (base.py): files, V4L2/USB cameras, network
streams and the Raspberry Pi camera, one module each.

The Pi camera module is imported only when asked for (it needs picamera2, which only
exists on a Pi); `open_source` picks a source from the `--source` text.
"""

from __future__ import annotations

import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from app.errors import OptionError
from app.sources.base import Frame, FrameSource, Keep, SourceError
from app.sources.files import DEFAULT_MAX_PIXELS, FileSource
from app.sources.opencv import OpenCVSource, first_v4l2_device, is_stream

__all__ = [
    "FileSource",
    "Frame",
    "FrameSource",
    "Keep",
    "OpenCVSource",
    "SourceError",
    "SourceSettings",
    "file_path",
    "is_pi_camera",
    "open_source",
]

PI_CAMERA_SPECS = ("picam", "picamera")


@dataclass(frozen=True)
class SourceSettings:
    """What `--source` names and how to play it; built, not opened, by `open_source`."""

    spec: str = "auto"
    realtime: bool = False  # a file plays at its own rate, like a camera
    loop: bool = False  # a file plays again and again
    max_pixels: int = DEFAULT_MAX_PIXELS
    autofocus: bool = True

    def open(self, model_size: tuple[int, int], fps: float) -> FrameSource:
        return open_source(
            self.spec,
            realtime=self.realtime,
            loop=self.loop,
            model_size=model_size,
            fps=fps,
            max_pixels=self.max_pixels,
            autofocus=self.autofocus,
        )


def file_path(spec: str) -> Path | None:
    """The file a `--source` names (a path or a file:// URL), or None for a camera or stream."""
    if spec == "auto" or spec in PI_CAMERA_SPECS or spec.isdigit() or spec.startswith("/dev/video"):
        return None
    if spec.startswith("file://"):
        url = urllib.parse.urlparse(spec)
        if url.netloc not in ("", "localhost"):
            raise OptionError("source", f"{spec} names a file on another machine ({url.netloc})")
        return Path(urllib.parse.unquote(url.path))
    return None if is_stream(spec) else Path(spec)


def is_pi_camera(spec: str) -> bool | None:
    """Whether `--source` is the Pi camera: None for auto, which only finds out by looking."""
    return None if spec == "auto" else spec in PI_CAMERA_SPECS


def open_source(
    spec: str,
    *,
    realtime: bool = False,
    loop: bool = False,
    model_size: tuple[int, int] = (172, 172),
    fps: float = 5.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    autofocus: bool = True,
) -> FrameSource:
    """Build (not yet open) the source named by `--source`; `fps` is the model's sampling rate.

    auto: the Pi camera if libcamera lists one (a USB webcam it lists is left to
    OpenCV), else the first V4L2 camera. picam / picamera: the Pi camera. /dev/videoN or
    N: a V4L2 camera. rtsp://, http://, https://: a network stream. Anything else: a file.
    """
    if spec == "auto":
        from app.sources.picamera import PiCameraSource, find_pi_camera

        if find_pi_camera():
            source: FrameSource = PiCameraSource(model_size=model_size, sample_fps=fps, autofocus=autofocus)
        elif (device := first_v4l2_device()) is not None:
            source = OpenCVSource(device, model_size=model_size)
        else:
            raise OptionError(
                "source", "auto found no camera (no Pi camera, no V4L2 camera): give a file, URL or /dev/videoN"
            )
        print(f"source auto: using {source.name}", file=sys.stderr)
        return source
    if spec in PI_CAMERA_SPECS:
        from app.sources.picamera import PiCameraSource

        return PiCameraSource(model_size=model_size, sample_fps=fps, autofocus=autofocus)
    path = file_path(spec)
    if path is None:
        return OpenCVSource(spec, model_size=model_size)
    return FileSource(path, realtime=realtime, loop=loop, max_pixels=max_pixels)
