"""Classify a video file: decode, sample to the model rate, preprocess, stream."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from app.inference.engine import StreamingClassifier
from app.inference.labels import Scored, TopK
from app.inference.preprocess import Preprocessor
from app.inference.sampling import RateSampler
from app.sources.files import read_video


@dataclass(frozen=True)
class StepResult:
    """What the model said after one sampled frame."""

    frame: int  # index of the frame in the source
    t: float  # its timestamp, seconds
    top: list[Scored]
    logits: np.ndarray

    def as_json(self) -> dict[str, object]:
        return {"frame": self.frame, "t": round(self.t, 4), "top": [s.as_dict() for s in self.top]}


def classify_video(
    classifier: StreamingClassifier, path: str | os.PathLike, top_k: TopK, fps: float
) -> Iterator[StepResult]:
    """Stream one file through the model from a fresh state; one result per model step."""
    classifier.reset()
    sampler = RateSampler(fps)
    preprocess = Preprocessor(*classifier.input_size)
    for frame in read_video(path, sampler.accept):
        logits = classifier.step(preprocess(frame.image, frame.order))
        yield StepResult(frame.index, frame.t, top_k(logits), logits)
