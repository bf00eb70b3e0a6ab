"""`--custom SET`: a taught set answers instead of the Kinetics labels, wherever they are shown.

The set becomes the engine's head (app/inference/engine.py): each stream's step is mapped
to the set's log-probabilities before the live blend, and TopK gets the set's labels, so
the console, logs, overlay, web view, events and MQTT see the set's actions and need no
change of their own.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from app.errors import AppError
from app.inference.labels import softmax
from app.teach.groups import read_groups
from app.teach.head import Head
from app.teach.store import OTHER, TeachSet, examples_digest

log = logging.getLogger(__name__)

HEAD_FILE = "head.npz"
FLOOR = 1e-30  # the smallest probability kept: log(0) would be -inf
DEFAULT_UNSURE = 0.5  # below this top probability the answer is "other" (rejected ~half of unrelated clips)


class CustomHead:
    """Taught actions (a fitted Head on the pooled feature) and groups of Kinetics labels.

    A group's probability is the sum of its labels' Kinetics probabilities; the taught
    actions share what the groups leave. A set of groups alone leaves the rest to "other".
    """

    def __init__(self, taught: Head | None, groups: dict[str, list[str]], kinetics: list[str]) -> None:
        index = {label: i for i, label in enumerate(kinetics)}
        self.taught = taught
        self.groups = [np.array([index[x] for x in labels]) for labels in groups.values()]
        self.actions = [*(taught.labels if taught else []), *groups]
        self.labels = self.actions if OTHER in self.actions else [*self.actions, OTHER]
        self.needs_feature = taught is not None
        self._other_slot = OTHER not in self.actions
        if taught is not None:  # the standardisation folded into the weights: one product a step
            self._weights = (taught.weights / taught.scale[:, None]).astype(np.float32)
            self._bias = (taught.bias - (taught.mean / taught.scale) @ taught.weights).astype(np.float32)

    def __call__(self, feature: np.ndarray | None, logits: np.ndarray) -> np.ndarray:
        out = np.empty(len(self.labels), np.float32)
        rest = 1.0  # the share of probability not taken by a group
        filled = 0
        if self.groups:
            kinetics = softmax(logits)
            grouped = np.array([kinetics[members].sum() for members in self.groups])
            rest = max(0.0, 1.0 - float(grouped.sum()))
        if self.taught is not None:
            assert feature is not None
            z = feature @ self._weights + self._bias
            z -= z.max()
            filled = len(z)
            out[:filled] = z - np.log(np.exp(z).sum()) + np.log(max(rest, FLOOR))
            rest = 0.0
        if self.groups:
            out[filled : filled + len(grouped)] = np.log(np.maximum(grouped, FLOOR))
            filled += len(grouped)
        if self._other_slot:
            out[filled] = np.log(max(rest, FLOOR))
        return out


def model_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as model:
        for block in iter(lambda: model.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def open_custom(set_path: Path, model_path: Path, kinetics: list[str]) -> CustomHead:
    """The set's head for this model; AppError (one line) for a missing, stale or foreign set."""
    if not set_path.is_dir():
        raise AppError(f"--custom {set_path}: no such set folder (teach one: python -m app teach add)")
    teach_set = TeachSet(set_path)
    sha = model_sha256(model_path)
    teach_set.check_model(sha, model_path.name)
    groups = read_groups(teach_set, kinetics)
    data = teach_set.read_bytes(HEAD_FILE)
    taught = Head.from_bytes(data, str(set_path / HEAD_FILE)) if data is not None else None
    if taught is not None and taught.model_sha != sha:  # e.g. set.json lost: the head still knows
        raise AppError(f"{set_path / HEAD_FILE} was fitted on another model's features: teach the set again")
    examples = teach_set.examples()
    if taught is not None and taught.examples_digest != examples_digest(examples):
        log.warning("%s changed since its head was fitted: run `python -m app teach fit %s`", set_path, set_path)
    if taught is None and examples:
        raise AppError(f"{set_path} has examples but no head: run `python -m app teach fit {set_path}`")
    if taught is None and not groups:
        raise AppError(f"{set_path} has no actions: teach some (python -m app teach add) or define a group")
    overlap = set(groups) & set(taught.labels if taught else [])
    if overlap:
        raise AppError(f"{set_path}: {', '.join(map(repr, sorted(overlap)))} is both taught and a group: keep one")
    return CustomHead(taught, groups, kinetics)
