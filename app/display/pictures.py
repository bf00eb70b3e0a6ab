"""A picture of every event: when an action starts, the frame with the overlay, as a JPEG.

Saved in a folder next to the log (`pictures/` beside `--log`, or `--event-pictures DIR`),
named by the event id (`20261129-071203-412-push-up.jpg`), so the log's event record, the
MQTT event and the web view can all point to it without asking this module. The folder
is capped by count and size: the oldest pictures are deleted first.

The inference thread only copies the newest sampled frame when an event starts (a few
hundred microseconds, a few times a minute at most); drawing, encoding and writing
happen on a thread of its own, so a slow SD card never delays the model.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from app.errors import OptionError
from app.events import EventDetector, picture_name
from app.overlay import LiveOverlay, annotate, output_size
from app.pipeline import Stage
from app.sources.base import Frame

if TYPE_CHECKING:
    from app.pipeline import Pipeline
    from app.results import Result

log = logging.getLogger(__name__)

DEFAULT_KEEP = 500
DEFAULT_MAX_MB = 200.0
PICTURE_MIN_HEIGHT = 480  # small frames are scaled up so the overlay's text stays readable
PICTURE_MAX_HEIGHT = 1080
JPEG_QUALITY = 85
#: Share of the disk pictures leave free (besides twice a picture): the log must not lose records to them.
RESERVE_SHARE = 0.05
PENDING = 4  # pictures waiting for the writer; more in a burst are skipped, and counted


@dataclass(frozen=True)
class PictureSettings:
    folder: Path
    keep: int  # pictures kept, the oldest deleted first (at least 1: 0 means no PictureSettings)
    max_bytes: int | None  # None: no size cap


def pictures_folder(folder: Path | None, log: Path | None) -> Path | None:
    """Where the event pictures go: `folder`, else pictures/ beside the log, else None; OptionError if it cannot be."""
    if folder is None:  # beside the log: the log's own checks name a missing folder
        return log.parent / "pictures" if log is not None else None
    try:
        is_dir = folder.is_dir()
        exists = is_dir or os.path.lexists(folder)
    except OSError as exc:  # a name too long
        raise OptionError("event_pictures", f"{folder}: {exc.strerror}") from None
    if exists and not is_dir:
        raise OptionError("event_pictures", f"{folder}: not a folder")
    if not exists and not folder.parent.is_dir():
        raise OptionError("event_pictures", f"{folder}: folder {folder.parent} does not exist")
    writable = folder if exists else folder.parent  # the run creates a missing folder
    if not os.access(writable, os.W_OK | os.X_OK):  # found now, not as one warning per event
        raise OptionError("event_pictures", f"{folder}: cannot write in {writable} (read-only, or permission denied)")
    return folder


@dataclass(frozen=True)
class _Job:
    name: str
    image: np.ndarray
    order: str


class EventPictures:
    """Pipeline listener: a JPEG of the newest frame at the start of every event."""

    def __init__(
        self, folder: Path, overlay: LiveOverlay, detector: EventDetector, keep: int, max_bytes: int | None
    ) -> None:
        self.folder = folder
        self.overlay = overlay
        self.detector = detector
        self.keep = keep
        self.max_bytes = max_bytes
        self.saved = 0
        self.skipped = 0
        self.failed = 0  # pictures not saved since the last one that was
        self.encode_s = 0.0  # CPU time spent drawing, encoding and writing, in total
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise OptionError("event_pictures", f"{folder}: cannot create: {exc.strerror}") from None
        self._frame: Frame | None = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue(PENDING)
        self._writer = threading.Thread(target=self._write_loop, name="event-pictures", daemon=True)
        self._writer.start()

    def on_frame(self, frame: Frame) -> None:
        """Frame listener (capture thread): only remembers the newest frame."""
        self._frame = frame

    def on_result(self, result: Result) -> None:
        for event in self.detector.update(result.t, result.wall, result.top, result.reset):
            frame = self._frame
            if event.kind != "start" or frame is None:
                continue
            try:  # a copy: the source may reuse the frame's buffer for the next one
                self._jobs.put_nowait(_Job(picture_name(event.id), frame.image.copy(), frame.order))
            except queue.Full:
                self.skipped += 1

    def close(self) -> None:
        with contextlib.suppress(queue.Full):  # a writer gone (or stuck on a dead disk) does not hold up the exit
            self._jobs.put(None, timeout=10)
        self._writer.join(timeout=10)
        if self.skipped:
            log.warning("%d event picture(s) skipped: events came faster than pictures could be written", self.skipped)

    def _write_loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            started = time.thread_time()
            try:
                self._write(job)
            except OSError as exc:  # a full or read-only disk: the run goes on without the picture
                self._failed(job, exc)
            else:
                self._recovered()
            finally:
                with contextlib.suppress(OSError):  # the caps hold whatever happened: a full disk keeps N, not N+
                    self._prune()
            self.encode_s += time.thread_time() - started

    def _failed(self, job: _Job, exc: OSError) -> None:
        """Said once while it lasts (not once an event, hundreds an hour); `_recovered` says when it ends."""
        self.failed += 1
        if self.failed == 1:
            log.warning(
                "cannot save event pictures in %s: %s (%s); the run goes on, and says when they work again",
                self.folder,
                exc.strerror or exc,
                job.name,
            )

    def _recovered(self) -> None:
        if self.failed:
            log.info("event pictures are saved in %s again (%d could not be saved)", self.folder, self.failed)
            self.failed = 0

    def _write(self, job: _Job) -> None:
        height, width = job.image.shape[:2]
        size = output_size((width, height), PICTURE_MIN_HEIGHT, PICTURE_MAX_HEIGHT)
        picture = annotate(job.image, job.order, self.overlay, size)
        ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise OSError(f"JPEG encoding failed for a {width}x{height} frame")
        self._leave_room(data.nbytes)
        path = self.folder / job.name
        partial = path.with_name(f".{job.name}.partial")
        try:
            partial.write_bytes(data.tobytes())
            os.replace(partial, path)  # a reader never sees half a picture
        except OSError:
            partial.unlink(missing_ok=True)  # a full disk leaves no hidden half-pictures behind
            raise
        self.saved += 1

    def _leave_room(self, size: int) -> None:
        """OSError(ENOSPC) if this picture would take the last free space: the log, beside it, needs it more."""
        disk = os.statvfs(self.folder)
        free, total = disk.f_bavail * disk.f_frsize, disk.f_blocks * disk.f_frsize
        if free - size < max(2 * size, int(total * RESERVE_SHARE)):
            raise OSError(errno.ENOSPC, f"the disk is nearly full ({free // 1024} KB free)")

    def _prune(self) -> None:
        """Delete the oldest pictures beyond the count and size caps (names sort by start time)."""
        pictures = sorted(self.folder.glob("*.jpg"))
        sizes = []
        for picture in pictures:
            with contextlib.suppress(OSError):  # deleted by someone else meanwhile
                sizes.append((picture, picture.stat().st_size))
        total = sum(size for _, size in sizes)
        while sizes and (len(sizes) > self.keep or (self.max_bytes and total > self.max_bytes and len(sizes) > 1)):
            oldest, size = sizes.pop(0)
            oldest.unlink(missing_ok=True)
            total -= size


def attach_event_pictures(
    pipeline: Pipeline, settings: PictureSettings, overlay: LiveOverlay, detector: EventDetector
) -> EventPictures:
    """Save event pictures in the settings' folder; the cli hands in the run's overlay and thresholds."""
    pictures = EventPictures(settings.folder, overlay, detector, settings.keep, settings.max_bytes)
    pipeline.on_frame(pictures.on_frame, wanted=lambda: False)  # the sampled frames are enough
    pipeline.on_result(overlay.update, Stage.OVERLAY)  # the run's overlay: updated once, whoever asks
    pipeline.on_result(pictures.on_result)
    pipeline.on_close(pictures.close)
    return pictures
