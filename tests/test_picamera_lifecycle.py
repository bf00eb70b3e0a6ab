"""Opening and closing the Pi camera the way picamera2 really behaves (tests/fakes/picamera2):
old releases that cannot bound a wait, a busy camera retried for hours, and a close that
lands between a capture and its copy."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from typing import Any

import pytest
from helpers import FAKES, PROJECT_ROOT, assert_clean_error

from app.errors import AppError
from app.sources.picamera import PiCameraSource


def reimport(monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    """The stand-in imported afresh with FAKE_PICAMERA_<NAME> settings (some apply at import)."""
    for name, value in env.items():
        monkeypatch.setenv(f"FAKE_PICAMERA_{name}", value)
    for name in [m for m in sys.modules if m.startswith("picamera2")]:
        monkeypatch.delitem(sys.modules, name)
    import picamera2

    return picamera2


# Old picamera2 (before 0.3.20) ------------------------------------------------------------


def test_the_stand_in_plays_an_old_picamera2(fake_picamera2, monkeypatch):
    """v0.3.19: no cancel_all_and_flush, and a numeric wait waits for ever; v0.3.12: no sensor=."""
    picamera2 = reimport(monkeypatch, VERSION="0.3.19")
    camera = picamera2.Picamera2(0)
    assert not hasattr(camera, "cancel_all_and_flush")
    camera.configure(camera.create_video_configuration())
    camera.start()
    camera.fake_stalled = True
    blocked = threading.Thread(target=lambda: camera.capture_request(wait=0.2), daemon=True)
    blocked.start()
    blocked.join(1.5)
    assert blocked.is_alive(), "capture_request(wait=0.2) returned: 0.3.19 ignores a numeric wait"
    picamera2 = reimport(monkeypatch, VERSION="0.3.12", CAMERAS="")
    with pytest.raises(TypeError):
        picamera2.Picamera2.create_video_configuration(None, sensor={})


@pytest.mark.parametrize("version", ["0.3.19", "0.3.12"])
def test_an_old_picamera2_is_refused_with_the_command_to_upgrade(fake_picamera2, monkeypatch, version):
    picamera2 = reimport(monkeypatch, VERSION=version)
    with pytest.raises(AppError, match=r"too old.*sudo apt install --only-upgrade python3-picamera2"):
        PiCameraSource().open()
    assert picamera2.Picamera2.instances == [], "refused before the camera is taken"


def test_an_old_picamera2_is_one_line_from_the_app(a0_model, labels_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_PICAMERA_")}
    model_args = ["--model", str(a0_model), "--labels", str(labels_path)]
    result = subprocess.run(
        [sys.executable, "-m", "app", "run", "--source", "picam", *model_args],
        cwd=PROJECT_ROOT,
        env={**env, "PYTHONPATH": str(FAKES), "FAKE_PICAMERA_VERSION": "0.3.19"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_clean_error(result, "picamera2", "sudo apt install --only-upgrade python3-picamera2")


# A busy camera retried ---------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_retrying_a_busy_camera_keeps_no_file_descriptors(fake_picamera2, monkeypatch):
    """picamera2 opens its notify pipe and registers before acquiring; a reopen every 10 s
    leaking one descriptor a try ends at the 1024 limit in about three hours."""
    monkeypatch.setenv("FAKE_PICAMERA_BUSY", "1")
    with pytest.raises(AppError):
        PiCameraSource().open()  # a first try loads picamera2 and its camera manager
    gc.collect()
    before = open_fds()
    for _ in range(20):
        with pytest.raises(AppError, match="busy"):
            PiCameraSource().open()
    gc.collect()
    assert open_fds() == before
    assert fake_picamera2.Picamera2._cm.cameras == {}
    monkeypatch.delenv("FAKE_PICAMERA_BUSY")
    source = PiCameraSource()
    source.open()  # the camera manager still works for the next real open
    assert next(source.frames(lambda t: True)).image.size
    source.close()


# close() racing frames() ---------------------------------------------------------------------


def test_a_close_between_capture_and_copy_ends_frames_quietly(fake_picamera2, monkeypatch):
    """close() swaps picamera2's allocator: a request captured before it has no buffer left."""
    source = PiCameraSource()
    source.open()
    original = fake_picamera2.Job.get_result
    closed: list[bool] = []

    def get_result(job: Any, timeout: float | None = None) -> Any:
        result = original(job, timeout)
        if isinstance(result, fake_picamera2.CompletedRequest) and not closed:
            closed.append(True)
            source.close()  # the watchdog or shutdown, just after the capture returned
        return result

    monkeypatch.setattr(fake_picamera2.Job, "get_result", get_result)
    assert list(source.frames(lambda t: True)) == []


def test_a_close_just_before_a_capture_is_queued_does_not_wait_out_the_timeout(fake_picamera2, monkeypatch):
    source = PiCameraSource(capture_timeout=30)
    source.open()
    original = fake_picamera2.Picamera2.capture_request
    raced: list[bool] = []

    def capture_request(camera: Any, *args: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append(True)
            closer = threading.Thread(target=source.close, daemon=True)
            closer.start()
            closer.join(0.5)  # let close() run as far as it can before the capture is queued
        return original(camera, *args, **kwargs)

    monkeypatch.setattr(fake_picamera2.Picamera2, "capture_request", capture_request)
    reader = threading.Thread(target=lambda: list(source.frames(lambda t: True)), daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "a capture queued on the closed camera waits out the 30 s timeout"
