"""`python -m app bench`: per-step cost of each model and runtime on this board.

Every figure is a median over interleaved rounds, and the engine's cost is always set
against a bare `invoke()` of the same model measured in the same process, in the same
rounds, so the overhead ratio holds on a noisy, shared machine even when absolute
times drift.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from app.classify import classify_video
from app.inference.engine import StreamingClassifier
from app.inference.labels import TopK
from app.inference.preprocess import Preprocessor
from app.inference.sampling import DEFAULT_FPS, RateSampler
from app.results import scored_text
from app.sources.files import read_video


@dataclass
class BenchRow:
    model: str
    quantization: str
    runtime: str
    threads: int
    size_mb: float
    median_ms: float
    p90_ms: float
    steps_per_s: float
    invoke_ms: float
    overhead_pct: float
    peak_rss_mb: float
    top1: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


COLUMNS = [
    ("model", "model", "{}"),
    ("quantization", "quant", "{}"),
    ("runtime", "runtime", "{}"),
    ("threads", "threads", "{}"),
    ("size_mb", "size MB", "{:.1f}"),
    ("median_ms", "median ms", "{:.2f}"),
    ("p90_ms", "p90 ms", "{:.2f}"),
    ("steps_per_s", "steps/s", "{:.0f}"),
    ("invoke_ms", "bare invoke ms", "{:.2f}"),
    ("overhead_pct", "overhead %", "{:+.1f}"),
    ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
    ("top1", "top-1 on clip", "{}"),
]


def quantization_of(path: Path) -> str:
    name = path.name.lower()
    for tag in ("int8", "float16", "fp16", "float32"):
        if tag in name:
            return "float16" if tag == "fp16" else tag
    return "?"


def reset_peak_rss() -> None:
    """Linux lets a process reset its own peak-RSS mark, so each row gets its own peak."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _proc_status_mb(field: str) -> float | None:
    """A memory figure from /proc/self/status (Linux), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    peak = _proc_status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    current = _proc_status_mb("VmRSS")
    return current if current is not None else float("nan")


def clip_frames(clip: Path | None, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """Model inputs to time with: the clip's sampled frames, else fixed random images."""
    if clip is None:
        rng = np.random.default_rng(0)
        return [rng.random((1, 1, *size, 3), dtype=np.float32) for _ in range(count)]
    sampler = RateSampler(DEFAULT_FPS)
    preprocess = Preprocessor(*size)
    frames = [preprocess(f.image, f.order).copy() for f in read_video(clip, sampler.accept)]
    return [frames[i % len(frames)] for i in range(count)]


def time_engine(
    classifier: StreamingClassifier, frames: list[np.ndarray], rounds: int
) -> tuple[list[float], list[float]]:
    """Per-step times (ms) of full engine steps and of bare invokes, interleaved by round."""
    steps: list[float] = []
    invokes: list[float] = []
    clock = time.perf_counter
    for frame in frames[:10]:  # warm-up: XNNPACK packs weights on first use
        classifier.step(frame)
    for _ in range(rounds):
        for frame in frames:
            started = clock()
            classifier.step(frame)
            steps.append((clock() - started) * 1000)
        for _ in frames:
            started = clock()
            classifier.invoke_only()
            invokes.append((clock() - started) * 1000)
    return steps, invokes


def bench_model(
    model: Path,
    runtime: str,
    threads: int,
    clip: Path | None,
    steps: int,
    rounds: int,
    top_k: TopK | None,
) -> BenchRow:
    reset_peak_rss()
    classifier = StreamingClassifier(model, runtime=runtime, threads=threads)
    frames = clip_frames(clip, classifier.input_size, steps)
    step_ms, invoke_ms = time_engine(classifier, frames, rounds)
    top1 = "-"
    if clip is not None and top_k is not None:
        last = next(iter(deque(classify_video(classifier, clip, top_k, fps=DEFAULT_FPS), maxlen=1)), None)
        if last is not None and last.top:
            top1 = scored_text(last.top[0])
    median, invoke = float(np.median(step_ms)), float(np.median(invoke_ms))
    return BenchRow(
        model=model.name,
        quantization=quantization_of(model),
        runtime=classifier.runtime,
        threads=threads,
        size_mb=os.path.getsize(model) / 1e6,
        median_ms=median,
        p90_ms=float(np.percentile(step_ms, 90)),
        steps_per_s=1000 / median,
        invoke_ms=invoke,
        overhead_pct=(median / invoke - 1) * 100,
        peak_rss_mb=peak_rss_mb(),
        top1=top1,
    )


def format_table(rows: list[BenchRow], markdown: bool) -> str:
    header = [title for _, title, _ in COLUMNS]
    body = [[fmt.format(getattr(row, key)) for key, _, fmt in COLUMNS] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(cells[i]) for cells in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) for cells in body]
    return "\n".join(lines)


def runtime_ratios(rows: list[BenchRow]) -> list[str]:
    """Each LiteRT path's speed-up over tflite-runtime, per model and thread count, from one run."""
    notes = []
    by_key = {(r.model, r.threads, r.runtime): r for r in rows}
    for (model, threads, runtime), row in by_key.items():
        other = by_key.get((model, threads, "tflite"))
        if runtime != "tflite" and other is not None:
            notes.append(
                f"{model}, {threads} thread(s): {runtime} is {other.median_ms / row.median_ms:.1f}x faster "
                "per step than tflite-runtime"
            )
    return notes
