"""`teach record`: takes from a camera (any `run --source`), with a countdown and a pause between.

Each take is stored as soon as it is done, so a camera that fails on take three keeps
takes one and two. Only the sampled frames (what the model sees) are kept while a take
runs, and written out as video only with --keep-video.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2

from app.errors import AppError
from app.inference.sampling import DEFAULT_FPS, RateSampler
from app.sources import open_source
from app.sources.base import Frame, SourceError
from app.teach.api import Teacher
from app.teach.record_view import Caption, RecordPreview, WindowClosed, check_record_preview
from app.teach.store import check_action_name

DEFAULT_SECONDS = 6.0
DEFAULT_COUNT = 3
DEFAULT_COUNTDOWN = 3.0
DEFAULT_PAUSE = 3.0


@dataclass(frozen=True)
class TakeSettings:
    """How `teach record` records: what, from where, and the takes' timing."""

    set_path: Path
    action: str
    source: str = "auto"
    fps: float = DEFAULT_FPS
    seconds: float = DEFAULT_SECONDS
    count: int = DEFAULT_COUNT
    countdown: float = DEFAULT_COUNTDOWN
    pause: float = DEFAULT_PAUSE
    keep_video: bool = False
    preview: str = "auto"  # one of RECORD_PREVIEWS


def record_takes(settings: TakeSettings, open_teacher: Callable[[], Teacher]) -> None:
    """Record the takes into the set, each stored when done (the action's name is checked before the model loads)."""
    check_action_name(settings.action)
    preview_kind = check_record_preview(settings.preview)
    teacher = open_teacher()
    teacher.check_model()  # before anyone performs
    # A file stands in for a camera: played at its own rate, as a camera delivers.
    source = open_source(settings.source, realtime=True, model_size=teacher.input_size, fps=settings.fps)
    preview = RecordPreview(preview_kind, f"teach record · {settings.action}", required=settings.preview == "window")
    stored = 0
    try:
        source.open()
    except BaseException:
        preview.close()
        raise
    try:
        frames = source.frames(lambda t: True)
        for take in range(1, settings.count + 1):
            what = f"take {take}/{settings.count} of {settings.action!r}"
            wait = settings.countdown if take == 1 else settings.pause + settings.countdown
            _count_down(frames, wait, settings.countdown, what, _showing(preview, take, settings.count))
            sampled = _take(frames, settings.seconds, settings.fps, _showing(preview, take, settings.count))
            if sampled is None:
                raise AppError(f"the source ended before take {take} of {settings.count} (earlier takes are kept)")
            preview.note(Caption("", f"storing take {take}/{settings.count}…"))
            example = teacher.add_frames(settings.action, sampled, f"{source.name} take {take}")
            stored = take
            if settings.keep_video:
                _keep_video(settings.set_path / "videos" / f"{example.id}.mp4", sampled, settings.fps)
            print(f"take {take}: stored {example.steps} steps", flush=True)
    except SourceError as exc:
        raise AppError(f"the camera failed: {exc} (takes done so far are kept)") from None
    except WindowClosed:
        # The user's way to stop early: not an error, the takes done are kept.
        print(f"the preview window was closed: {stored} of {settings.count} takes stored; "
              f"run `python -m app teach fit {settings.set_path}` when done", flush=True)  # fmt: skip
        return
    finally:
        source.close()
        preview.close()
    print(f"run `python -m app teach fit {settings.set_path}` when done")


Show = Callable[[Frame, float, str], None]  # (frame, seconds left, phase: "wait", "count" or "take")


def _showing(preview: RecordPreview, take: int, count: int) -> Show:
    """What the window shows in each phase of take `take` (the pause before it follows take - 1)."""

    def show(frame: Frame, left: float, phase: str) -> None:
        seconds = f"{int(left) + 1} s"
        if phase == "take":
            caption = Caption("", f"REC take {take}/{count} · {seconds} left", recording=True)
        elif phase == "count":
            caption = Caption(str(int(left) + 1), f"take {take}/{count} · get ready")
        else:
            caption = Caption("", f"take {take - 1} stored · next in {seconds}")
        preview.show(frame, caption)

    return show


def _count_down(frames: Iterator[Frame], wait: float, countdown: float, what: str, show: Show) -> None:
    """Keep reading the camera (so its frames stay fresh) while the console (and window) count down."""
    end = time.monotonic() + wait
    shown = None
    print(f"{what}: get ready", flush=True)
    while (left := end - time.monotonic()) > 0:
        if left <= countdown and (number := int(left) + 1) != shown:
            shown = number
            print(f"  {number}...", flush=True)
        if (frame := next(frames, None)) is None:
            return
        show(frame, left, "count" if left <= countdown else "wait")
    print("  go!", flush=True)


def _take(frames: Iterator[Frame], seconds: float, fps: float, show: Show) -> list[Frame] | None:
    """The take's frames at the model rate (source time), or None if the source ended first."""
    sampler = RateSampler(fps)
    kept: list[Frame] = []
    start = None
    for frame in frames:
        start = frame.t if start is None else start
        if frame.t - start >= seconds:
            return kept
        show(frame, seconds - (frame.t - start), "take")
        if sampler.accept(frame.t):
            kept.append(frame)
    return kept if start is not None and kept and kept[-1].t - start >= seconds - 2 / fps else None


def _keep_video(path: Path, frames: list[Frame], fps: float) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".mp4")
        os.close(handle)
    except OSError as exc:
        raise AppError(f"cannot write {path}: {exc}") from None
    height, width = frames[0].image.shape[:2]
    writer = cv2.VideoWriter(temporary, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame.image if frame.order == "BGR" else cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    writer.release()
    try:
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise AppError(f"cannot write {path}: {exc}") from None
    print(f"  kept {path}", file=sys.stderr)
