"""The Pi camera source against tests/fakes/picamera2, a stand-in written from picamera2's
and libcamera's source (its docstring names what each part mirrors): stalls, colour,
strides, buffers, discovery and the errors users meet."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import FAKES, PROJECT_ROOT, LiveApp

from app.errors import AppError
from app.inference.preprocess import Preprocessor
from app.sources import SourceError, open_source
from app.sources.picamera import PiCameraSource, find_pi_camera


def first_frames(source: PiCameraSource, count: int, body: Any = None) -> list[Any]:
    frames = []
    for frame in source.frames(lambda t: True):
        if body is not None:
            body(frame)
        frames.append(frame)
        if len(frames) == count:
            break
    return frames


def opened(**kwargs: Any) -> tuple[PiCameraSource, Any]:
    from picamera2 import Picamera2

    source = PiCameraSource(**kwargs)
    source.open()
    return source, Picamera2.instances[-1]


# 1. A stalled camera: bounded waits, and a close that cannot deadlock ------------------


def test_a_stalled_camera_becomes_a_source_error_within_the_capture_timeout(fake_picamera2):
    source, camera = opened(capture_timeout=0.5)
    first_frames(source, 2)
    camera.fake_stalled = True  # libcamera's frontend timeout: requests come back cancelled
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"no frame for 0\.5 s"):
        first_frames(source, 100)
    assert time.monotonic() - started < 3
    source.close()
    assert camera.closed


def test_close_from_another_thread_ends_a_stalled_capture_without_deadlock(fake_picamera2):
    """picamera2 runs jobs in order: stop() behind a blocked capture would wait for ever."""
    source, camera = opened(capture_timeout=30)
    outcome: list[Any] = []

    def capture() -> None:
        try:
            outcome.append(len(first_frames(source, 1000)))
        except Exception as exc:
            outcome.append(exc)

    reader = threading.Thread(target=capture, daemon=True)
    reader.start()
    time.sleep(0.3)
    camera.fake_stalled = True
    time.sleep(0.5)  # the reader is now waiting inside capture_request
    closer = threading.Thread(target=source.close, daemon=True)
    closer.start()
    closer.join(5)
    reader.join(5)
    assert not closer.is_alive(), "close() deadlocked behind the blocked capture job"
    assert not reader.is_alive()
    assert isinstance(outcome[0], int), f"a cancelled capture is 'closed', not an error: {outcome[0]!r}"
    assert camera.closed


def live_camera(a0_model: Path, labels_path: Path, tmp_path: Path, env: dict[str, str], *args: str) -> LiveApp:
    """`python -m app run --source picam --preview none --json` against the stand-in."""
    run_args = ["--source", "picam", "--preview", "none", "--model", str(a0_model), "--labels", str(labels_path)]
    env = {**_clean_env(), "PYTHONPATH": str(FAKES), **env}
    return LiveApp([*run_args, *args], tmp_path / "stderr.txt", env, watchdog_s=90)


def _clean_env() -> dict[str, str]:
    import os

    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FAKE_PICAMERA_") and k not in ("DISPLAY", "WAYLAND_DISPLAY")
    }


def test_sigterm_during_a_stall_exits_promptly(a0_model, labels_path, tmp_path):
    """The camera stalls after 10 frames; SIGTERM then must not wait for a frame that never comes."""
    app = live_camera(a0_model, labels_path, tmp_path, {"FAKE_PICAMERA_STALL_AFTER": "10"}, "--stall-timeout", "60")
    app.read(2)
    time.sleep(1.0)  # well inside the stall (frame 10 came at 0.33 s), before the capture timeout
    started = time.monotonic()
    assert app.stop(within=10) == 0, app.stderr_path.read_text()
    assert time.monotonic() - started < 8
    assert "Traceback" not in app.stderr_path.read_text()


def test_a_stall_is_recovered_by_reopening_the_camera(a0_model, labels_path, tmp_path):
    """The first camera stalls after 10 frames; the capture timeout reopens it and steps go on."""
    app = live_camera(a0_model, labels_path, tmp_path, {"FAKE_PICAMERA_STALL_AFTER": "10"})
    steps = app.read(12)
    assert app.stop(within=10) == 0
    errors = app.stderr_path.read_text()
    assert "no frame for 3 s" in errors and "reopened" in errors, errors
    assert any(step["reset"] for step in steps[2:]), "the stream state restarts after the reopen"
    assert "Traceback" not in errors


# 2. Colour: the conversion matches the colour space asked for, on Pi 4 and Pi 5 alike --


def model_centre(source: PiCameraSource) -> np.ndarray:
    frame = first_frames(source, 1)[0]
    model_input = Preprocessor(172, 172)(frame.image, frame.order)
    return model_input[0, 0, 86, 86] * 255


@pytest.mark.parametrize("displayed", [True, False], ids=["preview", "headless"])
def test_pi_4_and_pi_5_feed_the_model_the_same_colours(fake_picamera2, monkeypatch, displayed):
    """A 1280x720 video configuration defaults to Rec709; OpenCV's I420 decoding is BT.601."""
    monkeypatch.setenv("FAKE_PICAMERA_COLOUR", "200,30,60")
    centres = {}
    for platform in ("VC4", "PISP"):
        monkeypatch.setenv("FAKE_PICAMERA_PLATFORM", platform)
        source = PiCameraSource()
        source.displayed = displayed
        source.open()
        centres[platform] = model_centre(source)
        source.close()
        np.testing.assert_allclose(centres[platform], [200, 30, 60], atol=3)
    np.testing.assert_allclose(centres["VC4"], centres["PISP"], atol=2)


@pytest.mark.parametrize("colour_space", ["Smpte170m", "Rec709", "Sycc"])
@pytest.mark.parametrize("colour", ["200,30,60", "30,180,220", "20,40,235"])
def test_each_colour_space_the_camera_settles_on_decodes_to_the_scene(
    fake_picamera2, monkeypatch, colour_space, colour
):
    """The stand-in encodes with the standards' printed matrices, the app decodes with its own
    (OpenCV's for BT.601 studio range, Kr/Kb otherwise): a wrong constant shows here."""
    monkeypatch.setenv("FAKE_PICAMERA_COLOUR", colour)
    monkeypatch.setenv("FAKE_PICAMERA_COLOUR_SPACE", colour_space)
    source, _ = opened()
    image = first_frames(source, 1)[0].image
    source.close()
    np.testing.assert_allclose(image[90, 160], [int(v) for v in colour.split(",")], atol=3)


# 3. Stride padding and the configuration the camera chose -------------------------------


@pytest.mark.parametrize(
    ("platform", "adjust", "size"),
    [("VC4", "lores=336x188", (336, 188)), ("PISP", "", (320, 180))],
    ids=["vc4-adjusted-to-336-wide-stride-384", "pisp-yuv420-stride-384"],
)
def test_frames_are_cropped_to_the_width_the_camera_chose(fake_picamera2, monkeypatch, platform, adjust, size):
    monkeypatch.setenv("FAKE_PICAMERA_PLATFORM", platform)
    monkeypatch.setenv("FAKE_PICAMERA_ADJUST", adjust)
    monkeypatch.setenv("FAKE_PICAMERA_SCENE", "halves")
    monkeypatch.setenv("FAKE_PICAMERA_COLOUR", "200,30,60")
    source = PiCameraSource()
    source.displayed = True  # main for a preview, lores for the model
    source.open()
    lores = source.camera.camera_configuration()["lores"]
    assert lores["stride"] == 384 and lores["size"] == size, "the stand-in pads as the hardware does"
    image = first_frames(source, 1)[0].image
    source.close()
    width, height = size
    assert image.shape == (height, width, 3), "padding cropped off, size read back from the camera"
    np.testing.assert_allclose(image[height // 2, 0], [200, 30, 60], atol=4)
    np.testing.assert_allclose(image[height // 2, -1], [55, 225, 195], atol=4)


# 4. Buffers, and a headless camera that does only what is used ---------------------------


def test_requests_are_released_before_the_frame_is_handed_on(fake_picamera2):
    source, camera = opened()
    held = []
    first_frames(source, 10, lambda frame: held.append(len(camera.app_requests)))
    source.close()
    assert held == [0] * 10, "a request held across the yield starves the camera of buffers"
    assert camera.camera_configuration()["buffer_count"] == 6, "picamera2's video default"


def test_with_a_preview_main_is_shown_and_lores_feeds_the_model(fake_picamera2):
    source = PiCameraSource()
    source.displayed = True
    source.open()
    config = source.camera.camera_configuration()
    source.close()
    assert config["main"]["size"] == (1280, 720) and config["main"]["format"] == "XBGR8888"
    assert config["lores"]["size"] == (320, 180) and config["lores"]["format"] == "YUV420"
    assert config["display"] == "main" and config["raw"] is None
    assert config["controls"]["FrameRate"] == 30.0


def test_headless_runs_one_small_stream_near_the_sampling_rate(fake_picamera2):
    source, camera = opened(sample_fps=5.0)
    config = camera.camera_configuration()
    frames = first_frames(source, 4)
    source.close()
    assert config["lores"] is None and config["raw"] is None and config["display"] is None
    assert config["main"]["size"] == (320, 180) and config["main"]["format"] == "YUV420"
    assert config["controls"]["FrameRate"] == 10.0
    assert config["sensor"] == {"output_size": (1280, 720)}, "same sensor mode, same field of view as the kiosk"
    assert [round(f.t, 2) for f in frames] == [0.0, 0.1, 0.2, 0.3]
    assert frames[0].image.shape == (180, 320, 3)


# 6. Discovery and the errors users meet ----------------------------------------------------


def test_no_camera_is_one_clear_error(fake_picamera2, monkeypatch):
    monkeypatch.setenv("FAKE_PICAMERA_CAMERAS", "")
    with pytest.raises(AppError, match=r"no Pi camera found.*rpicam-hello --list-cameras"):
        PiCameraSource().open()


def test_a_usb_webcam_listed_by_libcamera_is_not_a_pi_camera(fake_picamera2, monkeypatch):
    monkeypatch.setenv("FAKE_PICAMERA_CAMERAS", "usb")
    monkeypatch.setattr("app.sources.first_v4l2_device", lambda: "/dev/video0")
    assert find_pi_camera() is False
    source = open_source("auto")
    assert not isinstance(source, PiCameraSource) and source.name == "/dev/video0"
    with pytest.raises(AppError, match=r"USB webcam .*--source /dev/video"):
        PiCameraSource().open()
    monkeypatch.setenv("FAKE_PICAMERA_CAMERAS", "imx708,usb")
    assert find_pi_camera() is True


def test_a_busy_camera_names_the_real_cause(fake_picamera2, monkeypatch):
    monkeypatch.setenv("FAKE_PICAMERA_BUSY", "1")
    with pytest.raises(AppError) as error:
        PiCameraSource().open()
    message = str(error.value)
    assert "Device or resource busy" in message and "__init__ sequence" not in message
    assert "another program" in message


@pytest.mark.parametrize("step", ["configure", "start"])
def test_a_failed_configure_or_start_frees_the_camera_for_the_next_try(fake_picamera2, monkeypatch, step):
    monkeypatch.setenv("FAKE_PICAMERA_FAIL", step)
    with pytest.raises(AppError, match="cannot start the Pi camera"):
        PiCameraSource().open()
    monkeypatch.delenv("FAKE_PICAMERA_FAIL")
    source, _ = opened()  # picamera2's atexit hook would otherwise keep it: "busy"
    assert len(first_frames(source, 2)) == 2
    source.close()


# 7. numpy/ABI mismatch with the system's picamera2 -----------------------------------------


def test_a_numpy_abi_mismatch_is_one_line_with_the_fix(fake_picamera2, monkeypatch, caplog):
    monkeypatch.setenv("FAKE_PICAMERA_IMPORT", "abi")
    for name in [m for m in sys.modules if m.startswith("picamera2")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(AppError, match=r"numpy .*setup\.sh"):
        PiCameraSource().open()
    monkeypatch.setattr("app.sources.first_v4l2_device", lambda: None)
    with pytest.raises(AppError, match="auto found no camera"):
        open_source("auto")
    assert "picamera2 cannot be loaded" in caplog.text and "dtype size changed" in caplog.text


def test_auto_with_an_abi_mismatch_does_not_crash_the_app(a0_model, labels_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "run",
            "--source",
            "auto",
            "--model",
            str(a0_model),
            "--labels",
            str(labels_path),
        ],
        cwd=PROJECT_ROOT,
        env={**_clean_env(), "PYTHONPATH": str(FAKES), "FAKE_PICAMERA_IMPORT": "abi"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "picamera2 cannot be loaded" in result.stderr and "auto found no camera" in result.stderr


# 8. Focus and the frame rate the camera really runs at --------------------------------------


def test_a_camera_module_3_focuses_continuously_unless_told_not_to(fake_picamera2, monkeypatch):
    """libcamera's default AfMode is manual (a fixed lens position); rpicam-apps asks for continuous."""
    source, camera = opened()
    source.close()
    assert camera.controls.get("AfMode") == 2, "AfModeEnum.Continuous"
    source = open_source("picam", autofocus=False)
    source.open()
    assert "AfMode" not in source.camera.controls
    source.close()
    monkeypatch.setenv("FAKE_PICAMERA_CAMERAS", "imx219")  # Camera Module 2: no lens motor, no AfMode
    source, camera = opened()
    assert len(first_frames(source, 2)) == 2
    source.close()
    assert "AfMode" not in camera.controls


def test_no_autofocus_is_a_run_option_and_a_config_key():
    from app.cli import build_parser

    assert build_parser().parse_args(["run", "--no-autofocus"]).no_autofocus is True
    assert build_parser().parse_args(["run"]).no_autofocus is False


def test_the_frame_rate_reported_is_the_one_the_camera_runs_at(fake_picamera2, monkeypatch):
    """30 fps asked of a sensor mode that does at most 20: libcamera holds it to 20."""
    monkeypatch.setenv("FAKE_PICAMERA_MAX_FPS", "20")
    source = PiCameraSource()
    source.displayed = True
    source.open()
    assert source.fps == pytest.approx(20, rel=0.01)
    frames = first_frames(source, 3)
    source.close()
    assert source.fps == pytest.approx(20, rel=0.01)
    assert frames[2].t == pytest.approx(0.1, abs=0.002), "the sensor's own timestamps, 50 ms apart"
