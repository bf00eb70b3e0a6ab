"""The desktop window, for real: `python -m app run --preview window` on a virtual X server
(Xvfb), checked on a screenshot of the whole screen, and quit with the keyboard.

The screenshot is Xvfb's own framebuffer (`-fbdir` keeps it in a file, in XWD format),
keys come from xdotool; `setup.sh --dev` installs both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import PROJECT_ROOT, SCREEN, need

from app.overlay import BAR, ROWS, Layout


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
