"""JPEG pictures of the live frames with the overlay, for the web view's MJPEG stream.

Encoding costs CPU the model wants, so it happens only while someone watches, on its own
thread, at most `fps` times a second, and always of the newest frame: the capture thread
only swaps a reference. Every viewer takes the newest picture when it is ready for one,
so a slow viewer skips pictures (its own frame slot is "newer than the last one I sent")
and never holds up the encoder, the pipeline or the other viewers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import cv2

from app.overlay import READABLE_HEIGHT, LiveOverlay, annotate, output_size
from app.sources.base import Frame

log = logging.getLogger(__name__)

DEFAULT_FPS = 10.0
JPEG_QUALITY = 80
MAX_HEIGHT = 720  # a 1080p camera is scaled down: a third of the encoding work


class JpegStream:
    """The newest annotated frame as JPEG, numbered so each viewer can tell what is new."""

    def __init__(self, overlay: LiveOverlay, fps: float = DEFAULT_FPS, quality: int = JPEG_QUALITY) -> None:
        self.overlay = overlay
        self.interval = 1 / fps
        self.quality = quality
        self.encode_ms = 0.0  # the last picture's cost, for the status
        self._condition = threading.Condition()
        self._frame: Frame | None = None  # newest frame not yet encoded
        self._jpeg = b""
        self._version = 0  # pictures encoded so far
        self._watchers = 0
        self._closed = False
        self._failed = False
        self._thread = threading.Thread(target=self._run, name="web-jpeg", daemon=True)
        self._thread.start()

    @property
    def watchers(self) -> int:
        return self._watchers

    def wanted(self) -> bool:
        """For Pipeline.on_frame: every frame only while someone watches."""
        return self._watchers > 0

    def on_frame(self, frame: Frame) -> None:
        """Pipeline frame listener (capture thread): keep a reference, nothing more."""
        if not self._watchers:
            return
        with self._condition:
            self._frame = frame
            self._condition.notify_all()

    @contextmanager
    def watching(self) -> Iterator[None]:
        """While inside, pictures are made."""
        with self._condition:
            self._watchers += 1
        try:
            yield
        finally:
            with self._condition:
                self._watchers -= 1
                if not self._watchers:
                    self._frame = None  # do not keep a stale frame for the next viewer

    def next_jpeg(self, after: int, timeout: float) -> tuple[int, bytes] | None:
        """(number, JPEG) of a picture newer than number `after`, or None after `timeout`."""
        with self._condition:
            ready = self._condition.wait_for(lambda: self._version > after or self._closed, timeout)
            if not ready or self._closed:
                return None
            return self._version, self._jpeg

    @property
    def version(self) -> int:
        return self._version

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        due = 0.0  # monotonic time the next picture may be made
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._closed or self._frame is not None)
                if self._closed:
                    return
                wait = due - time.monotonic()
                if wait > 0:  # too soon: a newer frame may arrive meanwhile, take that one
                    self._condition.wait(wait)
                    continue
                frame, self._frame = self._frame, None
            started = time.monotonic()
            due = started + self.interval
            try:
                jpeg = encode_jpeg(frame, self.overlay, self.quality)
            except Exception:  # a bad frame must not end the stream for good; say so once
                if not self._failed:
                    log.exception("cannot encode a picture for the web view")
                self._failed = True
                continue
            with self._condition:
                self.encode_ms = (time.monotonic() - started) * 1000
                self._jpeg = jpeg
                self._version += 1
                self._condition.notify_all()


def encode_jpeg(frame: Frame, overlay: LiveOverlay, quality: int = JPEG_QUALITY) -> bytes:
    """The frame with the overlay burnt in, as JPEG: small pictures scaled up so the text stays readable."""
    height, width = frame.image.shape[:2]
    size = output_size((width, height), READABLE_HEIGHT, MAX_HEIGHT)
    image = annotate(frame.image, frame.order, overlay, size, out_order="BGR")
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()
