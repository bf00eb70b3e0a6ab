"""The taught head: a multinomial logistic regression on pooled features, numpy only.

Training rows per example: its whole-clip feature and its first 1, 2 and 4 s windows.
A live run's streams restart every few seconds, so it mostly reads short windows; a head
fitted on whole clips only reads them badly (measured: 0.26 top-1 after 1 s).
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from app.errors import AppError

WINDOW_STEPS = (5, 10, 20)  # 1, 2 and 4 s at 5 fps
L2 = 1e-2  # on standardised features: 1e-3 left answers sure of anything (5% of untaught steps "other", 37% at 1e-2)
ITERATIONS = 300
FOLDS_ABOVE = 60  # examples: more are estimated by 10 folds instead of leaving each out


@dataclass
class Head:
    """Standardise, then softmax(x W + b) over `labels`."""

    labels: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # features x labels
    bias: np.ndarray
    model_sha: str = ""
    examples_digest: str = ""  # of the examples it was fitted on (store.examples_digest)

    def log_probabilities(self, features: np.ndarray) -> np.ndarray:
        z = ((features - self.mean) / self.scale) @ self.weights + self.bias
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            labels=np.array(self.labels, dtype=str),
            mean=self.mean,
            scale=self.scale,
            weights=self.weights,
            bias=self.bias,
            model_sha=np.array(self.model_sha),
            examples_digest=np.array(self.examples_digest),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Head:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                head = cls(
                    [str(x) for x in stored["labels"]],
                    stored["mean"].astype(np.float32),
                    stored["scale"].astype(np.float32),
                    stored["weights"].astype(np.float32),
                    stored["bias"].astype(np.float32),
                    str(stored["model_sha"]),
                    str(stored["examples_digest"]) if "examples_digest" in stored else "",
                )
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise AppError(f"{where} is damaged ({exc}): run `python -m app teach fit` again") from None
        n, c = head.weights.shape
        if head.mean.shape != (n,) or head.scale.shape != (n,) or head.bias.shape != (c,) or len(head.labels) != c:
            raise AppError(f"{where} is damaged (shapes do not agree): run `python -m app teach fit` again")
        return head


def training_rows(trajectory: np.ndarray) -> np.ndarray:
    """The example's whole feature and its early windows' (those it is long enough for)."""
    steps = [k for k in WINDOW_STEPS if k < len(trajectory)] + [len(trajectory)]
    return trajectory[[k - 1 for k in steps]]


def fit(
    trajectories: Sequence[np.ndarray], actions: Sequence[str], model_sha: str = "", examples_digest: str = ""
) -> Head:
    """Fit on examples (one trajectory and action each); at least two actions."""
    labels = sorted(set(actions))
    if len(labels) < 2:
        raise AppError("a head needs at least two actions to tell apart")
    rows = [training_rows(t) for t in trajectories]
    x = np.concatenate(rows).astype(np.float32)
    y = np.concatenate([np.full(len(r), labels.index(a)) for r, a in zip(rows, actions, strict=True)])
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    weights, bias = _gradient_descent((x - mean) / scale, y, len(labels))
    return Head(labels, mean.astype(np.float32), scale.astype(np.float32), weights, bias, model_sha, examples_digest)


def _gradient_descent(x: np.ndarray, y: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-entropy + L2 by full-batch gradient descent with Nesterov momentum (convex: it converges)."""
    n, d = x.shape
    onehot = np.eye(classes, dtype=np.float32)[y]
    # Each class weighs the same however many rows it has.
    weight = ((1.0 / np.bincount(y, minlength=classes))[y] * (n / classes)).astype(np.float32)
    w, b = np.zeros((d, classes), np.float32), np.zeros(classes, np.float32)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    step = np.float32(1.0 / (0.5 * _largest_eigenvalue(x * np.sqrt(weight)[:, None]) / n + L2))
    for _ in range(ITERATIONS):
        lw, lb = w + 0.9 * vw, b + 0.9 * vb
        z = x @ lw + lb
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        error = (p - onehot) * weight[:, None] / n
        vw = 0.9 * vw - step * (x.T @ error + L2 * lw)
        vb = 0.9 * vb - step * error.sum(axis=0)
        w, b = w + vw, b + vb
    return w.astype(np.float32), b.astype(np.float32)


def _largest_eigenvalue(x: np.ndarray) -> float:
    """Of x^T x, by power iteration: the step size that keeps gradient descent stable."""
    v = np.ones(x.shape[1]) / np.sqrt(x.shape[1])
    value = 1.0
    for _ in range(30):
        v = x.T @ (x @ v)
        value = float(np.linalg.norm(v)) or 1.0
        v /= value
    return value


@dataclass
class Estimate:
    """How often a held-out example is answered right, from the examples alone."""

    method: str
    per_action: dict[str, float]  # share right
    overall: float
    confusions: list[tuple[str, str, int]] = field(default_factory=list)  # (taught, answered, count), worst first
    unestimated: list[str] = field(default_factory=list)  # actions with one example: nothing to hold out against


def estimate(trajectories: Sequence[np.ndarray], actions: Sequence[str]) -> Estimate:
    """Leave each example out (10 folds above FOLDS_ABOVE examples), fit on the rest, answer it."""
    count = Counter(actions)
    held = [i for i, a in enumerate(actions) if count[a] > 1]
    if len(held) > FOLDS_ABOVE:
        folds = [held[k::10] for k in range(10)]
        method = "10-fold"
    else:
        folds = [[i] for i in held]
        method = "leave-one-example-out"
    right: Counter[str] = Counter()
    tried: Counter[str] = Counter()
    wrong: Counter[tuple[str, str]] = Counter()
    for fold in folds:
        keep = [i for i in range(len(actions)) if i not in fold]
        if len({actions[i] for i in keep}) < 2:
            continue
        head = fit([trajectories[i] for i in keep], [actions[i] for i in keep])
        for i in fold:
            answer = head.labels[int(np.argmax(head.log_probabilities(trajectories[i][-1])))]
            tried[actions[i]] += 1
            right[actions[i]] += answer == actions[i]
            if answer != actions[i]:
                wrong[(actions[i], answer)] += 1
    per_action = {a: right[a] / tried[a] for a in sorted(tried)}
    overall = sum(right.values()) / max(1, sum(tried.values()))
    confusions = [(a, b, n) for (a, b), n in wrong.most_common(3)]
    return Estimate(method, per_action, overall, confusions, sorted(a for a in count if count[a] == 1))
