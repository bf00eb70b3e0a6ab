"""`teach record --preview window`, for real: a clip stands in for the camera, the window opens on a
virtual X server (Xvfb), and what it draws is checked on screenshots, as in test_preview_window.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import PROJECT_ROOT, XServer, assert_clean_error, need, run_app

from app.display.window import WINDOW_BOX
from app.overlay import fit_size
from app.teach.record_view import COUNT, REC

CLIP_SIZE = (340, 256)  # arm_wrestling.mp4


def start_recording(
    xserver: XServer, clips: Path, a0_model: Path, folder: Path, tmp_path: Path, count: int, pause: str
):
    """Takes of 2 s after a 2 s countdown, from a 10 s clip."""
    command = [sys.executable, "-m", "app", "teach", "record", str(folder), "arm wrestling"]
    command += ["--source", str(clips / "arm_wrestling.mp4"), "--count", str(count), "--seconds", "2"]
    command += ["--countdown", "2", "--pause", pause, "--preview", "window"]
    command += ["--model", str(a0_model)]
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        env = {**os.environ, "DISPLAY": xserver.display}
        app = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=stdout, stderr=stderr)
    return app, out, err


def colour_pixels(screen: np.ndarray, colour: tuple[int, ...]) -> np.ndarray:
    return np.all(screen == colour[:3], axis=-1)


def test_the_window_shows_the_countdown_and_the_take_and_takes_are_stored(xserver, clips, a0_model, tmp_path):
    folder = tmp_path / "set"
    app, out, err = start_recording(xserver, clips, a0_model, folder, tmp_path, count=2, pause="0")
    counting = recording = None
    try:
        deadline = time.monotonic() + 60
        while (counting is None or recording is None) and time.monotonic() < deadline and app.poll() is None:
            shot = xserver.screenshot()
            if colour_pixels(shot, COUNT).sum() > 2000:  # a digit a third of the picture high
                counting = shot
            elif colour_pixels(shot, REC).sum() > 200:  # the banner's text
                recording = shot
            time.sleep(0.05)
        assert app.wait(timeout=120) == 0, err.read_text()
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    assert counting is not None, f"no countdown number on screen\n{err.read_text()}"
    assert recording is not None, f"no REC banner on screen\n{err.read_text()}"

    width, height = fit_size(CLIP_SIZE, WINDOW_BOX)  # the picture, at the window's top left on a bare X server
    number = np.argwhere(colour_pixels(counting, COUNT))
    centre_y, centre_x = number.mean(axis=0)
    assert abs(centre_y - height / 2) < height / 10 and abs(centre_x - width / 2) < width / 10, "in the middle"
    top, bottom = number[:, 0].min(), number[:, 0].max()
    assert bottom - top > height / 5, "a large number"
    # The same area while recording: the picture only, no number.
    assert colour_pixels(recording[top : bottom + 1], COUNT).sum() < 0.05 * len(number)
    banner = np.argwhere(colour_pixels(recording, REC))
    assert banner[:, 0].min() > 0.85 * height, "the REC line is along the bottom"

    lines = out.read_text().splitlines()
    assert lines.count("  go!") == 2 and lines[-1].startswith("run `python -m app teach fit"), lines
    assert "arm wrestling: 2 example(s)" in run_app("teach", "list", str(folder)).stdout
    assert "Traceback" not in err.read_text()


@pytest.mark.parametrize(
    ("xdotool", "status"),
    [(["key", "q"], 0), (["search", "--name", "teach record", "windowclose"], 1)],
    ids=["user-closes", "another-program-destroys"],
)
def test_closing_the_window_ends_the_recording_and_keeps_the_takes_done(
    xserver, clips, a0_model, tmp_path, xdotool, status
):
    folder = tmp_path / "set"
    app, out, err = start_recording(xserver, clips, a0_model, folder, tmp_path, count=3, pause="1")
    try:
        deadline = time.monotonic() + 60
        while "take 1: stored" not in out.read_text() and time.monotonic() < deadline and app.poll() is None:
            time.sleep(0.05)
        assert "take 1: stored" in out.read_text(), err.read_text()
        # The pause and countdown before take 2 (3 s) leave time for the key.
        subprocess.run([need("xdotool"), *xdotool], env={**os.environ, "DISPLAY": xserver.display}, timeout=10)
        assert app.wait(timeout=60) == status, err.read_text()
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    assert "arm wrestling: 1 example(s)" in run_app("teach", "list", str(folder)).stdout
    if status == 0:  # the user's choice: no error
        last = out.read_text().splitlines()[-1]
        assert last.startswith("the preview window was closed: 1 of 3 takes stored; run `python -m app teach fit")
        assert err.read_text() == ""
    else:
        result = subprocess.CompletedProcess([], status, out.read_text(), err.read_text())
        assert_clean_error(result, "destroyed by another program", "takes done so far are kept")


def test_a_window_without_a_display_is_one_error_line(tmp_path, clips, a0_model):
    result = run_app("teach", "record", str(tmp_path / "set"), "arm wrestling", "--source",
                     str(clips / "arm_wrestling.mp4"), "--preview", "window", "--model", str(a0_model),
                     env={"DISPLAY": ""})  # fmt: skip
    assert_clean_error(result, "--preview window needs a display", "$DISPLAY is not set")
    assert not (tmp_path / "set").exists()
