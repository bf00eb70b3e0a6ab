"""The model, label map and label filters a command uses, as one typed value, and opening them.

`classify`, `run`, `snapshot`, `eval` and `demo` open them here, and `config check` does
too, so a config it accepts has a model the runtime loads, a label map of the model's
size, a taught set (`--custom`) made with that model, and `allow`/`deny` labels in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app import assets
from app.inference.engine import ANSWER_BLEND, StreamingClassifier, stream_classes
from app.inference.labels import TopK, load_labels
from app.inference.sampling import DEFAULT_FPS, LIVE_CONTEXT_S, context_steps
from app.teach.custom import DEFAULT_UNSURE, CustomHead, open_custom
from app.teach.store import OTHER


@dataclass(frozen=True)
class ModelSettings:
    """Which model runs, how its streams answer, and which of its labels a run reports."""

    model: str | None = None  # a name from `models list` or a .tflite path; None: the default
    labels: Path | None = None  # None: the installed Kinetics-600 map
    runtime: str = "auto"
    threads: int | None = None  # None: the cores, at most 4
    fps: float = DEFAULT_FPS
    context: float = LIVE_CONTEXT_S
    answer: str = ANSWER_BLEND
    custom: Path | None = None  # a taught set reported instead of the model's labels
    custom_threshold: float = DEFAULT_UNSURE
    top_k: int = 5
    threshold: float = 0.0
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    @property
    def model_path(self) -> Path:
        return assets.resolve_model(self.model)

    @property
    def labels_path(self) -> Path:
        return self.labels or assets.default_labels_path()


def open_classifier(settings: ModelSettings) -> tuple[StreamingClassifier, TopK]:
    steps = context_steps(settings.context, settings.fps)
    classifier = StreamingClassifier(settings.model_path, settings.runtime, settings.threads, steps, settings.answer)
    kinetics = load_labels(settings.labels_path, classifier.num_classes)
    head = custom_head(settings.custom, classifier.model_path, kinetics)
    if head is not None:
        classifier.set_head(head)
    return classifier, labels_for(settings, kinetics, head)


def check_classifier(settings: ModelSettings) -> None:
    """What `open_classifier` refuses, found without opening the model's streams (quicker)."""
    model_path = settings.model_path
    kinetics = load_labels(settings.labels_path, stream_classes(model_path, settings.runtime, settings.threads))
    labels_for(settings, kinetics, custom_head(settings.custom, model_path, kinetics))


def custom_head(set_path: Path | None, model_path: Path, kinetics: list[str]) -> CustomHead | None:
    """The taught set `--custom` names (app/teach/custom.py), or None for the model's own classes."""
    return None if set_path is None else open_custom(set_path, model_path, kinetics)


def labels_for(settings: ModelSettings, kinetics: list[str], head: CustomHead | None = None) -> TopK:
    """What a run reports: the set's actions or the model's labels, with allow/deny and the thresholds."""
    labels, unsure = kinetics, None
    if head is not None:
        labels, unsure = head.labels, (OTHER, settings.custom_threshold)
    return TopK(labels, settings.top_k, list(settings.allow), list(settings.deny), settings.threshold, unsure)
