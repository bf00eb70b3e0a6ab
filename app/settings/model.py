"""The model, label map and label filters the options name, opened together.

`classify`, `run`, `eval` and `demo` open them here, and `config check` does too, so a
config it accepts has a model the runtime loads, a label map of the model's size, a taught
set (`--custom`) made with that model, and `allow`/`deny` labels that are in it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app import assets
from app.inference.engine import StreamingClassifier, stream_classes
from app.inference.labels import TopK, load_labels
from app.inference.sampling import context_steps
from app.settings.argtypes import split_commas
from app.teach.custom import CustomHead, open_custom
from app.teach.store import OTHER


def open_classifier(args: argparse.Namespace) -> tuple[StreamingClassifier, TopK]:
    model_path = assets.resolve_model(args.model)
    steps = context_steps(args.context, args.fps)
    classifier = StreamingClassifier(model_path, args.runtime, args.threads, steps, args.answer)
    head = custom_head(args, classifier.model_path, kinetics := kinetics_labels(args, classifier.num_classes))
    if head is not None:
        classifier.set_head(head)
    return classifier, labels_for(args, kinetics, head)


def check_classifier(args: argparse.Namespace) -> None:
    """What `open_classifier` refuses, found without opening the model's streams (quicker)."""
    model_path = assets.resolve_model(args.model)
    kinetics = kinetics_labels(args, stream_classes(model_path, args.runtime, args.threads))
    labels_for(args, kinetics, custom_head(args, model_path, kinetics))


def kinetics_labels(args: argparse.Namespace, num_classes: int) -> list[str]:
    """The model's own label map, checked against its class count."""
    return load_labels(args.labels or assets.default_labels_path(), num_classes)


def custom_head(args: argparse.Namespace, model_path: Path, kinetics: list[str]) -> CustomHead | None:
    """The taught set `--custom` names (app/teach/custom.py), or None for the model's own classes."""
    if getattr(args, "custom", None) is None:
        return None
    return open_custom(args.custom, model_path, kinetics)


def labels_for(args: argparse.Namespace, kinetics: list[str], head: CustomHead | None = None) -> TopK:
    """What a run reports: the set's actions or the model's labels, with allow/deny and the thresholds."""
    labels, unsure = kinetics, None
    if head is not None:
        labels, unsure = head.labels, (OTHER, args.custom_threshold)
    return TopK(labels, args.top_k, split_commas(args.allow), split_commas(args.deny), args.threshold, unsure)
