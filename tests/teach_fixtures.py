"""Shared clips for the teach tests: each real clip's first part taught, its rest tried.

The shared clips stand in for actions of the user's own: a set learns them from a few
short parts of each clip (through the same Teacher the CLI uses) and is tried on the
other part, written out as a clip of its own so nothing it was taught on is tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2

from app.inference.engine import ANSWER_LONGEST, StreamingClassifier
from app.sources.files import read_video
from app.teach.api import Teacher

# action -> (clip, [taught (from, to)...], tried (from, to))
PLAN = {
    "arm wrestling": ("arm_wrestling.mp4", [(0, 1.7), (1.7, 3.4), (3.4, 5)], (5, 10.1)),
    "cleaning pool": ("cleaning_pool.mp4", [(0, 1.7), (1.7, 3.4), (3.4, 5)], (5, 10.1)),
    "shooting basketball": ("shooting_basketball.mp4", [(0, 1.7), (1.7, 3.4), (3.4, 5)], (5, 10.1)),
    "riding horse": ("riding_horse.gif", [(0, 1.2), (1.2, 2.4)], (2.4, 4.7)),
}


@dataclass
class TaughtSet:
    path: Path
    tried: dict[str, Path]  # action -> the clip of its untaught part


def cut(source: Path, start: float, end: float, target: Path) -> Path:
    """Write the part of `source` from `start` to `end` seconds as an mp4."""
    frames = list(read_video(source, lambda t: start <= t < end))
    rate = len(frames) / max(frames[-1].t - frames[0].t, 1e-3)
    height, width = frames[0].image.shape[:2]
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), rate, (width, height))
    for frame in frames:
        writer.write(frame.image if frame.order == "BGR" else cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    writer.release()
    return target


def teach_set(folder: Path, clips: Path, model: Path) -> TaughtSet:
    classifier = StreamingClassifier(model, context_steps=0, answer=ANSWER_LONGEST)
    teacher = Teacher(folder / "set", classifier)
    tried = {}
    for action, (clip, taught, (start, end)) in PLAN.items():
        features = [teacher.clip_features(clips / clip, a, b) for a, b in taught]
        teacher.add_all(action, features, [str(clips / clip)] * len(features))
        tried[action] = cut(clips / clip, start, end, folder / f"{action.replace(' ', '_')}.mp4")
    teacher.fit()
    return TaughtSet(folder / "set", tried)
