"""Reading logs back: the `plot` and `summary` commands on logs of real runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_clean_error, records, run_app, run_logged
from PIL import Image

from app.logs.plot import PALETTE
from app.logs.read import Step, read_timeline

# ---- plot -----------------------------------------------------------------------------


def near(image: Image.Image, color: tuple[int, int, int], tolerance: int = 30) -> int:
    """How many pixels are within `tolerance` of `color` on every channel."""
    return sum(
        count
        for count, pixel in image.getcolors(image.width * image.height)
        if all(abs(a - b) <= tolerance for a, b in zip(pixel, color, strict=True))
    )


def test_plot_of_a_log(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    log = tmp_path / "run.jsonl"
    run_logged(clips / "carving_ice_172.mp4", model_args, "--log", str(log))
    result = run_app("plot", str(log), "-o", str(tmp_path / "timeline.png"), "--size", "900x450")
    assert result.returncode == 0, result.stderr
    assert "22 steps, 2 events" in result.stdout
    with Image.open(tmp_path / "timeline.png") as image:
        assert image.format == "PNG" and image.size == (900, 450)
        rgb = image.convert("RGB")
    white = near(rgb, (255, 255, 255), 3)
    assert white < 0.8 * 900 * 450  # not blank
    assert near(rgb, PALETTE[0], 20) > 1000  # the top action's line: carving ice
    assert near(rgb, PALETTE[1], 20) > 300  # the second one: stretching arm
    band = tuple(round(255 - (255 - c) * 0.16) for c in PALETTE[0])
    assert near(rgb, band, 4) > 0.25 * 900 * 450  # the carving ice event, shaded over most of the chart

    default = run_app("plot", str(log))  # without -o: beside the log
    assert default.returncode == 0 and Image.open(tmp_path / "run.png").size == (1200, 600)
    assert_clean_error(run_app("plot", str(log), "-o", str(log)), "is the log", "choose another file")
    assert records(log)[-1]["type"] == "stop"


def test_plot_and_summary_of_classify_json(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    """`classify --json` of two clips: two segments on one axis, events worked out from the steps."""
    output = run_app(
        "classify", "--json", *model_args, str(clips / "carving_ice_172.mp4"), str(clips / "arm_wrestling.mp4")
    )
    assert output.returncode == 0, output.stderr
    steps = tmp_path / "steps.jsonl"
    steps.write_text(output.stdout)
    read: list[Step] = []
    timeline = read_timeline(steps, on_step=read.append)
    assert [source for _, source in timeline.segments] == [
        str(clips / "carving_ice_172.mp4"),
        str(clips / "arm_wrestling.mp4"),
    ]
    xs = [s.x for s in read]
    assert xs == sorted(xs) and xs[-1] == pytest.approx(4.2 + 0.2 + 9.82, abs=0.05)
    assert [s.label for s in timeline.spans] == ["stretching arm", "carving ice", "arm wrestling"]
    assert run_app("plot", str(steps), "-o", str(tmp_path / "t.png")).returncode == 0
    assert Image.open(tmp_path / "t.png").size == (1200, 600)
    summary = run_app("summary", str(steps), "--event-min-steps", "3")  # explicit thresholds: recomputed
    assert summary.returncode == 0, summary.stderr
    assert "stretching arm" not in summary.stdout and "arm wrestling" in summary.stdout


def test_plot_refuses_what_is_not_a_log(tmp_path: Path, clips: Path, model_args: list[str]) -> None:
    picture = tmp_path / "picture.png"
    Image.new("RGB", (64, 64), "red").save(picture)
    assert_clean_error(run_app("plot", str(picture), "-o", str(tmp_path / "x.png")), str(picture), "is not a log")
    notes = tmp_path / "notes.txt"
    notes.write_text('{"hello": "world"}\nplain text\n')
    assert_clean_error(run_app("plot", str(notes)), str(notes), "is not a log")
    assert_clean_error(run_app("summary", str(notes)), str(notes), "is not a log")
    assert_clean_error(run_app("plot", str(tmp_path / "absent.jsonl")), "log not found")
    assert_clean_error(run_app("plot", str(notes), "--size", "big"), "--size")

    events = tmp_path / "events.jsonl"
    run_logged(clips / "carving_ice_172.mp4", model_args, "--log", str(events), "--log-level", "events")
    assert_clean_error(run_app("plot", str(events)), "no step records", "summary")
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "events.png").exists()
