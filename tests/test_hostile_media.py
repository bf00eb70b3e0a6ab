"""Hostile and damaged media: decompression bombs, huge frames, truncated files, file:// URLs.

The files are made here from the shared clips (byte-level edits) or written by Pillow;
no video is committed.
"""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import PROJECT_ROOT, run_app
from PIL import Image, ImageSequence

from app.sources.files import rgb_array
from app.sources.session import SessionSource, plan_segments

LIMIT_MESSAGE = "over the limit of 16.8 (--max-megapixels)"


def bomb_gif(path: Path) -> Path:
    """A few dozen bytes declaring a 65535x65535 picture (4.3 gigapixels)."""
    screen = struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    image = b"," + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x44\x01\x00"
    path.write_bytes(b"GIF89a" + screen + image + b";")
    return path


@pytest.fixture(scope="module")
def big_gif(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 12000x12000 GIF (144 megapixels, 100 KB): decoding it took 1.7-2.3 GB."""
    path = tmp_path_factory.mktemp("media") / "big.gif"
    Image.new("P", (12000, 12000)).save(path)
    return path


def mp4_cut_in_half(clip: Path, out: Path) -> Path:
    data = clip.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "needs a clip with its index (moov) first"
    out.write_bytes(data[: len(data) // 2])
    return out


def mp4_with_timescale_0(clip: Path, out: Path) -> Path:
    """The video track's media header says 0 time units per second."""
    data = bytearray(clip.read_bytes())
    header = data.index(b"mdhd")  # the first track: video in these clips
    data[header + 16 : header + 20] = b"\0\0\0\0"  # version, flags, two dates, then the timescale
    out.write_bytes(bytes(data))
    return out


def model_args(a0_model: Path, labels_path: Path) -> list[str]:
    return ["--model", str(a0_model), "--labels", str(labels_path)]


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert all(fragment in lines[0] for fragment in fragments), lines[0]


@pytest.mark.parametrize("command", ["classify", "run"])
def test_a_decompression_bomb_is_one_line(command, tmp_path, a0_model, labels_path):
    bomb = bomb_gif(tmp_path / "bomb.gif")
    assert bomb.stat().st_size < 100
    args = [str(bomb)] if command == "classify" else ["--source", str(bomb), "--preview", "none", "--quiet"]
    done = run_app(command, *args, *model_args(a0_model, labels_path))
    assert_one_line_error(done, str(bomb), "65535x65535", LIMIT_MESSAGE)


def test_a_huge_gif_is_refused_before_it_is_decoded(big_gif, a0_model, labels_path):
    """Peak memory of the whole process stays that of the model, not of 144 megapixels."""
    code = (
        "import resource, sys\n"
        "from app.cli import main\n"
        f"code = main(['classify', {str(big_gif)!r}, *{model_args(a0_model, labels_path)!r}])\n"
        "print('peak_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    error, peak = done.stderr.strip().splitlines()
    assert done.returncode == 1 and "12000x12000" in error and LIMIT_MESSAGE in error, done.stderr
    assert int(peak.split()[1]) < 500_000, peak  # was 1.7-2.3 GB


def test_the_limit_is_an_option_and_a_config_key(tmp_path, clips, a0_model, labels_path):
    gif = clips / "riding_horse.gif"
    done = run_app("classify", "--max-megapixels", "0.05", str(gif), *model_args(a0_model, labels_path))
    assert_one_line_error(done, "320x240", "over the limit of 0.05")
    config = tmp_path / "run.toml"
    config.write_text(f'source = "{clips / "arm_wrestling.mp4"}"\nmax_megapixels = 0.05\npreview = "none"\n')
    done = run_app("run", "--config", str(config), "--quiet", *model_args(a0_model, labels_path))
    assert_one_line_error(done, "340x256", "over the limit of 0.05")


def short_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "truncated or damaged" in line]


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (mp4_cut_in_half, "decoded 92 of the 200 frames it declares, 3.1 of 6.7 s"),
        (mp4_with_timescale_0, "decoded 1 of the 200 frames it declares:"),
    ],
    ids=["cut-in-half", "timescale-0"],
)
def test_a_file_decoding_far_less_than_it_declares_is_warned_about(
    make, fragment, tmp_path, clips, a0_model, labels_path
):
    damaged = make(clips / "carving_ice_360.mp4", tmp_path / "damaged.mp4")
    classified = run_app("classify", str(damaged), *model_args(a0_model, labels_path))
    assert classified.returncode == 0, classified.stderr
    assert [fragment in line for line in short_warnings(classified.stderr)] == [True], classified.stderr
    run = run_app("run", "--source", str(damaged), "--preview", "none", "--quiet", *model_args(a0_model, labels_path))
    assert run.returncode == 0 and len(short_warnings(run.stderr)) == 1, run.stderr


def test_whole_files_give_no_warning(clips, a0_model, labels_path):
    files = sorted(str(path) for path in clips.iterdir())
    done = run_app("classify", *files, *model_args(a0_model, labels_path))
    assert done.returncode == 0 and short_warnings(done.stderr) == [], done.stderr


def test_a_file_url_is_played_as_a_file(clips, a0_model, labels_path):
    clip = clips / "carving_ice_172.mp4"
    common = ["--preview", "none", "--json", *model_args(a0_model, labels_path)]
    by_path = run_app("run", "--source", str(clip), *common, timeout=60)
    by_url = run_app("run", "--source", clip.as_uri(), *common, timeout=60)
    assert by_path.returncode == by_url.returncode == 0, by_url.stderr
    assert len(by_url.stdout.splitlines()) == len(by_path.stdout.splitlines()) == 22
    assert "WARNING" not in by_url.stderr, by_url.stderr  # once treated as a camera: reopened 4 times a second


def test_a_file_url_of_another_machine_is_refused(a0_model, labels_path):
    done = run_app("run", "--source", "file://nas/clip.mp4", "--preview", "none", *model_args(a0_model, labels_path))
    assert_one_line_error(done, "file://nas/clip.mp4", "another machine")


def test_a_bomb_is_one_line_on_a_terminal_too(tmp_path, a0_model, labels_path):
    """On a terminal, classify first counts the frames for its progress display."""
    bomb = bomb_gif(tmp_path / "bomb.gif")
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "app", "classify", str(bomb), *model_args(a0_model, labels_path)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=120,
        )
        os.close(follower)
        follower = -1
        printed = b""
        with contextlib.suppress(OSError):  # EIO once everything written has been read
            while chunk := os.read(leader, 4096):
                printed += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    text = printed.decode(errors="replace")
    assert done.returncode == 1 and "Traceback" not in text, text
    assert "error: " in text and "65535x65535" in text and LIMIT_MESSAGE in text, text


def test_a_truncated_file_played_in_a_loop_is_warned_about_once(tmp_path, clips, a0_model, labels_path):
    """`run --loop`: the warning once, not once a pass (122 lines in 8 s)."""
    damaged = mp4_cut_in_half(clips / "carving_ice_360.mp4", tmp_path / "damaged.mp4")
    command = [sys.executable, "-m", "app", "run", "--source", str(damaged), "--loop", "--json", "--preview", "none"]
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        app = subprocess.Popen([*command, *model_args(a0_model, labels_path)], cwd=PROJECT_ROOT, stdout=stdout,
                               stderr=stderr)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(out.read_text().splitlines()) < 4 * 16 and app.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # four passes of 3.1 s at 5 steps a second
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=30) == 0, err.read_text()
    finally:
        if app.poll() is None:
            app.kill()
    assert len(out.read_text().splitlines()) >= 4 * 16
    assert len(short_warnings(err.read_text())) == 1, err.read_text()


def test_a_truncated_clip_held_in_a_session_is_warned_about_once(tmp_path, clips, caplog):
    """A session holds a 3.1 s clip for 10 s (four passes): one warning."""
    damaged = mp4_cut_in_half(clips / "carving_ice_360.mp4", tmp_path / "damaged.mp4")
    source = SessionSource(plan_segments([damaged], 10.0))
    source.open()
    times = [frame.t for frame in source.frames(lambda t: True)]
    assert times[-1] > 9.5
    assert len(short_warnings(caplog.text)) == 1, caplog.text


def test_gif_frames_are_converted_exactly_as_pillow_does(clips, tmp_path):
    """The copy-saving conversion (palette lookup, RGB frames as they are) gives Pillow's own RGB."""
    transparent = tmp_path / "transparent.gif"
    frames = [Image.new("P", (64, 48), colour) for colour in (1, 2, 3)]
    frames[0].save(transparent, save_all=True, append_images=frames[1:], transparency=2, duration=100)
    for gif in (clips / "riding_horse.gif", transparent):
        with Image.open(gif) as image:
            modes = set()
            for frame in ImageSequence.Iterator(image):
                modes.add(frame.mode)
                assert np.array_equal(rgb_array(frame), np.asarray(frame.convert("RGB"))), (gif, frame.mode)
        assert modes & {"P", "RGB", "RGBA"}, modes
