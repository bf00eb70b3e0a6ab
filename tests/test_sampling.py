"""Frames reach the model at ~5 per second of stream time, whatever the source's rate."""

from __future__ import annotations

import numpy as np
import pytest

from app.inference.sampling import RateSampler
from app.sources.files import read_video


def accepted(timestamps, fps: float = 5.0) -> list[float]:
    sampler = RateSampler(fps)
    return [t for t in timestamps if sampler.accept(t)]


@pytest.mark.parametrize("source_fps", [30.0, 29.97, 25.0, 24.0, 15.0, 7.1, 6.0])
def test_constant_rate_sources_are_sampled_to_5_fps(source_fps):
    duration = 60.0
    times = np.arange(0, duration, 1 / source_fps)
    kept = accepted(times)
    assert len(kept) / duration == pytest.approx(5.0, rel=0.02)
    gaps = np.diff(kept)
    # Never two frames closer than one source frame interval short of the period.
    assert gaps.min() >= 0.2 - 1 / source_fps - 1e-9


def test_variable_rate_source_is_sampled_evenly():
    rng = np.random.default_rng(1)
    times = np.cumsum(rng.uniform(1 / 60, 1 / 12, size=3000))
    kept = accepted(times)
    duration = times[-1] - times[0]
    assert len(kept) / duration == pytest.approx(5.0, rel=0.03)
    assert np.median(np.diff(kept)) == pytest.approx(0.2, abs=0.03)


def test_slower_source_than_model_rate_passes_every_frame():
    times = np.arange(0, 10, 1 / 3)
    assert len(accepted(times)) == len(times)


def test_gap_restarts_schedule_instead_of_bursting():
    times = [*np.arange(0, 2, 1 / 30), *np.arange(10, 12, 1 / 30)]
    kept = accepted(times)
    after_gap = [t for t in kept if t >= 10]
    assert np.diff(after_gap).min() > 0.19
    assert len(after_gap) == 10


def test_other_rates_and_bad_rate():
    assert len(accepted(np.arange(0, 10, 1 / 30), fps=2.0)) == 20
    with pytest.raises(ValueError):
        RateSampler(0)


@pytest.mark.parametrize(("clip", "duration"), [("carving_ice_360.mp4", 6.7), ("riding_horse.gif", 4.6)])
def test_real_files_reach_the_model_at_5_fps(clips, clip, duration):
    sampler = RateSampler(5.0)
    frames = list(read_video(clips / clip, sampler.accept))
    times = [f.t for f in frames]
    assert times == sorted(times)
    assert len(frames) == pytest.approx(duration * 5, abs=2)
