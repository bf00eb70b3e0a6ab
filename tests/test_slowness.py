"""The "model too slow" warning judges the model by its own time per step: an outage of
the source is not slowness, and a model that recovers and slows down again is warned of
again."""

from __future__ import annotations

import itertools
import logging
import threading
import time

from helpers import PausableClip

from app.inference.slowness import WINDOW, SlownessWatch
from app.pipeline import Pipeline, PipelineOptions
from app.results import Result


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "steps/s" in r.getMessage()]


def test_warns_when_steps_take_too_long_and_again_after_recovering(caplog):
    caplog.set_level(logging.INFO)
    watch = SlownessWatch(fps=5.0)  # a step may take up to 200 ms
    for model_ms in [40.0] * WINDOW:
        watch.observe(model_ms)
    assert warnings(caplog) == []
    for model_ms in [260.0] * WINDOW * 3:  # 3.8 steps/s: below 90% of 5
        watch.observe(model_ms)
    assert len(warnings(caplog)) == 1, "once, not at every step"
    assert "260 ms a step" in warnings(caplog)[0] and "3.8 steps/s" in warnings(caplog)[0]
    for model_ms in [190.0] * WINDOW:  # back within the budget
        watch.observe(model_ms)
    assert "keeps up with 5 fps again" in caplog.text
    for model_ms in [300.0] * WINDOW:  # a later slowdown (a hot Pi throttling) is reported too
        watch.observe(model_ms)
    assert len(warnings(caplog)) == 2


def test_a_one_off_slow_step_is_no_slowness(caplog):
    watch = SlownessWatch(fps=5.0)
    for model_ms in [40.0] * (WINDOW - 1) + [900.0] + [40.0] * WINDOW:
        watch.observe(model_ms)
    assert warnings(caplog) == []


def test_a_source_outage_is_not_taken_for_a_slow_model(clips, classifier, top_k, caplog):
    """A camera that delivers nothing for 3 s and then carries on, with the real A0 model
    (a few ms a step): the results pause, the model was never slow, so no warning."""
    source = PausableClip(clips / "carving_ice_172.mp4")  # at its own rate, like a camera
    pipeline = Pipeline(source, classifier, top_k, PipelineOptions(stall_timeout=30))  # no reopen
    results: list[Result] = []
    pipeline.on_result(results.append)
    runner = threading.Thread(target=pipeline.run, kwargs={"handle_signals": False})
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while len(results) < 3 * WINDOW and time.monotonic() < deadline:
            time.sleep(0.1)
        source.flowing.clear()
        time.sleep(3)
        source.flowing.set()
        resumed = len(results)
        while len(results) < resumed + 2 * WINDOW and time.monotonic() < deadline + 30:
            time.sleep(0.1)
    finally:
        pipeline.stop()
        runner.join(timeout=30)
    assert pipeline.error is None
    assert len(results) >= resumed + 2 * WINDOW, "the run went on after the outage"
    gap = max(later.wall - earlier.wall for earlier, later in itertools.pairwise(results))
    assert gap > 2.5, "the outage showed in the results"
    assert warnings(caplog) == [], warnings(caplog)
