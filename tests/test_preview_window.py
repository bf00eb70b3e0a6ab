"""The desktop window, for real: `python -m app run --preview window` on a virtual X server
(Xvfb), checked on a screenshot of the whole screen, and quit with the keyboard.

The screenshot is Xvfb's own framebuffer (`-fbdir` keeps it in a file, in XWD format),
keys come from xdotool; `setup.sh --dev` installs both.
"""

from __future__ import annotations

import os
import select
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers import PROJECT_ROOT

from app.overlay import BAR, ROWS, Layout

SCREEN = (1280, 720)


@dataclass
class XServer:
    display: str
    framebuffer: Path
    process: subprocess.Popen  # to kill the server mid-run

    def screenshot(self) -> np.ndarray:
        """The screen as HxWx3 RGB, from the XWD image Xvfb keeps up to date."""
        data = self.framebuffer.read_bytes()
        header = struct.unpack(">25I", data[:100])
        header_size, width, height, bits_per_pixel, bytes_per_line, colours = (
            header[0],
            header[4],
            header[5],
            header[11],
            header[12],
            header[19],
        )
        assert bits_per_pixel == 32, "a 24-bit TrueColor screen is stored as 32-bit pixels"
        pixels = np.frombuffer(data, np.uint8, bytes_per_line * height, header_size + colours * 12)
        return pixels.reshape(height, bytes_per_line // 4, 4)[:, :width, 2::-1]  # B, G, R, pad -> RGB


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: ./setup.sh --dev installs it (apt packages xvfb, xdotool)")
    return path


@pytest.fixture
def xserver(tmp_path: Path) -> Iterator[XServer]:
    """A fresh Xvfb on a free display number (Xvfb picks it and reports it on a pipe)."""
    read_end, write_end = os.pipe()
    width, height = SCREEN
    command = [need("Xvfb"), "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24"]
    command += ["-fbdir", str(tmp_path), "-nolisten", "tcp"]
    server = subprocess.Popen(command, pass_fds=(write_end,), stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 10)
        assert ready, "Xvfb did not start"
        number = os.read(read_end, 16).decode().strip()
        yield XServer(f":{number}", tmp_path / "Xvfb_screen0", server)
    finally:
        os.close(read_end)
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=10)


def bar_pixels(screen: np.ndarray) -> np.ndarray:
    return np.all(screen == BAR[:3], axis=-1)


@pytest.mark.parametrize(
    ("clip", "options", "key", "picture"),
    [
        ("carving_ice_360.mp4", [], "q", (720, 720)),  # 360x360 scaled into the 960x720 window box
        ("shooting_basketball.mp4", ["--fullscreen"], "Escape", (1278, 720)),  # 426x240 fills the screen
    ],
    ids=["window-q", "fullscreen-escape"],
)
def test_window_shows_frames_with_the_overlay_and_quits_on_a_key(
    xserver, clips, a0_model, labels_path, tmp_path, clip, options, key, picture
):
    command = [sys.executable, "-m", "app", "run", "--source", str(clips / clip), "--realtime", "--loop"]
    command += ["--preview", "window", *options, "--json", "--model", str(a0_model), "--labels", str(labels_path)]
    env = {**os.environ, "DISPLAY": xserver.display}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        app = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=stdout, stderr=stderr)
    width, height = picture
    x0 = (SCREEN[0] - width) // 2 if options else 0  # fullscreen centres the picture
    layout = Layout.for_size(picture, ROWS)
    left, top, right, _ = layout.panel
    try:
        # The overlay follows the results: wait until the smoothed top score passes 0.7.
        screen = None
        deadline = time.monotonic() + 30
        while screen is None and time.monotonic() < deadline and app.poll() is None:
            shot = xserver.screenshot()
            bars = np.argwhere(bar_pixels(shot))
            if len(bars) and (bars[:, 0] == bars[0, 0]).sum() >= 0.7 * (right - left - 2 * layout.pad):
                screen = shot
            time.sleep(0.1)
        assert screen is not None, f"no overlay with a confident top label on screen\n{err.read_text()}"

        shown = screen.any(axis=-1)
        columns = np.flatnonzero(shown[height // 2])
        assert abs(columns[0] - x0) <= 2 and abs(columns[-1] + 1 - (x0 + width)) <= 2, "picture placement"
        assert shown[: height - 2, x0 + 2 : x0 + width - 2].mean() > 0.9, "frames fill the picture area"
        bars = np.argwhere(bar_pixels(screen))
        assert bars[:, 1].min() == x0 + left + layout.pad, "bars start at the panel's padding"
        assert bars[:, 1].max() < x0 + right and bars[:, 0].min() > top, "bars stay in the top-left panel"

        subprocess.run([need("xdotool"), "key", key], env=env, check=True, timeout=10)
        assert app.wait(timeout=15) == 0, err.read_text()
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    assert "Traceback" not in err.read_text()
    assert len(out.read_text().splitlines()) >= 3, "results printed while the window ran"
