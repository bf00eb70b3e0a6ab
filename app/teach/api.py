"""What teaching offers a caller (the CLI, a web page): list, add, remove, fit, load.

    teacher = Teacher("sets/kitchen", classifier)          # classifier: StreamingClassifier, context 0
    teacher.actions()                                       # {"stir": [Example, ...], ...}
    teacher.add_clip("stir", "stir1.mp4", start=0, end=4)   # -> Example (features + thumbnail stored)
    teacher.add_frames("stir", frames)                      # Frames from a camera, any rate
    teacher.thumbnail(example)                              # the JPEG's path
    teacher.remove("stir", 2)                               # 1-based; None removes the action
    report = teacher.fit()                                  # FitReport: estimate, warnings; head stored
    head = teacher.head(kinetics_labels)                    # CustomHead for StreamingClassifier.set_head

Only `add_*` need the classifier (to extract features); `fit` and the rest are numpy and files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import AppError
from app.inference.engine import StreamingClassifier
from app.sources.base import Frame
from app.sources.files import DEFAULT_MAX_PIXELS
from app.teach import head as heads
from app.teach.custom import HEAD_FILE, CustomHead, model_sha256, open_custom
from app.teach.features import Features, features_of_clip, features_of_frames
from app.teach.groups import write_group
from app.teach.store import Example, TeachSet, check_action_name, examples_digest

FEW_EXAMPLES = 3  # fewer per action: warn (3-5 are enough when taught in place)
LOW_ESTIMATE = 0.8


@dataclass
class FitReport:
    actions: dict[str, int]  # action -> examples
    estimate: heads.Estimate
    seconds: float
    warnings: list[str] = field(default_factory=list)


class Teacher:
    def __init__(
        self, set_path: str | os.PathLike, classifier: StreamingClassifier | None = None, fps: float = 5.0
    ) -> None:
        self.set = TeachSet(set_path)
        self.classifier = classifier
        self.fps = fps

    def actions(self) -> dict[str, list[Example]]:
        return self.set.actions()

    def thumbnail(self, example: Example) -> Path:
        return self.set.thumbnail_path(example)

    def add_clip(
        self,
        action: str,
        path: str | os.PathLike,
        start: float | None = None,
        end: float | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> Example:
        return self.add_all(action, [self.clip_features(path, start, end, max_pixels)], [str(path)])[0]

    def add_frames(self, action: str, frames: Iterable[Frame], source: str = "camera") -> Example:
        check_action_name(action)
        self.check_model()
        features = features_of_frames(self._classifier(), frames, self.fps, source)
        return self.add_all(action, [features], [source])[0]

    def clip_features(
        self, path: str | os.PathLike, start: float | None, end: float | None, max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> Features:
        self.check_model()
        return features_of_clip(self._classifier(), path, self.fps, start, end, max_pixels)

    def add_all(self, action: str, features: Sequence[Features], sources: Sequence[str]) -> list[Example]:
        """Store examples already extracted, all under one lock (so a bad clip adds none)."""
        check_action_name(action)
        classifier = self._classifier()
        with self.set.writing():
            self.set.bind_model(model_sha256(classifier.model_path), classifier.model_path.name, _size(features))
            return [
                self.set.add(action, f.trajectory, f.thumbnail, source, f.start, f.end)
                for f, source in zip(features, sources, strict=True)
            ]

    def check_exists(self) -> None:
        if not self.set.path.is_dir():
            raise AppError(f"no such set: {self.set.path}")

    def remove(self, action: str, number: int | None = None) -> list[Example]:
        self.check_exists()  # removing never creates a set
        with self.set.writing():
            return self.set.remove(action, number)

    def group(self, name: str, labels: Sequence[str], kinetics: Sequence[str]) -> None:
        if name in self.set.actions():
            raise AppError(f"{name!r} is a taught action of {self.set.path}: name the group otherwise")
        with self.set.writing():
            write_group(self.set, name, labels, kinetics)

    def fit(self) -> FitReport:
        """Fit and store the head; AppError (and the old head kept) when it cannot be fitted."""
        started = time.perf_counter()
        examples = self.set.examples()
        if not examples:
            raise AppError(f"{self.set.path} has no examples: python -m app teach add {self.set.path} ACTION CLIP...")
        actions = [e.action for e in examples]
        if len(set(actions)) < 2:
            raise AppError(
                f"{self.set.path} has one action ({actions[0]!r}): teach a second, e.g. an 'other' action "
                "of what else happens there, to tell it from"
            )
        trajectories = [self.set.trajectory(e) for e in examples]
        if len({t.shape[1] for t in trajectories}) != 1:
            raise AppError(f"{self.set.path}: examples of different feature sizes (damaged set?)")
        estimate = heads.estimate(trajectories, actions)
        fitted = heads.fit(trajectories, actions, self.set.model_sha() or "", examples_digest(examples))
        with self.set.writing():
            if self.set.examples() != examples:
                raise AppError(f"{self.set.path} changed while fitting: run teach fit again")
            self.set.write_bytes(HEAD_FILE, fitted.to_bytes())
        counts = {a: actions.count(a) for a in fitted.labels}
        report = FitReport(counts, estimate, time.perf_counter() - started)
        few = [f"{a!r} ({n})" for a, n in counts.items() if n < FEW_EXAMPLES]
        if few:
            report.warnings.append(f"under {FEW_EXAMPLES} examples: {', '.join(few)}; teach 3-5 of each")
        if estimate.per_action and estimate.overall < LOW_ESTIMATE:
            report.warnings.append(
                f"estimate {estimate.overall:.0%} is under {LOW_ESTIMATE:.0%}: teach more examples, in place"
            )
        return report

    def head(self, kinetics: list[str]) -> CustomHead:
        model = self._classifier().model_path
        return open_custom(self.set.path, model, kinetics)

    def check_model(self) -> None:
        """Refuse before the slow extraction, not only when storing."""
        model = self._classifier().model_path
        self.set.check_model(model_sha256(model), model.name)

    @property
    def input_size(self) -> tuple[int, int]:
        return self._classifier().input_size

    def _classifier(self) -> StreamingClassifier:
        if self.classifier is None:
            raise AppError("adding examples needs the model: Teacher(set, classifier)")
        return self.classifier


def _size(features: Sequence[Features]) -> int:
    return int(features[0].trajectory.shape[1]) if features else 0
