"""Measure a model on labelled clips: top-1/top-5 at each clip's end, and a live session.

A LIST file names the clips, one `path<TAB>expected label` (or `path,expected label`)
a line. In a session the clips play back to back as one stream through the live
pipeline, and each model step counts as correct when its top-1 is the label of the
segment it falls in; a segment's switch latency is the time from its start to the
first of `SWITCH_RUN` consecutive correct steps.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.classify import StepResult, classify_video
from app.errors import AppError
from app.inference.engine import StreamingClassifier
from app.inference.labels import Scored, TopK
from app.input_files import UnreadableFile, clipped, read_small_text, regular_file
from app.pipeline import Pipeline, PipelineOptions
from app.results import Result
from app.sources.files import DEFAULT_MAX_PIXELS
from app.sources.session import Segment, SessionSource, plan_segments

MAX_LIST_BYTES = 10 << 20  # a million clips' lines; more is not a list
SWITCH_RUN = 5  # consecutive correct steps (1 s at 5 fps) that count as "switched"


@dataclass(frozen=True)
class LabelledClip:
    path: Path
    expected: str
    line: int  # in the LIST file, for messages


def read_list(list_path: str | os.PathLike, labels: Sequence[str]) -> list[LabelledClip]:
    """Parse a LIST file; AppError naming the file and line for the first bad line.

    Paths are relative to the LIST file's folder. `#` starts a comment line.
    """
    list_path = Path(list_path)
    try:  # utf-8-sig: a spreadsheet may save a BOM
        text = read_small_text(list_path, "list file", MAX_LIST_BYTES, encoding="utf-8-sig")
    except UnreadableFile as exc:
        if exc.missing:
            raise AppError(f"list file not found: {list_path}") from None
        raise
    known = set(labels)
    clips = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{list_path}:{number}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else next(csv.reader([line]))
        fields = [field.strip() for field in fields]
        if len(fields) != 2 or not all(fields):
            raise AppError(f"{where}: expected 'path<TAB>label' (or 'path,label'), got {clipped(line.strip())!r}")
        path, expected = list_path.parent / fields[0], fields[1]
        if expected not in known:
            raise AppError(f"{where}: {clipped(expected)!r} is not a label of the model's label map")
        try:
            found = regular_file(path, "video")
        except AppError as exc:
            raise AppError(f"{where}: {exc}") from None
        if not found:
            raise AppError(f"{where}: video not found: {path}")
        clips.append(LabelledClip(path, expected, number))
    if not clips:
        raise AppError(f"{list_path} lists no clips")
    return clips


@dataclass(frozen=True)
class ClipScore:
    clip: LabelledClip
    top: list[Scored]  # at the clip's end
    steps: int
    error: str | None = None  # why the clip could not be scored (then top is empty)

    @property
    def rank(self) -> int | None:
        """1 if the expected label is top-1, ... None if it is not in the top list."""
        labels = [s.label for s in self.top]
        return labels.index(self.clip.expected) + 1 if self.clip.expected in labels else None


def score_clips(
    classifier: StreamingClassifier,
    clips: Sequence[LabelledClip],
    top_k: TopK,
    fps: float,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[int], None] = lambda done: None,
) -> list[ClipScore]:
    """Each clip from a fresh stream, the way `classify` does it.

    A clip that cannot be decoded is a failed score (its `error`), not the end of the
    evaluation: one bad file among hundreds must not cost the rest.
    """
    scores = []
    for i, clip in enumerate(clips):
        last: StepResult | None = None
        steps = 0
        try:
            for result in classify_video(classifier, clip.path, top_k, fps, max_pixels):
                last, steps = result, steps + 1
            if last is None:
                raise AppError(f"{clip.path} produced no model steps")
        except AppError as exc:
            scores.append(ClipScore(clip, [], steps, error=str(exc)))
        else:
            scores.append(ClipScore(clip, last.top, steps))
        progress(i + 1)
    return scores


@dataclass(frozen=True)
class SegmentScore:
    clip: LabelledClip
    segment: Segment
    steps: int
    correct: int
    switch: float | None  # seconds from the segment's start; None: never within it

    @property
    def share(self) -> float:
        return self.correct / self.steps if self.steps else 0.0


@dataclass(frozen=True)
class SessionScore:
    segments: list[SegmentScore]

    @property
    def steps(self) -> int:
        return sum(s.steps for s in self.segments)

    @property
    def share(self) -> float:
        return sum(s.correct for s in self.segments) / self.steps if self.steps else 0.0

    @property
    def switch_median(self) -> float | None:
        """None if at least half the segments never switched."""
        return _finite(statistics.median(_latencies(self.segments)))

    @property
    def switch_worst(self) -> float | None:
        """None if some segment never switched."""
        return _finite(max(_latencies(self.segments)))


def _latencies(segments: Sequence[SegmentScore]) -> list[float]:
    return [math.inf if s.switch is None else s.switch for s in segments]


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


def score_steps(clips: Sequence[LabelledClip], segments: Sequence[Segment], steps: Sequence[Result]) -> SessionScore:
    """Score a session's results against the segment each step's frame belongs to."""
    scores = []
    for clip, segment in zip(clips, segments, strict=True):
        mine = [r for r in steps if segment.start <= r.t < segment.end]
        correct = [bool(r.top) and r.top[0].label == clip.expected for r in mine]
        switch = None
        for i in range(len(correct) - SWITCH_RUN + 1):
            if all(correct[i : i + SWITCH_RUN]):
                switch = mine[i].t - segment.start
                break
        scores.append(SegmentScore(clip, segment, len(mine), sum(correct), switch))
    return SessionScore(scores)


def play_session(
    classifier: StreamingClassifier,
    segments: Sequence[Segment],
    top_k: TopK,
    fps: float,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[float], None] = lambda t: None,
) -> list[Result]:
    """Play the segments back to back through the live pipeline, exactly as `run` would."""
    classifier.reset()
    pipeline = Pipeline(SessionSource(segments, max_pixels), classifier, top_k, PipelineOptions(fps=fps))
    steps: list[Result] = []
    pipeline.on_result(steps.append)
    pipeline.on_result(lambda r: progress(r.t))
    pipeline.run(handle_signals=False)
    return steps


def run_session(
    classifier: StreamingClassifier,
    clips: Sequence[LabelledClip],
    top_k: TopK,
    fps: float,
    hold: float,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[float], None] = lambda t: None,
) -> SessionScore:
    """Each clip held `hold` seconds, back to back, played live and scored step by step."""
    segments = plan_segments([c.path for c in clips], hold)
    return score_steps(clips, segments, play_session(classifier, segments, top_k, fps, max_pixels, progress))
