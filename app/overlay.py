"""The overlay: the top-5 actions with score bars and a status line, over the live picture.

It is drawn with Pillow onto a transparent RGBA layer the size of the picture it covers,
once per model result (5 times a second), never once per preview frame: `LiveOverlay`
keeps the newest layer for each output size, and blending a layer onto a frame touches
only the panel's rectangle. Scores can be smoothed over time and the top label held for
a moment, so the labels change smoothly instead of flickering between close calls.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.errors import AppError
from app.inference.labels import Scored
from app.results import Result, overlay_status

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # fonts-dejavu-core
ROWS = 5
PANEL = (0, 0, 0, 150)
TEXT = (255, 255, 255, 255)
STATUS = (200, 200, 200, 255)
TRACK = (80, 80, 80, 190)
BAR = (255, 176, 0, 255)  # amber: stands out on any scene (and is easy to find in tests)
READABLE_HEIGHT = 480  # pictures are scaled up to this: ~18 px text, and cheap enough to encode on a Pi
DEFAULT_SMOOTHING = 0.5
DEFAULT_HOLD_S = 1.0
LAYER_CACHE = 4  # output sizes kept rendered (a window being resized asks for many)

Size = tuple[int, int]  # (width, height)
Box = tuple[int, int, int, int]  # (left, top, right, bottom), right/bottom exclusive


@dataclass(frozen=True)
class OverlayView:
    """What the overlay shows: labels best first, and a status line."""

    top: tuple[Scored, ...]
    status: str


def model_label(stem: str) -> str:
    """A short name for the status line: movinet_a0_stream_int8 -> a0_int8."""
    if match := re.fullmatch(r"movinet_(a\d)_stream_(\w+)", stem):
        return f"{match[1]}_{match[2]}"
    return stem


class ScoreSmoother:
    """Exponential smoothing of scores across results, and a hold on the top label.

    `smoothing` is the weight of the past (0 = raw scores, 0.9 = very slow). A label that
    overtakes the shown leader replaces it only after leading for `hold` seconds of
    stream time, so two close labels do not swap places on every step.
    """

    def __init__(self, smoothing: float = DEFAULT_SMOOTHING, hold: float = DEFAULT_HOLD_S) -> None:
        self.smoothing = smoothing
        self.hold = hold
        self._scores: dict[str, float] = {}
        self._leader: str | None = None
        self._challenger: str | None = None
        self._challenged_at = 0.0

    def update(self, result: Result) -> list[Scored]:
        """The smoothed labels, best first (the held leader first)."""
        if result.reset:  # a new stream: the old scores say nothing about it
            self._scores.clear()
            self._leader = None
        fresh = {s.label: s.score for s in result.top}
        keep = self.smoothing
        scores = {
            label: keep * self._scores.get(label, 0.0) + (1 - keep) * fresh.get(label, 0.0)
            for label in self._scores.keys() | fresh.keys()
        }
        # Labels that left the top-k fade out; forget them once they are invisible.
        self._scores = {label: s for label, s in scores.items() if label in fresh or s >= 0.005}
        ranked = sorted(self._scores.items(), key=lambda item: -item[1])
        if not ranked:
            return []
        self._hold_leader(ranked[0][0], result.t)
        ranked.sort(key=lambda item: item[0] != self._leader)  # stable: the leader first
        return [Scored(label, score) for label, score in ranked]

    def _hold_leader(self, best: str, t: float) -> None:
        if self._leader not in self._scores or best == self._leader:
            self._leader, self._challenger = best, None
        elif best != self._challenger:
            self._challenger, self._challenged_at = best, t
        elif t - self._challenged_at >= self.hold:
            self._leader, self._challenger = best, None


@lru_cache(maxsize=16)
def load_font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (on every Raspberry Pi OS image), else Pillow's built-in scalable font."""
    if FONT_PATH.is_file():
        return ImageFont.truetype(str(FONT_PATH), size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only a tiny bitmap font
        raise AppError(f"no scalable font: install fonts-dejavu-core ({FONT_PATH})") from None


@dataclass
class Layer:
    """A rendered overlay: `rgba` (HxWx4 uint8) is transparent outside `box`."""

    rgba: np.ndarray
    box: Box
    _blend: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> Size:
        return self.rgba.shape[1], self.rgba.shape[0]

    def blend_into(self, image: np.ndarray, order: str = "RGB") -> None:
        """Alpha-blend onto `image` (same size, HxWx3 uint8 in `order`) in place."""
        if image.shape[1::-1] != self.size:
            raise ValueError(f"layer is {self.size}, image is {image.shape[1::-1]}")
        if order not in self._blend:  # once per layer: per frame only the blend itself runs
            left, top, right, bottom = self.box
            region = self.rgba[top:bottom, left:right]
            alpha = region[..., 3:].astype(np.uint16)
            colour = region[..., 2::-1] if order == "BGR" else region[..., :3]
            self._blend[order] = (255 - alpha, colour * alpha)
        inverse, premultiplied = self._blend[order]
        left, top, right, bottom = self.box
        roi = image[top:bottom, left:right]
        mixed = roi * inverse + premultiplied + 128  # at most 65153: fits uint16
        roi[...] = (mixed + (mixed >> 8)) >> 8  # exact rounding of mixed / 255


@dataclass(frozen=True)
class Layout:
    """Where things go for one output size: everything scales with the picture."""

    font_px: int
    status_px: int
    pad: int
    line: int  # height of a label's text line
    bar: int  # bar thickness
    row: int  # label line + bar + gap
    panel: Box

    @classmethod
    def for_size(cls, size: Size, rows: int) -> Layout:
        width, height = size
        # ~27 px text at 720p, 42 px at 1080p (readable from a few metres), 18 px on a
        # 800x480 7" display; portrait pictures are limited by their width.
        unit = min(height / 26, width / 24)
        font_px = max(10, round(unit))
        status_px = max(9, round(unit * 0.7))
        pad = max(4, round(unit * 0.5))
        margin = max(4, round(unit * 0.6))
        line = round(font_px * 1.3)
        bar = max(3, round(unit * 0.32))
        row = line + bar + max(2, round(unit * 0.35))
        panel_w = min(width - 2 * margin, max(round(width * 0.42), round(unit * 15)))
        panel_h = min(height - 2 * margin, 2 * pad + rows * row + round(status_px * 1.4))
        return cls(font_px, status_px, pad, line, bar, row, (margin, margin, margin + panel_w, margin + panel_h))


class OverlayRenderer:
    """Draws an OverlayView for one output size."""

    def __init__(self, size: Size, rows: int = ROWS) -> None:
        self.size = size
        self.rows = rows
        self.layout = Layout.for_size(size, rows)
        self._font = load_font(self.layout.font_px)
        self._status_font = load_font(self.layout.status_px)

    def render(self, view: OverlayView) -> Layer:
        lay = self.layout
        left, top, right, bottom = lay.panel
        # Draw only the panel, then place it: a full-size Pillow canvas would cost 4x more.
        panel = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
        draw = ImageDraw.Draw(panel)
        draw.rounded_rectangle((0, 0, panel.width - 1, panel.height - 1), radius=lay.pad, fill=PANEL)
        inner = panel.width - 2 * lay.pad
        for index, scored in enumerate(view.top[: self.rows]):
            y = lay.pad + index * lay.row
            percent = f"{100 * scored.score:.0f}%"
            percent_w = draw.textlength(percent, font=self._font)
            label = self._fit(draw, scored.label, inner - percent_w - lay.pad, self._font)
            draw.text((lay.pad, y), label, font=self._font, fill=TEXT)
            draw.text((lay.pad + inner, y), percent, font=self._font, fill=TEXT, anchor="ra")
            bar_top = y + lay.line
            draw.rectangle((lay.pad, bar_top, lay.pad + inner - 1, bar_top + lay.bar - 1), fill=TRACK)
            length = round(inner * min(1.0, max(0.0, scored.score)))
            if length > 0:
                draw.rectangle((lay.pad, bar_top, lay.pad + length - 1, bar_top + lay.bar - 1), fill=BAR)
        status_y = lay.pad + self.rows * lay.row
        status = self._fit(draw, view.status, inner, self._status_font)
        draw.text((lay.pad, status_y), status, font=self._status_font, fill=STATUS)
        width, height = self.size
        rgba = np.zeros((height, width, 4), np.uint8)
        rgba[top:bottom, left:right] = np.asarray(panel)
        return Layer(rgba, lay.panel)

    @staticmethod
    def _fit(draw: ImageDraw.ImageDraw, text: str, width: float, font: ImageFont.FreeTypeFont) -> str:
        """`text`, cut short with an ellipsis if it is wider than `width` pixels.

        The cut is found by halving (each measure costs the text's length): one character
        at a time took minutes for a 70,000-character label.
        """
        if draw.textlength(text, font=font) <= width:
            return text
        fits, too_long = 0, len(text)  # the longest prefix that fits with the ellipsis is in [fits, too_long)
        while too_long - fits > 1:
            middle = (fits + too_long) // 2
            if draw.textlength(text[:middle] + "…", font=font) <= width:
                fits = middle
            else:
                too_long = middle
        return text[:fits].rstrip() + "…"


class Overlay(Protocol):
    """What a display draws over the picture: a layer per output size, redrawn when `version` changes.
    LiveOverlay (the model's labels) is one; `teach record`'s countdown is another."""

    @property
    def version(self) -> int: ...

    def layer(self, size: Size) -> Layer: ...


class LiveOverlay:
    """The overlay as results arrive: updated on the inference thread, read by displays.

    `update` (a pipeline result listener) only smooths scores; the drawing happens on the
    first `layer(size)` call after a change, on the thread that wants the layer, once per
    size, and the layer is reused for every frame until the next result.
    """

    def __init__(
        self, model: str, rows: int = ROWS, smoothing: float = DEFAULT_SMOOTHING, hold: float = DEFAULT_HOLD_S
    ) -> None:
        self.model = model
        self.rows = rows
        self._smoother = ScoreSmoother(smoothing, hold)
        self._lock = threading.Lock()
        self._view = OverlayView((), f"{model} · starting")
        self._version = 0
        self._cache: OrderedDict[Size, tuple[OverlayRenderer, int, Layer]] = OrderedDict()  # by size

    @property
    def version(self) -> int:
        """Increases with every result: a display redraws only when it changed."""
        return self._version

    @property
    def view(self) -> OverlayView:
        return self._view

    def update(self, result: Result) -> None:
        top = tuple(self._smoother.update(result)[: self.rows])
        view = OverlayView(top, overlay_status(self.model, result))
        with self._lock:
            self._view = view
            self._version += 1

    def layer(self, size: Size) -> Layer:
        with self._lock:  # also serialises drawing: FreeType fonts are not thread-safe
            cached = self._cache.get(size)
            if cached is not None and cached[1] == self._version:
                return cached[2]
            renderer = cached[0] if cached is not None else OverlayRenderer(size, self.rows)
            layer = renderer.render(self._view)
            self._cache[size] = (renderer, self._version, layer)
            self._cache.move_to_end(size)
            while len(self._cache) > LAYER_CACHE:
                self._cache.popitem(last=False)
            return layer


@dataclass(frozen=True)
class OverlaySettings:
    rows: int = ROWS  # labels shown (the run's top-k, at most ROWS)
    smoothing: float = DEFAULT_SMOOTHING
    hold: float = DEFAULT_HOLD_S


def overlay_for(settings: OverlaySettings, model: str) -> LiveOverlay:
    """The run's overlay: one per run, for every output."""
    return LiveOverlay(
        model_label(model), rows=min(settings.rows, ROWS), smoothing=settings.smoothing, hold=settings.hold
    )


def output_size(frame_size: Size, min_height: int, max_height: int | None = None) -> Size:
    """The frame's size, scaled (even dimensions, as video codecs like) into min..max_height."""
    width, height = frame_size
    scale = max(1.0, min_height / height)
    if max_height is not None:
        scale = min(scale, max_height / height)
    return round(width * scale / 2) * 2, round(height * scale / 2) * 2


def fit_size(content: Size, box: Size) -> Size:
    """The largest size with `content`'s aspect ratio that fits in `box`."""
    scale = min(box[0] / content[0], box[1] / content[1])
    return max(1, round(content[0] * scale)), max(1, round(content[1] * scale))


def annotate(image: np.ndarray, order: str, overlay: Overlay, size: Size, out_order: str = "BGR") -> np.ndarray:
    """A copy of `image` resized to `size`, in `out_order`, with the overlay burnt in."""
    height, width = image.shape[:2]
    out = image
    if (width, height) != size:
        grow = size[0] > width
        out = cv2.resize(out, size, interpolation=cv2.INTER_LINEAR if grow else cv2.INTER_AREA)
    if order != out_order:
        out = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)  # the same swap both ways
    if out is image:
        out = image.copy()  # frames are shared with the model: never draw on them
    overlay.layer(size).blend_into(out, out_order)
    return out
