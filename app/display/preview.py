"""Where the overlay goes: which preview runs (`--preview`), `--record` and `snapshot`.

    auto    the Pi camera: its own preview, qt with an X display, drm on a free screen;
            any other source: a window if there is an X display; else none
    qt/drm  picamera2's preview (Pi camera only)
    window  a Tk window with the frames and the overlay (any source, needs $DISPLAY)
    none    headless

Nothing here costs anything when unused: with no preview and no recording the overlay
is never even smoothed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from app.display import drm
from app.display.picamera_preview import PiCameraPreview
from app.display.record import Recorder, Snapshot, source_fps
from app.display.window import PreviewWindow
from app.errors import AppError, OptionError
from app.overlay import LiveOverlay, Overlay
from app.pipeline import Pipeline, Stage
from app.sources.base import FrameSource

if TYPE_CHECKING:
    from app.sources.picamera import PiCameraSource

log = logging.getLogger(__name__)

PREVIEWS = ("auto", "qt", "drm", "window", "none")
SNAPSHOT_LIVE_SECONDS = 5.0

MainLoop = Callable[[Pipeline], None]


@dataclass(frozen=True)
class PreviewSettings:
    preview: str = "auto"  # one of PREVIEWS
    fullscreen: bool = False
    record: Path | None = None  # the annotated video's file, or None


def has_x_display(env: Mapping[str, str]) -> bool:
    """An X server (a Wayland desktop runs Xwayland as one): Tk and picamera2's Qt GL preview need it."""
    return bool(env.get("DISPLAY"))


def choose_preview(requested: str, source: FrameSource, env: Mapping[str, str] = os.environ) -> str:
    """Resolve `auto` and check the request fits the source and the display: AppError if not.

    picamera2's Qt GL preview opens its EGL display through Xlib, and Qt's xcb plugin
    aborts the whole process without an X display, so WAYLAND_DISPLAY alone is no
    desktop for it. DRM needs the screen to itself (no desktop as its DRM master).
    """
    if requested == "auto":
        if not source.native_preview:
            return "window" if has_x_display(env) else "none"
        if has_x_display(env):
            return "qt"
        if drm.screen_is_free() is False:
            log.warning(
                "another program (a desktop?) owns the screen and there is no X display: running without a preview"
            )
            return "none"
        return "drm"
    check_preview_fits(requested, source.native_preview, source.name)
    if requested == "qt" and not has_x_display(env):
        raise OptionError(
            "preview",
            "qt needs an X display ($DISPLAY; a Wayland desktop's Xwayland is :0), and $DISPLAY is not set",
            "drm",
        )
    if requested == "drm" and drm.screen_is_free() is False:
        raise OptionError(
            "preview",
            "drm cannot draw: another program (a desktop?) is the screen's DRM master; boot to the console",
            "qt",
        )
    if requested == "window" and not has_x_display(env):
        raise OptionError("preview", "window needs a display, and $DISPLAY is not set")
    return requested


def check_preview_fits(requested: str, native_preview: bool, source_name: str) -> None:
    """qt and drm are picamera2's own previews: OptionError for any other source."""
    if requested in ("qt", "drm") and not native_preview:
        raise OptionError(
            "preview", f"{requested} is the Pi camera's own preview, and {source_name} is not it", "window"
        )


def check_fullscreen(fullscreen: bool, preview: str) -> None:
    if fullscreen and preview == "none":
        raise OptionError("fullscreen", "needs a preview, and the preview is none")


def attach_outputs(pipeline: Pipeline, settings: PreviewSettings, overlay: LiveOverlay) -> MainLoop | None:
    """Wire the preview, full screen and recording into the pipeline, all showing the run's `overlay`.

    Returns the main loop a window needs (for Pipeline.run), or None.
    """
    source = pipeline.source
    kind = choose_preview(settings.preview, source)
    check_fullscreen(settings.fullscreen, settings.preview)
    if settings.fullscreen and kind == "none":
        raise OptionError("fullscreen", "needs a preview, and there is none here (no display?)")
    if kind == "none" and settings.record is None:
        return None
    recorder = Recorder(settings.record, overlay, source_fps(source)) if settings.record is not None else None
    pipeline.on_result(overlay.update, Stage.OVERLAY)
    main_loop = None
    required = settings.preview != "auto"
    if kind in ("qt", "drm"):  # choose_preview allows these only for a source with a native preview: the Pi camera
        camera = cast("PiCameraSource", source)
        PiCameraPreview(kind, overlay, settings.fullscreen, required=required).attach(pipeline, camera)
    elif kind == "window":
        window = open_window(overlay, f"MoViNet · {source.name}", settings.fullscreen, required=required)
        if window is not None:
            pipeline.on_frame(window.on_frame)
            main_loop = window.main_loop
    if recorder is not None:
        pipeline.on_frame(recorder.on_frame)
        pipeline.on_close(recorder.close)
    return main_loop


def open_window(overlay: Overlay, title: str, fullscreen: bool, required: bool) -> PreviewWindow | None:
    try:
        return PreviewWindow(overlay, title, fullscreen)
    except AppError as exc:
        if required:
            raise
        log.warning("%s; running without a preview", exc)
        return None


def attach_snapshot(pipeline: Pipeline, output: Path, seconds: float | None, overlay: LiveOverlay) -> Snapshot:
    """Wire `snapshot`: the newest frame with the overlay, saved to `output` when the run ends.

    A file runs to its end (or `seconds`); a camera or stream for `seconds` (default 5).
    """
    if seconds is None and pipeline.source.live:
        seconds = SNAPSHOT_LIVE_SECONDS
    snapshot = Snapshot(output, overlay, seconds, pipeline.stop)
    pipeline.on_result(overlay.update, Stage.OVERLAY)
    pipeline.on_frame(snapshot.on_frame)
    pipeline.on_close(snapshot.save)
    return snapshot
