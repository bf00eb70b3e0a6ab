"""Label maps, softmax and top-k with allow/deny lists and a score threshold."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.errors import AppError, OptionError
from app.input_files import UnreadableFile, clipped, read_small_text

#: Kinetics-600's map is 9 KB; a label map a thousand times that is not one.
MAX_LABEL_FILE_BYTES = 10 << 20


@dataclass(frozen=True)
class Scored:
    label: str
    score: float

    def as_dict(self) -> dict[str, object]:
        return {"label": self.label, "score": round(self.score, 6)}


def load_labels(path: str | os.PathLike, num_classes: int | None = None) -> list[str]:
    """One class name a line, in logit order; checked against the model's class count."""
    path = Path(path)
    try:
        text = read_small_text(path, "label file", MAX_LABEL_FILE_BYTES)
    except UnreadableFile as exc:
        if exc.missing:
            raise AppError(f"label file not found: {path}") from None
        raise
    labels = [line.strip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    if not labels:
        raise AppError(f"label file {path} is empty")
    if num_classes is not None and len(labels) != num_classes:
        raise AppError(
            f"label file {path} has {len(labels)} labels but the model has {num_classes} classes: "
            "pass the label map that belongs to this model with --labels"
        )
    return labels


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits; shifting by the max keeps exp() from overflowing."""
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits)
    exp = np.exp(shifted)
    return exp / exp.sum()


class TopK:
    """Picks the k best labels from logits, honouring allow/deny lists and a threshold.

    Probabilities are always over all classes, so a score means the same with or
    without a filter; the lists only decide which labels may be reported.

    `unsure`: (label, p): when no candidate reaches probability p, that label (a taught
    set's "other") comes first, scored 1 - the best candidate's probability.
    """

    def __init__(
        self,
        labels: list[str],
        k: int = 5,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        threshold: float = 0.0,
        unsure: tuple[str, float] | None = None,
    ) -> None:
        if k < 1:
            raise AppError(f"top-k must be at least 1, got {k}")
        if not 0.0 <= threshold <= 1.0:
            raise AppError(f"threshold must be between 0 and 1, got {threshold}")
        index = {label: i for i, label in enumerate(labels)}
        allow, deny = list(allow), list(deny)
        for option, names in (("allow", allow), ("deny", deny)):
            unknown = [name for name in names if name not in index]
            if unknown:  # named by its option, so a config file's key and line are shown
                shown = ", ".join(repr(clipped(name)) for name in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
                raise OptionError(option, f"has unknown label(s), not in the label map: {shown}")
        mask = np.zeros(len(labels), bool) if allow else np.ones(len(labels), bool)
        mask[[index[name] for name in allow]] = True
        mask[[index[name] for name in deny]] = False
        self.labels = labels
        self.k = k
        self.threshold = threshold
        self._candidates = np.flatnonzero(mask)
        # A denied (or not allowed) "other" is never put first either.
        self.unsure = unsure if unsure is not None and index.get(unsure[0], -1) in self._candidates else None

    def __call__(self, logits: np.ndarray) -> list[Scored]:
        probabilities = softmax(logits)[self._candidates]
        k = min(self.k, probabilities.size)
        if k == 0:
            return []
        best = np.argpartition(-probabilities, k - 1)[:k]
        best = best[np.argsort(-probabilities[best], kind="stable")]
        top = [Scored(self.labels[self._candidates[i]], float(probabilities[i])) for i in best]
        if self.unsure is not None and top[0].score < self.unsure[1]:
            label = self.unsure[0]
            top = [Scored(label, 1.0 - top[0].score), *(s for s in top if s.label != label)][: self.k]
        return [s for s in top if s.score >= self.threshold]
