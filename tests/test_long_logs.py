"""summary and plot on logs of killed runs, of many actions and of many hours.

Long logs are written by tests/long_log.py through the app's own JsonLog, so the
records are the app's; the killed run is a real process killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from helpers import PROJECT_ROOT, run_app
from long_log import write_long_log
from PIL import Image

from app.logs.plot import OTHER, PALETTE, _clock, _ticks, draw_timeline
from app.logs.read import read_timeline
from app.logs.series import ScoreSeries


def test_summary_counts_an_event_open_when_the_run_was_killed(tmp_path, clips, a0_model, labels_path):
    log = tmp_path / "run.jsonl"
    command = [sys.executable, "-m", "app", "run", "--source", str(clips / "carving_ice_172.mp4"), "--realtime"]
    command += ["--loop", "--quiet", "--preview", "none", "--log", str(log)]
    command += ["--model", str(a0_model), "--labels", str(labels_path)]
    run = subprocess.Popen(command, cwd=PROJECT_ROOT, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and b'"event": "start"' not in (log.read_bytes() if log.exists() else b""):
            time.sleep(0.2)
        time.sleep(2.0)  # the event goes on for two more seconds of steps
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    summary = run_app("summary", str(log))
    assert summary.returncode == 0, summary.stderr
    row = next(line for line in summary.stdout.splitlines() if line.startswith("carving ice"))
    duration = row.split()[4]
    assert duration.endswith("s+") and float(duration[:-2]) >= 1.5, row  # was "open", counted as 0
    total = summary.stdout.splitlines()[-1]
    assert "0.0s in all" not in total and "1 still going when the log ends" in total, total


@pytest.fixture(scope="module")
def many_actions_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two minutes with a new action every 4-8 s: twelve actions or more."""
    path = tmp_path_factory.mktemp("logs") / "busy.jsonl"
    write_long_log(path, hours=120 / 3600, actions=14, scene_s=(4, 8), killed=False)
    return path


def near(image: Image.Image, color: tuple[int, int, int], tolerance: int = 12) -> int:
    return sum(
        count
        for count, pixel in image.getcolors(image.width * image.height)
        if all(abs(a - b) <= tolerance for a, b in zip(pixel, color, strict=True))
    )


def test_plot_draws_ten_actions_and_the_others(many_actions_log, tmp_path):
    picture = tmp_path / "busy.png"
    done = run_app("plot", str(many_actions_log), "-o", str(picture), "--top", "10")  # was refused above 6
    assert done.returncode == 0, done.stderr
    with Image.open(picture) as image:
        rgb = image.convert("RGB")
    for color in PALETTE:  # every one of the ten lines is there, in its own colour
        assert near(rgb, color) > 150, color
    assert near(rgb, OTHER, 6) > 300  # the grey line and bands of the remaining actions
    too_many = run_app("plot", str(many_actions_log), "--top", "11")
    assert too_many.returncode == 2 and "at most 10" in too_many.stderr and "Traceback" not in too_many.stderr


@pytest.mark.parametrize(
    ("x_max", "first_labels"),
    [
        (4.2, ["0s", "0.5s", "1s"]),
        (120, ["0:00", "0:10", "0:20"]),
        (7 * 3600, ["0:00", "1:00", "2:00"]),
        (3 * 86400, ["0d", "0d 6h", "0d 12h"]),
        (30 * 86400, ["0d", "7d", "14d"]),
    ],
    ids=["clip", "minutes", "7-hours", "3-days", "a-month"],
)
def test_the_time_axis_stays_readable_from_seconds_to_weeks(x_max, first_labels):
    ticks = _ticks(x_max, 1100 / 90)
    labels = [_clock(x, x_max) for x in ticks]
    assert 3 <= len(ticks) <= 14, labels  # a month had 60 ticks reading "720:00"
    assert labels[:3] == first_labels
    assert len(set(labels)) == len(labels)


def plot_peak_bytes(log: Path) -> int:
    """Peak Python memory of reading and drawing `log`, in this process."""
    tracemalloc.start()
    try:
        series = ScoreSeries()
        timeline = read_timeline(log, on_step=series.add)
        draw_timeline(timeline, series, (1200, 600))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_plot_and_summary_memory_do_not_grow_with_the_log(tmp_path):
    """Three times the log, about the same memory: one streaming pass, per-interval averages.

    Reading every step into memory (as before) made memory grow with the log:
    ~600 MB for 7 hours. Here a 0.4-hour and a 1.2-hour log must peak alike.
    """
    short, long = tmp_path / "short.jsonl", tmp_path / "long.jsonl"
    write_long_log(short, hours=0.4)
    write_long_log(long, hours=1.2)
    assert long.stat().st_size > 2.9 * short.stat().st_size
    short_peak, long_peak = plot_peak_bytes(short), plot_peak_bytes(long)
    assert long_peak < 1.3 * short_peak, (short_peak, long_peak)
    assert long_peak < 40e6, long_peak  # the 1200x600 picture drawn at twice the size is most of it
    tracemalloc.start()
    try:
        read_timeline(long)  # what summary reads
        summary_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary_peak < 5e6, summary_peak
