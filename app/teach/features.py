"""An example's features: the pooled feature after every model step, and a thumbnail.

The whole trajectory is kept, not only the clip's last feature: the feature after step
k is what a live stream restarted k steps ago has seen, so `teach fit` gets the short
windows a live run reads (its streams restart every few seconds) for free.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from app.errors import AppError
from app.inference.engine import StreamingClassifier
from app.inference.preprocess import Preprocessor
from app.inference.sampling import RateSampler
from app.sources.base import Frame
from app.sources.files import DEFAULT_MAX_PIXELS, read_video

MIN_STEPS = 5  # one second at 5 fps: less is no action
THUMBNAIL_WIDTH = 160


@dataclass
class Features:
    trajectory: np.ndarray  # steps x features, float32
    thumbnail: bytes  # JPEG
    start: float  # seconds into the source of the first frame used
    end: float  # of the last


def features_of_frames(classifier: StreamingClassifier, frames: Iterable[Frame], fps: float, where: str) -> Features:
    """Stream already-read frames (any rate: sampled here to `fps`) from a fresh state."""
    classifier.reset()
    sampler = RateSampler(fps)
    preprocess = Preprocessor(*classifier.input_size)
    trajectory: list[np.ndarray] = []
    used: list[Frame] = []
    for frame in frames:
        if not sampler.accept(frame.t):
            continue
        classifier.step(preprocess(frame.image, frame.order))
        trajectory.append(classifier.pool_feature().copy())
        used.append(frame)
    if len(trajectory) < MIN_STEPS:
        seconds = f"{used[-1].t - used[0].t + 1 / fps:.1f} s" if used else "no frames"
        raise AppError(f"{where}: {seconds} of video, {len(trajectory)} model steps: an example needs at least 1 s")
    middle = used[len(used) // 2]
    return Features(np.stack(trajectory), thumbnail_jpeg(middle), used[0].t, used[-1].t)


def features_of_clip(
    classifier: StreamingClassifier,
    path: str | os.PathLike,
    fps: float,
    start: float | None,
    end: float | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Features:
    """The features of a clip, or of its part from `start` to `end` seconds."""
    low = start or 0.0
    high = float("inf") if end is None else end
    if high <= low:
        raise AppError(f"--to {end:g} is not after --from {low:g}")
    frames = (frame for frame in read_video(path, lambda t: low <= t < high, max_pixels))
    return features_of_frames(classifier, frames, fps, str(path))


def thumbnail_jpeg(frame: Frame) -> bytes:
    image = frame.image if frame.order == "BGR" else cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
    height, width = image.shape[:2]
    size = (THUMBNAIL_WIDTH, max(1, round(height * THUMBNAIL_WIDTH / width)))
    ok, encoded = cv2.imencode(
        ".jpg", cv2.resize(image, size, interpolation=cv2.INTER_AREA), [cv2.IMWRITE_JPEG_QUALITY, 80]
    )
    if not ok:
        raise AppError("could not encode a thumbnail")
    return encoded.tobytes()
