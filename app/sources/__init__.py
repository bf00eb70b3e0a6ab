"""Frame sources behind one small interface (base.py): files, V4L2/USB cameras, network
streams and the Raspberry Pi camera, one module each.

The Pi camera module is imported only when asked for (it needs picamera2, which only
exists on a Pi); `open_source` picks a source from the `--source` text.
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.errors import AppError
from app.sources.base import Frame, FrameSource, Keep, SourceError
from app.sources.files import FileSource
from app.sources.opencv import OpenCVSource, first_v4l2_device, is_stream

__all__ = ["FileSource", "Frame", "FrameSource", "Keep", "OpenCVSource", "SourceError", "file_source", "open_source"]


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
    if spec in ("auto", "picam", "picamera") or spec.isdigit() or spec.startswith("/dev/video") or is_stream(spec):
        return None
    return Path(spec)
