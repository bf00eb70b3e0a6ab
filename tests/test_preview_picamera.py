"""The Pi camera's own preview, against the stand-in picamera2 in tests/fakes: which
preview is asked for, where, the overlays it is handed as results arrive, and what
happens when the screen is not the app's."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.cli import build_parser
from app.display import drm
from app.display.preview import attach_outputs, choose_preview
from app.errors import AppError
from app.overlay import BAR, overlay_for
from app.pipeline import Pipeline
from app.settings.model import open_classifier
from app.settings.run import run_settings
from app.sources import FileSource, open_source
from app.sources.picamera import PiCameraSource

RESULTS = 4


@pytest.fixture
def fake_picamera2(fake_picamera2: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stand-in, also noting whether the camera ran when a preview started; no screen here."""
    monkeypatch.setattr(drm, "screen_is_free", lambda: None)
    original = fake_picamera2.Picamera2.start_preview

    def start_preview(self: Any, preview: Any = None, **kwargs: Any) -> None:
        self.started_before_preview = self.started
        original(self, preview, **kwargs)

    monkeypatch.setattr(fake_picamera2.Picamera2, "start_preview", start_preview)
    return fake_picamera2


def run_camera(a0_model: Path, labels_path: Path, *options: str, results: int = RESULTS) -> Any:
    """`run --source picam OPTIONS` in-process until `results` results: the last camera used.

    The run happens on a thread of its own, so a run that hangs fails the test instead of
    hanging the suite; an AppError from the run is raised here.
    """
    from picamera2 import Picamera2

    args = build_parser().parse_args(
        ["run", "--source", "picam", "--model", str(a0_model), "--labels", str(labels_path), *options]
    )
    settings = run_settings(args, env={})
    classifier, top_k = open_classifier(settings.model)
    pipeline = Pipeline(open_source("picam"), classifier, top_k, settings.pipeline)
    overlay = overlay_for(settings.overlay, classifier.model_path.stem)
    assert attach_outputs(pipeline, settings.preview, overlay) is None, "picamera2 runs its own loop"
    seen = []

    def collect(result: Any) -> None:
        seen.append(result)
        if len(seen) == results:
            pipeline.stop()

    pipeline.on_result(collect)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.run(handle_signals=False)
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "the run hung"
    if errors:
        raise errors[0]
    assert len(seen) == results
    return Picamera2.instances[-1]


def assert_overlays(camera: Any, height: int, width: int) -> None:
    assert 1 <= len(camera.overlays) <= RESULTS, "at most one new overlay per result"
    for overlay in camera.overlays:
        assert overlay.shape == (height, width, 4) and overlay.dtype == np.uint8, "RGBA, the size shown"
        alpha = overlay[..., 3]
        assert alpha[0, 0] == 0 and alpha[-1, -1] == 0 and (alpha > 0).mean() > 0.05, "a panel on transparency"
    assert np.all(camera.overlays[-1] == BAR, axis=-1).any(), "score bars drawn"
    assert set(camera.overlay_threads) == {"picamera-overlay"}, "drawn and handed over off the inference thread"


def test_desktop_gets_the_qt_gl_preview_before_the_camera_starts(fake_picamera2, monkeypatch, a0_model, labels_path):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(drm, "display_size", lambda: (1920, 1080))
    camera = run_camera(a0_model, labels_path)
    assert camera.previews == [("QTGL", {"width": 1280, "height": 720})]
    assert camera.started_before_preview is False, "picamera2 refuses a preview once the camera runs"
    assert_overlays(camera, 720, 1280)


def test_console_kiosk_gets_a_fullscreen_drm_preview_and_an_overlay_no_larger_than_the_picture(
    fake_picamera2, monkeypatch, a0_model, labels_path
):
    """A full-HD overlay would be a new 8 MB frame buffer five times a second; the preview scales it."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(drm, "display_size", lambda: (1920, 1080))
    camera = run_camera(a0_model, labels_path, "--fullscreen")
    assert camera.previews == [("DRM", {"x": 0, "y": 0, "width": 1920, "height": 1080})]
    assert_overlays(camera, 720, 1280)


def test_a_small_display_gets_a_window_and_overlay_that_fit(fake_picamera2, monkeypatch, a0_model, labels_path):
    monkeypatch.setattr(drm, "display_size", lambda: (800, 480))
    camera = run_camera(a0_model, labels_path, "--preview", "drm")
    assert camera.previews == [("DRM", {"width": 800, "height": 450})]
    assert_overlays(camera, 450, 800)


def test_auto_preview_that_cannot_start_runs_headless(fake_picamera2, monkeypatch, a0_model, labels_path, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)

    original = fake_picamera2.Picamera2.start_preview

    def no_drm(self: Any, preview: Any = None, **kwargs: Any) -> None:
        if preview == fake_picamera2.Preview.DRM:
            raise RuntimeError("Failed to reserve DRM plane")
        original(self, preview, **kwargs)  # the null preview camera.start() runs

    monkeypatch.setattr(fake_picamera2.Picamera2, "start_preview", no_drm)
    with caplog.at_level(logging.WARNING):
        camera = run_camera(a0_model, labels_path)
    assert camera.overlays == [] and camera.previews == [("NULL", {})], "no preview, no overlays, but the model ran"
    assert "cannot start the Pi camera's drm preview: Failed to reserve DRM plane" in caplog.text
    with pytest.raises(AppError, match="drm preview: Failed to reserve DRM plane"):
        run_camera(a0_model, labels_path, "--preview", "drm")
    assert fake_picamera2.Picamera2.instances[-1].closed, "the camera is released for a retry"


def test_a_drm_preview_failing_on_its_first_frame_is_an_error_not_a_blank_screen(
    fake_picamera2, monkeypatch, a0_model, labels_path
):
    """picamera2 reserves the plane on the first frame in its own thread: start_preview succeeds."""
    monkeypatch.setenv("FAKE_PICAMERA_DRM", "no-plane")
    with pytest.raises(AppError, match="drm preview failed on its first frame: Failed to reserve DRM plane"):
        run_camera(a0_model, labels_path, "--preview", "drm")
    assert fake_picamera2.Picamera2.instances[-1].closed


def test_auto_falls_back_to_headless_when_the_drm_preview_dies(
    fake_picamera2, monkeypatch, a0_model, labels_path, caplog
):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("FAKE_PICAMERA_DRM", "no-plane")
    with caplog.at_level(logging.WARNING):
        camera = run_camera(a0_model, labels_path, results=2)
    assert "drm preview failed on its first frame: Failed to reserve DRM plane" in caplog.text
    assert "running without a preview" in caplog.text
    assert camera.previews == [("NULL", {})], "reopened headless"
    assert camera.camera_configuration()["display"] is None
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("requested", "native", "env", "screen_free", "expected"),
    [
        ("auto", True, {"DISPLAY": ":0"}, False, "qt"),
        ("auto", True, {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, False, "qt"),
        ("auto", True, {"WAYLAND_DISPLAY": "wayland-0"}, False, "none"),  # Qt would abort; the desktop owns DRM
        ("auto", True, {}, True, "drm"),
        ("auto", True, {}, None, "drm"),  # cannot tell: try, and fall back if it fails
        ("auto", True, {}, False, "none"),  # a desktop owns the screen
        ("auto", False, {"DISPLAY": ":0"}, None, "window"),
        ("auto", False, {"WAYLAND_DISPLAY": "wayland-0"}, None, "none"),  # Tk needs X (XWayland sets DISPLAY)
        ("auto", False, {}, None, "none"),
        ("none", True, {"DISPLAY": ":0"}, None, "none"),
        ("drm", True, {"DISPLAY": ":0"}, True, "drm"),
        ("window", True, {"DISPLAY": ":0"}, None, "window"),
    ],
)
def test_choose_preview(requested, native, env, screen_free, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(drm, "screen_is_free", lambda: screen_free)
    source = FileSource(tmp_path / "clip.mp4")
    source.native_preview = native
    assert choose_preview(requested, source, env) == expected


@pytest.mark.parametrize(
    ("requested", "native", "env", "message"),
    [
        ("qt", False, {"DISPLAY": ":0"}, "--preview qt is the Pi camera's own preview, and clip.mp4 is not it"),
        ("drm", False, {}, "--preview drm is the Pi camera's own preview"),
        (
            "window",
            False,
            {"WAYLAND_DISPLAY": "wayland-0"},
            "--preview window needs a display, and $DISPLAY is not set",
        ),
        ("qt", True, {}, "--preview qt needs an X display"),
        ("qt", True, {"WAYLAND_DISPLAY": "wayland-0"}, "--preview qt needs an X display"),
        ("drm", True, {}, "--preview drm cannot draw: another program (a desktop?) is the screen's DRM master"),
    ],
)
def test_impossible_previews_are_errors(requested, native, env, message, tmp_path, monkeypatch):
    monkeypatch.setattr(drm, "screen_is_free", lambda: False)
    source = FileSource(tmp_path / "clip.mp4")
    source.native_preview = native
    with pytest.raises(
        AppError, match=message.replace("$", r"\$").replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")
    ):
        choose_preview(requested, source, env)


def test_qt_is_never_started_without_an_x_display(fake_picamera2, monkeypatch):
    """Qt's xcb plugin would abort the whole process (the stand-in does too)."""
    with pytest.raises(AppError, match="--preview qt needs an X display"):
        choose_preview("qt", PiCameraSource(), {"WAYLAND_DISPLAY": "wayland-1"})


def fake_drm_sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connected: bool = True) -> None:
    for name, status, modes in [
        ("card1-HDMI-A-1", "disconnected", ""),
        ("card1-HDMI-A-2", "connected" if connected else "disconnected", "1920x1080\n1280x720\n"),
    ]:
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "status").write_text(status + "\n")
        (tmp_path / name / "modes").write_text(modes)
    monkeypatch.setattr(drm, "DRM_SYSFS", tmp_path)


def test_display_size_reads_the_connected_monitor(tmp_path, monkeypatch):
    fake_drm_sysfs(tmp_path, monkeypatch)
    assert drm.connected_output() == ("card1", (1920, 1080))
    assert drm.display_size() == (1920, 1080)
    fake_drm_sysfs(tmp_path, monkeypatch, connected=False)
    assert drm.display_size() is None


def test_screen_is_free_cannot_tell_without_a_drm_device(tmp_path, monkeypatch):
    """The master check asks the card itself; a node that is no DRM card tells nothing."""
    fake_drm_sysfs(tmp_path, monkeypatch)
    dev = tmp_path / "dev"
    dev.mkdir()
    monkeypatch.setattr(drm, "DEV_DRI", dev)
    assert drm.screen_is_free() is None, "no /dev/dri/card1"
    (dev / "card1").symlink_to("/dev/null")
    assert drm.screen_is_free() is None, "not a DRM device (ENOTTY)"


def test_closing_the_qt_preview_window_stops_the_run(fake_picamera2, monkeypatch, a0_model, labels_path, caplog):
    """picamera2's Qt thread outlives the window: closing it detaches the preview and stops
    frames. That is the user's stop, not a stall to recover by reopening the camera (which
    brought the window back)."""
    from picamera2 import Picamera2

    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(drm, "display_size", lambda: (1920, 1080))
    args = build_parser().parse_args(
        ["run", "--source", "picam", "--model", str(a0_model), "--labels", str(labels_path), "--preview", "qt"]
    )
    settings = run_settings(args, env={})
    classifier, top_k = open_classifier(settings.model)
    pipeline = Pipeline(open_source("picam"), classifier, top_k, settings.pipeline)
    attach_outputs(pipeline, settings.preview, overlay_for(settings.overlay, classifier.model_path.stem))
    seen: list[Any] = []

    def collect(result: Any) -> None:
        seen.append(result)
        if len(seen) == 2:
            Picamera2.instances[-1].fake_close_window()

    pipeline.on_result(collect)
    runner = threading.Thread(target=lambda: pipeline.run(handle_signals=False), daemon=True)
    with caplog.at_level(logging.WARNING):
        runner.start()
        runner.join(20)
        stopped = not runner.is_alive()
        pipeline.stop()
        runner.join(10)
    assert stopped, "the run went on after the window was closed"
    assert len(Picamera2.instances) == 1, "the camera was reopened and the window came back"
    assert Picamera2.instances[0].closed
    assert "preview window was closed" in caplog.text and "reopened" not in caplog.text
