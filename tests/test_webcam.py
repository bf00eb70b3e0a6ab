"""USB webcams as users plug them in, against a stand-in camera that OpenCV's own V4L2
backend opens and streams from (tests/fakes/v4l2/fake_v4l2.c, preloaded into the app):
`--source 0`, `/dev/video0` and `auto`, the mode asked for, unplug, replug and a stall."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import PROJECT_ROOT, LiveApp, assert_clean_error
from webcam import FakeWebcam, build_library

from app.sources import v4l2

MODES = "YUYV:640x480,320x240,160x120;MJPG:1280x720,640x480,320x240,160x120"


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_library(tmp_path_factory.mktemp("fake-v4l2"))


@pytest.fixture
def webcam(library: Path, tmp_path: Path, clips: Path) -> FakeWebcam:
    camera = FakeWebcam(tmp_path / "camera", library, MODES)
    camera.folder.mkdir()
    camera.write_frames(clips / "arm_wrestling.mp4")
    return camera


def app_env(camera: FakeWebcam) -> dict[str, str]:
    return {**os.environ, **camera.env()}


def live(camera: FakeWebcam, tmp_path: Path, model_args: list[str], source: str, *args: str) -> LiveApp:
    run_args = ["--source", source, "--preview", "none", *model_args, *args]
    return LiveApp(run_args, tmp_path / "stderr.txt", app_env(camera), watchdog_s=90)


def wait_for(condition, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


# The stand-in itself: OpenCV's V4L2 backend must take it for a camera ---------------------

OPENCV_READS = """
import sys, cv2, numpy as np
capture = cv2.VideoCapture("/dev/video0", cv2.CAP_V4L2)
assert capture.isOpened() and capture.getBackendName() == "V4L2"
fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
ok, image = capture.read()
np.save(sys.argv[1], image)
print(fourcc, int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
"""


def test_opencv_s_own_v4l2_backend_streams_the_clip_from_the_stand_in(webcam, tmp_path):
    """cap_v4l.cpp's own negotiation (YUYV comes before MJPG in its try order, 640x480 its default)
    and its own YUYV decoding give back the clip: the stand-in's encoding is the standard's."""
    import cv2
    import numpy as np

    out = tmp_path / "frame.npy"
    result = subprocess.run(
        [sys.executable, "-c", OPENCV_READS, str(out)], env=app_env(webcam), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["YUYV", "640", "480"]
    image = np.load(out).astype(np.int16)
    expected = [cv2.resize(f, (640, 480), interpolation=cv2.INTER_AREA).astype(np.int16) for f in webcam.frames]
    error = min(np.abs(image - frame).mean() for frame in expected)
    assert error < 3, f"mean error {error:.1f} against the nearest clip frame"
    assert webcam.streams() == ["YUYV 640x480 1/30 4"]


def test_mode_choice_prefers_the_smallest_mjpg_covering_the_model():
    offered = [v4l2.Mode(*m) for m in [("YUYV", 320, 240), ("MJPG", 1280, 720), ("MJPG", 352, 288), ("MJPG", 160, 120)]]
    assert v4l2.choose_mode(offered, (172, 172)) == v4l2.Mode("MJPG", 352, 288)
    assert v4l2.choose_mode(offered[:1], (172, 172)) == v4l2.Mode("YUYV", 320, 240)
    assert v4l2.choose_mode([v4l2.Mode("YUYV", 160, 120)], (172, 172)) is None


# The app with a webcam -------------------------------------------------------------------


@pytest.mark.parametrize("source", ["0", "/dev/video0", "auto"])
def test_a_webcam_streams_small_mjpg_by_number_path_or_auto(webcam, tmp_path, model_args, source):
    """OpenCV's V4L2 backend takes no open parameters: with them, an index never opened."""
    app = live(webcam, tmp_path, model_args, source)
    steps = app.read(5)
    assert app.stop(within=10) == 0, app.stderr()
    assert len(steps) == 5
    assert webcam.streams()[-1] == "MJPG 320x240 1/30 1", webcam.streams()
    assert "/dev/video0: MJPG 320x240 at 30 fps" in app.stderr()
    assert "Traceback" not in app.stderr()


def test_unplug_and_replug_resume_the_stream(webcam, tmp_path, model_args):
    app = live(webcam, tmp_path, model_args, "0")
    app.read(3)
    webcam.unplug()
    wait_for(lambda: "/dev/video0 does not exist" in app.stderr())
    webcam.replug()
    steps = app.read(8)
    assert app.stop(within=10) == 0, app.stderr()
    errors = app.stderr()
    assert "stopped delivering frames" in errors and "reopened" in errors, errors
    assert any(step["reset"] for step in steps), "the stream state restarts after the replug"
    assert "Traceback" not in errors


def test_a_webcam_replugged_at_another_number_is_followed(webcam, tmp_path, model_args):
    """Unplugged while the app still held /dev/video0, the camera came back as /dev/video2:
    the app kept asking for /dev/video0 (one line a second) and never saw a frame again."""
    app = live(webcam, tmp_path, model_args, "0")
    app.read(3)
    webcam.unplug()
    wait_for(lambda: "/dev/video0 does not exist" in app.stderr())
    webcam.replug(number=2)
    steps = app.read(8)
    assert app.stop(within=10) == 0, app.stderr()
    errors = app.stderr()
    assert "/dev/video0 came back as /dev/video2 (Fake Webcam C270 at usb-0000:01:00.0-1.2)" in errors, errors
    assert errors.count("came back as") == 1, errors  # said once, not at each reopen
    assert "/dev/video2: MJPG 320x240 at 30 fps" in errors
    assert any(step["reset"] for step in steps)
    assert "Traceback" not in errors


def test_a_stalled_webcam_read_ends_within_the_read_timeout(webcam, tmp_path, model_args):
    """Only OpenCV's select() timeout can end this read: the app's own stall watchdog is set far off."""
    app = live(webcam, tmp_path, model_args, "0", "--stall-timeout", "120")
    app.read(2)
    webcam.stall()
    wait_for(lambda: "stopped delivering frames" in app.stderr(), seconds=20)
    webcam.stall(False)
    steps = app.read(4)
    assert app.stop(within=10) == 0, app.stderr()
    assert any(step["reset"] for step in steps)


def test_a_missing_device_is_one_line_naming_the_cameras_there_are(webcam, model_args):
    result = run_app(webcam, model_args, "3")
    assert_clean_error(result, "/dev/video3 does not exist", "cameras found: /dev/video0")


HOLDER = """
import cv2, time
capture = cv2.VideoCapture("/dev/video0", cv2.CAP_V4L2)
assert capture.read()[0]
print("streaming", flush=True)
time.sleep(120)
"""


def run_app(camera: FakeWebcam, model_args: list[str], source: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", "run", "--source", source, *model_args],
        cwd=PROJECT_ROOT,
        env={**app_env(camera), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_webcam_another_program_streams_from_is_one_line(webcam, model_args):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], env=app_env(webcam), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "streaming"
        result = run_app(webcam, model_args, "0")
    finally:
        holder.kill()
        holder.wait()
    assert_clean_error(result, "cannot open /dev/video0", "another program")


def test_a_node_that_is_not_a_camera_is_one_line(webcam, model_args):
    """A Pi 4's /dev/video0 is the CSI receiver (unicam): raw sensor data for libcamera, not pictures."""
    result = run_app(webcam, model_args, "0", FAKE_V4L2_DRIVER="unicam")
    assert_clean_error(result, "/dev/video0 is not a camera", "driver unicam", "no V4L2 camera found")
