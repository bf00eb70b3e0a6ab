"""A run ends as after SIGTERM when its terminal hangs up (SIGHUP: an SSH session closing) or
its display goes away (the X server dies, the window is destroyed under `--preview window`):
the log gets its stop record and closes the open event, and the --record MP4 is finished
and plays. Real processes: the app on a real pseudo-terminal, on a real Xvfb.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import cv2
import pytest
from helpers import PROJECT_ROOT, XServer, need

from app.display.xlib import EXIT_DISPLAY_LOST


def records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")]


def logged_steps(log: Path) -> int:
    return sum(r["type"] == "step" for r in records(log)) if log.exists() else 0


def wait_for_steps(log: Path, app: subprocess.Popen, count: int = 15, drain: int | None = None) -> None:
    """Until `count` steps are logged; `drain`: a terminal's master side, read meanwhile so it never fills."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and app.poll() is None:
        if drain is not None:
            with contextlib.suppress(BlockingIOError):
                os.read(drain, 1 << 16)
        if logged_steps(log) >= count:
            return
        time.sleep(0.1)
    pytest.fail(f"no {count} steps logged (exit {app.poll()})")


def frames_in(video: Path) -> int:
    capture = cv2.VideoCapture(str(video))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def run_command(clips: Path, a0_model: Path, labels_path: Path, tmp_path: Path, *flags: str) -> list[str]:
    command = [sys.executable, "-m", "app", "run", "--source", str(clips / "carving_ice_360.mp4")]
    command += ["--realtime", "--loop", "--log", str(tmp_path / "run.jsonl"), "--record", str(tmp_path / "run.mp4")]
    return [*command, "--model", str(a0_model), "--labels", str(labels_path), *flags]


def assert_finished_like_sigterm(tmp_path: Path) -> None:
    """The stop record, the event in progress ended as `stopped`, and a recording that plays."""
    logged = records(tmp_path / "run.jsonl")
    assert logged[-1]["type"] == "stop", logged[-1]
    ends = [r for r in logged if r["type"] == "event" and r["event"] == "end"]
    assert ends and ends[-1]["reason"] == "stopped", "the open event was closed"
    assert frames_in(tmp_path / "run.mp4") > 20, "the MP4 was finished (OpenCV reads its frames back)"


def test_a_terminal_hang_up_stops_the_run_cleanly(clips, a0_model, labels_path, tmp_path):
    """The app on a pseudo-terminal as its controlling terminal; closing the terminal's master
    side (what sshd does when the connection goes) sends it SIGHUP."""
    master, slave = os.openpty()

    def own_terminal() -> None:  # runs in the child after setsid(): take the pty as controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        # A login shell's SIGHUP, whatever this test runner inherited: a suite started with
        # nohup passes SIGHUP ignored on, and the app rightly reads that as "outlive the terminal".
        signal.signal(signal.SIGHUP, signal.SIG_DFL)

    command = run_command(clips, a0_model, labels_path, tmp_path, "--preview", "none")  # a line per step to the tty
    app = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=own_terminal,  # a controlling terminal can only be taken in the child
    )
    os.close(slave)
    os.set_blocking(master, False)
    try:
        wait_for_steps(tmp_path / "run.jsonl", app, drain=master)
        os.close(master)  # the hang-up
        status = app.wait(timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    assert status == 0, f"exit status {status} (-{signal.SIGHUP} is death by SIGHUP)"
    assert_finished_like_sigterm(tmp_path)


def destroy_window(display: str, window: int) -> None:
    """What a window manager or another client may do: XDestroyWindow on our window."""
    libx11 = ctypes.CDLL("libX11.so.6")
    libx11.XOpenDisplay.restype = ctypes.c_void_p
    libx11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    libx11.XDestroyWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    libx11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = libx11.XOpenDisplay(display.encode())
    assert connection, f"cannot open {display}"
    libx11.XDestroyWindow(connection, window)
    libx11.XCloseDisplay(connection)  # flushes the request


def take_the_window_away(how: str, server: XServer, env: dict[str, str]) -> str:
    """Kill the X server or destroy the app's window; the app's last stderr line expected."""
    if how == "x-server-killed":
        server.process.kill()
        return f"error: lost the display {server.display}: the X server closed the connection"
    found = subprocess.run([need("xdotool"), "search", "--class", "movinet"], env=env, capture_output=True, text=True)
    destroy_window(server.display, int(found.stdout.split()[0]))
    return "error: the preview window was destroyed by another program"


@pytest.mark.parametrize("how", ["x-server-killed", "window-destroyed"])
def test_losing_the_display_stops_the_run_cleanly(xserver, clips, a0_model, labels_path, tmp_path, how):
    """Xlib's own handlers would exit() at once (XIO fatal error, or X Error BadWindow), and
    OpenCV then aborts under the running threads (exit -6)."""
    env = {**os.environ, "DISPLAY": xserver.display}
    command = run_command(clips, a0_model, labels_path, tmp_path, "--preview", "window", "--quiet")
    with (tmp_path / "stderr").open("w") as stderr:
        app = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for_steps(tmp_path / "run.jsonl", app)
        expected = take_the_window_away(how, xserver, env)
        status = app.wait(timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    err = (tmp_path / "stderr").read_text()
    assert status == EXIT_DISPLAY_LOST, f"exit status {status}\n{err}"
    assert err.strip().splitlines()[-1] == expected, err
    assert "Traceback" not in err and "XIO" not in err and "X Error" not in err, err
    assert_finished_like_sigterm(tmp_path)
