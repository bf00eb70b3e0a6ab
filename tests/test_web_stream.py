"""The web view's JPEG stream: made only while watched, at most `fps` a second, newest first."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from app.inference.labels import Scored
from app.overlay import BAR, LiveOverlay
from app.results import Result
from app.sources.base import Frame
from app.web.stream import JpegStream, encode_jpeg


def result(label: str = "carving ice", score: float = 0.9) -> Result:
    return Result(0, 0, 0.0, 0.0, "clip", [Scored(label, score)], 5.0, 20.0, 5.0, 0, False)


def frame(index: int, size: tuple[int, int] = (640, 360)) -> Frame:
    width, height = size
    rng = np.random.default_rng(index)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return Frame(index, index / 30, image, "RGB", time.monotonic())


def decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture
def overlay() -> LiveOverlay:
    live = LiveOverlay("a0_int8")
    live.update(result())
    return live


def test_nothing_is_encoded_while_nobody_watches(overlay):
    stream = JpegStream(overlay, fps=50)
    try:
        assert not stream.wanted()
        for index in range(20):
            stream.on_frame(frame(index))
        assert stream.next_jpeg(0, timeout=0.3) is None
        assert stream.version == 0
        with stream.watching():
            assert stream.wanted() and stream.watchers == 1
            stream.on_frame(frame(99))
            assert stream.next_jpeg(0, timeout=2) is not None
        assert not stream.wanted()
    finally:
        stream.close()


def test_pictures_are_made_at_most_fps_times_a_second_of_the_newest_frame(overlay):
    """Frames at 200 Hz, stream at 10 fps: about 10 pictures a second; a late viewer skips to the newest."""
    stream = JpegStream(overlay, fps=10)
    try:
        with stream.watching():
            started = time.monotonic()
            index = 0
            while time.monotonic() - started < 1.0:
                stream.on_frame(frame(index % 8))
                index += 1
                time.sleep(0.005)
            made = stream.version
            assert 8 <= made <= 11, made
            picture = stream.next_jpeg(1, timeout=1)  # a viewer that last saw picture 1
            assert picture is not None and picture[0] >= made
    finally:
        stream.close()


@pytest.mark.parametrize(
    ("size", "expected"),
    [((172, 172), (480, 480)), ((640, 360), (854, 480)), ((1280, 720), (1280, 720)), ((1920, 1080), (1280, 720))],
)
def test_pictures_are_scaled_into_480_to_720_lines_with_the_overlay(overlay, size, expected, capsys):
    picture = decode(encode_jpeg(frame(1, size), overlay))
    assert picture.shape[1::-1] == expected
    bar_bgr = np.array(BAR[2::-1])
    assert (np.abs(picture.astype(int) - bar_bgr).sum(axis=-1) < 60).sum() > 200, "the overlay's bars"
    if size == (1280, 720):  # what a viewer costs: one of these per picture
        camera_like = cv2.GaussianBlur(frame(2, size).image, (0, 0), 3)  # noise is the worst case, not a scene
        times = []
        for _ in range(20):
            started = time.perf_counter()
            encode_jpeg(Frame(2, 0.0, camera_like, "RGB"), overlay)
            times.append((time.perf_counter() - started) * 1000)
        with capsys.disabled():
            print(f"\nJPEG with overlay at 1280x720: {np.median(times):.1f} ms (median of 20)")
