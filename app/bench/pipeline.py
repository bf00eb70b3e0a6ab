"""Whole-pipeline benchmarks: stage costs on a file, CPU use when live, and a soak run."""

from __future__ import annotations

import json
import os
import resource
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from app.bench.model import clip_frames, current_rss_mb
from app.inference.engine import StreamingClassifier
from app.inference.labels import TopK
from app.inference.sampling import DEFAULT_FPS, RateSampler
from app.pipeline import Pipeline, PipelineOptions
from app.results import Result
from app.sources.files import FileSource, read_video


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode_only(clip: Path, fps: float, min_seconds: float = 2.0) -> tuple[float, float]:
    """Frames decoded per second and sampled frames produced per second, decoding alone."""
    decoded = sampled = 0
    started = time.perf_counter()
    while time.perf_counter() - started < min_seconds:
        sampler = RateSampler(fps)
        frames = list(read_video(clip, sampler.accept))
        sampled += len(frames)
        decoded += frames[-1].index + 1 if frames else 0
    elapsed = time.perf_counter() - started
    return decoded / elapsed, sampled / elapsed


def model_only(classifier: StreamingClassifier, clip: Path, steps: int) -> float:
    frames = clip_frames(clip, classifier.input_size, steps)
    started = time.perf_counter()
    for frame in frames:
        classifier.step(frame)
    return steps / (time.perf_counter() - started)


class _Collector:
    """Keeps what the benchmark needs from results, and writes each as a JSON line like a log.

    `keep_last` bounds what is kept, so a soak run measures the app's memory, not ours.
    """

    def __init__(self, pipeline: Pipeline, stop_after: int, sink: object, keep_last: int | None = None) -> None:
        self.pipeline = pipeline
        self.stop_after = stop_after
        self.sink = sink
        self.count = 0
        self.latencies: deque[float] = deque(maxlen=keep_last)
        self.times: deque[float] = deque(maxlen=keep_last)
        self.last: Result | None = None

    def __call__(self, result: Result) -> None:
        self.sink.write(json.dumps(result.as_json()) + "\n")  # type: ignore[attr-defined]
        self.sink.flush()  # type: ignore[attr-defined]
        self.count += 1
        self.latencies.append(result.latency_ms)
        self.times.append(time.perf_counter())
        self.last = result
        if self.count >= self.stop_after:
            self.pipeline.stop()


def run_file_pipeline(
    classifier: StreamingClassifier, top_k: TopK, clip: Path, steps: int, realtime: bool = False
) -> tuple[_Collector, float, float]:
    """Run the real pipeline on a looping clip until `steps` results; returns (results, seconds, cpu)."""
    classifier.reset()
    source = FileSource(clip, realtime=realtime, loop=True)
    pipeline = Pipeline(source, classifier, top_k, PipelineOptions())
    with tempfile.TemporaryFile("w") as sink:
        collector = _Collector(pipeline, steps, sink)
        pipeline.on_result(collector)
        cpu, started = _cpu_seconds(), time.perf_counter()
        pipeline.run(handle_signals=False)
        return collector, time.perf_counter() - started, _cpu_seconds() - cpu


def pipeline_report(classifier: StreamingClassifier, top_k: TopK, clip: Path, steps: int, live_seconds: float) -> dict:
    decoded_per_s, sampled_per_s = decode_only(clip, DEFAULT_FPS)
    model_steps_per_s = model_only(classifier, clip, steps)
    collector, seconds, _ = run_file_pipeline(classifier, top_k, clip, steps)
    assert collector.last is not None
    frames_decoded = collector.last.frame + 1  # frame indices keep counting across loops
    report = {
        "clip": clip.name,
        "decode_only_frames_per_s": decoded_per_s,
        "decode_only_samples_per_s": sampled_per_s,
        "model_only_steps_per_s": model_steps_per_s,
        "pipeline_steps_per_s": collector.count / seconds,
        "pipeline_frames_decoded_per_s": frames_decoded / seconds,
        "pipeline_dropped": collector.last.dropped,
        "latency_p50_ms": float(np.percentile(collector.latencies, 50)),
        "latency_p95_ms": float(np.percentile(collector.latencies, 95)),
    }
    if live_seconds > 0:
        live, seconds, cpu = run_file_pipeline(classifier, top_k, clip, int(live_seconds * DEFAULT_FPS), realtime=True)
        report["live_cpu_seconds_per_second"] = cpu / seconds
        report["live_steps_per_s"] = live.count / seconds
        report["live_latency_p50_ms"] = float(np.percentile(live.latencies, 50))
        report["live_latency_p95_ms"] = float(np.percentile(live.latencies, 95))
    return report


def format_pipeline_report(report: dict) -> str:
    lines = [
        f"Pipeline on {report['clip']} (looped, read as fast as possible):",
        f"  decode only      {report['decode_only_frames_per_s']:8.0f} frames/s decoded "
        f"({report['decode_only_samples_per_s']:.0f} sampled frames/s at 5 fps)",
        f"  model only       {report['model_only_steps_per_s']:8.0f} steps/s",
        f"  whole pipeline   {report['pipeline_steps_per_s']:8.0f} steps/s, "
        f"{report['pipeline_frames_decoded_per_s']:.0f} frames/s decoded, {report['pipeline_dropped']} dropped",
        f"  capture->result  p50 {report['latency_p50_ms']:.1f} ms, p95 {report['latency_p95_ms']:.1f} ms",
    ]
    if "live_cpu_seconds_per_second" in report:
        lines += [
            "Live at 5 fps (file played at its own rate):",
            f"  CPU              {report['live_cpu_seconds_per_second']:.3f} CPU-seconds per second of video "
            f"({report['live_steps_per_s']:.2f} steps/s)",
            f"  capture->result  p50 {report['live_latency_p50_ms']:.1f} ms, "
            f"p95 {report['live_latency_p95_ms']:.1f} ms",
        ]
    return "\n".join(lines)


def soak(classifier: StreamingClassifier, top_k: TopK, clip: Path, steps: int, report_every: int) -> dict:
    """Many steps on a looping clip: memory must stay flat, speed must not decay."""
    classifier.reset()
    source = FileSource(clip, loop=True)
    pipeline = Pipeline(source, classifier, top_k, PipelineOptions())
    with open(os.devnull, "w") as sink:
        collector = _Collector(pipeline, steps, sink, keep_last=report_every)
        pipeline.on_result(collector)
        samples: list[dict] = []
        rss_start: list[float] = []

        def sample_progress(result: Result) -> None:
            count = result.seq + 1
            if count == min(100, steps):
                rss_start.append(current_rss_mb())
            if count % report_every == 0:
                window = collector.times
                rate = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 1 else 0.0
                samples.append({"steps": count, "steps_per_s": rate, "rss_mb": current_rss_mb()})

        pipeline.on_result(sample_progress)
        watchdog = threading.Timer(24 * 3600, pipeline.stop)  # never hang forever
        watchdog.start()
        try:
            pipeline.run(handle_signals=True)
        finally:
            watchdog.cancel()
    return {
        "clip": clip.name,
        "steps": collector.count,
        "rss_start_mb": rss_start[0] if rss_start else float("nan"),
        "rss_end_mb": current_rss_mb(),
        "progress": samples,
    }


def format_soak(report: dict) -> str:
    lines = [f"Soak: {report['steps']} steps on {report['clip']} (looped)"]
    lines += [
        f"  {s['steps']:>7} steps  {s['steps_per_s']:7.1f} steps/s  RSS {s['rss_mb']:.1f} MB"
        for s in report["progress"]
    ]
    growth = report["rss_end_mb"] - report["rss_start_mb"]
    lines.append(
        f"  RSS after warm-up {report['rss_start_mb']:.1f} MB, "
        f"at the end {report['rss_end_mb']:.1f} MB ({growth:+.1f} MB)"
    )
    return "\n".join(lines)
