"""Read what a run recorded: a `run --log` log (with its rotated files) or `--json` output.

The reader accepts the log's records (`type`: start, step, event, gap, stop) and the
plain step objects that `classify --json` and `run --json` print. Lines that are not
JSON (the torn last line of a killed run) are skipped and counted; a file whose first
line is not a record is refused.

Several runs or files in one input become consecutive segments of one time axis `x`:
stream time restarts at 0 in each, so each segment is placed after the previous one.

It is one streaming pass in bounded memory: steps are handed to a callback as they are
read and never kept (a 7-hour log holds 126,000 of them), only the events are.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import AppError
from app.events import Event, EventDetector
from app.inference.labels import Scored
from app.input_files import regular_file

RECORD_TYPES = ("start", "step", "event", "gap", "stop")
DEFAULT_STEP_S = 0.2  # spacing assumed between segments when a segment has a single step


@dataclass(frozen=True)
class Step:
    x: float  # position on the timeline, seconds
    t: float  # stream time
    source: str
    top: list[Scored]
    first: bool = False  # the first step of a segment (a new run or file)


@dataclass(frozen=True)
class Span:
    """One action event. `open`: still going when its run's records end (the app was
    killed), and `end` is then the time of the run's last record."""

    label: str
    start: float  # stream time
    end: float
    peak: float
    source: str
    start_wall: float | None
    x0: float  # on the timeline
    x1: float
    open: bool = False
    picture: str | None = None  # the event picture, as the log names it (relative to the log's folder)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Timeline:
    name: str
    files: list[Path]
    steps: int = 0  # how many were read (each went to the callback)
    end_x: float = 0.0  # the last step's place on the axis
    spans: list[Span] = field(default_factory=list)
    segments: list[tuple[float, str]] = field(default_factory=list)  # (x where it begins, source)
    skipped: int = 0  # unreadable lines
    lost: int = 0  # records the app could not write (disk full), from its gap records


def log_files(path: str | Path) -> list[Path]:
    """LOG and its rotated files LOG.1, LOG.2, ..., oldest first."""
    path = Path(path)
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)")
    rotated = []
    if os.path.isdir(path.parent):
        rotated = [(int(m[1]), p) for p in path.parent.iterdir() if (m := pattern.fullmatch(p.name))]
    # Each checked as the log is: a FIFO named like a rotated file blocked plot and summary for good.
    files = [p for _, p in sorted(rotated, reverse=True) if regular_file(p, "rotated log")]
    if regular_file(path, "log"):  # a name too long, a folder or a FIFO: one line, not a traceback
        files.append(path)
    if not files:
        raise AppError(f"log not found: {path}")
    return files


def is_record(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if "type" in value:
        return value["type"] in RECORD_TYPES
    return isinstance(value.get("t"), int | float) and isinstance(value.get("top"), list)


def read_records(files: list[Path], timeline: Timeline) -> Iterator[dict[str, Any]]:
    """Every record of the files in order; unreadable lines are counted in `timeline.skipped`."""
    seen = False
    for path in files:
        for record in _lines(path):
            # A torn line can only follow a whole record: one that comes first means another kind of file.
            if record is None and not (seen or timeline.skipped):
                raise AppError(f"{path} is not a log of `python -m app run --log` nor the output of `--json`")
            if record is None:
                timeline.skipped += 1
            else:
                seen = True
                yield record
    if not seen:
        raise AppError(f"{files[-1]} is empty: no records to read")


def _lines(path: Path) -> Iterator[dict[str, Any] | None]:
    """Each non-blank line as a record, or None if it is not one."""
    try:
        with path.open("rb") as file:
            for raw in file:
                if not raw.strip():
                    continue
                try:
                    value = json.loads(raw.decode("utf-8"))  # str: json skips guessing the encoding
                except ValueError:  # also UnicodeDecodeError: a binary file
                    value = None
                yield value if is_record(value) else None
    except OSError as exc:
        raise AppError(f"cannot read {path}: {exc.strerror}") from None


def read_timeline(
    path: str | Path, detector: EventDetector | None = None, on_step: Callable[[Step], None] | None = None
) -> Timeline:
    """Events of a log or --json output, each step handed to `on_step` as it is read.

    Events are the log's own event records; with a `detector`, or for --json output which
    has none, they are worked out from the steps instead.
    """
    files = log_files(path)
    timeline = Timeline(Path(path).name, files)
    records = read_records(files, timeline)
    first = next(records)
    if detector is None and "type" not in first:  # --json output: no event records
        detector = EventDetector()
    _Builder(timeline, detector, on_step).feed(itertools.chain([first], records))
    return timeline


class _Builder:
    """Lays records out on one time axis, segment by segment, and collects the events."""

    def __init__(
        self, timeline: Timeline, detector: EventDetector | None, on_step: Callable[[Step], None] | None
    ) -> None:
        self.timeline = timeline
        self.detector = detector
        self.on_step = on_step
        self.x0 = 0.0  # where the current segment begins on the axis
        self.t0 = 0.0  # the stream time of its first step
        self.last: Step | None = None
        self.interval = DEFAULT_STEP_S
        self.new_run = True
        self.source = ""
        # Logged start events still without an end: label -> (start, peak, start_wall, source).
        self.started: dict[str, tuple[float, float, float | None, str, str | None]] = {}
        # The run's last record: an event still open at its end lasted until then.
        self.last_t: float | None = None  # stream time, from steps and event records
        self.last_wall: float | None = None

    def x(self, t: float) -> float:
        return self.x0 + max(0.0, t - self.t0)

    def feed(self, records: Iterator[dict[str, Any]]) -> None:
        for record in records:
            kind = record.get("type", "step")
            if kind == "start":  # a new run of the app
                self.end_segment()
                self.new_run = True
                self.last_t = None
                self.source = str(record.get("source", ""))
            wall = record.get("wall")
            self.last_wall = float(wall) if isinstance(wall, int | float) else self.last_wall
            if kind == "step":
                self.step(record)
            elif kind == "event" and self.detector is None:
                self.logged_event(record)
            elif kind == "gap" and isinstance(record.get("lost"), int):
                self.timeline.lost += record["lost"]
        self.end_segment()

    def step(self, record: dict[str, Any]) -> None:
        try:
            top = [Scored(str(s["label"]), float(s["score"])) for s in record["top"]]
            t = float(record["t"])
        except (KeyError, TypeError, ValueError):
            self.timeline.skipped += 1
            return
        source = str(record.get("source") or record.get("file") or self.source)
        last = self.last
        if self.new_run or last is None or source != last.source or t < last.t:
            self.end_segment()
            self.x0 = last.x + self.interval if last else 0.0
            self.t0 = t
            self.timeline.segments.append((self.x0, source))
            self.new_run = False
            first = True
        else:
            first = False
            if t > last.t:
                self.interval = t - last.t
        step = Step(self.x(t), t, source, top, first)
        self.timeline.steps += 1
        self.timeline.end_x = step.x
        self.last = step
        self.last_t = t
        if self.on_step is not None:
            self.on_step(step)
        if self.detector is not None:
            wall = record.get("wall")
            wall = float(wall) if isinstance(wall, int | float) else 0.0
            for event in self.detector.update(t, wall, top, bool(record.get("reset"))):
                self.detected(event)

    def end_segment(self) -> None:
        """Close what is still open when a segment ends: detected events, unfinished logged ones."""
        if self.detector is not None:
            for event in self.detector.close():
                self.detected(event)
        for label, (start, peak, wall, source, picture) in self.started.items():
            self.add(label, start, self.open_until(start, wall), peak, wall, source, still_open=True, picture=picture)
        self.started.clear()

    def open_until(self, start: float, start_wall: float | None) -> float:
        """Where an event still open at a run's end stops: the run's last record."""
        if self.last_t is not None and self.last_t > start:
            return self.last_t
        if isinstance(start_wall, int | float) and self.last_wall is not None:  # an events-only log
            return start + max(0.0, self.last_wall - start_wall)
        return start

    def detected(self, event: Event) -> None:
        if event.kind == "end":
            source = self.last.source if self.last else self.source
            self.add(event.label, event.start, event.end, event.peak, event.start_wall or None, source)

    def logged_event(self, record: dict[str, Any]) -> None:
        try:
            label, start, peak = str(record["label"]), float(record["start"]), float(record["peak"])
            end = float(record["end"]) if record["event"] == "end" else None
        except (KeyError, TypeError, ValueError):
            self.timeline.skipped += 1
            return
        wall, source = record.get("start_wall"), str(record.get("source") or self.source)
        picture = record.get("picture") if isinstance(record.get("picture"), str) else None
        self.last_t = max(self.last_t or 0.0, start if end is None else end)
        if end is None:
            self.started[label] = (start, peak, wall, source, picture)
        else:
            self.started.pop(label, None)
            self.add(label, start, end, peak, wall, source, picture=picture)

    def add(
        self,
        label: str,
        start: float,
        end: float,
        peak: float,
        wall: float | None,
        source: str,
        still_open: bool = False,
        picture: str | None = None,
    ) -> None:
        span = Span(label, start, end, peak, source, wall, self.x(start), self.x(end), still_open, picture)
        self.timeline.spans.append(span)
