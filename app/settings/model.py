"""The model, label map and label filters the options name, opened together.

`classify`, `run`, `eval` and `demo` open them here, and `config check` does too, so a
config it accepts has a model the runtime loads, a label map of the model's size and
`allow`/`deny` labels that are in it.
"""

from __future__ import annotations

import argparse

from app import assets
from app.inference.engine import StreamingClassifier, stream_classes
from app.inference.labels import TopK, load_labels
from app.inference.sampling import context_steps
from app.settings.argtypes import split_commas


def open_classifier(args: argparse.Namespace) -> tuple[StreamingClassifier, TopK]:
    model_path = assets.resolve_model(args.model)
    steps = context_steps(args.context, args.fps)
    classifier = StreamingClassifier(model_path, args.runtime, args.threads, steps, args.answer)
    return classifier, labels_for(args, classifier.num_classes)


def check_classifier(args: argparse.Namespace) -> None:
    """What `open_classifier` refuses, found without opening the model's streams (quicker)."""
    labels_for(args, stream_classes(assets.resolve_model(args.model), args.runtime, args.threads))


def labels_for(args: argparse.Namespace, num_classes: int) -> TopK:
    """The label map checked against the model's class count, with the allow/deny filters and threshold."""
    labels = load_labels(args.labels or assets.default_labels_path(), num_classes)
    return TopK(labels, args.top_k, split_commas(args.allow), split_commas(args.deny), args.threshold)
