"""`python -m app` on bad input: exit code 1, one clear `error:` line, never a traceback.

Every test runs the app as a subprocess, the way a user meets these errors.
"""

from __future__ import annotations

import itertools
import json
import os
import pwd
import random
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from helpers import assert_clean_error, run_app, run_unprivileged
from synthetic_models import build_stream_model


def classify(model: Path | str, labels: Path, *args: str) -> subprocess.CompletedProcess:
    return run_app("classify", "--model", str(model), "--labels", str(labels), *args)


@pytest.fixture
def carving_ice(clips: Path) -> Path:
    return clips / "carving_ice_172.mp4"


# ---- the model ---------------------------------------------------------------------------


def test_missing_model_file(tmp_path: Path, labels_path: Path, carving_ice: Path) -> None:
    """A model path that does not exist is named, with how to fetch the official ones."""
    model = tmp_path / "absent.tflite"
    assert_clean_error(classify(model, labels_path, str(carving_ice)), "model not found", str(model), "models fetch")


@pytest.mark.parametrize(
    "content",
    [random.Random(1).randbytes(4096), b"this is a text file, not a flatbuffer\n" * 20],
    ids=["random-bytes", "text-file"],
)
def test_file_that_is_not_tflite(tmp_path: Path, labels_path: Path, carving_ice: Path, content: bytes) -> None:
    """Garbage in a .tflite file is reported as not a usable TFLite model."""
    model = tmp_path / "garbage.tflite"
    model.write_bytes(content)
    assert_clean_error(classify(model, labels_path, str(carving_ice)), str(model), "not a usable TFLite model")


def test_model_without_image_input(tmp_path: Path, labels_path: Path, carving_ice: Path) -> None:
    """A loadable TFLite model whose input is not called `image` is rejected by name."""
    model = build_stream_model(tmp_path / "no_image.tflite", height=16, width=16, with_image=False)
    assert_clean_error(classify(model, labels_path, str(carving_ice)), str(model), "no 'image' input")


def test_model_without_states(tmp_path: Path, labels_path: Path, carving_ice: Path) -> None:
    """A non-stream (stateless) model is rejected as having no state inputs."""
    model = build_stream_model(tmp_path / "no_states.tflite", height=16, width=16, with_states=False)
    assert_clean_error(classify(model, labels_path, str(carving_ice)), str(model), "no state inputs")


# ---- the label map -----------------------------------------------------------------------


def test_label_map_one_line_short(tmp_path: Path, a0_model: Path, labels_path: Path, carving_ice: Path) -> None:
    """The real label map minus its last line does not fit the real 600-class A0 model."""
    short = tmp_path / "labels_599.txt"
    short.write_text("\n".join(labels_path.read_text(encoding="utf-8").splitlines()[:-1]) + "\n", encoding="utf-8")
    assert_clean_error(
        classify(a0_model, short, str(carving_ice)), str(short), "599 labels but the model has 600 classes"
    )


def test_label_map_of_another_model(tmp_path: Path, labels_path: Path, carving_ice: Path) -> None:
    """The 600-line Kinetics map does not fit a 7-class model: the count comes from the model."""
    model = build_stream_model(tmp_path / "seven.tflite", height=16, width=16, num_classes=7)
    assert_clean_error(classify(model, labels_path, str(carving_ice)), "600 labels but the model has 7 classes")


@pytest.mark.parametrize("content", ["", "\n\n   \n"], ids=["zero-bytes", "blank-lines"])
def test_empty_label_file(tmp_path: Path, a0_model: Path, carving_ice: Path, content: str) -> None:
    """A label file with no labels is called empty."""
    labels = tmp_path / "labels.txt"
    labels.write_text(content, encoding="utf-8")
    assert_clean_error(classify(a0_model, labels, str(carving_ice)), str(labels), "is empty")


def test_label_path_is_a_directory(tmp_path: Path, a0_model: Path, carving_ice: Path) -> None:
    """A directory given as --labels is an unreadable label file, not an IsADirectoryError traceback."""
    assert_clean_error(classify(a0_model, tmp_path, str(carving_ice)), "cannot read label file", str(tmp_path))


# ---- the video ---------------------------------------------------------------------------


def test_missing_video(tmp_path: Path, a0_model: Path, labels_path: Path) -> None:
    """A video path that does not exist is named."""
    video = tmp_path / "absent.mp4"
    assert_clean_error(classify(a0_model, labels_path, str(video)), "video not found", str(video))


def test_empty_mp4(tmp_path: Path, a0_model: Path, labels_path: Path) -> None:
    """A 0-byte .mp4 cannot be opened: one error line naming it."""
    video = tmp_path / "empty.mp4"
    video.write_bytes(b"")
    assert_clean_error(classify(a0_model, labels_path, str(video)), str(video))


def test_truncated_mp4(tmp_path: Path, a0_model: Path, labels_path: Path, carving_ice: Path) -> None:
    """The first 3 kB of a real mp4 (no index) cannot be opened: one error line naming it."""
    video = tmp_path / "truncated.mp4"
    video.write_bytes(carving_ice.read_bytes()[:3000])
    assert_clean_error(classify(a0_model, labels_path, str(video)), str(video))


def test_random_bytes_mp4(tmp_path: Path, a0_model: Path, labels_path: Path) -> None:
    """Random bytes named .mp4 (seeded: FFmpeg logs for most seeds) are not a format OpenCV can decode."""
    video = tmp_path / "noise.mp4"
    video.write_bytes(random.Random(0).randbytes(8192))
    assert_clean_error(classify(a0_model, labels_path, str(video)), "cannot open video", str(video))


def test_text_file_named_gif(tmp_path: Path, a0_model: Path, labels_path: Path) -> None:
    """A text file named .gif is not a readable GIF."""
    video = tmp_path / "notes.gif"
    video.write_text("not a picture\n", encoding="utf-8")
    assert_clean_error(classify(a0_model, labels_path, str(video)), "not a readable GIF", str(video))


def test_truncated_gif(tmp_path: Path, a0_model: Path, labels_path: Path, clips: Path) -> None:
    """A GIF cut short mid-frame is reported as damaged."""
    video = tmp_path / "cut.gif"
    video.write_bytes((clips / "riding_horse.gif").read_bytes()[:20000])
    assert_clean_error(classify(a0_model, labels_path, str(video)), str(video), "damaged")


# ---- options -----------------------------------------------------------------------------


def test_unknown_model_name(labels_path: Path, carving_ice: Path) -> None:
    """`--model a9-int8` is not a variant nor a file: a one-line error naming it."""
    assert_clean_error(classify("a9-int8", labels_path, str(carving_ice)), "a9-int8")


def test_unknown_model_name_lists_the_variants(labels_path: Path, carving_ice: Path) -> None:
    """`--model a9-int8` says the name is unknown and lists the real variants."""
    assert_clean_error(classify("a9-int8", labels_path, str(carving_ice)), "unknown model", "a0-int8")


@pytest.mark.parametrize("option", ["--allow", "--deny"])
def test_unknown_label_in_filter(a0_model: Path, labels_path: Path, carving_ice: Path, option: str) -> None:
    """A label not in the label map is refused by name, even next to a valid one."""
    result = classify(a0_model, labels_path, option, "carving ice,flying saucer", str(carving_ice))
    line = assert_clean_error(result, "unknown label", "'flying saucer'")
    assert "carving ice" not in line


@pytest.mark.parametrize(
    ("option", "value"),
    [("--fps", "0"), ("--top-k", "0"), ("--threshold", "2"), ("--threads", "0"), ("--runtime", "nope")],
)
def test_bad_option_value(a0_model: Path, labels_path: Path, carving_ice: Path, option: str, value: str) -> None:
    """Out-of-range option values fail (usage error or app error), naming the option, with no traceback."""
    result = classify(a0_model, labels_path, option, value, str(carving_ice))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert option.lstrip("-") in last, last
    assert value in last


# ---- eval LIST ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("{clip}", "expected 'path<TAB>label'"),
        ("{clip}\tcarving ice\textra", "expected 'path<TAB>label'"),
        ("{clip}\t", "expected 'path<TAB>label'"),
        ("{clip},carving ice,extra", "expected 'path<TAB>label'"),
        ("{clip}\tcarving icee", "'carving icee' is not a label"),
        ("absent.mp4\tcarving ice", "video not found"),
    ],
    ids=["no-label", "three-fields", "empty-label", "csv-three-fields", "unknown-label", "missing-video"],
)
def test_bad_eval_list_line_is_named(
    tmp_path: Path, a0_model: Path, labels_path: Path, carving_ice: Path, line: str, fragment: str
) -> None:
    """A bad line in an eval LIST: one error line naming the file and the line number."""
    listing = tmp_path / "clips.tsv"
    good = f"{carving_ice}\tcarving ice"
    listing.write_text(f"# a comment\n{good}\n\n{line.format(clip=carving_ice)}\n{good}\n")
    result = run_app("eval", str(listing), "--model", str(a0_model), "--labels", str(labels_path))
    assert_clean_error(result, f"{listing}:4:", fragment)
    assert result.stdout == ""


def test_eval_list_problems(tmp_path: Path, a0_model: Path, labels_path: Path, carving_ice: Path) -> None:
    """A missing LIST, an empty one and a broken video in one are each one clean line."""
    model = ["--model", str(a0_model), "--labels", str(labels_path)]
    absent = tmp_path / "absent.tsv"
    assert_clean_error(run_app("eval", str(absent), *model), "list file not found", str(absent))
    empty = tmp_path / "empty.csv"
    empty.write_text("# nothing yet\n\n")
    assert_clean_error(run_app("eval", str(empty), *model), str(empty), "lists no clips")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(carving_ice.read_bytes()[:3000])
    listing = tmp_path / "clips.csv"
    listing.write_text("broken.mp4,carving ice\n")  # relative to the LIST's folder
    assert_clean_error(run_app("eval", str(listing), "--session", *model), str(broken))


# ---- demo --------------------------------------------------------------------------------


def test_demo_without_clip(tmp_path: Path) -> None:
    """`demo` with an empty models folder names the missing clip and how to fetch it."""
    line = assert_clean_error(run_app("demo", env={"MOVINET_MODELS_DIR": str(tmp_path)}), "models fetch")
    assert str(tmp_path / "carving_ice_172.mp4") in line


def test_demo_without_model(tmp_path: Path, carving_ice: Path) -> None:
    """`demo` with the clip but no model names the missing model file and how to fetch it."""
    shutil.copy(carving_ice, tmp_path)
    line = assert_clean_error(run_app("demo", env={"MOVINET_MODELS_DIR": str(tmp_path)}), "models fetch")
    assert str(tmp_path / "movinet_a0_stream_int8.tflite") in line


# ---- and one that works ------------------------------------------------------------------


def test_classify_json_carving_ice(a0_model: Path, labels_path: Path, carving_ice: Path) -> None:
    """`classify --json` streams one object per 0.2 s step and ends on "carving ice" > 0.9."""
    result = classify(a0_model, labels_path, "--json", str(carving_ice))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    steps = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(steps) >= 20  # 4.4 s at 5 steps a second
    for step in steps:
        assert step["file"] == str(carving_ice)
        assert isinstance(step["frame"], int)
        assert isinstance(step["t"], float)
        assert len(step["top"]) == 5
        assert all(set(item) == {"label", "score"} for item in step["top"])
        scores = [item["score"] for item in step["top"]]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
    frames = [step["frame"] for step in steps]
    times = [step["t"] for step in steps]
    assert frames == sorted(set(frames))
    assert times[0] == pytest.approx(0.0, abs=0.05)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g == pytest.approx(0.2, abs=0.05) for g in gaps), gaps
    best = steps[-1]["top"][0]
    assert best["label"] == "carving ice"
    assert best["score"] > 0.9


# ---- files the app may not read, and OpenCV's own log lines ------------------------------


def unreadable_copy(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    target.chmod(0)
    return target


@pytest.mark.parametrize("which", ["video", "run-video", "model", "labels"])
def test_unreadable_files_are_permission_denied(tmp_path, a0_model, labels_path, carving_ice, which):
    """Mode 000: `permission denied: PATH`, not a damaged video or model, and no OpenCV log line first."""
    video = unreadable_copy(carving_ice, tmp_path / "clip.mp4") if "video" in which else carving_ice
    model = unreadable_copy(a0_model, tmp_path / "model.tflite") if which == "model" else a0_model
    labels = unreadable_copy(labels_path, tmp_path / "labels.txt") if which == "labels" else labels_path
    command = ["run", "--source", str(video), "--preview", "none"] if which == "run-video" else ["classify", str(video)]
    result = run_unprivileged(*command, "--model", str(model), "--labels", str(labels))
    unreadable = {"video": video, "run-video": video, "model": model, "labels": labels}[which]
    line = assert_clean_error(result, f"permission denied: {unreadable}")
    assert "service" not in line


def test_permission_denied_under_systemd_names_the_service_user(tmp_path, a0_model, labels_path, carving_ice):
    """Under systemd (INVOCATION_ID set) the message says which user lacks the access."""
    model = unreadable_copy(a0_model, tmp_path / "model.tflite")
    result = run_unprivileged(
        "classify", str(carving_ice), "--model", str(model), "--labels", str(labels_path), env={"INVOCATION_ID": "0f"}
    )
    user = pwd.getpwuid(os.geteuid()).pw_name
    assert_clean_error(result, f"permission denied: {model} (the service runs as user {user}")


def test_no_opencv_log_lines_before_the_error_for_a_missing_camera(a0_model, labels_path):
    """`--source 9` (no such camera): OpenCV's `[ WARN:...]` lines do not come first."""
    result = run_app(
        "run", "--source", "9", "--preview", "none", "--model", str(a0_model), "--labels", str(labels_path)
    )
    assert_clean_error(result, "/dev/video9 does not exist")


def test_no_opencv_log_lines_before_the_error_for_a_silent_stream(a0_model, labels_path):
    """A network camera that accepts the connection and says nothing: OpenCV's timeout
    warning stays out of the way of the one-line error."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/video"
        result = run_app(
            "run", "--source", url, "--preview", "none", "--model", str(a0_model), "--labels", str(labels_path)
        )
    assert_clean_error(result, f"cannot open video source {url}")
