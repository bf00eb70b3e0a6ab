"""The model, label map and label filters the options name, opened together.

`classify`, `run`, `eval` and `demo` open them here, and `config check` does too, so a
config it accepts has a model the runtime loads, a label map of the model's size and
`allow`/`deny` labels that are in it.
"""

from __future__ import annotations

import argparse

from app import assets
from app.inference.engine import StreamingClassifier
from app.inference.labels import TopK, load_labels
from app.inference.sampling import context_steps
from app.settings.argtypes import split_commas
from app.teach.custom import open_custom
from app.teach.store import OTHER


def open_classifier(args: argparse.Namespace) -> tuple[StreamingClassifier, TopK]:
    model_path = assets.resolve_model(args.model)
    steps = context_steps(args.context, args.fps)
    classifier = StreamingClassifier(model_path, args.runtime, args.threads, steps, args.answer)
    labels_path = args.labels or assets.default_labels_path()
    labels = load_labels(labels_path, classifier.num_classes)
    unsure = None
    if getattr(args, "custom", None) is not None:  # a taught set answers instead (app/teach/custom.py)
        classifier.set_head(head := open_custom(args.custom, classifier.model_path, labels))
        labels, unsure = head.labels, (OTHER, args.custom_threshold)
    top_k = TopK(labels, args.top_k, split_commas(args.allow), split_commas(args.deny), args.threshold, unsure)
    return classifier, top_k
