"""The Pi camera's own preview (picamera2's Qt GL window or DRM) with the overlay on top.

picamera2 shows the camera's full-size stream itself, on the GPU (QTGL) or straight on a
display plane (DRM), so the picture never passes through Python; the app only hands it
a new RGBA overlay when a result arrives (`Picamera2.set_overlay`), which the preview
stretches over the picture.

Two things picamera2 does not tell the app (previews/drm_preview.py): the DRM plane is
reserved on the first frame inside picamera2's event-loop thread, so a failure there
kills that loop (no frames, no message) long after start_preview returned; and every
set_overlay allocates a new framebuffer of the overlay's size and commits it on the
calling thread. So a stalled camera asks whether the preview's loop died, and overlays
are drawn no larger than the picture and handed over from a thread of their own.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from app.display import drm
from app.errors import AppError
from app.overlay import LiveOverlay, Size, fit_size
from app.pipeline import Pipeline
from app.results import Result
from app.sources.picamera import PiCameraSource

log = logging.getLogger(__name__)


class PiCameraPreview:
    """Starts picamera2's preview as the camera opens, and pushes overlays as results come."""

    def __init__(self, kind: str, overlay: LiveOverlay, fullscreen: bool = False, required: bool = True) -> None:
        self.kind = kind  # "qt" or "drm"
        self.overlay = overlay
        self.fullscreen = fullscreen
        self.required = required  # False for --preview auto: run headless if it cannot start
        self.overlay_size: Size = (0, 0)
        self.disabled = False  # it failed and --preview auto carries on without it
        self._picture: Size = (0, 0)
        self._source: PiCameraSource | None = None
        self._pipeline: Pipeline | None = None
        self._camera: Any = None  # the Picamera2 whose preview is running
        self._loop: threading.Thread | None = None  # picamera2's event-loop thread for it
        self._loop_errors: dict[threading.Thread, BaseException] = {}
        self._wanted = threading.Event()
        self._closing = False
        self._pusher = threading.Thread(target=self._push_overlays, name="picamera-overlay", daemon=True)

    def attach(self, pipeline: Pipeline, source: PiCameraSource) -> None:
        """Push each result's overlay: at Stage.OUTPUT, after the overlay has taken the result (Stage.OVERLAY)."""
        self._picture = source.preview_size
        self._source = source
        self._pipeline = pipeline
        source.displayed = True
        source.on_configured = self._start
        source.on_stalled = self._check_loop
        pipeline.on_result(self._push)
        pipeline.on_close(self._stop_pushing)
        self._catch_loop_errors()
        self._pusher.start()

    def window(self, picture: Size) -> dict[str, int]:
        """picamera2's preview placement: the whole screen, or the picture (fitted to the screen)."""
        screen = drm.display_size()
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
        if self.disabled:
            return
        window = self.window(self._picture)
        # The preview letterboxes the picture in its window and stretches the overlay over
        # it, so an overlay larger than the picture only costs memory (8 MB a frame buffer
        # at full HD, five times a second): at most the picture's size.
        shown = fit_size(self._picture, (window["width"], window["height"]))
        self.overlay_size = shown if shown[0] <= self._picture[0] else self._picture
        preview = Preview.QTGL if self.kind == "qt" else Preview.DRM
        try:
            camera.start_preview(preview, **window)
        except Exception as exc:  # missing PyQt5/OpenGL, no DRM master, no monitor...
            hint = "sudo apt install python3-pyqt5 python3-opengl" if self.kind == "qt" else "is a desktop using it?"
            self._give_up(f"cannot start the Pi camera's {self.kind} preview: {exc} ({hint})")
            return
        self._camera = camera
        # picamera2.attach_preview keeps the preview object; its thread runs the event loop.
        self._loop = getattr(getattr(camera, "_preview", None), "thread", None)

    def _check_loop(self, camera: Any) -> bool:
        """PiCameraSource.on_stalled: did the user close the window, or the preview kill picamera2's loop?

        True if the run is over (the window was closed: the user's stop, as for the app's own window).
        """
        if camera is not self._camera:
            return False
        if self.kind == "qt" and getattr(camera, "_preview", None) is None:
            # Closing picamera2's Qt window detaches its preview and stops frames, while its
            # Qt thread (one per process) lives on: reopening would only bring the window back.
            log.warning("the Pi camera's preview window was closed: stopping")
            self._camera = None
            if self._pipeline is not None:
                self._pipeline.stop()
            return True
        loop = self._loop
        if loop is None or loop.is_alive():
            return False
        cause = self._loop_errors.pop(loop, None) or "its event loop stopped"
        hint = " (is a desktop using the screen?)" if self.kind == "drm" else ""
        self._give_up(f"the Pi camera's {self.kind} preview failed on its first frame: {cause}{hint}")
        return False

    def _give_up(self, message: str) -> None:
        """AppError if the preview was asked for by name; else carry on headless."""
        if self.required:
            raise AppError(message)
        log.warning("%s; running without a preview", message)
        self.disabled = True
        self._camera = None
        if self._source is not None:
            self._source.displayed = False  # the next open configures for headless

    def _catch_loop_errors(self) -> None:
        """An exception that ends picamera2's loop thread becomes one line and the cause above."""
        previous = threading.excepthook

        def hook(args: threading.ExceptHookArgs) -> None:
            if args.thread is not None and args.thread is self._loop and args.exc_value is not None:
                self._loop_errors[args.thread] = args.exc_value
                log.debug("the Pi camera's %s preview stopped: %s", self.kind, args.exc_value)
                return
            previous(args)

        threading.excepthook = hook

    def _push(self, result: Result) -> None:
        """Result listener (Stage.OUTPUT, inference thread): only wakes the overlay thread."""
        if self._camera is not None:
            self._wanted.set()

    def _push_overlays(self) -> None:
        """Draws the overlay and hands it to picamera2, off the inference thread; skips stale ones."""
        while self._wanted.wait() and not self._closing:
            self._wanted.clear()
            camera = self._camera
            if camera is None:
                continue
            try:
                camera.set_overlay(self.overlay.layer(self.overlay_size).rgba)
            except Exception as exc:
                log.debug("overlay not shown: %s", exc)

    def _stop_pushing(self) -> None:
        self._closing = True
        self._wanted.set()
        self._pusher.join(timeout=5)
