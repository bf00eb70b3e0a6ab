"""Classify a video file: decode, sample to the model rate, preprocess, stream."""

from __future__ import annotations

import os
from collections.abc import Iterator

from app.inference.engine import StreamingClassifier
from app.inference.labels import TopK
from app.inference.preprocess import Preprocessor
from app.inference.sampling import RateSampler
from app.results import StepResult
from app.sources.files import DEFAULT_MAX_PIXELS, read_video


def classify_video(
    classifier: StreamingClassifier,
    path: str | os.PathLike,
    top_k: TopK,
    fps: float,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[StepResult]:
    """Stream one file through the model from a fresh state; one result per model step."""
    classifier.reset()
    sampler = RateSampler(fps)
    preprocess = Preprocessor(*classifier.input_size)
    for frame in read_video(path, sampler.accept, max_pixels):
        logits = classifier.step(preprocess(frame.image, frame.order))
        yield StepResult(frame.index, frame.t, top_k(logits), logits)
