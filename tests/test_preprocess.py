"""Preprocessing: centre crop, resize to the model size, RGB, float32 in [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest

from app.inference.preprocess import Preprocessor, centre_crop


def test_bgr_frames_come_out_rgb():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[..., 2] = 255  # red, in OpenCV's BGR order
    out = Preprocessor(172, 172)(frame, "BGR")
    assert out.shape == (1, 1, 172, 172, 3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0, 0, 86, 86], [1.0, 0.0, 0.0])
    rgb = Preprocessor(172, 172)(frame[..., ::-1].copy(), "RGB")
    np.testing.assert_array_equal(rgb, out)


def test_wide_frame_is_centre_cropped_not_squashed():
    frame = np.full((100, 300, 3), 200, np.uint8)
    frame[:, :100] = 0  # left third black
    frame[:, 200:] = 50  # right third dark grey
    out = Preprocessor(64, 64)(frame)
    np.testing.assert_allclose(out, 200 / 255, atol=1e-6)


def test_tall_frame_is_centre_cropped():
    frame = np.zeros((300, 100, 3), np.uint8)
    frame[100:200] = 255
    out = Preprocessor(32, 32)(frame)
    assert out.min() == pytest.approx(1.0)


def test_values_span_zero_to_one():
    frame = np.zeros((50, 50, 3), np.uint8)
    frame[:, 25:] = 255
    out = Preprocessor(100, 100)(frame)  # upscaling path
    assert out.min() == 0.0 and out.max() == 1.0


def test_output_buffer_is_reused():
    preprocess = Preprocessor(172, 172)
    frame = np.zeros((480, 640, 3), np.uint8)
    assert preprocess(frame, "BGR") is preprocess(frame, "BGR")


def test_centre_crop_is_a_view_with_the_requested_aspect():
    frame = np.zeros((480, 640, 3), np.uint8)
    crop = centre_crop(frame, 1.0)
    assert crop.shape[:2] == (480, 480)
    assert np.shares_memory(crop, frame)
    assert centre_crop(frame, 2.0).shape[:2] == (320, 640)


def test_bad_frames_are_refused():
    with pytest.raises(ValueError):
        Preprocessor(10, 10)(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        Preprocessor(10, 10)(np.zeros((10, 10, 3), np.uint8), "YUV")
