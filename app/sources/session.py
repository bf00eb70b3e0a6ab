"""A "session": video clips played back to back as one live stream, like a camera watching
a person who changes what they do.

Each clip is held for a fixed number of seconds (looped if it is shorter, cut if longer)
and the clips' own timestamps are shifted so stream time runs on unbroken from one
segment to the next. The frames then go through the same sampling, preprocessing and
model code as `run` (the pipeline samples them by timestamp, like any source).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.errors import AppError
from app.sources.base import Frame, FrameSource, Keep
from app.sources.files import DEFAULT_MAX_PIXELS, read_video


@dataclass(frozen=True)
class Segment:
    """One clip of a session: shown from stream time `start` for `hold` seconds."""

    path: Path
    start: float
    hold: float

    @property
    def end(self) -> float:
        return self.start + self.hold


def plan_segments(paths: Sequence[str | os.PathLike], hold: float) -> list[Segment]:
    if hold <= 0:
        raise AppError(f"hold must be positive, got {hold:g}")
    return [Segment(Path(path), i * hold, hold) for i, path in enumerate(paths)]


class SessionSource(FrameSource):
    """Plays `segments` back to back, as fast as the model takes them (no frame lost)."""

    live = False

    def __init__(self, segments: Sequence[Segment], max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        if not segments:
            raise AppError("a session needs at least one clip")
        self.segments = list(segments)
        self.max_pixels = max_pixels
        self.name = "session"
        self._closed = False

    @property
    def paced(self) -> bool:
        return False

    def open(self) -> None:
        for segment in self.segments:
            if not segment.path.is_file():
                raise AppError(f"video not found: {segment.path}")
        self._closed = False

    def frames(self, keep: Keep) -> Iterator[Frame]:
        index = 0
        for segment in self.segments:
            for local_t, frame in _held(segment, lambda t, s=segment.start: keep(s + t), self.max_pixels):
                if self._closed:
                    return
                yield Frame(index, segment.start + local_t, frame.image, frame.order, time.monotonic())
                index += 1

    def close(self) -> None:
        self._closed = True


class _Pass:
    """One pass over a clip: which frames to convert, and how long the clip turned out to be.

    Every decoded frame's time passes through `wanted`, sampled or not, so the loop's
    length is the clip's, not that of its last sampled frame.
    """

    def __init__(self, offset: float, hold: float, keep: Keep) -> None:
        self.offset, self.hold, self.keep = offset, hold, keep
        self.last_t, self.count = 0.0, 0

    def wanted(self, t: float) -> bool:
        self.last_t, self.count = t, self.count + 1
        # A frame past the hold is let through only so that decoding stops there.
        return t + self.offset >= self.hold or self.keep(t + self.offset)

    def length(self) -> float:
        """Where the next loop starts: one frame interval after the last frame (as FileSource --loop)."""
        return self.last_t + (self.last_t / (self.count - 1) if self.count > 1 else 0.2)


def _held(segment: Segment, keep: Keep, max_pixels: int) -> Iterator[tuple[float, Frame]]:
    """The clip's frames with times in [0, hold), looping it as often as needed."""
    offset = 0.0
    while offset < segment.hold:
        clip_pass = _Pass(offset, segment.hold, keep)
        for frame in read_video(segment.path, clip_pass.wanted, max_pixels, warn_short=offset == 0):
            t = frame.t + offset
            if t >= segment.hold:
                return
            yield t, frame
        offset += clip_pass.length()
