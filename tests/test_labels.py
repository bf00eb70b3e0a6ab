"""Label maps, softmax and top-k with allow/deny lists and a threshold."""

from __future__ import annotations

import numpy as np
import pytest

from app.errors import AppError
from app.inference.labels import TopK, load_labels, softmax

LABELS = ["a", "b", "c", "d", "e", "f"]


def test_real_label_map_matches_the_model(labels_path):
    labels = load_labels(labels_path, 600)
    assert labels[0] == "abseiling" and labels[-1] == "zumba"
    with pytest.raises(AppError, match="600 labels but the model has 400"):
        load_labels(labels_path, 400)


def test_softmax_does_not_overflow():
    probabilities = softmax(np.array([1e4, 1e4 - 1, -1e4], np.float32))
    assert np.isfinite(probabilities).all()
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities[0] == pytest.approx(1 / (1 + np.exp(-1)))


def test_top_k_is_sorted_best_first():
    logits = np.array([0.0, 3.0, 1.0, 2.0, -1.0, 0.5])
    top = TopK(LABELS, k=3)(logits)
    assert [s.label for s in top] == ["b", "d", "c"]
    assert top[0].score > top[1].score > top[2].score
    assert sum(s.score for s in TopK(LABELS, k=6)(logits)) == pytest.approx(1.0)


def test_allow_deny_and_threshold():
    logits = np.array([0.0, 3.0, 1.0, 2.0, -1.0, 0.5])
    assert [s.label for s in TopK(LABELS, k=2, allow=["a", "c", "e"])(logits)] == ["c", "a"]
    assert [s.label for s in TopK(LABELS, k=2, deny=["b"])(logits)] == ["d", "c"]
    # Scores stay probabilities over all classes, filter or not.
    unfiltered = {s.label: s.score for s in TopK(LABELS, k=6)(logits)}
    assert TopK(LABELS, k=1, deny=["b"])(logits)[0].score == pytest.approx(unfiltered["d"])
    assert [s.label for s in TopK(LABELS, k=5, threshold=0.1)(logits)] == ["b", "d"]


def test_bad_filters_are_refused():
    with pytest.raises(AppError, match="unknown label"):
        TopK(LABELS, allow=["zz"])
    with pytest.raises(AppError, match="threshold"):
        TopK(LABELS, threshold=1.5)
    with pytest.raises(AppError, match="top-k"):
        TopK(LABELS, k=0)
