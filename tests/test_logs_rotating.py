"""The durable log writer on real files: rotation by size, a moved log, a full disk and a
failing device, with a real app running."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LiveApp, assert_logged, of_type, records, run_logged

from app.logs import rotating
from app.logs.read import Step, read_timeline
from app.logs.rotating import RotatingFile

# ---- rotation -------------------------------------------------------------------------


def test_rotation_keeps_the_newest_files(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    """50 steps (~30 kB) into 4 kB files, 2 kept: LOG, LOG.1, LOG.2, each whole, in order, newest last."""
    log, table = tmp_path / "run.jsonl", tmp_path / "run.csv"
    limits = ["--log-max-mb", "0.004", "--log-keep", "2"]
    run_logged(clips / "arm_wrestling.mp4", model_args, "--log", str(log), "--csv", str(table), *limits)

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pictures",  # the event pictures beside the log
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
    monkeypatch.setattr(rotating, "SYNC_INTERVAL_S", 0.0)
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
    app = LiveApp.playing(clips / "carving_ice_172.mp4", model_args, tmp_path / "stderr.txt", "--log", str(log))
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
    app = LiveApp.playing(clips / "carving_ice_172.mp4", model_args, tmp_path / "stderr.txt", "--log", str(log))
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
