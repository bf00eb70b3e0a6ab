"""Where the overlay goes: which preview runs (`--preview`), `--record` and `snapshot`.

    auto    the Pi camera: its own preview, qt on a desktop, drm on a console;
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

from app.argtypes import non_negative_float
from app.display.picamera_preview import PiCameraPreview
from app.display.record import Recorder, Snapshot, source_fps
from app.display.window import PreviewWindow
from app.errors import AppError, OptionError
from app.overlay import ROWS, LiveOverlay, model_label
from app.pipeline import Pipeline
from app.sources.base import FrameSource

if TYPE_CHECKING:
    from app.sources.picamera import PiCameraSource

log = logging.getLogger("app.preview")

PREVIEWS = ("auto", "qt", "drm", "window", "none")
SNAPSHOT_LIVE_SECONDS = 5.0

MainLoop = Callable[[Pipeline], None]


def add_preview_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("preview and recording")
    group.add_argument(
        "--preview",
        choices=PREVIEWS,
        default="auto",
        help="auto (Pi camera: qt on a desktop, else drm; other sources: window if $DISPLAY, else none), "
        "qt, drm, window or none",
    )
    group.add_argument("--fullscreen", action="store_true", help="the preview fills the screen (kiosk)")
    group.add_argument("--record", type=Path, metavar="OUT.mp4", help="also write the annotated video to this file")
    add_overlay_options(group)


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
        type=non_negative_float,
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
    return bool(env.get("DISPLAY"))


def has_desktop(env: Mapping[str, str]) -> bool:
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def choose_preview(requested: str, source: FrameSource, env: Mapping[str, str] = os.environ) -> str:
    """Resolve `auto` and check the request fits the source and the display: AppError if not."""
    if requested == "auto":
        if source.native_preview:
            return "qt" if has_desktop(env) else "drm"
        return "window" if has_x_display(env) else "none"
    check_preview_fits(requested, source.native_preview, source.name)
    if requested == "qt" and not has_desktop(env):
        raise AppError("--preview qt needs a desktop ($DISPLAY and $WAYLAND_DISPLAY are unset): use --preview drm")
    if requested == "window" and not has_x_display(env):
        raise AppError("--preview window needs a display, and $DISPLAY is not set")
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


def overlay_for(args: argparse.Namespace, model: str) -> LiveOverlay:
    return LiveOverlay(model_label(model), rows=min(args.top_k, ROWS), smoothing=args.smoothing, hold=args.hold)


def attach_outputs(pipeline: Pipeline, model: str, args: argparse.Namespace) -> MainLoop | None:
    """Wire --preview, --fullscreen and --record into the pipeline.

    Returns the main loop a window needs (for Pipeline.run), or None.
    """
    source = pipeline.source
    kind = choose_preview(args.preview, source)
    check_fullscreen(args.fullscreen, args.preview)
    if args.fullscreen and kind == "none":
        raise AppError("--fullscreen needs a preview, and there is none here (no display?)")
    if kind == "none" and args.record is None:
        return None
    overlay = overlay_for(args, model)
    recorder = Recorder(args.record, overlay, source_fps(source)) if args.record is not None else None
    pipeline.on_result(overlay.update)  # first: every other listener sees the new result
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


def open_window(overlay: LiveOverlay, title: str, fullscreen: bool, required: bool) -> PreviewWindow | None:
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
    pipeline.on_result(overlay.update)
    pipeline.on_frame(snapshot.on_frame)
    pipeline.on_close(snapshot.save)
    return snapshot
