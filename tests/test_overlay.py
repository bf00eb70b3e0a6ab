"""The overlay renderer, by its pixels: text and bars where they belong, bars as long as
the scores say, nothing outside the panel, and smoothing that steadies the labels."""

from __future__ import annotations

import numpy as np
import pytest

from app.inference.labels import Scored
from app.overlay import (
    BAR,
    TRACK,
    LiveOverlay,
    OverlayRenderer,
    OverlayView,
    ScoreSmoother,
    annotate,
    fit_size,
    model_label,
)
from app.results import Result

SCORES = [("carving ice", 0.8), ("ice skating", 0.4), ("playing ice hockey", 0.2), ("sawing wood", 0.1)]
SCORES += [("using remote controller (not gaming)", 0.05)]
VIEW = OverlayView(tuple(Scored(label, score) for label, score in SCORES), "a0_int8 · 5.0 fps · 23 ms · 0 dropped")


def result(t: float, *scores: tuple[str, float], reset: bool = False) -> Result:
    top = [Scored(label, score) for label, score in scores]
    return Result(0, 0, t, 0.0, "test", top, 20.0, 30.0, 5.0, 0, reset)


def bar_bands(rgba: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(first row, last row, bar length, bar + track length) of each bar, top to bottom."""
    bar = np.all(rgba == BAR, axis=-1)
    track = np.all(rgba == TRACK, axis=-1)
    rows = np.flatnonzero((bar | track).any(axis=1))
    if rows.size == 0:
        return []
    bands = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    out = []
    for band in bands:
        middle = band[len(band) // 2]
        out.append((int(band[0]), int(band[-1]), int(bar[middle].sum()), int((bar[middle] | track[middle]).sum())))
    return out


def text_pixels(rgba: np.ndarray) -> np.ndarray:
    """Where white or grey glyphs are drawn (brighter than the bar tracks and the panel)."""
    rgb = rgba[..., :3].astype(int)
    return (rgb.min(axis=-1) > 128) & (rgb.max(axis=-1) - rgb.min(axis=-1) < 8)


@pytest.fixture(scope="module")
def rendered() -> tuple[OverlayRenderer, np.ndarray]:
    renderer = OverlayRenderer((1280, 720))
    return renderer, renderer.render(VIEW).rgba


def test_layer_is_rgba_of_the_output_size_and_transparent_outside_the_panel(rendered):
    renderer, rgba = rendered
    assert rgba.shape == (720, 1280, 4) and rgba.dtype == np.uint8
    left, top, right, bottom = renderer.layout.panel
    outside = np.ones((720, 1280), bool)
    outside[top:bottom, left:right] = False
    assert not rgba[outside].any(), "nothing drawn outside the panel, fully transparent there"
    inside = rgba[top:bottom, left:right]
    assert (inside[..., 3] > 0).mean() > 0.98, "the panel is filled (all but its rounded corners)"
    assert right - left < 1280 * 0.5 and bottom - top < 720 * 0.5, "the panel leaves most of the picture visible"


def test_bars_are_proportional_to_the_scores(rendered):
    _, rgba = rendered
    bands = bar_bands(rgba)
    assert len(bands) == 5
    full = {band[3] for band in bands}
    assert len(full) == 1, "every bar has the same full-scale length"
    (full_length,) = full
    for (_, score), (_, _, length, _) in zip(SCORES, bands, strict=True):
        assert length == pytest.approx(score * full_length, abs=1)


def test_each_label_and_its_percentage_are_drawn_above_its_bar(rendered):
    renderer, rgba = rendered
    text = text_pixels(rgba)
    left, top, right, _ = renderer.layout.panel
    pad = renderer.layout.pad
    previous_bar_end = top
    for (label, score), (bar_top, _, _, _) in zip(SCORES, bar_bands(rgba), strict=True):
        line = text[previous_bar_end:bar_top, left:right]
        columns = np.flatnonzero(line.any(axis=0))
        assert line.sum() > 100, f"no text drawn for {label!r}"
        assert columns[0] <= pad + 4, "the label starts at the panel's left padding"
        assert columns[-1] >= right - left - pad - 4, f"{round(score * 100)}% ends at the right padding"
        previous_bar_end = bar_top
    status = text[previous_bar_end + renderer.layout.line :, left:right]
    assert status.sum() > 100, "the status line is drawn under the last bar"


def test_long_labels_are_cut_short_not_drawn_outside(rendered):
    renderer, _ = rendered
    view = OverlayView((Scored("a very long label " * 10, 0.5),), "status " * 40)
    rgba = renderer.render(view).rgba
    left, top, right, bottom = renderer.layout.panel
    assert not np.delete(rgba, np.s_[left:right], axis=1).any()
    assert not np.delete(rgba, np.s_[top:bottom], axis=0).any()
    assert bar_bands(rgba)[0][2] == pytest.approx(0.5 * bar_bands(rgba)[0][3], abs=1)


def test_text_scales_with_the_output_size():
    def text_height(size: tuple[int, int]) -> int:
        renderer = OverlayRenderer(size)
        rgba = renderer.render(VIEW).rgba
        first_bar = bar_bands(rgba)[0][0]
        rows = np.flatnonzero(text_pixels(rgba[:first_bar]).any(axis=1))
        return int(rows[-1] - rows[0] + 1)

    kiosk, pi_display = text_height((1920, 1080)), text_height((800, 480))
    assert pi_display >= 14, "readable on a 7-inch display"
    assert kiosk / pi_display == pytest.approx(1080 / 480, rel=0.15)


def test_blending_changes_only_the_panel_and_respects_channel_order():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    layer = OverlayRenderer((640, 360)).render(VIEW)
    left, top, right, bottom = layer.box
    bar_y, bar_x = np.argwhere(np.all(layer.rgba == BAR, axis=-1))[0]
    for order, colour in (("RGB", BAR[:3]), ("BGR", BAR[2::-1])):
        image = frame.copy()
        layer.blend_into(image, order)
        outside = np.ones(image.shape[:2], bool)
        outside[top:bottom, left:right] = False
        assert np.array_equal(image[outside], frame[outside])
        assert tuple(image[bar_y, bar_x]) == colour, "opaque pixels replace the picture exactly"
        assert image[top:bottom, left:right].mean() < frame[top:bottom, left:right].mean() - 40, "panel darkens"


def test_annotate_draws_on_a_copy_at_the_requested_size():
    frame = np.full((240, 426, 3), 200, np.uint8)
    overlay = LiveOverlay("a0_int8")
    out = annotate(frame, "RGB", overlay, (852, 480), out_order="BGR")
    assert out.shape == (480, 852, 3)
    assert (frame == 200).all(), "the source frame is shared with the model and never drawn on"
    assert out[5:100, 5:200].mean() < 150, "the overlay is burnt in"


def test_live_overlay_renders_once_per_result_and_size():
    overlay = LiveOverlay("a0_int8", smoothing=0, hold=0)
    first = overlay.layer((640, 360))
    assert overlay.layer((640, 360)) is first, "no redraw per frame"
    assert bar_bands(first.rgba) == [], "before the first result: the panel and status only"
    overlay.update(result(0.2, ("carving ice", 0.9), ("ice skating", 0.1)))
    second = overlay.layer((640, 360))
    assert second is not first and overlay.layer((640, 360)) is second
    assert [length / full for _, _, length, full in bar_bands(second.rgba)[:2]] == pytest.approx([0.9, 0.1], abs=0.01)
    assert overlay.layer((1280, 720)).size == (1280, 720)


def test_smoothing_averages_scores_over_results():
    smoother = ScoreSmoother(smoothing=0.5, hold=0)
    smoother.update(result(0.0, ("a", 1.0)))
    shown = smoother.update(result(0.2, ("b", 1.0)))
    assert {s.label: s.score for s in shown} == pytest.approx({"a": 0.25, "b": 0.5})
    raw = ScoreSmoother(smoothing=0, hold=0)
    raw.update(result(0.0, ("a", 1.0)))
    assert raw.update(result(0.2, ("b", 0.7), ("c", 0.3))) == [Scored("b", 0.7), Scored("c", 0.3)]


def test_the_top_label_is_held_until_a_challenger_leads_for_hold_seconds():
    smoother = ScoreSmoother(smoothing=0, hold=1.0)
    assert smoother.update(result(0.0, ("a", 0.6), ("b", 0.4)))[0].label == "a"
    for t in (0.2, 0.6, 1.0):  # b leads from 0.2 s on: still shown second until 1.2 s
        shown = smoother.update(result(t, ("b", 0.55), ("a", 0.45)))
        assert [s.label for s in shown] == ["a", "b"], t
    assert smoother.update(result(1.2, ("b", 0.55), ("a", 0.45)))[0].label == "b"
    smoother.update(result(1.4, ("a", 0.6), ("b", 0.4)))  # a flicker back ...
    assert smoother.update(result(1.6, ("b", 0.6), ("a", 0.4)))[0].label == "b"  # ... is not a takeover


def test_a_stream_reset_forgets_old_scores():
    smoother = ScoreSmoother(smoothing=0.9, hold=5)
    smoother.update(result(0.0, ("a", 1.0)))
    assert smoother.update(result(0.2, ("b", 1.0), reset=True)) == [Scored("b", pytest.approx(0.1))]


def test_helpers():
    assert fit_size((426, 240), (1280, 720)) == (1278, 720)
    assert fit_size((1280, 720), (800, 800)) == (800, 450)
    assert model_label("movinet_a0_stream_int8") == "a0_int8"
    assert model_label("my_finetuned") == "my_finetuned"
