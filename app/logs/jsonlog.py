"""The JSON Lines log of a run: start, step, event, gap and stop records, one a line.

Written through a RotatingFile (rotating.py), which makes each record durable and
survives a full disk; events are synced at once, steps at most once a second.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.events import Event, EventDetector, picture_name
from app.logs.rotating import RotatingFile

if TYPE_CHECKING:
    from app.results import Result


def iso_time(wall: float) -> str:
    """Local wall-clock time with its UTC offset, for people reading the log."""
    return datetime.fromtimestamp(wall).astimezone().isoformat(timespec="milliseconds")


def json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


LEVELS = ("steps", "events")


class JsonLog:
    """The JSON Lines log of a run: start, steps, events, gaps and stop records."""

    def __init__(
        self,
        path: str | os.PathLike,
        detector: EventDetector,
        *,
        level: str = "steps",
        max_bytes: int | None = None,
        keep: int = 5,
        run_info: dict[str, Any] | None = None,
        pictures: Path | None = None,
    ) -> None:
        self.detector = detector
        # Event records name their picture relative to the log's folder when it is inside it
        # (`pictures/ID.jpg`), so a log copied off the Pi with its folder still finds them.
        self.pictures = pictures
        if pictures is not None:
            beside = os.path.abspath(pictures).startswith(os.path.abspath(Path(path).parent) + os.sep)
            self.pictures = Path(os.path.relpath(pictures, Path(path).parent)) if beside else pictures
            run_info = {**(run_info or {}), "pictures": str(self.pictures)}
        self.with_steps = level == "steps"
        self.steps = 0
        self.source: str | None = None
        self.file = RotatingFile(path, max_bytes, keep, what="log", gap_record=self._gap)
        self._write({"type": "start", "level": level, **(run_info or {})}, time.time(), sync=True)

    def on_result(self, result: Result) -> None:
        self.steps += 1
        self.source = result.source
        # Events first: one that a stream reset ends belongs before the new stream's first step.
        for event in self.detector.update(result.t, result.wall, result.top, result.reset):
            self._event(event)
        if self.with_steps:
            self._write({"type": "step", **result.as_json()}, result.wall)

    def close(self) -> None:
        """Flush the action still in progress as an event, then a stop record."""
        for event in self.detector.close():
            self._event(event)
        self._write({"type": "stop", "steps": self.steps, "lost": self.file.lost}, time.time(), sync=True)
        self.file.close()

    def _event(self, event: Event) -> None:
        wall = event.start_wall if event.end_wall is None else event.end_wall
        # Rare, and the point of the log: on disk at once.
        picture = {"picture": str(self.pictures / picture_name(event.id))} if self.pictures is not None else {}
        self._write({"type": "event", **event.as_json(), **picture, "source": self.source}, wall, sync=True)

    def _write(self, record: dict[str, Any], wall: float, sync: bool = False) -> None:
        wall = round(wall, 3)  # "time" and "wall" say the same millisecond
        line = {"type": record["type"], "time": iso_time(wall), "wall": wall, **record}
        self.file.write(json_line(line), sync=sync)

    @staticmethod
    def _gap(lost: int) -> str:
        now = round(time.time(), 3)
        return json_line({"type": "gap", "time": iso_time(now), "wall": now, "lost": lost})
