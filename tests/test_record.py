"""`--record` and `snapshot`: the files play back / open with the overlay burnt in, and bad
output or preview options are one-line errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import assert_clean_error, run_app

from app.display.record import Recorder
from app.overlay import BAR, ROWS, Layout
from app.sources.base import Frame

NO_DISPLAY = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}


def model_args(a0_model: Path, labels_path: Path) -> list[str]:
    return ["--model", str(a0_model), "--labels", str(labels_path)]


def amber(image_bgr: np.ndarray) -> np.ndarray:
    """Bar-coloured pixels, with room for lossy video compression."""
    b, g, r = (image_bgr[..., i].astype(int) for i in range(3))
    return (r > 200) & (abs(g - BAR[1]) < 45) & (b < 90)


def test_recorded_video_plays_back_with_the_overlay(clips, a0_model, labels_path, tmp_path):
    clip = clips / "carving_ice_360.mp4"
    out = tmp_path / "demo.mp4"
    done = run_app("run", "--source", str(clip), "--record", str(out), "--quiet", *model_args(a0_model, labels_path))
    assert done.returncode == 0, done.stderr
    assert "recorded 200 frames (6.7 s)" in done.stderr

    video, source = cv2.VideoCapture(str(out)), cv2.VideoCapture(str(clip))
    assert video.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    frames = []
    while (read := video.read())[0]:
        frames.append(read[1])
    originals = []
    while (read := source.read())[0]:
        originals.append(cv2.resize(read[1], (480, 480)))
    assert len(frames) == len(originals) == 200, "every frame, at the clip's own rate"
    assert frames[0].shape == (480, 480, 3), "a 360p clip is scaled up so the text stays readable"

    left, top, right, bottom = Layout.for_size((480, 480), ROWS).panel
    for index in (30, 100, 199):  # (the clip fades in from black)
        recorded, original = frames[index].astype(int), originals[index].astype(int)
        panel = (slice(top + 4, bottom - 4), slice(left + 4, right - 4))
        assert recorded[panel].mean() < 0.8 * original[panel].mean(), "the darkened panel is burnt in"
        beside = (slice(bottom + 10, 470), slice(10, 470))
        assert np.abs(recorded[beside] - original[beside]).mean() < 6, "the picture is untouched elsewhere"
    assert amber(frames[0][top:bottom, left:right]).sum() < 20, "no bars before the first result"
    bars = amber(frames[-1][top:bottom, left:right])
    assert bars.sum() > 500, "score bars once the model speaks"


def test_snapshot_saves_one_annotated_picture_with_bars_matching_the_scores(clips, a0_model, labels_path, tmp_path):
    out = tmp_path / "shot.png"
    done = run_app(
        "snapshot",
        *["--source", str(clips / "shooting_basketball.mp4"), "-o", str(out), "--seconds", "6"],
        *["--smoothing", "0", "--hold", "0", *model_args(a0_model, labels_path)],
        # Whole-clip context: this test is about the drawing, and at 6 s the clip changes
        # shot, where the live default's short context mixes its streams (0.45).
        *["--context", "10", "--answer", "longest"],
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"wrote {out} (1278x720), showing:"
    scores = [float(line.split()[0]) for line in lines[1:]]
    assert len(scores) == 5 and lines[1].endswith("shooting basketball") and scores[0] > 0.5

    image = cv2.imread(str(out))
    assert image.shape == (720, 1278, 3), "426x240 scaled up to 720 lines"
    bar = np.all(image == BAR[2::-1], axis=-1)  # lossless PNG: the exact colour, in BGR
    rows = np.flatnonzero(bar.any(axis=1))
    layout = Layout.for_size((1278, 720), ROWS)
    inner = layout.panel[2] - layout.panel[0] - 2 * layout.pad
    assert bar[rows[0]].sum() == pytest.approx(scores[0] * inner, abs=2), "top bar as long as its score"


def test_recorder_follows_timestamps_at_a_constant_rate(tmp_path):
    from app.overlay import LiveOverlay

    recorder = Recorder(tmp_path / "out.mp4", LiveOverlay("m"), fps=10)
    image = np.zeros((240, 320, 3), np.uint8)
    for index, t in enumerate([5.0, 5.1, 5.5, 5.52, 5.6, 0.0, 0.1]):  # a gap, an early frame, a restart
        recorder.on_frame(Frame(index, t, image, "BGR"))
    recorder.close()
    assert recorder.written == 9  # 0.0, 0.1, (gap: x4) 0.5, skip, 0.6, restart: 0.7, 0.8
    video = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 9
    assert (video.get(cv2.CAP_PROP_FRAME_WIDTH), video.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 480)


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--preview", "window"], ["--preview window needs a display"]),
        (["--preview", "drm"], ["--preview drm is the Pi camera's own preview"]),
        (["--fullscreen", "--preview", "none"], ["--fullscreen needs a preview"]),
        (["--record", "{tmp}/out.txt"], ["cannot write", "out.txt", "must end in .mp4, .mov"]),
        (["--record", "{tmp}/missing/out.mp4"], ["folder", "does not exist"]),
    ],
    ids=["window-without-display", "drm-for-a-file", "fullscreen-headless", "record-type", "record-folder"],
)
def test_bad_preview_and_record_options_are_one_line_errors(clips, a0_model, labels_path, tmp_path, options, fragments):
    options = [option.replace("{tmp}", str(tmp_path)) for option in options]
    source = str(clips / "carving_ice_172.mp4")
    done = run_app("run", "--source", source, *options, *model_args(a0_model, labels_path), env=NO_DISPLAY)
    assert_clean_error(done, *fragments)


def test_smoothing_must_be_below_one(clips):
    done = run_app("run", "--source", str(clips / "carving_ice_172.mp4"), "--smoothing", "1")
    assert done.returncode == 2 and "must be below 1" in done.stderr
