"""Headless logging on real clips and real processes: --log, --csv, rotation, kills, full disks,
and the `plot` and `summary` commands that read the logs back."""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ROOT, run_app
from PIL import Image
from test_cli_errors import assert_clean_error

from app.logs import jsonlog as eventlog
from app.logs.jsonlog import RotatingFile
from app.logs.plot import PALETTE
from app.logs.read import Step, read_timeline


@pytest.fixture
def model_args(a0_model: Path, labels_path: Path) -> list[str]:
    return ["--model", str(a0_model), "--labels", str(labels_path)]


def run_logged(clip: Path, model_args: list[str], *args: str) -> subprocess.CompletedProcess:
    result = run_app("run", "--source", str(clip), "--quiet", *model_args, *args, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def records(*paths: Path) -> list[dict[str, Any]]:
    """Every line of the files as JSON: fails if any line is not."""
    return [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines()]


def of_type(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in items if r["type"] == kind]


class LiveApp:
    """`python -m app run --realtime --loop --json` as a subprocess, read step by step."""

    def __init__(self, clip: Path, model_args: list[str], stderr: Path, *args: str) -> None:
        command = [sys.executable, "-m", "app", "run", "--source", str(clip), "--realtime", "--loop", "--json"]
        self.stderr_path = stderr
        self._stderr = stderr.open("w")
        self.process = subprocess.Popen(
            [*command, *model_args, *args], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self.printed: list[dict[str, Any]] = []
        self.watchdog = threading.Timer(60, self.process.kill)  # a hung app fails the test, not the suite
        self.watchdog.start()

    def read(self, count: int) -> list[dict[str, Any]]:
        """The next `count` steps printed on stdout (5 a second)."""
        assert self.process.stdout is not None
        lines = [self.process.stdout.readline() for _ in range(count)]
        assert all(lines), f"the app stopped early:\n{self.stderr_path.read_text()}"
        steps = [json.loads(line) for line in lines]
        self.printed += steps
        return steps

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=20)
        self.watchdog.cancel()
        self._stderr.close()
        return code

    def stderr(self) -> str:
        return self.stderr_path.read_text()


@pytest.fixture
def live_apps() -> Iterator[list[LiveApp]]:
    apps: list[LiveApp] = []
    yield apps
    for app in apps:  # a failed test must not leave an app playing forever
        app.watchdog.cancel()
        if app.process.poll() is None:
            app.process.kill()
            app.process.wait()


def assert_logged(printed: list[dict[str, Any]], logged: list[dict[str, Any]]) -> None:
    """Every step printed on stdout is in the log, identical apart from the log's own fields."""
    steps = {r["seq"]: r for r in of_type(logged, "step")}
    for step in printed:
        assert step["seq"] in steps, f"step {step['seq']} was printed but is not in the log"
        assert {k: v for k, v in steps[step["seq"]].items() if k not in ("type", "time")} == step


# ---- a run on a real clip -------------------------------------------------------------


def test_log_and_csv_of_a_clip(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    """carving ice: steps in order at 5/s of stream time, and a "carving ice" event of ~3 s."""
    log, table = tmp_path / "run.jsonl", tmp_path / "run.csv"
    run_logged(clips / "carving_ice_172.mp4", model_args, "--log", str(log), "--csv", str(table))

    logged = records(log)
    assert logged[0]["type"] == "start" and logged[0]["model"] == "movinet_a0_stream_int8.tflite"
    assert logged[-1] == {**logged[-1], "type": "stop", "steps": 22, "lost": 0}
    steps = of_type(logged, "step")
    assert [s["seq"] for s in steps] == list(range(22))
    times = [s["t"] for s in steps]
    assert all(b - a == pytest.approx(0.2, abs=0.02) for a, b in itertools.pairwise(times))
    walls = [s["wall"] for s in steps]
    assert walls == sorted(walls)
    assert all(s["source"] == "carving_ice_172.mp4" and len(s["top"]) == 5 and s["model_ms"] > 0 for s in steps)

    ends = [e for e in of_type(logged, "event") if e["event"] == "end"]
    carving = [e for e in ends if e["label"] == "carving ice"]
    assert len(carving) == 1, ends
    assert carving[0]["start"] == pytest.approx(1.0, abs=0.25)
    assert carving[0]["end"] == pytest.approx(4.2)  # the last step: the event was flushed at shutdown
    assert 2.5 < carving[0]["duration"] < 4.4
    assert carving[0]["peak"] > 0.95
    assert carving[0]["reason"] == "stopped"
    starts = [e for e in of_type(logged, "event") if e["event"] == "start"]
    assert [e["label"] for e in starts] == [e["label"] for e in ends]

    with table.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 22
    assert [float(r["t"]) for r in rows] == pytest.approx(times)
    assert rows[-1]["label1"] == "carving ice" and float(rows[-1]["score1"]) > 0.95
    assert rows[-1]["label5"] and rows[0]["time"].count(":") == 2


def test_one_noisy_frame_makes_no_event(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    """The basketball clip opens with "fencing" at 0.98 for one step: the only event is the shooting."""
    log = tmp_path / "run.jsonl"
    run_logged(clips / "shooting_basketball.mp4", model_args, "--log", str(log))
    first = of_type(records(log), "step")[0]["top"][0]
    assert first["label"] == "fencing (sport)" and first["score"] > 0.9  # the noisy frame is there...
    events = [(e["event"], e["label"]) for e in of_type(records(log), "event")]
    assert events == [("start", "shooting basketball"), ("end", "shooting basketball")]  # ...but no event

    summary = run_app("summary", str(log))
    assert summary.returncode == 0, summary.stderr
    header, row, total = summary.stdout.splitlines()
    assert header.split()[:5] == ["action", "start", "end", "duration", "peak"]
    assert row.startswith("shooting basketball") and "0.4s" in row and "9.8s" in row and "9.4s" in row
    assert total.startswith("1 event(s)")


def test_events_level_and_thresholds(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    """--log-level events keeps start, stop and events only; --event-start 0.99 leaves one event."""
    log = tmp_path / "events.jsonl"
    run_logged(clips / "carving_ice_172.mp4", model_args, "--log", str(log), "--log-level", "events")
    logged = records(log)
    assert {r["type"] for r in logged} == {"start", "event", "stop"}
    assert [e["label"] for e in of_type(logged, "event")] == ["stretching arm"] * 2 + ["carving ice"] * 2

    strict = tmp_path / "strict.jsonl"
    run_logged(clips / "cleaning_pool.mp4", model_args, "--log", str(strict), "--event-start", "0.995")
    ends = [e for e in of_type(records(strict), "event") if e["event"] == "end"]
    assert [(e["label"], e["start"]) for e in ends] == [("cleaning pool", 0.0)]  # 1.00 at once, >= 0.3 to the end
    assert records(strict)[0]["event_start"] == 0.995


# ---- what survives a kill -------------------------------------------------------------


def test_sigkill_loses_no_printed_step(tmp_path: Path, clips: Path, model_args: list[str], live_apps) -> None:
    """Killed mid-run with SIGKILL, the log holds every step the app had printed, all valid JSON."""
    log = tmp_path / "run.jsonl"
    app = LiveApp(clips / "carving_ice_172.mp4", model_args, tmp_path / "stderr.txt", "--log", str(log))
    live_apps.append(app)
    app.read(12)  # 2.4 s of a clip playing in real time, looped
    assert app.stop(signal.SIGKILL) == -signal.SIGKILL

    data = log.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]  # a torn last line, if any, is allowed
    logged = records_from(complete)
    assert logged[0]["type"] == "start"
    assert not of_type(logged, "stop")  # it really died mid-run
    assert_logged(app.printed, logged)

    # Run again into the same log: the new run appends whole records after the old ones.
    log.write_bytes(data + b'{"type": "step", "time": "2025-')  # as if killed mid-write
    run_logged(clips / "carving_ice_172.mp4", model_args, "--log", str(log))
    lines = log.read_text().splitlines()
    torn = [line for line in lines if not is_json(line)]
    assert torn == ['{"type": "step", "time": "2025-']
    assert len(of_type([json.loads(line) for line in lines if is_json(line)], "start")) == 2
    summary = run_app("summary", str(log))
    assert summary.returncode == 0 and "1 unreadable line(s) skipped" in summary.stdout
    assert summary.stdout.count("carving ice") == 2


def records_from(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


# ---- rotation -------------------------------------------------------------------------


def test_rotation_keeps_the_newest_files(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    """50 steps (~30 kB) into 4 kB files, 2 kept: LOG, LOG.1, LOG.2, each whole, in order, newest last."""
    log, table = tmp_path / "run.jsonl", tmp_path / "run.csv"
    limits = ["--log-max-mb", "0.004", "--log-keep", "2"]
    run_logged(clips / "arm_wrestling.mp4", model_args, "--log", str(log), "--csv", str(table), *limits)

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run.csv",
        "run.csv.1",
        "run.csv.2",
        "run.jsonl",
        "run.jsonl.1",
        "run.jsonl.2",
    ]
    files = [tmp_path / "run.jsonl.2", tmp_path / "run.jsonl.1", log]  # oldest first
    assert all(0 < f.stat().st_size <= 4000 for f in files)
    logged = records(*files)
    seqs = [s["seq"] for s in of_type(logged, "step")]
    assert seqs == list(range(seqs[0], 50)) and seqs[0] > 10  # contiguous; the oldest were dropped
    assert logged[-1]["type"] == "stop"

    steps: list[Step] = []
    timeline = read_timeline(log, on_step=steps.append)  # what plot and summary see: the kept files, oldest first
    assert timeline.files == files
    assert [round(s.t, 4) for s in steps] == [s["t"] for s in of_type(logged, "step")]
    assert [span.label for span in timeline.spans] == ["arm wrestling"]

    for path in (tmp_path / "run.csv.2", tmp_path / "run.csv.1", table):
        lines = path.read_text().splitlines()
        assert lines[0].startswith("time,wall,t,source,frame") and len(lines) > 1
        assert path.stat().st_size <= 4000


def test_a_moved_log_is_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Moving the log away while it is written (by hand, or logrotate) starts a new file at the path."""
    monkeypatch.setattr(eventlog, "SYNC_INTERVAL_S", 0.0)
    path = tmp_path / "app.log"
    writer = RotatingFile(path)
    writer.write("one\n")
    path.rename(tmp_path / "saved.log")
    writer.write("two\n")  # still goes to the moved file; the check after it notices the move
    writer.write("three\n")
    writer.close()
    assert (tmp_path / "saved.log").read_text() == "one\ntwo\n"
    assert path.read_text() == "three\n"


def test_rotation_without_kept_files(tmp_path: Path) -> None:
    """--log-keep 0: the full file is dropped and a new one begun; a record never spans two files."""
    path = tmp_path / "app.log"
    writer = RotatingFile(path, max_bytes=100, keep=0)
    for i in range(10):
        writer.write(f"record {i:02d} " + "x" * 20 + "\n")  # 31 bytes: three fit in 100
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["app.log"]
    assert path.read_text() == "record 09 " + "x" * 20 + "\n"  # 0-2, 3-5 and 6-8 were full files


# ---- a full disk ----------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 kB tmpfs: needs root (or CAP_SYS_ADMIN); skipped where mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]).returncode == 0
    )
    if not mounted:
        pytest.skip("cannot mount a small tmpfs here (not root); the /dev/full test covers the error path")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file:
        try:
            while True:
                file.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def test_disk_full_then_space_again(small_disk: Path, tmp_path: Path, clips: Path, model_args, live_apps) -> None:
    """A real full filesystem: the app keeps running, warns once, and logs again once there is room."""
    log = small_disk / "run.jsonl"
    app = LiveApp(clips / "carving_ice_172.mp4", model_args, tmp_path / "stderr.txt", "--log", str(log))
    live_apps.append(app)
    app.read(4)
    filler = fill(small_disk)
    app.read(12)  # still classifying, while records are dropped
    assert app.stderr().count("cannot write log") == 1
    assert "No space left on device" in app.stderr()
    filler.unlink()
    app.read(12)  # retried within a second: logging again
    assert app.stop(signal.SIGTERM) == 0

    stderr = app.stderr()
    assert stderr.count("cannot write log") == 1, stderr  # said once
    assert stderr.count("again;") == 1, stderr
    logged = records(log)  # the torn part of the record that hit the limit was taken back
    gaps = of_type(logged, "gap")
    assert len(gaps) == 1 and gaps[0]["lost"] >= 3
    seqs = [s["seq"] for s in of_type(logged, "step")]
    assert seqs[-1] >= 27 and len(seqs) + gaps[0]["lost"] >= 28  # every step either logged or counted lost
    assert logged[-1]["type"] == "stop" and logged[-1]["lost"] == gaps[0]["lost"]
    assert_logged([s for s in app.printed if s["seq"] < 4], logged)


def test_unwritable_log_device(tmp_path: Path, clips: Path, model_args: list[str], live_apps) -> None:
    """A log that is /dev/full (always "no space"), then a real file: warn once, run on, resume."""
    log = tmp_path / "run.jsonl"
    log.symlink_to("/dev/full")
    app = LiveApp(clips / "carving_ice_172.mp4", model_args, tmp_path / "stderr.txt", "--log", str(log))
    live_apps.append(app)
    app.read(8)
    assert app.stderr().count("cannot write log") == 1
    replacement = tmp_path / "new.jsonl"
    replacement.touch()
    replacement.replace(log)  # "space is back": the path is now a writable file
    app.read(10)
    assert app.stop(signal.SIGINT) == 0
    stderr = app.stderr()
    assert stderr.count("cannot write log") == 1 and stderr.count("again;") == 1, stderr
    logged = records(log)
    assert logged[0]["type"] == "gap" and logged[0]["lost"] >= 5  # the start record and the first steps
    assert of_type(logged, "step") and logged[-1]["type"] == "stop"
    assert_logged(app.printed[-5:], logged)


# ---- bad options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--log-max-mb", "-1"], ["--log-max-mb", "must be at least 0, got -1"]),
        (["--log-max-mb", "ten"], ["--log-max-mb", "expected a number, got 'ten'"]),
        (["--log-keep", "-2"], ["--log-keep", "must be at least 0"]),
        (["--log-keep", "1.5"], ["--log-keep", "expected a whole number"]),
        (["--log-level", "verbose"], ["--log-level", "invalid choice: 'verbose'"]),
        (["--event-start", "1.5"], ["--event-start", "must be between 0 and 1"]),
        (["--event-min-steps", "0"], ["--event-min-steps", "must be at least 1"]),
    ],
)
def test_bad_values(
    tmp_path: Path, clips: Path, model_args: list[str], options: list[str], fragments: list[str]
) -> None:
    """Each value is checked by its option's type: a usage error naming it, exit 2, nothing written."""
    log = tmp_path / "run.jsonl"
    result = run_app("run", "--source", str(clips / "carving_ice_172.mp4"), *model_args, "--log", str(log), *options)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert all(fragment in last for fragment in fragments), last
    assert not log.exists()


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--event-start", "0"], ["--event-start must be above 0 and at most 1"]),
        (["--event-end", "0.6"], ["--event-end must be at least 0 and below the event start (0.5)"]),
    ],
)
def test_inconsistent_values(
    tmp_path: Path, clips: Path, model_args: list[str], options: list[str], fragments: list[str]
) -> None:
    """What depends on two options together is checked before anything is written."""
    log = tmp_path / "run.jsonl"
    result = run_app("run", "--source", str(clips / "carving_ice_172.mp4"), *model_args, "--log", str(log), *options)
    assert_clean_error(result, *fragments)
    assert not log.exists()


@pytest.mark.parametrize(
    ("option", "where", "fragment"),
    [
        ("--log", "missing/run.jsonl", "does not exist"),
        ("--log", ".", "Is a directory"),
        ("--csv", "file.txt/run.csv", "Not a directory"),
    ],
)
def test_unwritable_path(
    tmp_path: Path, clips: Path, model_args: list[str], option: str, where: str, fragment: str
) -> None:
    (tmp_path / "file.txt").write_text("a file, not a directory\n")
    path = tmp_path / where
    result = run_app("run", "--source", str(clips / "carving_ice_172.mp4"), *model_args, option, str(path))
    assert_clean_error(result, "cannot write", str(path), fragment)


# ---- plot -----------------------------------------------------------------------------


def near(image: Image.Image, color: tuple[int, int, int], tolerance: int = 30) -> int:
    """How many pixels are within `tolerance` of `color` on every channel."""
    return sum(
        count
        for count, pixel in image.getcolors(image.width * image.height)
        if all(abs(a - b) <= tolerance for a, b in zip(pixel, color, strict=True))
    )


def test_plot_of_a_log(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    log = tmp_path / "run.jsonl"
    run_logged(clips / "carving_ice_172.mp4", model_args, "--log", str(log))
    result = run_app("plot", str(log), "-o", str(tmp_path / "timeline.png"), "--size", "900x450")
    assert result.returncode == 0, result.stderr
    assert "22 steps, 2 events" in result.stdout
    with Image.open(tmp_path / "timeline.png") as image:
        assert image.format == "PNG" and image.size == (900, 450)
        rgb = image.convert("RGB")
    white = near(rgb, (255, 255, 255), 3)
    assert white < 0.8 * 900 * 450  # not blank
    assert near(rgb, PALETTE[0], 20) > 1000  # the top action's line: carving ice
    assert near(rgb, PALETTE[1], 20) > 300  # the second one: stretching arm
    band = tuple(round(255 - (255 - c) * 0.16) for c in PALETTE[0])
    assert near(rgb, band, 4) > 0.25 * 900 * 450  # the carving ice event, shaded over most of the chart

    default = run_app("plot", str(log))  # without -o: beside the log
    assert default.returncode == 0 and Image.open(tmp_path / "run.png").size == (1200, 600)
    assert_clean_error(run_app("plot", str(log), "-o", str(log)), "is the log", "choose another file")
    assert records(log)[-1]["type"] == "stop"


def test_plot_and_summary_of_classify_json(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    """`classify --json` of two clips: two segments on one axis, events worked out from the steps."""
    output = run_app(
        "classify", "--json", *model_args, str(clips / "carving_ice_172.mp4"), str(clips / "arm_wrestling.mp4")
    )
    assert output.returncode == 0, output.stderr
    steps = tmp_path / "steps.jsonl"
    steps.write_text(output.stdout)
    read: list[Step] = []
    timeline = read_timeline(steps, on_step=read.append)
    assert [source for _, source in timeline.segments] == [
        str(clips / "carving_ice_172.mp4"),
        str(clips / "arm_wrestling.mp4"),
    ]
    xs = [s.x for s in read]
    assert xs == sorted(xs) and xs[-1] == pytest.approx(4.2 + 0.2 + 9.82, abs=0.05)
    assert [s.label for s in timeline.spans] == ["stretching arm", "carving ice", "arm wrestling"]
    assert run_app("plot", str(steps), "-o", str(tmp_path / "t.png")).returncode == 0
    assert Image.open(tmp_path / "t.png").size == (1200, 600)
    summary = run_app("summary", str(steps), "--event-min-steps", "3")  # explicit thresholds: recomputed
    assert summary.returncode == 0, summary.stderr
    assert "stretching arm" not in summary.stdout and "arm wrestling" in summary.stdout


def test_plot_refuses_what_is_not_a_log(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    picture = tmp_path / "picture.png"
    Image.new("RGB", (64, 64), "red").save(picture)
    assert_clean_error(run_app("plot", str(picture), "-o", str(tmp_path / "x.png")), str(picture), "is not a log")
    notes = tmp_path / "notes.txt"
    notes.write_text('{"hello": "world"}\nplain text\n')
    assert_clean_error(run_app("plot", str(notes)), str(notes), "is not a log")
    assert_clean_error(run_app("summary", str(notes)), str(notes), "is not a log")
    assert_clean_error(run_app("plot", str(tmp_path / "absent.jsonl")), "log not found")
    assert_clean_error(run_app("plot", str(notes), "--size", "big"), "--size")

    events = tmp_path / "events.jsonl"
    run_logged(clips / "carving_ice_172.mp4", model_args, "--log", str(events), "--log-level", "events")
    assert_clean_error(run_app("plot", str(events)), "no step records", "summary")
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "events.png").exists()


def test_write_cost_per_step(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    """Logging must stay far below the 200 ms a step has at 5 fps (measured in-process)."""
    from app.events import EventDetector
    from app.inference.labels import Scored
    from app.logs.jsonlog import JsonLog
    from app.results import Result

    top = [Scored(f"label {i}", 0.9 / (i + 1)) for i in range(5)]
    log = JsonLog(tmp_path / "bench.jsonl", EventDetector(), max_bytes=1_000_000, keep=1)
    started = time.perf_counter()
    for i in range(2000):
        log.on_result(Result(i, i * 6, i * 0.2, time.time(), "cam", top, 30.0, 40.0, 5.0, 0, False))
    per_step_ms = (time.perf_counter() - started) / 2000 * 1000
    log.close()
    assert per_step_ms < 1.0, per_step_ms
