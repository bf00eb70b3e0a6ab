"""Read what a run recorded: a `run --log` log (with its rotated files) or `--json` output.

The reader accepts the log's records (`type`: start, step, event, gap, stop) and the
plain step objects that `classify --json` and `run --json` print. Lines that are not
JSON (the torn last line of a killed run) are skipped and counted; a file whose first
line is not a record is refused.

Several runs or files in one input become consecutive segments of one time axis `x`:
stream time restarts at 0 in each, so each segment is placed after the previous one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import AppError
from app.events import Event, EventDetector
from app.inference.labels import Scored

RECORD_TYPES = ("start", "step", "event", "gap", "stop")
DEFAULT_STEP_S = 0.2  # spacing assumed between segments when a segment has a single step


@dataclass(frozen=True)
class Step:
    x: float  # position on the timeline, seconds
    t: float  # stream time
    source: str
    top: list[Scored]


@dataclass(frozen=True)
class Span:
    """One action event; `end` is None if it was still going when the input ends."""

    label: str
    start: float  # stream time
    end: float | None
    peak: float
    source: str
    start_wall: float | None
    x0: float  # on the timeline
    x1: float

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass
class Timeline:
    name: str
    files: list[Path]
    steps: list[Step] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    segments: list[tuple[float, str]] = field(default_factory=list)  # (x where it begins, source)
    skipped: int = 0  # unreadable lines
    lost: int = 0  # records the app could not write (disk full), from its gap records


def log_files(path: str | Path) -> list[Path]:
    """LOG and its rotated files LOG.1, LOG.2, ..., oldest first."""
    path = Path(path)
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)")
    rotated = []
    if path.parent.is_dir():
        rotated = [(int(m[1]), p) for p in path.parent.iterdir() if (m := pattern.fullmatch(p.name))]
    files = [p for _, p in sorted(rotated, reverse=True)]
    if path.is_file():
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


def read_records(files: list[Path]) -> tuple[list[dict[str, Any]], int]:
    """Every record of the files in order, and how many unreadable lines were skipped."""
    records: list[dict[str, Any]] = []
    skipped = 0
    for path in files:
        for record in _lines(path):
            # A torn line can only follow a whole record: one that comes first means another kind of file.
            if record is None and not (records or skipped):
                raise AppError(f"{path} is not a log of `python -m app run --log` nor the output of `--json`")
            if record is None:
                skipped += 1
            else:
                records.append(record)
    if not records:
        raise AppError(f"{files[-1]} is empty: no records to read")
    return records, skipped


def _lines(path: Path) -> Iterator[dict[str, Any] | None]:
    """Each non-blank line as a record, or None if it is not one."""
    try:
        with path.open("rb") as file:
            for raw in file:
                if not raw.strip():
                    continue
                try:
                    value = json.loads(raw)
                except ValueError:  # also UnicodeDecodeError: a binary file
                    value = None
                yield value if is_record(value) else None
    except OSError as exc:
        raise AppError(f"cannot read {path}: {exc.strerror}") from None


def read_timeline(path: str | Path, detector: EventDetector | None = None) -> Timeline:
    """Steps and events of a log or --json output.

    Events are the log's own event records; with a `detector`, or for --json output which
    has none, they are worked out from the steps instead.
    """
    files = log_files(path)
    records, skipped = read_records(files)
    timeline = Timeline(Path(path).name, files, skipped=skipped)
    if detector is None and not any("type" in r for r in records):  # --json output: no event records
        detector = EventDetector()
    _Builder(timeline, detector).feed(records)
    return timeline


class _Builder:
    """Lays records out on one time axis, segment by segment, and collects the events."""

    def __init__(self, timeline: Timeline, detector: EventDetector | None) -> None:
        self.timeline = timeline
        self.detector = detector
        self.x0 = 0.0  # where the current segment begins on the axis
        self.t0 = 0.0  # the stream time of its first step
        self.last: Step | None = None
        self.interval = DEFAULT_STEP_S
        self.new_run = True
        self.source = ""
        # Logged start events still without an end: label -> (start, peak, start_wall, source).
        self.started: dict[str, tuple[float, float, float | None, str]] = {}

    def x(self, t: float) -> float:
        return self.x0 + max(0.0, t - self.t0)

    def feed(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            kind = record.get("type", "step")
            if kind == "start":  # a new run of the app
                self.end_segment()
                self.new_run = True
                self.source = str(record.get("source", ""))
            elif kind == "step":
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
        elif t > last.t:
            self.interval = t - last.t
        step = Step(self.x(t), t, source, top)
        self.timeline.steps.append(step)
        self.last = step
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
        for label, (start, peak, wall, source) in self.started.items():
            self.add(label, start, None, peak, wall, source)
        self.started.clear()

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
        if end is None:
            self.started[label] = (start, peak, wall, source)
        else:
            self.started.pop(label, None)
            self.add(label, start, end, peak, wall, source)

    def add(self, label: str, start: float, end: float | None, peak: float, wall: float | None, source: str) -> None:
        # An event still open when the input ends is drawn up to the last step.
        x1 = self.x(end) if end is not None else (self.last.x if self.last else self.x(start))
        self.timeline.spans.append(Span(label, start, end, peak, source, wall, self.x(start), x1))
