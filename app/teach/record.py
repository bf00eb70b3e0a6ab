"""`teach record`: takes from a camera (any `run --source`), with a countdown and a pause between.

Each take is stored as soon as it is done, so a camera that fails on take three keeps
takes one and two. Only the sampled frames (what the model sees) are kept while a take
runs, and written out as video only with --keep-video.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2

from app.errors import AppError
from app.inference.sampling import RateSampler
from app.settings.argtypes import non_negative_float, positive_float, positive_int
from app.sources import open_source
from app.sources.base import Frame, SourceError
from app.teach.api import Teacher
from app.teach.record_view import RECORD_PREVIEWS, Caption, RecordPreview, WindowClosed, check_record_preview
from app.teach.store import check_action_name

DEFAULT_SECONDS = 6.0
DEFAULT_COUNT = 3
DEFAULT_COUNTDOWN = 3.0
DEFAULT_PAUSE = 3.0


def add_record_command(
    actions: argparse._SubParsersAction,
    with_model: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
    open_teacher: Callable[[argparse.Namespace], Teacher],
) -> None:
    record = with_model(actions.add_parser("record", help="record examples of ACTION from a camera, with a countdown"))
    record.add_argument("set", type=Path, metavar="SET")
    record.add_argument("action", metavar="ACTION")
    record.add_argument("--source", default="auto", help="as for run: auto, picam, /dev/videoN, a URL or a file")
    record.add_argument("--seconds", type=positive_float, default=DEFAULT_SECONDS, help="length of a take (6)")
    record.add_argument("--count", type=positive_int, default=DEFAULT_COUNT, help="takes to record (3)")
    record.add_argument("--countdown", type=non_negative_float, default=DEFAULT_COUNTDOWN, help="seconds before (3)")
    record.add_argument("--pause", type=non_negative_float, default=DEFAULT_PAUSE, help="seconds between takes (3)")
    record.add_argument("--keep-video", action="store_true", help="also keep each take's frames as SET/videos/ID.mp4")
    record.add_argument(
        "--preview",
        choices=RECORD_PREVIEWS,
        default="auto",
        help="a window with the picture and the countdown: auto (if $DISPLAY), window or none",
    )
    record.set_defaults(handler=functools.partial(run_record, open_teacher=open_teacher))


def run_record(args: argparse.Namespace, open_teacher: Callable[[argparse.Namespace], Teacher]) -> int:
    check_action_name(args.action)
    preview_kind = check_record_preview(args.preview)
    teacher = open_teacher(args)
    teacher.check_model()  # before anyone performs
    # A file stands in for a camera: played at its own rate, as a camera delivers.
    source = open_source(args.source, realtime=True, model_size=teacher.input_size, fps=args.fps)
    preview = RecordPreview(preview_kind, f"teach record · {args.action}", required=args.preview == "window")
    stored = 0
    try:
        source.open()
    except BaseException:
        preview.close()
        raise
    try:
        frames = source.frames(lambda t: True)
        for take in range(1, args.count + 1):
            what = f"take {take}/{args.count} of {args.action!r}"
            wait = args.countdown if take == 1 else args.pause + args.countdown
            _count_down(frames, wait, args.countdown, what, _showing(preview, take, args.count))
            sampled = _take(frames, args.seconds, args.fps, _showing(preview, take, args.count))
            if sampled is None:
                raise AppError(f"the source ended before take {take} of {args.count} (earlier takes are kept)")
            preview.note(Caption("", f"storing take {take}/{args.count}…"))
            example = teacher.add_frames(args.action, sampled, f"{source.name} take {take}")
            stored = take
            if args.keep_video:
                _keep_video(args.set / "videos" / f"{example.id}.mp4", sampled, args.fps)
            print(f"take {take}: stored {example.steps} steps", flush=True)
    except SourceError as exc:
        raise AppError(f"the camera failed: {exc} (takes done so far are kept)") from None
    except WindowClosed:
        # The user's way to stop early: not an error, the takes done are kept.
        print(f"the preview window was closed: {stored} of {args.count} takes stored; "
              f"run `python -m app teach fit {args.set}` when done", flush=True)  # fmt: skip
        return 0
    finally:
        source.close()
        preview.close()
    print(f"run `python -m app teach fit {args.set}` when done")
    return 0


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
