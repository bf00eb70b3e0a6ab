"""Event pictures on a disk that is full or read-only: the run goes on, says so once (and when it
works again), leaves no half-pictures, keeps its caps and never costs the log a record.

The full disk is real: a 1 MB tmpfs mounted by the test (as root; skipped otherwise) and a
real run whose clip changes action every few seconds, so events come all the time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from helpers import PROJECT_ROOT, assert_clean_error, assert_config_problem, run_unprivileged

KEEP = 3


@pytest.fixture(scope="module")
def many_actions(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """Four clips of four actions back to back (40 s): looped, an event starts every second or so."""
    path = tmp_path_factory.mktemp("clip") / "four_actions.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 240))
    for name in ("arm_wrestling.mp4", "carving_ice_172.mp4", "cleaning_pool.mp4", "shooting_basketball.mp4"):
        capture = cv2.VideoCapture(str(clips / name))
        while (read := capture.read())[0]:
            out.write(cv2.resize(read[1], (320, 240)))
        capture.release()
    out.release()
    return path


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MB file system (tmpfs), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a 1 MB tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def event_starts(log: Path) -> int:
    try:
        return log.read_text().count('"event": "start"')
    except FileNotFoundError:
        return 0


def wait_for_starts(log: Path, count: int, process: subprocess.Popen, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while event_starts(log) < count:
        assert process.poll() is None, "the run ended early"
        assert time.monotonic() < deadline, f"fewer than {count} events in {within} s"
        time.sleep(0.2)


def test_a_full_disk_costs_pictures_not_the_log(small_disk, many_actions, tmp_path, model_args):
    log = small_disk / "run.jsonl"
    pictures = small_disk / "pictures"
    filler = small_disk / "filler"
    disk = os.statvfs(small_disk)
    filler.write_bytes(b"\0" * (disk.f_bavail * disk.f_frsize - 150_000))  # room for two or three pictures
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "run", "--source", str(many_actions), "--loop", "--quiet", *model_args,
             "--log", str(log), "--log-level", "events", "--event-min-steps", "1",
             "--event-pictures", str(pictures), "--event-pictures-keep", str(KEEP)],
            cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=errors,
        )  # fmt: skip
        try:
            wait_for_starts(log, 10, process)  # the disk fills up
            filler.unlink()  # and gets room again
            wait_for_starts(log, 20, process)
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
    said = stderr.read_text()
    assert code == 0 and "Traceback" not in said, said
    left = sorted(p.name for p in pictures.iterdir())
    assert not [name for name in left if name.endswith(".partial")], f"half-pictures left: {left}"
    assert 1 <= len(left) <= KEEP, left
    full = [line for line in said.splitlines() if "cannot save event pictures" in line]
    again = [line for line in said.splitlines() if "event pictures are saved" in line and "again" in line]
    assert len(full) == 1 and len(again) == 1, said  # once while it lasts, once when it ends
    assert said.index(full[0]) < said.index(again[0])
    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line whole
    assert not [r for r in records if r["type"] == "gap"], "the log lost records to the pictures"
    assert records[-1]["type"] == "stop"
    assert sum(r.get("event") == "start" for r in records) >= 20


def test_a_read_only_pictures_folder_is_refused_up_front(tmp_path, clips, model_args):
    """Accepted by run and config check before, then one warning per event (232 in 15 s)."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    folder.chmod(0o555)
    clip = clips / "carving_ice_172.mp4"
    result = run_unprivileged("run", "--source", str(clip), "--quiet", *model_args, "--event-pictures", str(folder))
    assert_clean_error(result, f"--event-pictures {folder}: cannot write in {folder}")
    config = tmp_path / "run.toml"
    config.write_text(f'source = "{clip}"\nevent_pictures = "{folder}"\n')
    expected = f"{config}:2: event_pictures {folder}: cannot write in {folder} (read-only, or permission denied)"
    assert_config_problem(run_unprivileged("config", "check", str(config)), expected)
