"""The Pi camera's own preview, against the stand-in picamera2 in tests/fakes: which
preview is asked for, where, and the overlays it is handed as results arrive."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.cli import build_parser, open_classifier
from app.display import picamera_preview as preview_picamera
from app.display.preview import attach_outputs, choose_preview
from app.errors import AppError
from app.overlay import BAR
from app.pipeline import Pipeline, PipelineOptions
from app.sources import FileSource, open_source

FAKES = Path(__file__).parent / "fakes"
RESULTS = 4


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stand-in picamera2, which also notes whether the camera ran when a preview started."""
    monkeypatch.syspath_prepend(str(FAKES))
    for name in [m for m in sys.modules if m.startswith("picamera2")]:
        monkeypatch.delitem(sys.modules, name)
    import picamera2

    original = picamera2.Picamera2.start_preview

    def start_preview(self: Any, preview: Any = None, **kwargs: Any) -> None:
        self.started_before_preview = self.started
        original(self, preview, **kwargs)

    monkeypatch.setattr(picamera2.Picamera2, "start_preview", start_preview)
    return picamera2


def run_camera(a0_model: Path, labels_path: Path, *options: str) -> Any:
    """`run --source picam OPTIONS` in-process, stopped after a few results: the camera used."""
    from picamera2 import Picamera2

    args = build_parser().parse_args(
        ["run", "--source", "picam", "--model", str(a0_model), "--labels", str(labels_path), *options]
    )
    classifier, top_k = open_classifier(args)
    pipeline = Pipeline(open_source(args.source), classifier, top_k, PipelineOptions(fps=args.fps))
    assert attach_outputs(pipeline, classifier.model_path.stem, args) is None, "picamera2 runs its own loop"
    results = []

    def collect(result: Any) -> None:
        results.append(result)
        if len(results) == RESULTS:
            pipeline.stop()

    pipeline.on_result(collect)
    guard = threading.Timer(30, pipeline.stop)  # never hang the suite
    guard.start()
    try:
        pipeline.run(handle_signals=False)
    finally:
        guard.cancel()
    assert len(results) == RESULTS
    return Picamera2.instances[-1]


def assert_overlays(camera: Any, height: int, width: int) -> None:
    assert len(camera.overlays) == RESULTS, "one new overlay per result"
    for overlay in camera.overlays:
        assert overlay.shape == (height, width, 4) and overlay.dtype == np.uint8, "RGBA, the size shown"
        alpha = overlay[..., 3]
        assert alpha[0, 0] == 0 and alpha[-1, -1] == 0 and (alpha > 0).mean() > 0.05, "a panel on transparency"
    assert np.all(camera.overlays[-1] == BAR, axis=-1).any(), "score bars drawn"


def test_desktop_gets_the_qt_gl_preview_before_the_camera_starts(fake_picamera2, monkeypatch, a0_model, labels_path):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(preview_picamera, "display_size", lambda: (1920, 1080))
    camera = run_camera(a0_model, labels_path)
    assert camera.previews == [("QTGL", {"width": 1280, "height": 720})]
    assert camera.started_before_preview is False, "picamera2 refuses a preview once the camera runs"
    assert_overlays(camera, 720, 1280)


def test_console_kiosk_gets_a_fullscreen_drm_preview_and_a_full_hd_overlay(
    fake_picamera2, monkeypatch, a0_model, labels_path
):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(preview_picamera, "display_size", lambda: (1920, 1080))
    camera = run_camera(a0_model, labels_path, "--fullscreen")
    assert camera.previews == [("DRM", {"x": 0, "y": 0, "width": 1920, "height": 1080})]
    assert_overlays(camera, 1080, 1920)


def test_a_small_display_gets_a_window_and_overlay_that_fit(fake_picamera2, monkeypatch, a0_model, labels_path):
    monkeypatch.setattr(preview_picamera, "display_size", lambda: (800, 480))
    camera = run_camera(a0_model, labels_path, "--preview", "drm")
    assert camera.previews == [("DRM", {"width": 800, "height": 450})]
    assert_overlays(camera, 450, 800)


def test_auto_preview_that_cannot_start_runs_headless(fake_picamera2, monkeypatch, a0_model, labels_path, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)

    def no_drm(self: Any, preview: Any = None, **kwargs: Any) -> None:
        raise RuntimeError("Failed to reserve DRM plane")

    monkeypatch.setattr(fake_picamera2.Picamera2, "start_preview", no_drm)
    with caplog.at_level(logging.WARNING):
        camera = run_camera(a0_model, labels_path)
    assert camera.overlays == [], "no preview, no overlays, but the model ran"
    assert "cannot start the Pi camera's drm preview: Failed to reserve DRM plane" in caplog.text
    with pytest.raises(AppError, match="drm preview: Failed to reserve DRM plane"):
        run_camera(a0_model, labels_path, "--preview", "drm")
    assert fake_picamera2.Picamera2.instances[-1].closed, "the camera is released for a retry"


@pytest.mark.parametrize(
    ("requested", "native", "env", "expected"),
    [
        ("auto", True, {"DISPLAY": ":0"}, "qt"),
        ("auto", True, {"WAYLAND_DISPLAY": "wayland-0"}, "qt"),
        ("auto", True, {}, "drm"),
        ("auto", False, {"DISPLAY": ":0"}, "window"),
        ("auto", False, {"WAYLAND_DISPLAY": "wayland-0"}, "none"),  # Tk needs X (XWayland sets DISPLAY)
        ("auto", False, {}, "none"),
        ("none", True, {"DISPLAY": ":0"}, "none"),
        ("drm", True, {"DISPLAY": ":0"}, "drm"),
        ("window", True, {"DISPLAY": ":0"}, "window"),
    ],
)
def test_choose_preview(requested, native, env, expected, tmp_path):
    source = FileSource(tmp_path / "clip.mp4")
    source.native_preview = native
    assert choose_preview(requested, source, env) == expected


@pytest.mark.parametrize(
    ("requested", "env", "message"),
    [
        ("qt", {"DISPLAY": ":0"}, "--preview qt is the Pi camera's own preview, and clip.mp4 is not it: use --preview"),
        ("drm", {}, "--preview drm is the Pi camera's own preview"),
        ("window", {"WAYLAND_DISPLAY": "wayland-0"}, "--preview window needs a display, and $DISPLAY is not set"),
    ],
)
def test_impossible_previews_are_errors(requested, env, message, tmp_path):
    with pytest.raises(AppError, match=message.replace("$", r"\$")):
        choose_preview(requested, FileSource(tmp_path / "clip.mp4"), env)


def test_qt_without_a_desktop_is_an_error(fake_picamera2):
    from app.sources.picamera import PiCameraSource

    with pytest.raises(AppError, match="--preview qt needs a desktop"):
        choose_preview("qt", PiCameraSource(), {})


def test_display_size_reads_the_connected_monitor(tmp_path, monkeypatch):
    for name, status, modes in [
        ("card1-HDMI-A-1", "disconnected", ""),
        ("card1-HDMI-A-2", "connected", "1920x1080\n1280x720\n"),
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "status").write_text(status + "\n")
        (tmp_path / name / "modes").write_text(modes)
    monkeypatch.setattr(preview_picamera, "DRM_SYSFS", tmp_path)
    assert preview_picamera.display_size() == (1920, 1080)
    (tmp_path / "card1-HDMI-A-2" / "status").write_text("disconnected\n")
    assert preview_picamera.display_size() is None
