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

import argparse
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, cast

from app.display import drm
from app.display.picamera_preview import PiCameraPreview
from app.display.record import Recorder, Snapshot, source_fps
from app.display.window import PreviewWindow
from app.errors import AppError, OptionError
from app.overlay import LiveOverlay, Overlay, overlay_for
from app.pipeline import Pipeline, Stage
from app.settings.argtypes import non_negative_float, up_to
from app.sources.base import FrameSource

if TYPE_CHECKING:
    from app.sources.picamera import PiCameraSource

log = logging.getLogger(__name__)

PREVIEWS = ("auto", "qt", "drm", "window", "none")
SNAPSHOT_LIVE_SECONDS = 5.0

MainLoop = Callable[[Pipeline], None]


def add_preview_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("preview and recording")
    group.add_argument(
        "--preview",
        choices=PREVIEWS,
        default="auto",
        help="auto (Pi camera: qt with $DISPLAY, else drm if the screen is free; other sources: window if $DISPLAY, "
        "else none), "
        "qt, drm, window or none",
    )
    group.add_argument("--fullscreen", action="store_true", help="the preview fills the screen (kiosk)")
    group.add_argument("--record", type=Path, metavar="OUT.mp4", help="also write the annotated video to this file")
    add_overlay_options(group)


HOLD_SECONDS = up_to(3600.0, non_negative_float, " (an hour)")


def add_overlay_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--smoothing",
        type=smoothing_weight,
        default=0.5,
        metavar="S",
        help="weight of past scores shown, 0 (raw) to below 1 (0.5)",
    )
    group.add_argument(
        "--hold",
        type=HOLD_SECONDS,
        default=1.0,
        metavar="SECONDS",
        help="a new top label must lead this long to replace the shown one (1)",
    )


def smoothing_weight(text: str) -> float:
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be below 1 (1 would never change), got {text}")
    return value


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


def attach_outputs(
    pipeline: Pipeline, model: str, args: argparse.Namespace, overlay: LiveOverlay | None = None
) -> MainLoop | None:
    """Wire --preview, --fullscreen and --record into the pipeline.

    `overlay` is the run's (shared with the web view); without one the outputs make their own.
    Returns the main loop a window needs (for Pipeline.run), or None.
    """
    source = pipeline.source
    kind = choose_preview(args.preview, source)
    check_fullscreen(args.fullscreen, args.preview)
    if args.fullscreen and kind == "none":
        raise OptionError("fullscreen", "needs a preview, and there is none here (no display?)")
    if kind == "none" and args.record is None:
        return None
    overlay = overlay or overlay_for(args, model)
    recorder = Recorder(args.record, overlay, source_fps(source)) if args.record is not None else None
    pipeline.on_result(overlay.update, Stage.OVERLAY)
    main_loop = None
    if kind in ("qt", "drm"):  # choose_preview allows these only for a source with a native preview: the Pi camera
        camera = cast("PiCameraSource", source)
        PiCameraPreview(kind, overlay, args.fullscreen, required=args.preview != "auto").attach(pipeline, camera)
    elif kind == "window":
        window = open_window(overlay, f"MoViNet · {source.name}", args.fullscreen, required=args.preview != "auto")
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


def attach_snapshot(pipeline: Pipeline, model: str, args: argparse.Namespace) -> Snapshot:
    """Wire `snapshot`: the newest frame with the overlay, saved when the run ends.

    A file runs to its end (or --seconds); a camera or stream for --seconds (default 5).
    """
    seconds = args.seconds
    if seconds is None and pipeline.source.live:
        seconds = SNAPSHOT_LIVE_SECONDS
    overlay = overlay_for(args, model)
    snapshot = Snapshot(args.output, overlay, seconds, pipeline.stop)
    pipeline.on_result(overlay.update, Stage.OVERLAY)
    pipeline.on_frame(snapshot.on_frame)
    pipeline.on_close(snapshot.save)
    return snapshot
