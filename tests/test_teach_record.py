"""`teach record`: takes from a source `run` accepts (a clip stands in for the camera)."""

from __future__ import annotations

import cv2
from helpers import assert_clean_error, run_app

TAKE = ["--seconds", "2", "--countdown", "1", "--pause", "0.5"]


def test_record_counts_down_and_stores_each_take(tmp_path, clips, a0_model):
    folder = tmp_path / "set"
    result = run_app("teach", "record", str(folder), "arm wrestling", "--source", str(clips / "arm_wrestling.mp4"),
                     "--count", "2", *TAKE, "--keep-video", "--model", str(a0_model))  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["take 1/2 of 'arm wrestling': get ready", "  1...", "  go!"]
    assert lines.count("  go!") == 2
    # 2 s at 5 fps; a busy machine may drop a frame of the file playing as a camera, as a camera would.
    stored = [int(line.split()[3]) for line in lines if line.startswith("take ") and "stored" in line]
    assert len(stored) == 2 and all(9 <= steps <= 10 for steps in stored), lines
    assert "arm wrestling: 2 example(s)" in run_app("teach", "list", str(folder)).stdout
    videos = sorted((folder / "videos").glob("*.mp4"))
    assert len(videos) == 2
    capture = cv2.VideoCapture(str(videos[0]))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == stored[0]  # what the model saw, at 5 fps


def test_no_video_is_kept_unless_asked(tmp_path, clips, a0_model):
    folder = tmp_path / "set"
    result = run_app("teach", "record", str(folder), "arm wrestling", "--source", str(clips / "arm_wrestling.mp4"),
                     "--count", "1", *TAKE, "--model", str(a0_model))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not (folder / "videos").exists()
    assert len(list((folder / "examples").glob("*.npy"))) == 1


def test_a_source_that_ends_keeps_the_takes_done(tmp_path, clips, a0_model):
    folder = tmp_path / "set"
    result = run_app("teach", "record", str(folder), "carving ice", "--source", str(clips / "carving_ice_172.mp4"),
                     "--count", "3", "--seconds", "3", "--countdown", "0.5", "--pause", "0",
                     "--model", str(a0_model))  # fmt: skip
    assert_clean_error(result, "the source ended before take 2 of 3", "earlier takes are kept")
    assert "carving ice: 1 example(s)" in run_app("teach", "list", str(folder)).stdout
