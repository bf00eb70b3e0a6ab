"""--log, --csv and events on real clips and real processes: what is written, what a kill
leaves, and options refused in one line."""

from __future__ import annotations

import csv
import itertools
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import LiveApp, assert_clean_error, assert_logged, of_type, records, run_app, run_logged

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
    """The basketball clip opens with "fencing" at 0.98 for one step: the only event is the shooting.

    Whole-clip context: with run's 4 s default the clip's change of shot at 6 s also makes
    the action fade for 0.8 s and start again (see test_eval for the live default's events).
    """
    log = tmp_path / "run.jsonl"
    whole_clip = ["--context", "10", "--answer", "longest"]
    run_logged(clips / "shooting_basketball.mp4", model_args, "--log", str(log), *whole_clip)
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
    app = LiveApp.playing(clips / "carving_ice_172.mp4", model_args, tmp_path / "stderr.txt", "--log", str(log))
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
