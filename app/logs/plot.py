"""`python -m app plot LOG` (app/logs/cli.py): the top actions' probabilities over time as a PNG line chart.

The log is read in one pass into per-interval averages (logs/series.py), so a log of
days draws in the memory of a clip. The actions drawn are those that held events the
longest (then those with the most score); all others share one grey "other" line and
grey event bands, so any number of actions stays legible.

Drawn with Pillow (already a dependency) rather than matplotlib, which is ~40 MB with its
dependencies on a Pi. Lines and bands are drawn at twice the size and scaled down, which
smooths them; text is drawn afterwards at the final size, so it stays sharp.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.errors import AppError
from app.events import EventThresholds
from app.logs.read import Timeline, read_timeline
from app.logs.series import ScoreSeries
from app.logs.summary import clock
from app.settings.overwrite import refuse_overwriting

DEFAULT_SIZE = "1200x600"
# Ten colours told apart on a screen and in print (Tableau's, its grey kept for "other").
PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
    (0, 70, 110),
]
OTHER = (150, 150, 150)  # the line and the event bands of every action without a colour
INK = (40, 40, 40)
GRID = (225, 225, 225)
SCALE = 2  # supersampling of the line layer
OTHERS_NAME = "all other actions"
_HOUR, _DAY = 3600, 86400
_TICK_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800]
_TICK_STEPS += [_HOUR, 2 * _HOUR, 3 * _HOUR, 6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY, 28 * _DAY]


def plot_log(
    log: str, output: Path | None, size: tuple[int, int], top: int, thresholds: EventThresholds | None
) -> None:
    """Draw the log's timeline into `output` (default: the log with .png); `thresholds` None: the log's events."""
    series = ScoreSeries()
    detector = thresholds.detector() if thresholds is not None else None
    timeline = read_timeline(log, detector, on_step=series.add)
    if not timeline.steps:
        raise AppError(
            f"{log} has no step records to plot (written with --log-level events?): "
            f"`python -m app summary {log}` lists its events"
        )
    output = output or Path(log).with_suffix(".png")
    for log_file in timeline.files:  # also through a hard or symbolic link
        refuse_overwriting({"output": output}, {"log": log_file})
    image = draw_timeline(timeline, series, size, top)
    try:
        image.save(output, format="PNG", optimize=True)
    except OSError as exc:
        raise AppError(f"cannot write {output}: {exc.strerror or exc}") from None
    skipped = f", {timeline.skipped} unreadable line(s) skipped" if timeline.skipped else ""
    print(f"{output}: {timeline.steps} steps, {len(timeline.spans)} events, {size[0]}x{size[1]}{skipped}")


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    # At most 2400x1600: drawn at twice that, the image takes ~46 MB, fine on a Pi with 1 GB.
    if not (width.isdigit() and height.isdigit()) or not (320 <= int(width) <= 2400 and 200 <= int(height) <= 1600):
        raise AppError(f"--size must be WIDTHxHEIGHT between 320x200 and 2400x1600, got {text!r}")
    return int(width), int(height)


def event_time(timeline: Timeline) -> dict[str, float]:
    """Seconds each action spent in events (an event still open counts up to the log's end)."""
    seconds: dict[str, float] = defaultdict(float)
    for span in timeline.spans:
        seconds[span.label] += span.duration
    return seconds


def top_labels(timeline: Timeline, series: ScoreSeries, count: int) -> list[str]:
    """The actions with the longest events, then those with the most score over the log."""
    seconds = event_time(timeline)
    ranked = sorted(set(seconds) | set(series.area), key=lambda label: (-seconds.get(label, 0.0), -series.area[label]))
    return ranked[:count]


def draw_timeline(timeline: Timeline, series: ScoreSeries, size: tuple[int, int], count: int = 5) -> Image.Image:
    """The chart: one line per top action and one for the others, event bands behind, legend below."""
    width, height = size
    labels = top_labels(timeline, series, count)
    colors = {label: PALETTE[i] for i, label in enumerate(labels)}
    seconds = event_time(timeline)
    names = {label: f"{label} ({clock(seconds[label])})" if seconds.get(label) else label for label in labels}
    text_size = max(12, round(min(width / 2, height) / 40))
    font, bold = _font(text_size), _font(text_size + 3)

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_height = _text_box(probe, "Ag", font)[1]
    legend_rows = _legend_rows(
        probe, [names[label] for label in labels], font, width - 40, len(series.area) > len(labels)
    )
    left = 16 + _text_box(probe, "0.0", font)[0] + 10
    strip = 14 + _text_box(probe, "Ag", bold)[1] + 12  # a row above the chart for the events' names
    top = strip + line_height + 8
    bottom = height - (12 + line_height + 14 + len(legend_rows) * (line_height + 8))
    right = width - 20
    x_max = max(timeline.end_x, 1e-6)

    def px(x: float) -> float:
        return left + (right - left) * x / x_max

    def py(score: float) -> float:
        return bottom - (bottom - top) * score

    # -- lines and bands, supersampled ------------------------------------------------
    layer = Image.new("RGB", (width * SCALE, height * SCALE), "white")
    draw = ImageDraw.Draw(layer)

    def box(x0: float, y0: float, x1: float, y1: float, fill: tuple[int, int, int]) -> None:
        draw.rectangle([x0 * SCALE, y0 * SCALE, x1 * SCALE, y1 * SCALE], fill=fill)

    for span in timeline.spans:
        x0, x1 = px(span.x0), max(px(span.x1), px(span.x0) + 2)
        box(x0, strip, x1, bottom, _tint(colors.get(span.label, OTHER), 0.16))
    for i in range(6):
        box(left, py(i / 5), right, py(i / 5) + 0.5, GRID)
    ticks = _ticks(x_max, (right - left) / 90)
    for x in ticks:
        box(px(x), top, px(x) + 0.5, bottom, GRID)
    for x0, _source in timeline.segments[1:]:
        for y in range(int(top), int(bottom), 8):  # dashed: where a new run or file begins
            box(px(x0) - 0.5, y, px(x0) + 0.5, min(y + 4, bottom), OTHER)
    # One polyline per action and segment: a line never joins two runs or files.
    filled = series.filled()
    xs = (left + (right - left) * series.mean_x(filled) / x_max) * SCALE
    breaks = np.flatnonzero(series.starts[filled][1:]) + 1  # where a new run or file begins
    dots = timeline.steps < 60  # few steps: mark each one
    others = series.others_mean(labels, filled)
    lines = [(OTHER, others, 1)] if others.any() else []
    lines += [(colors[label], series.mean(label, filled), 2) for label in reversed(labels)]  # the first on top
    for color, scores, thickness in lines:
        ys = (bottom - (bottom - top) * scores) * SCALE
        for part_x, part_y in zip(np.split(xs, breaks), np.split(ys, breaks), strict=True):
            points = list(zip(part_x.tolist(), part_y.tolist(), strict=True))
            if len(points) > 1:
                draw.line(points, fill=color, width=thickness * SCALE, joint="curve")
            for x, y in points if dots or len(points) == 1 else []:
                r = 2.5 * SCALE
                draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
    box(left, top, left + 1, bottom, INK)
    box(left, bottom, right, bottom + 1, INK)
    image = layer.resize(size, Image.Resampling.LANCZOS)

    # -- text, at the final size ------------------------------------------------------
    draw = ImageDraw.Draw(image)
    draw.text((left, 12), "Top actions over time", font=bold, fill=INK)
    sources = sorted({source for _, source in timeline.segments})
    about = f"{timeline.name}: {', '.join(sources) if len(sources) < 4 else f'{len(sources)} sources'}"
    about += f", {timeline.steps} steps, {len(timeline.spans)} events"
    if series.width > 0.2:  # a point is an average over several steps
        about += f", {clock(series.width)} averages"
    about = _fit(draw, about, right - left - _text_box(draw, "Top actions over time", bold)[0] - 30, font)
    draw.text((right, 14 + 3), about, font=font, fill=OTHER, anchor="ra")
    for i in range(6):
        draw.text((left - 8, py(i / 5)), f"{i / 5:.1f}", font=font, fill=INK, anchor="rm")
    for x in ticks:
        draw.text((px(x), bottom + 8), _clock(x, x_max), font=font, fill=INK, anchor="ma")
    for span in timeline.spans:
        room = px(span.x1) - px(span.x0) - 6
        if room > 40:
            ink = _tint(colors.get(span.label, OTHER), 1.3)
            draw.text((px(span.x0) + 4, strip + 3), _fit(draw, span.label, room, font), font=font, fill=ink)
    y = bottom + 8 + line_height + 14
    color_of = {names[label]: colors[label] for label in labels}
    for row in legend_rows:
        x = 20.0
        for name, entry_width in row:
            swatch = [x, y + 2, x + line_height - 4, y + line_height - 2]
            draw.rectangle(swatch, fill=color_of.get(name, OTHER))
            draw.text((x + line_height + 2, y), name or OTHERS_NAME, font=font, fill=INK)
            x += entry_width
        y += line_height + 8
    return image


def _legend_rows(
    draw: ImageDraw.ImageDraw, labels: list[str], font: ImageFont.ImageFont, width: float, others: bool
) -> list[list[tuple[str, float]]]:
    """Legend entries (label, width) flowed into rows that fit `width`."""
    height = _text_box(draw, "Ag", font)[1]
    entries = [(label, height + 2 + _text_box(draw, label, font)[0] + 24) for label in labels]
    if others:
        entries.append(("", height + 2 + _text_box(draw, OTHERS_NAME, font)[0] + 24))
    rows: list[list[tuple[str, float]]] = [[]]
    for entry in entries:
        if rows[-1] and sum(w for _, w in rows[-1]) + entry[1] > width:
            rows.append([])
        rows[-1].append(entry)
    return rows


def _ticks(x_max: float, most: float) -> list[float]:
    step = next((s for s in _TICK_STEPS if x_max / s <= max(2.0, most)), _TICK_STEPS[-1])
    return [i * step for i in range(int(x_max / step + 1e-9) + 1)]


def _clock(x: float, x_max: float) -> str:
    """Axis time: seconds for a clip, m:ss or h:mm for long runs, days and hours for days."""
    if x_max < 60:
        return f"{x:g}s"
    seconds = round(x)
    if x_max < _HOUR:
        return f"{seconds // 60}:{seconds % 60:02d}"
    if x_max < 2 * _DAY:
        return f"{seconds // _HOUR}:{seconds % _HOUR // 60:02d}"
    days, hours = divmod(seconds // _HOUR, 24)
    return f"{days}d" if hours == 0 else f"{days}d {hours}h"


def _tint(color: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    """`amount` < 1 fades towards white (a band); > 1 darkens (text on a band)."""
    if amount > 1:
        return tuple(int(c / amount) for c in color)  # type: ignore[return-value]
    return tuple(round(255 - (255 - c) * amount) for c in color)  # type: ignore[return-value]


def _font(size: int) -> ImageFont.ImageFont:
    """DejaVu Sans if installed (Raspberry Pi OS has it), else Pillow's own font."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        try:
            return ImageFont.load_default(size=size)  # Pillow >= 10.1
        except TypeError:
            return ImageFont.load_default()


def _text_box(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont) -> tuple[float, float]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _fit(draw: ImageDraw.ImageDraw, text: str, width: float, font: ImageFont.ImageFont) -> str:
    """`text`, cut short with an ellipsis if it is wider than `width` pixels."""
    if _text_box(draw, text, font)[0] <= width:
        return text
    while text and _text_box(draw, text + "…", font)[0] > width:
        text = text[:-1]
    return text + "…" if text else ""
