"""The engine on synthetic stream models: any size, class count, image dtype or state set.

The models come from tests/synthetic_models.py and have exactly predictable outputs:
after N frames of constant value v, logits[c] = v*(c+1) + (N-1) and every state is N.
"""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_models import build_stream_model

from app.errors import AppError
from app.inference.engine import StreamingClassifier


def constant_frame(classifier: StreamingClassifier, value: float) -> np.ndarray:
    height, width = classifier.input_size
    return np.full((1, 1, height, width, 3), value, np.float32)


@pytest.mark.parametrize(
    "options",
    [
        {"height": 224, "width": 224, "num_classes": 600},
        {"num_classes": 7},
        {"image_dtype": "int8"},
        {"image_dtype": "uint8", "height": 96, "width": 128},
        {"float_states": [(1, 2, 5, 5, 8), (1, 3)], "int_states": 2, "shuffle_outputs": True},
    ],
    ids=["a2-size", "7-classes", "int8-image", "uint8-non-square", "mixed-states-shuffled"],
)
def test_any_stream_model_is_threaded_exactly(tmp_path, runtime, options):
    path = build_stream_model(tmp_path / "model.tflite", **options)
    classifier = StreamingClassifier(path, runtime=runtime, threads=1)
    assert classifier.input_size == (options.get("height", 172), options.get("width", 172))
    assert classifier.num_classes == options.get("num_classes", 600)
    value = 102 / 255  # a pixel value, so it survives quantization with scale 1/255 exactly
    classes = np.arange(1, classifier.num_classes + 1, dtype=np.float64)
    for n in range(1, 6):
        logits = classifier.step(constant_frame(classifier, value))
        np.testing.assert_allclose(logits, value * classes + (n - 1), rtol=1e-5)
        for name, state in classifier.states().items():
            assert state.dtype == (np.int32 if "count" in name else np.float32)
            np.testing.assert_array_equal(state, np.full(state.shape, n, state.dtype))
    classifier.reset()
    assert all(not s.any() for s in classifier.states().values())
    np.testing.assert_allclose(classifier.step(constant_frame(classifier, value)), value * classes, rtol=1e-5)


def test_large_state_values_round_trip_exactly(tmp_path, runtime):
    """States are moved, never converted: big int32 counters survive thousands of steps."""
    path = build_stream_model(tmp_path / "model.tflite", num_classes=3, float_states=[(1, 4)], int_states=1)
    classifier = StreamingClassifier(path, runtime=runtime, threads=1)
    frame = constant_frame(classifier, 0.0)
    for _ in range(2000):
        classifier.step(frame)
    states = classifier.states()
    assert states["state_count0"].tolist() == [2000]
    assert states["state_f0"].tolist() == [[2000.0] * 4]
    np.testing.assert_array_equal(classifier.step(frame), np.full(3, 2000.0, np.float32))


@pytest.mark.parametrize(
    ("options", "message"),
    [({"with_image": False}, "no 'image' input"), ({"with_states": False}, "no state inputs")],
)
def test_non_stream_models_are_refused(tmp_path, runtime, options, message):
    path = build_stream_model(tmp_path / "model.tflite", **options)
    with pytest.raises(AppError, match=message):
        StreamingClassifier(path, runtime=runtime)


def test_bounded_context_answers_from_the_older_of_two_staggered_streams(tmp_path, runtime):
    """context_steps=6: streams restart every 6 steps, 3 apart; answers come from 3..6 frames of history."""
    path = build_stream_model(tmp_path / "model.tflite", num_classes=2, float_states=[(1, 2)], int_states=1)
    classifier = StreamingClassifier(path, runtime=runtime, threads=1, context_steps=6)
    frame = constant_frame(classifier, 0.0)
    # logits = the input frame counter of the stream answering: frames it had seen before.
    history = [int(classifier.step(frame)[0]) for _ in range(30)]
    assert history == [0, 1, 2, 3, 4, 5] + [3, 4, 5] * 8
    classifier.reset()
    assert [int(classifier.step(frame)[0]) for _ in range(7)] == [0, 1, 2, 3, 4, 5, 3]


def test_context_of_one_step_is_refused(tmp_path):
    path = build_stream_model(tmp_path / "model.tflite", num_classes=2)
    with pytest.raises(AppError, match="at least 2 steps"):
        StreamingClassifier(path, context_steps=1)
