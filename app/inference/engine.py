"""The streaming classifier: one frame in, logits out, every model state threaded through.

Works for any MoViNet-Stream export (A0/A1/A2, int8/float16/float32, any input size or
class count): the image input, the logits output and the state pairs are all read from
the model's signature rather than assumed.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

from app.errors import AppError
from app.inference.labels import softmax
from app.inference.runtime import StreamRunner, TensorSpec, load_model

IMAGE_INPUT = "image"
LOGITS_OUTPUT = "logits"
ANSWER_LONGEST = "longest"
ANSWER_BLEND = "blend"
ANSWERS = (ANSWER_BLEND, ANSWER_LONGEST)
DEFAULT_MIN_HISTORY = 3  # steps (0.6 s at 5 fps) before a restarted stream's own answer counts
# The blend's power mean of the streams' probabilities: 1 would be the arithmetic mean, in
# which the older stream's stale action lingers after a change; 0 the geometric mean, in
# which either stream alone can veto an action. A quarter, chosen on sessions of the
# shared clips with changes at every phase of the restarts: 84.6% of steps right instead
# of 83.4% with the arithmetic mean, a new action on top sooner, and surer when right.
BLEND_POWER = 0.25
# The head's pooled features: a running sum over the stream's frames and their count.
POOL_SUM_STATE = "state_head_pool_buffer"
POOL_COUNT_STATE = "state_head_pool_frame_count"


class Head(Protocol):
    """Maps one stream's step to log-probabilities over its own labels (a taught set)."""

    labels: list[str]
    needs_feature: bool  # reads the pooled feature (a taught head) or only the logits (groups)

    def __call__(self, feature: np.ndarray | None, logits: np.ndarray) -> np.ndarray: ...


class StreamingClassifier:
    """Feeds frames one at a time to a MoViNet-Stream model; `reset()` starts a new clip.

    With `context_steps` = 0 the stream remembers everything since the last reset, which
    is right for a clip. A live camera runs for hours, and the model's pooled features
    average over its whole stream: measured here, confidence in a looping clip of one
    action falls from ~1.0 to below 0.1 within a few hundred steps. With `context_steps`
    = N, two streams run half a window apart, each restarted after N steps, at twice the
    model cost. Which of the two answers is `answer`:

    - ANSWER_LONGEST: the one that has seen more (N/2 to N steps of history). A clip of up
      to N steps is classified exactly as by a single stream.
    - ANSWER_BLEND: both streams' probabilities combined by a power mean (BLEND_POWER).
      After the person changes what they do, the stream restarted since then is sure of
      the new action within a few steps while the other still mixes in the previous one,
      so the change shows within about a second instead of up to N steps later. A
      restarted stream's first `min_history` steps are noise, so until then its last
      answer before the restart stands in for it: a restart never leaves one young stream
      answering alone.
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        runtime: str = "auto",
        threads: int | None = None,
        context_steps: int = 0,
        answer: str = ANSWER_LONGEST,
        min_history: int = DEFAULT_MIN_HISTORY,
    ) -> None:
        if context_steps < 0 or context_steps == 1:
            raise AppError(f"context must be 0 (unbounded) or at least 2 steps, got {context_steps}")
        if answer not in ANSWERS:
            raise AppError(f"unknown answer rule {answer!r}: choose one of {', '.join(ANSWERS)}")
        model = load_model(model_path, runtime, threads)
        image, logits, state_names = _find_stream_interface(model.inputs, model.outputs, str(model_path))
        self.model_path = model.path
        self.runtime = model.runtime
        self.threads = model.threads
        self.image_spec = image
        self.logits_spec = logits
        self.state_names = state_names
        self.input_size = (image.shape[2], image.shape[3])  # (height, width)
        self.num_classes = logits.shape[-1]
        self.frames_seen = 0
        self.context_steps = context_steps
        self.answer = answer
        self.min_history = min_history
        self.head: Head | None = None
        self._pool: tuple[str, str] | None = None
        pairs = {n: n for n in state_names}
        self._runners: list[StreamRunner] = [model.open_stream(image.name, logits.name, pairs)]
        if context_steps:
            self._runners.append(model.open_stream(image.name, logits.name, pairs))
        self._ages: list[int] = []
        self._latest: list[np.ndarray | None] = []  # per stream: its last probabilities that count
        self._quantized_image = np.empty(image.shape, image.dtype) if image.quantized else None
        self._quantize_scratch = np.empty(image.shape, np.float32) if image.quantized else None
        self.reset()

    def step(self, frame: np.ndarray) -> np.ndarray:
        """Classify the next frame of the stream.

        `frame` is float32 RGB in [0, 1] with the model's input shape ([1, 1, H, W, 3]).
        Returns float32 logits of length `num_classes` (dequantized if the model's are not), or
        with a `head` its log-probabilities over `head.labels`.
        """
        model_input = self._to_model_input(frame)
        answers: list[tuple[int, int, np.ndarray]] = []  # (stream, steps of history, raw logits)
        for i, runner in enumerate(self._runners):
            if self._ages[i] < 0:  # the second stream has not started yet
                self._ages[i] += 1
                continue
            if self._ages[i] == self.context_steps and self.context_steps:
                runner.reset()
                self._ages[i] = 0
            scores = _dequantize(runner.step(model_input), self.logits_spec).reshape(-1)
            if self.head is not None:  # per stream, before the blend: it follows changes as quickly
                scores = self.head(self._feature(runner) if self._pool else None, scores)
            self._ages[i] += 1
            answers.append((i, self._ages[i], scores))
        self.frames_seen += 1
        longest = max(answers, key=lambda a: a[1])[2]  # the first stream on a tie
        if self.answer == ANSWER_LONGEST or len(self._runners) == 1:
            return longest
        return self._blend(answers, longest)

    def set_head(self, head: Head | None) -> None:
        """Answer over `head.labels` from now on (None: the model's own classes again)."""
        if head is not None and head.needs_feature:
            self._pool = _find_pool(self.state_names, str(self.model_path))
        self.head = head
        self.reset()

    def pool_feature(self) -> np.ndarray:
        """The pooled feature of the stream whose answer `step` returns (what a taught head reads)."""
        self._pool = self._pool or _find_pool(self.state_names, str(self.model_path))
        return self._feature(self._runners[int(np.argmax(self._ages))])

    def _feature(self, runner: StreamRunner) -> np.ndarray:
        # Only the two pool tensors are read, never the other states (~2.7 MB a step on A0).
        assert self._pool is not None
        count = int(runner.read_state(self._pool[1]).reshape(-1)[0])
        return runner.read_state(self._pool[0]).reshape(-1) / max(count, 1)

    def _blend(self, answers: list[tuple[int, int, np.ndarray]], longest: np.ndarray) -> np.ndarray:
        for i, age, scores in answers:
            if age >= self.min_history:
                self._latest[i] = softmax(scores)
        counted = [p for p in self._latest if p is not None]
        if not counted:  # the first steps after a reset: nothing has history yet
            return longest
        # The power mean, as logits whose softmax is it (log of 0 kept finite).
        blended = np.mean(np.power(counted, BLEND_POWER), axis=0) ** (1 / BLEND_POWER)
        return np.log(np.maximum(blended / blended.sum(), 1e-30)).astype(np.float32)

    def reset(self) -> None:
        """Forget the stream so far (new clip, scene cut, camera reopened)."""
        for runner in self._runners:
            runner.reset()
        # The second stream starts half a window later, so the two restart alternately.
        self._ages = [0, -(self.context_steps // 2)][: len(self._runners)]
        self._latest = [None] * len(self._runners)
        self.frames_seen = 0

    def states(self) -> dict[str, np.ndarray]:
        """Copies of the current states of the stream whose answer `step` returns."""
        return self._runners[int(np.argmax(self._ages))].states()

    def invoke_only(self) -> None:
        """A bare model invocation with no state handling: the benchmark's baseline."""
        self._runners[0].invoke_only()

    def _to_model_input(self, frame: np.ndarray) -> np.ndarray:
        if self._quantized_image is None:
            if frame.dtype != self.image_spec.dtype:
                return frame.astype(self.image_spec.dtype)
            return frame
        spec = self.image_spec
        info = np.iinfo(spec.dtype)
        scratch = self._quantize_scratch
        np.divide(frame, np.float32(spec.scale), out=scratch)
        np.rint(scratch, out=scratch)
        scratch += spec.zero_point
        np.clip(scratch, info.min, info.max, out=scratch)
        self._quantized_image[...] = scratch
        return self._quantized_image


def stream_classes(model_path: str | os.PathLike, runtime: str = "auto", threads: int | None = None) -> int:
    """The class count of a stream model, checked as StreamingClassifier checks it, without
    opening its streams (compiling them is most of a load): for `config check`."""
    model = load_model(model_path, runtime, threads)
    _, logits, _ = _find_stream_interface(model.inputs, model.outputs, str(model_path))
    return logits.shape[-1]


def _dequantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.quantized:
        return (values.astype(np.float32) - spec.zero_point) * np.float32(spec.scale)
    return values.astype(np.float32, copy=False)


def _find_pool(state_names: list[str], where: str) -> tuple[str, str]:
    if POOL_SUM_STATE not in state_names or POOL_COUNT_STATE not in state_names:
        raise AppError(
            f"{where} has no head pool states ({POOL_SUM_STATE}, {POOL_COUNT_STATE}): "
            "taught actions need an official MoViNet-Stream export"
        )
    return POOL_SUM_STATE, POOL_COUNT_STATE


def _find_stream_interface(
    inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec], where: str
) -> tuple[TensorSpec, TensorSpec, list[str]]:
    """Check the signature is a MoViNet stream: an image, logits, and paired states."""
    image = inputs.get(IMAGE_INPUT)
    if image is None:
        raise AppError(f"{where} is not a MoViNet-Stream model: it has no '{IMAGE_INPUT}' input")
    if len(image.shape) != 5 or image.shape[0] != 1 or image.shape[1] != 1 or image.shape[4] != 3:
        raise AppError(f"{where}: '{IMAGE_INPUT}' input has shape {list(image.shape)}, expected [1, 1, H, W, 3]")
    logits = outputs.get(LOGITS_OUTPUT)
    if logits is None:
        raise AppError(f"{where} is not a MoViNet-Stream model: it has no '{LOGITS_OUTPUT}' output")
    state_names = sorted(name for name in inputs if name != IMAGE_INPUT)
    if not state_names:
        raise AppError(f"{where} is not a stream model: it has no state inputs (is it a base, non-stream MoViNet?)")
    for name in state_names:
        out = outputs.get(name)
        if out is None:
            raise AppError(f"{where}: state input '{name}' has no output of the same name to feed back")
        if out.shape != inputs[name].shape or out.dtype != inputs[name].dtype:
            raise AppError(f"{where}: state '{name}' output {list(out.shape)} {out.dtype} does not match its input")
    return image, logits, state_names
