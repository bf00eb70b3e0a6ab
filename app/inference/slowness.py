"""Whether the model is too slow for the frame rate asked for, judged by its own time per step.

The rate of results is no measure of the model: it also counts time the model spent
waiting for frames (a network camera back after an outage, a stalled source), which
made a fast model look slow. A step that takes longer than 1/fps is what cannot keep
up. The warning fires when the median of the last WINDOW steps would allow less than
WARN_FRACTION of the target rate, and is re-armed once the model keeps up again, so a
later slowdown (a hot Pi throttling, another program taking the CPU) is reported too.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque

log = logging.getLogger(__name__)

WINDOW = 10  # steps
WARN_FRACTION = 0.9  # of the target rate


class SlownessWatch:
    """Fed each step's model time; logs a warning when too slow, a note when back in time."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.warned = False
        self._times_ms: deque[float] = deque(maxlen=WINDOW)

    def observe(self, model_ms: float) -> None:
        self._times_ms.append(model_ms)
        if len(self._times_ms) < WINDOW:
            return
        typical_ms = statistics.median(self._times_ms)
        reachable = 1000.0 / typical_ms if typical_ms > 0 else float("inf")
        if not self.warned and reachable < WARN_FRACTION * self.fps:
            self.warned = True
            log.warning(
                "the model takes %.0f ms a step, so it reaches %.1f steps/s, below the %g fps target: "
                "try a smaller model, more --threads, or a lower --fps",
                typical_ms,
                reachable,
                self.fps,
            )
        elif self.warned and reachable >= self.fps:
            self.warned = False
            log.info("the model keeps up with %g fps again (%.0f ms a step)", self.fps, typical_ms)
