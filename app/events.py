"""Action events: when the recognised action starts and ends, with hysteresis.

Per-step scores are noisy, and a streaming model can put one wrong label at the top for
a single frame (the basketball clip opens with "fencing" at 0.98). An action therefore
starts only after it has been top-1 with a score >= `start` for `min_steps` steps in a
row, and ends only after its score has stayed below `end` (< `start`) for `min_steps`
steps, or when another action has started. Times are stream times: an event starts at
the first step of its run and ends at the last step that still held it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app.errors import OptionError
from app.inference.labels import Scored

DEFAULT_START = 0.5
DEFAULT_END = 0.3
DEFAULT_MIN_STEPS = 2  # 0.4 s at 5 steps/s: long enough to ignore one noisy frame


@dataclass(frozen=True)
class Event:
    """An action started (`end` is None) or ended."""

    kind: str  # "start" or "end"
    label: str
    start: float  # stream time of the first step of the action
    start_wall: float
    peak: float  # highest score of the action so far
    end: float | None = None  # stream time of the last step that held the action
    end_wall: float | None = None
    reason: str | None = None  # why it ended: replaced, faded, reset, stopped

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    @property
    def id(self) -> str:
        """Names the action's start and end alike, e.g. 20261129-071203-412-push-up.

        Made from the start's wall-clock time and the label only, so every output that
        detects events from the same results (log, MQTT, event pictures) names an event
        the same way without asking each other; it is also the event picture's file name.
        """
        return event_id(self.start_wall, self.label)

    def as_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "event": self.kind,
            "id": self.id,
            "label": self.label,
            "start": round(self.start, 4),
            "start_wall": round(self.start_wall, 3),
            "peak": round(self.peak, 6),
        }
        if self.end is not None:  # the record's own wall-clock time is the end's
            record.update(end=round(self.end, 4), duration=round(self.end - self.start, 4), reason=self.reason)
        return record


EVENT_SLUG_MAX = 80  # the label's part of an id, which also names a picture file (255 bytes at most)


def event_id(start_wall: float, label: str) -> str:
    moment = datetime.fromtimestamp(start_wall)
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:EVENT_SLUG_MAX].strip("-") or "action"
    return f"{moment:%Y%m%d-%H%M%S}-{moment.microsecond // 1000:03d}-{slug}"


def picture_name(event_id: str) -> str:
    """The file name of an event's picture (in the event pictures' folder)."""
    return f"{event_id}.jpg"


@dataclass
class _Run:
    """An action held over consecutive steps: the open event, or a candidate for one."""

    label: str
    start: float
    start_wall: float
    last: float
    last_wall: float
    peak: float
    steps: int = 1

    def add(self, t: float, wall: float, score: float) -> None:
        self.last, self.last_wall = t, wall
        self.peak = max(self.peak, score)
        self.steps += 1

    def started(self) -> Event:
        return Event("start", self.label, self.start, self.start_wall, self.peak)

    def ended(self, reason: str) -> Event:
        return Event("end", self.label, self.start, self.start_wall, self.peak, self.last, self.last_wall, reason)


@dataclass(frozen=True)
class EventThresholds:
    """When an action starts and ends: what each output that reports events builds its own detector from."""

    start: float = DEFAULT_START
    end: float = DEFAULT_END
    min_steps: int = DEFAULT_MIN_STEPS

    def __post_init__(self) -> None:
        self.detector()  # OptionError names a bad value now, before anything is opened

    def detector(self) -> EventDetector:
        """A detector of its own: each follows the run's results separately."""
        return EventDetector(self.start, self.end, self.min_steps)


class EventDetector:
    """Turns a stream of top-k results into start/end events of the top action."""

    def __init__(
        self, start: float = DEFAULT_START, end: float = DEFAULT_END, min_steps: int = DEFAULT_MIN_STEPS
    ) -> None:
        if not 0.0 < start <= 1.0:
            raise OptionError("event_start", f"must be above 0 and at most 1, got {start:g}")
        if not 0.0 <= end < start:
            raise OptionError("event_end", f"must be at least 0 and below the event start ({start:g}), got {end:g}")
        if min_steps < 1:
            raise OptionError("event_min_steps", f"must be at least 1, got {min_steps}")
        self.start = start
        self.end = end
        self.min_steps = min_steps
        self._open: _Run | None = None
        self._below = 0  # consecutive steps the open action scored below `end`
        self._candidate: _Run | None = None
        self._displaced: _Run | None = None  # the open action as it was just before the candidate

    @property
    def current(self) -> str | None:
        """The label of the action in progress, if any."""
        return self._open.label if self._open else None

    def update(self, t: float, wall: float, top: Sequence[Scored], reset: bool = False) -> list[Event]:
        """Feed one step (labels in any order); returns the events it completes, ends first."""
        events: list[Event] = []
        if reset:  # a new stream: what was seen before says nothing about what comes next
            events += self.close("reset")
        scores = {s.label: s.score for s in top}
        before = replace(self._open) if self._open else None  # the open action as of the last step
        if self._open is not None:
            score = scores.get(self._open.label, 0.0)  # outside the top-k counts as low
            if score >= self.end:
                self._open.add(t, wall, score)
                self._below = 0
            else:
                self._below += 1
                if self._below >= self.min_steps:
                    events.append(self._open.ended("faded"))
                    self._open = None
        best = max(top, key=lambda s: s.score, default=None)
        if best is None or best.score < self.start or (self._open and best.label == self._open.label):
            self._candidate = None
            return events
        if self._candidate is not None and self._candidate.label == best.label:
            self._candidate.add(t, wall, best.score)
        else:
            self._candidate = _Run(best.label, t, wall, t, wall, best.score)
            self._displaced = before  # if the candidate wins, the open action ends where it begins
        if self._candidate.steps >= self.min_steps:
            if self._open is not None and self._displaced is not None:
                events.append(self._displaced.ended("replaced"))
            self._open, self._candidate, self._below = self._candidate, None, 0
            events.append(self._open.started())
        return events

    def close(self, reason: str = "stopped") -> list[Event]:
        """End the action in progress (at shutdown or a stream reset)."""
        self._candidate = None
        if self._open is None:
            return []
        event = self._open.ended(reason)
        self._open = None
        self._below = 0
        return [event]
