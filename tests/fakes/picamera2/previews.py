"""Stand-in for picamera2's previews (null_preview.py, drm_preview.py, qt_previews.py, q_gl_picamera2.py)."""

from __future__ import annotations

import threading
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .settings import env

if TYPE_CHECKING:
    from . import Picamera2
    from .request import CompletedRequest


class Preview(Enum):
    """picamera2.py: Preview (the enum members' values are the preview classes there)."""

    NULL = "NULL"
    DRM = "DRM"
    QT = "QT"
    QTGL = "QTGL"


class _Preview:
    """previews/null_preview.py, drm_preview.py, qt_previews.py: a thread running the event loop.

    A Qt preview's `thread` is qt_previews.py: QtPreviewBase.thread, one per process that
    outlives every window; closing the window (q_gl_picamera2.py: closeEvent -> cleanup)
    stops handing frames on and detaches the preview: `Picamera2.fake_close_window()`.
    """

    qt_thread: ClassVar[threading.Thread | None] = None

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.current: CompletedRequest | None = None  # the frame on screen (DRM, Qt hold it)
        self.plane_reserved = False
        self._abort = threading.Event()
        self._loop: threading.Thread | None = None
        self.thread: threading.Thread | None = None

    def start(self, camera: Picamera2) -> None:
        camera.attach_preview(self)
        self._loop = threading.Thread(target=camera._event_loop, args=(self._abort,), daemon=True)
        self._loop.start()
        self.thread = self._loop
        if self.kind in ("QT", "QTGL"):
            if _Preview.qt_thread is None:
                _Preview.qt_thread = threading.Thread(target=threading.Event().wait, name="qt", daemon=True)
                _Preview.qt_thread.start()
            self.thread = _Preview.qt_thread

    def render_request(self, request: CompletedRequest) -> None:
        if self.kind == "DRM" and not self.plane_reserved:
            if env("DRM") == "no-plane":  # drm_preview.py: render_drm, on the first frame
                raise RuntimeError("Failed to reserve DRM plane")
            self.plane_reserved = True
        if self.kind == "NULL":
            return
        if self.current is not None:
            self.current.release()
        self.current = request
        if request.config["buffer_count"] > 1:
            request.acquire()
        else:
            self.current = None

    def set_overlay(self, overlay: np.ndarray | None) -> None:
        if self.kind == "DRM" and not self.plane_reserved:
            raise RuntimeError("Overlays not supported on this device")

    def stop(self, camera: Picamera2) -> None:
        self._abort.set()
        if self._loop is not None and self._loop is not threading.current_thread():
            self._loop.join()
        if self.current is not None:
            self.current.release()
            self.current = None
        camera.detach_preview()
