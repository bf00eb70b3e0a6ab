"""Each action's score per time interval, gathered step by step in bounded memory.

`plot` feeds it every step of a log in one pass. The timeline is cut into at most
MAX_BINS intervals; when a step lands beyond the last one, the interval doubles and
neighbouring intervals merge, so a 4-second clip keeps every step (one per interval)
while a week-long log becomes a thousand averages, in the same few megabytes.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from app.logs.read import Step

MAX_BINS = 1024  # about one per pixel of a chart
MAX_LABELS = 1000  # Kinetics has 600; any further labels only count towards "other"
FIRST_WIDTH_S = 0.05  # a quarter of a step at 5 fps: a short log keeps every step apart


class ScoreSeries:
    """Sums per interval: steps, their positions, each label's scores and all scores."""

    def __init__(self, max_bins: int = MAX_BINS, width: float = FIRST_WIDTH_S) -> None:
        self.width = width
        self.steps = np.zeros(max_bins)
        self.x_sums = np.zeros(max_bins)
        self.all_scores = np.zeros(max_bins)  # every label's, for the "other" line
        self.starts = np.zeros(max_bins, dtype=bool)  # a new run or file begins in this interval
        self.scores: dict[str, np.ndarray] = {}
        self.area: dict[str, float] = defaultdict(float)  # score x steps over the whole log
        # The interval steps are arriving in, summed in plain Python (numpy's per-item
        # updates cost more than the sums) and added to the arrays when they move on.
        self._index = 0
        self._steps = 0
        self._x_sum = 0.0
        self._first = False
        self._scores: dict[str, float] = defaultdict(float)

    def add(self, step: Step) -> None:
        index = int(step.x / self.width)
        if index != self._index:
            self._flush()
            while index >= len(self.steps):
                self._coarsen()
                index = int(step.x / self.width)
            self._index = index
        self._steps += 1
        self._x_sum += step.x
        self._first |= step.first
        for scored in step.top:
            self._scores[scored.label] += scored.score

    def _flush(self) -> None:
        index = self._index
        self.steps[index] += self._steps
        self.x_sums[index] += self._x_sum
        self.starts[index] |= self._first
        for label, score in self._scores.items():
            self.all_scores[index] += score
            self.area[label] += score
            series = self.scores.get(label)
            if series is None:
                if len(self.scores) >= MAX_LABELS:
                    continue
                series = self.scores[label] = np.zeros(len(self.steps), dtype=np.float32)
            series[index] += score
        self._steps, self._x_sum, self._first = 0, 0.0, False
        self._scores.clear()

    def _coarsen(self) -> None:
        """Twice as long intervals: each pair of neighbours becomes one."""
        self._index //= 2
        self.width *= 2
        for array in (self.steps, self.x_sums, self.all_scores, *self.scores.values()):
            half = len(array) // 2
            array[:half] = array[0::2] + array[1::2]
            array[half:] = 0
        half = len(self.starts) // 2
        self.starts[:half] = self.starts[0::2] | self.starts[1::2]
        self.starts[half:] = False

    def filled(self) -> np.ndarray:
        """Indices of the intervals holding steps (call once every step is in)."""
        self._flush()
        return np.flatnonzero(self.steps)

    def mean_x(self, filled: np.ndarray) -> np.ndarray:
        return self.x_sums[filled] / self.steps[filled]

    def mean(self, label: str, filled: np.ndarray) -> np.ndarray:
        """The label's mean score in each interval (0 where it was outside the top-k)."""
        series = self.scores.get(label)
        return np.zeros(len(filled)) if series is None else series[filled] / self.steps[filled]

    def others_mean(self, labels: list[str], filled: np.ndarray) -> np.ndarray:
        """What the reported top-k gave all other actions together, per interval."""
        rest = self.all_scores[filled].copy()
        for label in labels:
            if label in self.scores:
                rest -= self.scores[label][filled]
        return np.clip(rest / self.steps[filled], 0.0, 1.0)
