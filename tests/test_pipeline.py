"""The live pipeline with a real video file standing in for a camera, faults included."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from helpers import PROJECT_ROOT, FlakyCamera, run_app

from app.pipeline import Mailbox, Pipeline, PipelineOptions, Stage
from app.results import Result
from app.sources import FileSource


def run_pipeline(pipeline: Pipeline, seconds: float | None = None) -> list[Result]:
    results: list[Result] = []
    pipeline.on_result(results.append)
    if seconds is not None:
        threading.Timer(seconds, pipeline.stop).start()
    pipeline.run(handle_signals=False)
    return results


def test_realtime_file_gives_five_results_a_second(clips, classifier, top_k):
    """A file played at its own rate behaves like a camera: ~5 results/s, right label, low latency."""
    source = FileSource(clips / "carving_ice_360.mp4", realtime=True)
    results = run_pipeline(Pipeline(source, classifier, top_k))
    walls = np.array([r.wall for r in results])
    assert len(results) == pytest.approx(6.7 * 5, abs=2)
    assert np.median(np.diff(walls)) == pytest.approx(0.2, abs=0.03)
    assert results[-1].top[0].label == "carving ice"
    assert results[-1].model_fps == pytest.approx(5.0, rel=0.1)
    assert np.median([r.latency_ms for r in results]) < 100
    assert all(r.dropped == 0 for r in results)
    assert [r.seq for r in results] == list(range(len(results)))


def test_full_speed_file_loses_no_sampled_frame(clips, classifier, top_k):
    """Read as fast as possible, a file waits for the model rather than dropping frames."""
    results = run_pipeline(Pipeline(FileSource(clips / "arm_wrestling.mp4"), classifier, top_k))
    assert len(results) == 50
    assert results[-1].dropped == 0
    assert results[-1].top[0].label == "arm wrestling"


def test_result_listeners_run_by_stage_and_once_however_attached(clips, classifier, top_k):
    """The watchdog hears last and the log first, whatever order outputs were wired in."""
    pipeline = Pipeline(FileSource(clips / "arm_wrestling.mp4"), classifier, top_k)
    calls: list[str] = []

    class Shared:  # like the one overlay that several outputs ask to have updated
        def update(self, result: Result) -> None:
            calls.append("overlay")

    shared = Shared()
    pipeline.on_result(lambda r: calls.append("watchdog"), Stage.WATCHDOG)
    pipeline.on_result(lambda r: calls.append("console"))
    pipeline.on_result(shared.update, Stage.OVERLAY)
    pipeline.on_result(lambda r: calls.append("web"))
    pipeline.on_result(shared.update, Stage.OVERLAY)
    pipeline.on_result(lambda r: calls.append("log"), Stage.LOG)
    results = run_pipeline(pipeline)
    assert calls[:5] == ["log", "overlay", "console", "web", "watchdog"]
    assert len(calls) == 5 * len(results)


@pytest.mark.parametrize("fault", ["raise", "stall"])
def test_failing_camera_is_reopened_and_the_run_continues(clips, classifier, top_k, fault):
    camera = FlakyCamera(clips / "carving_ice_172.mp4", fault)
    pipeline = Pipeline(camera, classifier, top_k, PipelineOptions(stall_timeout=1.0))
    results = run_pipeline(pipeline, seconds=6.0)
    assert camera.opens == 2
    assert pipeline.reopens == 1
    resets = [r for r in results if r.reset]
    assert len(resets) == 1, "the stream state is reset once, when the camera comes back"
    after = [r for r in results if r.seq > resets[0].seq]
    assert len(after) >= 5, "results keep coming after the reopen"
    assert pipeline.error is None


def test_reset_after_a_gap_in_stream_time(clips, classifier, top_k):
    """--reset-after: a jump in timestamps (looping file restarting) starts a new stream."""
    source = FileSource(clips / "carving_ice_172.mp4", loop=True)
    options = PipelineOptions(reset_after=0.1)  # every sampled step is 0.2 s apart: always a "gap"
    results = run_pipeline(Pipeline(source, classifier, top_k, options), seconds=1.0)
    assert len(results) > 3
    assert all(r.reset for r in results[1:])


def test_mailbox_keeps_only_the_newest_and_counts_drops():
    stop = threading.Event()
    box = Mailbox()
    for item in range(5):
        box.put(item, stop)
    assert box.get(timeout=0.1) == 4
    assert box.dropped == 4
    assert box.get(timeout=0.05) is None


def test_unopenable_sources_exit_non_zero_with_one_line(a0_model, labels_path, tmp_path):
    for source in ["/dev/video99", str(tmp_path / "missing.mp4")]:
        done = run_app("run", "--source", source, "--model", str(a0_model), "--labels", str(labels_path))
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("error: ")
        assert source in done.stderr


def test_sigterm_mid_run_exits_zero_with_every_result_flushed(clips, a0_model, labels_path):
    command = [sys.executable, "-m", "app", "run", "--source", str(clips / "carving_ice_172.mp4")]
    command += ["--realtime", "--loop", "--json", "--model", str(a0_model), "--labels", str(labels_path)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(json.loads(line))
        if len(seen) == 8:
            break
    process.send_signal(signal.SIGTERM)
    rest, errors = process.communicate(timeout=20)
    assert process.returncode == 0, errors
    lines = [json.loads(line) for line in rest.splitlines()]
    records = seen + lines
    assert [r["seq"] for r in records] == list(range(len(records)))
    assert "Traceback" not in errors


def test_restart_with_runs_the_change_on_the_inference_thread_then_a_new_stream(clips, classifier, top_k):
    """The Teach page swaps the head this way: between two steps, and the next result says reset."""
    pipeline = Pipeline(FileSource(clips / "carving_ice_172.mp4", realtime=True, loop=True), classifier, top_k)
    results: list[Result] = []
    pipeline.on_result(results.append)
    runner = threading.Thread(target=pipeline.run, kwargs={"handle_signals": False})
    runner.start()
    changed: list[tuple[str, int]] = []  # (thread, results before the change)
    try:
        deadline = time.monotonic() + 20
        while len(results) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        pipeline.restart_with(lambda: changed.append((threading.current_thread().name, len(results))))
        while (not changed or len(results) <= changed[0][1]) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pipeline.stop()
        runner.join(timeout=30)
    assert pipeline.error is None
    assert changed and changed[0][0] == "inference", changed
    after = results[changed[0][1]]
    assert after.reset and not any(r.reset for r in results[: changed[0][1]])
