"""What `teach record --preview window` shows: the camera picture with the countdown over it.

A large number before each take ("3", "2", "1") and a banner line at the bottom ("REC take
1/3 · 4 s left", "take 1 stored · next in 2 s"). Drawn with Pillow as the run's overlay is,
and shown in the run's PreviewWindow, fed from the main thread (`PreviewWindow.show`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from app.display.preview import has_x_display, open_window
from app.display.window import PreviewWindow
from app.errors import AppError, OptionError
from app.overlay import PANEL, TEXT, Layer, Size, load_font
from app.sources.base import Frame

RECORD_PREVIEWS = ("auto", "window", "none")
COUNT = (255, 176, 0, 255)  # amber, as the overlay's bars: stands out on any scene (and is easy to find in tests)
OUTLINE = (0, 0, 0, 255)
REC = (255, 48, 48, 255)  # the banner's colour while a take records
SHOW_EVERY_S = 1 / 15  # at most 15 pictures a second (source time): ~25 ms each at 960x720 on a busy PC


class WindowClosed(Exception):
    """The user closed the preview window: the recording ends, the takes done are kept."""


@dataclass(frozen=True)
class Caption:
    number: str  # the large countdown number, or ""
    line: str  # the banner at the bottom, or ""
    recording: bool = False


def check_record_preview(requested: str, env: Mapping[str, str] = os.environ) -> str:
    """`auto`: a window with an X display, else none; `window` without one: OptionError."""
    if requested == "auto":
        return "window" if has_x_display(env) else "none"
    if requested == "window" and not has_x_display(env):
        raise OptionError("preview", "window needs a display, and $DISPLAY is not set", "none")
    return requested


class CaptionOverlay:
    """The caption as an overlay layer (see app.overlay.Overlay), redrawn when it changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._caption = Caption("", "")
        self._version = 0
        self._layer: tuple[Size, int, Layer] | None = None

    @property
    def version(self) -> int:
        return self._version

    @property
    def caption(self) -> Caption:
        return self._caption

    def set(self, caption: Caption) -> None:
        with self._lock:
            if caption != self._caption:
                self._caption = caption
                self._version += 1

    def layer(self, size: Size) -> Layer:
        with self._lock:
            if self._layer is None or self._layer[:2] != (size, self._version):
                self._layer = (size, self._version, render_caption(self._caption, size))
            return self._layer[2]


def render_caption(caption: Caption, size: Size) -> Layer:
    """The number in the middle (a third of the picture's height), the banner along the bottom."""
    width, height = size
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    unit = max(10, round(min(height / 18, width / 16)))
    top = height
    if caption.line:
        font = load_font(unit)
        top = height - round(unit * 1.8)
        draw.rectangle((0, top, width - 1, height - 1), fill=PANEL)
        fill = REC if caption.recording else TEXT
        draw.text((width // 2, (top + height) // 2), caption.line, font=font, fill=fill, anchor="mm")
    if caption.number:
        font = load_font(max(12, height // 3))
        stroke = max(2, height // 100)
        centre = (width // 2, height // 2)
        draw.text(centre, caption.number, font=font, fill=COUNT, anchor="mm", stroke_width=stroke, stroke_fill=OUTLINE)
        box = draw.textbbox(centre, caption.number, font=font, anchor="mm", stroke_width=stroke)
        top = min(top, max(0, box[1]))
    rgba = np.asarray(image)
    # Blending touches only the rows drawn on: from the number (or the banner) down.
    return Layer(rgba, (0, min(top, height - 1), width, height))


class RecordPreview:
    """The window showing the takes being recorded, or nothing (`--preview none`)."""

    def __init__(self, kind: str, title: str, required: bool) -> None:
        self.overlay = CaptionOverlay()
        self.window: PreviewWindow | None = None
        self._last: Frame | None = None
        if kind == "window":
            self.window = open_window(self.overlay, title, fullscreen=False, required=required)

    def show(self, frame: Frame, caption: Caption) -> None:
        """Show `frame` with `caption`: WindowClosed once the user closed the window."""
        if self.window is None:
            return
        if self._last is not None and frame.t - self._last.t < SHOW_EVERY_S and self.overlay.caption == caption:
            return  # a Pi spends its time on the camera and the model, not on redrawing 30 times a second
        self._last = frame
        self.overlay.set(caption)
        try:
            shown = self.window.show(frame)
        except AppError as exc:  # gone otherwise (another program, the X server)
            raise AppError(f"{exc} (takes done so far are kept)") from None
        if not shown:
            raise WindowClosed

    def note(self, caption: Caption) -> None:
        """`caption` over the last frame shown: while the take is stored, the camera waits."""
        if self._last is not None:
            self.show(self._last, caption)

    def close(self) -> None:
        if self.window is not None:
            self.window.close()
