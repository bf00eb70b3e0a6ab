"""The Pi camera's own preview (picamera2's Qt GL window or DRM) with the overlay on top.

picamera2 shows the camera's full-size stream itself, on the GPU (QTGL) or straight on a
display plane (DRM), so the picture never passes through Python; the app only hands it
a new RGBA overlay when a result arrives (`Picamera2.set_overlay`), which the preview
stretches over the picture.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from app.errors import AppError
from app.overlay import LiveOverlay, Size, fit_size
from app.pipeline import Pipeline, Result
from app.sources.picamera import PiCameraSource

log = logging.getLogger("app.preview")

DRM_SYSFS = Path("/sys/class/drm")


def display_size() -> Size | None:
    """The connected monitor's preferred mode, from the kernel's DRM/KMS (no X needed)."""
    for status in sorted(DRM_SYSFS.glob("card*-*/status")):
        try:
            if status.read_text().strip() != "connected":
                continue
            first_mode = (status.parent / "modes").read_text().split("\n", 1)[0]
        except OSError:
            continue
        if match := re.match(r"(\d+)x(\d+)", first_mode):
            return int(match[1]), int(match[2])
    return None


class PiCameraPreview:
    """Starts picamera2's preview as the camera opens, and pushes overlays as results come."""

    def __init__(self, kind: str, overlay: LiveOverlay, fullscreen: bool = False, required: bool = True) -> None:
        self.kind = kind  # "qt" or "drm"
        self.overlay = overlay
        self.fullscreen = fullscreen
        self.required = required  # False for --preview auto: run headless if it cannot start
        self.overlay_size: Size = (0, 0)
        self._picture: Size = (0, 0)
        self._camera: Any = None  # the Picamera2 whose preview is running

    def attach(self, pipeline: Pipeline, source: PiCameraSource) -> None:
        """Call after LiveOverlay.update is a result listener, so pushes see the new result."""
        self._picture = source.preview_size
        source.on_configured = self._start
        pipeline.on_result(self._push)

    def window(self, picture: Size) -> dict[str, int]:
        """picamera2's preview placement: the whole screen, or the picture (fitted to the screen)."""
        screen = display_size()
        if self.fullscreen:
            if screen is not None:
                return {"x": 0, "y": 0, "width": screen[0], "height": screen[1]}
            log.warning("cannot tell the screen size: the preview stays at %dx%d", *picture)
        if screen is not None and (picture[0] > screen[0] or picture[1] > screen[1]):
            picture = fit_size(picture, screen)
        return {"width": picture[0], "height": picture[1]}

    def _start(self, camera: Any) -> None:
        """PiCameraSource.on_configured: picamera2 needs the preview before camera.start()."""
        from picamera2 import Preview

        self._camera = None
        window = self.window(self._picture)
        # The preview letterboxes the picture in its window and stretches the overlay over
        # the picture: draw the overlay at the picture's size on screen, for sharp text.
        self.overlay_size = fit_size(self._picture, (window["width"], window["height"]))
        preview = Preview.QTGL if self.kind == "qt" else Preview.DRM
        try:
            camera.start_preview(preview, **window)
        except Exception as exc:  # missing PyQt5/OpenGL, no DRM master, no monitor...
            hint = "sudo apt install python3-pyqt5 python3-opengl" if self.kind == "qt" else "is a desktop using it?"
            message = f"cannot start the Pi camera's {self.kind} preview: {exc} ({hint})"
            if self.required:
                raise AppError(message) from None
            log.warning("%s; running without a preview", message)
            return
        self._camera = camera

    def _push(self, result: Result) -> None:
        """Result listener, after LiveOverlay.update: hand the preview the new overlay."""
        if self._camera is None:
            return
        try:
            self._camera.set_overlay(self.overlay.layer(self.overlay_size).rgba)
        except Exception as exc:  # the camera is being closed to be reopened: skip this one
            log.debug("overlay not shown: %s", exc)
