"""Checks that the synthetic stream models behave exactly as documented.

Other tests rely on these semantics, so they are pinned down here against
LiteRT's ``Interpreter`` signature runner (threading states for 3 frames).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The builder needs flatbuffers and the TFLite schema bundled with
# ai-edge-litert: skip (rather than error) in a tflite-runtime-only venv.
# importorskip assignments instead of imports keep the imports at the top.
pytest.importorskip("flatbuffers")
schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
Interpreter = pytest.importorskip("ai_edge_litert.interpreter").Interpreter
build_stream_model = pytest.importorskip("synthetic_models").build_stream_model

N_FRAMES = 3
# Float images use 0.5: dyadic, so every partial sum in MEAN is exact.
FLOAT_PIXEL = 0.5
# Quantized images use q = zero_point + 51, i.e. 51/255 = 0.2 after dequantizing.
QUANT_STEPS = 51

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "224x224_7_classes": {"height": 224, "width": 224, "num_classes": 7},
    "int8_image": {"image_dtype": "int8"},
    "uint8_image": {"image_dtype": "uint8"},
    "many_states": {"float_states": ((1, 2, 3, 3, 8), (1, 5)), "int_states": 2},
    "shuffled_outputs": {"float_states": ((1, 3), (2, 2)), "int_states": 2, "shuffle_outputs": True},
}


def _runner(path: Path) -> Any:
    return Interpreter(model_path=str(path)).get_signature_runner("serving_default")


def _constant_frame(detail: dict[str, Any]) -> tuple[np.ndarray, float]:
    """A constant frame for the `image` input and its dequantized value."""
    dtype = detail["dtype"]
    if dtype == np.float32:
        return np.full(detail["shape"], FLOAT_PIXEL, np.float32), FLOAT_PIXEL
    scale, zero_point = detail["quantization"]
    frame = np.full(detail["shape"], zero_point + QUANT_STEPS, dtype)
    return frame, QUANT_STEPS * scale


def _zero_states(inputs: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    return {k: np.zeros(d["shape"], d["dtype"]) for k, d in inputs.items() if k.startswith("state_")}


def _expected_logits(value: float, num_classes: int, counter: int) -> np.ndarray:
    return value * np.arange(1, num_classes + 1, dtype=np.float64) + counter


def _signature_order(path: Path) -> tuple[list[str], list[str]]:
    """Signature input/output names in file order (runners sort them by name)."""
    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    (sig,) = model.signatureDefs
    assert sig.signatureKey.decode() == "serving_default"
    return [t.name.decode() for t in sig.inputs], [t.name.decode() for t in sig.outputs]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_threading_states_for_three_frames(tmp_path: Path, variant: str) -> None:
    kwargs = VARIANTS[variant]
    path = build_stream_model(tmp_path / f"{variant}.tflite", **kwargs)
    runner = _runner(path)
    inputs = runner.get_input_details()
    outputs = runner.get_output_details()

    height, width = kwargs.get("height", 172), kwargs.get("width", 172)
    num_classes = kwargs.get("num_classes", 600)
    float_shapes = kwargs.get("float_states", ((1, 4),))
    n_int = kwargs.get("int_states", 1)

    # Interface mirrors the real model: `image` + state_*, `logits` + same state_*.
    state_names = {f"state_f{i}" for i in range(len(float_shapes))} | {f"state_count{i}" for i in range(n_int)}
    assert set(inputs) == {"image"} | state_names
    assert set(outputs) == {"logits"} | state_names
    assert tuple(inputs["image"]["shape"]) == (1, 1, height, width, 3)
    assert inputs["image"]["dtype"] == np.dtype(kwargs.get("image_dtype", "float32"))
    assert tuple(outputs["logits"]["shape"]) == (1, num_classes)
    for i, shape in enumerate(float_shapes):
        for d in (inputs, outputs):
            assert tuple(d[f"state_f{i}"]["shape"]) == shape
            assert d[f"state_f{i}"]["dtype"] == np.float32
    for i in range(n_int):
        for d in (inputs, outputs):
            assert tuple(d[f"state_count{i}"]["shape"]) == (1,)
            assert d[f"state_count{i}"]["dtype"] == np.int32

    frame, value = _constant_frame(inputs["image"])
    states = _zero_states(inputs)
    for n in range(1, N_FRAMES + 1):
        result = runner(image=frame, **states)
        # logits use the *input* counter, i.e. frames seen before this one.
        np.testing.assert_allclose(
            result["logits"][0], _expected_logits(value, num_classes, n - 1), rtol=1e-5, atol=1e-6
        )
        for name in states:
            assert result[name].dtype == states[name].dtype
            np.testing.assert_array_equal(result[name], np.full(states[name].shape, n))
        states = {name: result[name] for name in states}


@pytest.mark.parametrize(("image_dtype", "zero_point"), [("int8", -128), ("uint8", 0)])
def test_quantized_image_parameters(tmp_path: Path, image_dtype: str, zero_point: int) -> None:
    runner = _runner(build_stream_model(tmp_path / "q.tflite", height=8, width=8, image_dtype=image_dtype))
    scale, zp = runner.get_input_details()["image"]["quantization"]
    assert scale == pytest.approx(1 / 255)
    assert zp == zero_point


def test_reset_states_every_frame_gives_no_offset(tmp_path: Path) -> None:
    runner = _runner(build_stream_model(tmp_path / "m.tflite", num_classes=5))
    inputs = runner.get_input_details()
    frame, value = _constant_frame(inputs["image"])
    for _ in range(N_FRAMES):
        result = runner(image=frame, **_zero_states(inputs))
        np.testing.assert_allclose(result["logits"][0], _expected_logits(value, 5, 0), rtol=1e-5)


def test_logits_use_mean_of_non_constant_image(tmp_path: Path) -> None:
    runner = _runner(build_stream_model(tmp_path / "m.tflite", height=16, width=12, num_classes=4))
    inputs = runner.get_input_details()
    image = np.random.default_rng(0).random(inputs["image"]["shape"], dtype=np.float32)
    states = _zero_states(inputs)
    states["state_count0"][:] = 7
    result = runner(image=image, **states)
    expected = _expected_logits(float(image.astype(np.float64).mean()), 4, 7)
    np.testing.assert_allclose(result["logits"][0], expected, rtol=1e-5)


def test_without_int_states_logits_have_no_counter_term(tmp_path: Path) -> None:
    runner = _runner(build_stream_model(tmp_path / "m.tflite", num_classes=3, int_states=0))
    inputs = runner.get_input_details()
    assert set(inputs) == {"image", "state_f0"}
    frame, value = _constant_frame(inputs["image"])
    states = _zero_states(inputs)
    for n in range(1, N_FRAMES + 1):
        result = runner(image=frame, **states)
        np.testing.assert_allclose(result["logits"][0], _expected_logits(value, 3, 0), rtol=1e-5)
        np.testing.assert_array_equal(result["state_f0"], np.full((1, 4), n, np.float32))
        states = {"state_f0": result["state_f0"]}


def test_signature_order_plain_and_shuffled(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"float_states": ((1, 2),), "int_states": 2}
    plain = build_stream_model(tmp_path / "plain.tflite", **kwargs)
    shuffled = build_stream_model(tmp_path / "shuffled.tflite", shuffle_outputs=True, **kwargs)
    states = ["state_f0", "state_count0", "state_count1"]
    assert _signature_order(plain) == (["image", *states], ["logits", *states])
    assert _signature_order(shuffled) == (["image", *states], [*reversed(states), "logits"])


def test_invalid_variants(tmp_path: Path) -> None:
    no_image = _runner(build_stream_model(tmp_path / "no_image.tflite", with_image=False))
    assert set(no_image.get_input_details()) == {"input", "state_f0", "state_count0"}

    no_states = _runner(build_stream_model(tmp_path / "no_states.tflite", with_states=False))
    assert set(no_states.get_input_details()) == {"image"}
    assert set(no_states.get_output_details()) == {"logits"}

    with pytest.raises(ValueError):
        build_stream_model(tmp_path / "bad.tflite", image_dtype="float16")
