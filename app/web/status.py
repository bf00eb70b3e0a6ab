"""What the web view reports: the newest result, the labels shown, health and the Pi's state.

`on_result` (a pipeline result listener, inference thread) only stores the result and
wakes the event streams; the JSON is built when a viewer asks for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.overlay import LiveOverlay
from app.results import Result
from app.sysinfo import SystemInfo


@dataclass(frozen=True)
class RunInfo:
    """What does not change during a run."""

    model: str
    runtime: str
    threads: int
    source: str
    fps: float  # the model rate asked for


@dataclass(frozen=True)
class Health:
    state: str  # "ok", "starting" or "stalled"
    detail: str

    @property
    def ok(self) -> bool:
        return self.state == "ok"


class LiveStatus:
    """The newest result and when it came; stalled once none came for `stale_after` seconds."""

    def __init__(
        self,
        overlay: LiveOverlay,
        run: RunInfo,
        stale_after: float,
        system: SystemInfo | None = None,
        viewers: Callable[[], int] = lambda: 0,
        encode_ms: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.overlay = overlay
        self.run = run
        self.stale_after = stale_after
        self.system = system or SystemInfo()
        self._viewers = viewers
        self._encode_ms = encode_ms
        self._started = time.monotonic()
        self._condition = threading.Condition()
        self._result: Result | None = None
        self._result_at = 0.0
        self._version = 0

    def on_result(self, result: Result) -> None:
        """Pipeline result listener, after the overlay's (the labels shown are then current)."""
        with self._condition:
            self._result, self._result_at = result, time.monotonic()
            self._version += 1
            self._condition.notify_all()

    def wait(self, after: int, timeout: float) -> int:
        """Wait up to `timeout` for a result newer than number `after`; the newest number."""
        with self._condition:
            self._condition.wait_for(lambda: self._version > after, timeout)
            return self._version

    def health(self) -> Health:
        with self._condition:
            result, age = self._result, time.monotonic() - self._result_at
        if result is None:
            return Health("starting", "no result yet")
        if age > self.stale_after:
            return Health("stalled", f"no result for {age:.1f} s")
        return Health("ok", f"last result {age:.1f} s ago")

    def as_json(self) -> dict[str, Any]:
        with self._condition:
            result, result_at = self._result, self._result_at
        health = self.health()
        now = time.monotonic()
        return {
            "state": health.state,
            "detail": health.detail,
            "model": self.run.model,
            "runtime": self.run.runtime,
            "threads": self.run.threads,
            "source": self.run.source,
            "target_fps": self.run.fps,
            "top": [s.as_dict() for s in self.overlay.view.top],  # as shown: smoothed, leader held
            "result": result.as_json() if result is not None else None,  # the model's own, as --json prints
            "result_age_s": round(now - result_at, 2) if result is not None else None,
            "uptime_s": round(now - self._started, 1),
            "viewers": self._viewers(),
            "jpeg_ms": round(self._encode_ms(), 2),
            **self.system.read(),
        }
