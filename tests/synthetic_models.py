"""Tiny synthetic "MoViNet-Stream-like" TFLite models, built in pure Python.

The real MoViNet-Stream models are multi-megabyte downloads; tests want
something small, fast and with *exactly predictable* outputs.  This module
writes TFLite flatbuffers directly with the ``flatbuffers`` package and the
TFLite schema object API bundled in ai-edge-litert (no TensorFlow needed).

Interface (mimics the real model's ``serving_default`` signature)
------------------------------------------------------------------
Inputs, in this order:

* ``image``: ``[1, 1, height, width, 3]``, dtype ``image_dtype``.
  ``float32`` is used as is.  ``int8`` / ``uint8`` carry quantization
  ``scale=1/255`` and ``zero_point=-128`` (int8) / ``0`` (uint8), so the
  dequantized value ``(q - zero_point) / 255`` lies in ``[0, 1]``.
  With ``with_image=False`` the same tensor is exposed as ``input`` instead
  (a loadable model that is nevertheless not a valid stream model).
* ``state_f{i}``: float32, shape ``float_states[i]``.
* ``state_count{i}``: int32 ``[1]`` frame counters, ``i < int_states``.

Outputs: ``logits`` float32 ``[1, num_classes]`` followed by the next states,
which have the *same names* as the corresponding inputs.  With
``shuffle_outputs=True`` the order is: states in reverse order, then
``logits`` last (so pairing inputs to outputs by position is wrong; pairing
must be by name).  With ``with_states=False`` there are no states at all.

Semantics (per invocation)
--------------------------
* ``state_f{i}``     -> ``state_f{i} + 1.0``  (element-wise)
* ``state_count{i}`` -> ``state_count{i} + 1``
* ``logits[0, c] = mean(image_as_float) * (c + 1) + float(state_count0)``
  where ``state_count0`` is the *input* counter (frames seen before this one)
  and ``image_as_float`` is the dequantized image for int8/uint8 inputs.  If
  there are no int states the ``+ state_count0`` term is dropped.

So, starting from zero states and feeding N frames of constant value ``v``
while threading the states, step N yields ``logits[c] = v * (c + 1) + (N - 1)``
and every float state equals ``N`` (counters equal ``N``).  With states reset
to zero before every frame, ``logits[c] = v * (c + 1)``.

States are exact (integer-valued float32 / int32).  Logits are float32 and
equal the formula up to rounding in MEAN: relative error below ~1e-6 on every
runtime checked (dyadic pixel values such as 0.5 usually come out bit-exact,
but XNNPACK may be one ulp off), so compare with ``rtol=1e-5``.

Only common builtin ops are used (DEQUANTIZE, RESHAPE, MEAN, MUL, CAST, ADD)
so the models run in LiteRT's ``Interpreter``, LiteRT's ``CompiledModel``
(CPU / XNNPACK) and in the classic ``tflite_runtime`` 2.14.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

__all__ = ["build_stream_model"]

SIGNATURE_KEY = "serving_default"

# numpy dtype -> TFLite TensorType for the few types we need.
_TFLITE_TYPES = {
    np.dtype(np.float32): schema.TensorType.FLOAT32,
    np.dtype(np.int32): schema.TensorType.INT32,
    np.dtype(np.int8): schema.TensorType.INT8,
    np.dtype(np.uint8): schema.TensorType.UINT8,
}

_OP = schema.BuiltinOperator
_OPT = schema.BuiltinOptions

# Zero point of the quantized image input; the scale is always 1/255.
_IMAGE_ZERO_POINTS = {"int8": -128, "uint8": 0}


class _Graph:
    """Accumulates tensors, constant buffers and operators of one subgraph."""

    def __init__(self) -> None:
        self.tensors: list[schema.TensorT] = []
        # Buffer 0 must be the empty sentinel: tensors that are not constants
        # (inputs, activations) point at it.
        self.buffers: list[schema.BufferT] = [schema.BufferT()]
        self.operators: list[schema.OperatorT] = []
        self.opcodes: list[schema.OperatorCodeT] = []
        self._opcode_index: dict[tuple[int, int], int] = {}

    def tensor(
        self,
        name: str,
        shape: Sequence[int],
        dtype: np.dtype | type,
        *,
        quantization: schema.QuantizationParametersT | None = None,
        buffer: int = 0,
    ) -> int:
        t = schema.TensorT()
        t.name = name
        t.shape = [int(d) for d in shape]
        # A static shapeSignature (no -1) tells runtimes nothing is dynamic.
        t.shapeSignature = list(t.shape)
        t.type = _TFLITE_TYPES[np.dtype(dtype)]
        t.buffer = buffer
        t.quantization = quantization
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, name: str, value: np.ndarray) -> int:
        value = np.ascontiguousarray(value)
        buf = schema.BufferT()
        # Raw little-endian bytes; flatbuffers places vector data after a
        # 4-byte length prefix, so float32/int32 data ends up 4-byte aligned.
        buf.data = np.frombuffer(value.astype(value.dtype.newbyteorder("<")).tobytes(), dtype=np.uint8)
        self.buffers.append(buf)
        return self.tensor(name, value.shape, value.dtype, buffer=len(self.buffers) - 1)

    def op(
        self,
        code: int,
        inputs: Sequence[int],
        outputs: Sequence[int],
        *,
        options_type: int = _OPT.NONE,
        options: object | None = None,
        version: int = 1,
    ) -> None:
        key = (code, version)
        if key not in self._opcode_index:
            oc = schema.OperatorCodeT()
            oc.builtinCode = code
            # Runtimes older than schema v3a (e.g. tflite-runtime) read the
            # int8 `deprecated_builtin_code`; all our ops are < 127 so both
            # fields hold the same value.
            oc.deprecatedBuiltinCode = code
            oc.version = version
            self._opcode_index[key] = len(self.opcodes)
            self.opcodes.append(oc)
        op = schema.OperatorT()
        op.opcodeIndex = self._opcode_index[key]
        op.inputs = list(inputs)
        op.outputs = list(outputs)
        op.builtinOptionsType = options_type
        op.builtinOptions = options
        self.operators.append(op)


def _add_options() -> schema.AddOptionsT:
    opts = schema.AddOptionsT()
    opts.fusedActivationFunction = schema.ActivationFunctionType.NONE
    return opts


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(int(d) for d in shape)
    if not dims or any(d <= 0 for d in dims):
        raise ValueError(f"state shapes must be non-empty and positive, got {shape!r}")
    return dims


def build_stream_model(
    path: str | os.PathLike[str],
    *,
    height: int = 172,
    width: int = 172,
    num_classes: int = 600,
    image_dtype: str = "float32",
    float_states: Sequence[tuple[int, ...]] = ((1, 4),),
    int_states: int = 1,
    with_image: bool = True,
    with_states: bool = True,
    shuffle_outputs: bool = False,
) -> Path:
    """Write a synthetic MoViNet-Stream-like ``.tflite`` file and return its path.

    See the module docstring for the exact interface and semantics.
    ``float_states`` / ``int_states`` are ignored when ``with_states=False``.
    """
    if image_dtype not in ("float32", "int8", "uint8"):
        raise ValueError(f"image_dtype must be float32, int8 or uint8, got {image_dtype!r}")
    if height <= 0 or width <= 0 or num_classes <= 0:
        raise ValueError("height, width and num_classes must be positive")
    if int_states < 0:
        raise ValueError("int_states must be >= 0")
    float_shapes = [_check_shape(s) for s in float_states] if with_states else []
    n_int = int_states if with_states else 0

    g = _Graph()

    # ---- inputs ------------------------------------------------------------
    # Graph tensor names imitate the converter's ("serving_default_x:0") and
    # deliberately differ from signature names, so code must use the latter.
    image_name = "image" if with_image else "input"
    image_shape = (1, 1, height, width, 3)
    quant = None
    if image_dtype != "float32":
        quant = schema.QuantizationParametersT()
        quant.scale = [1.0 / 255.0]
        quant.zeroPoint = [_IMAGE_ZERO_POINTS[image_dtype]]
        quant.quantizedDimension = 0
    image = g.tensor(f"serving_default_{image_name}:0", image_shape, np.dtype(image_dtype), quantization=quant)

    # (signature name, input tensor index) for every state, in input order.
    states: list[tuple[str, int]] = []
    for i, shape in enumerate(float_shapes):
        name = f"state_f{i}"
        states.append((name, g.tensor(f"serving_default_{name}:0", shape, np.float32)))
    for i in range(n_int):
        name = f"state_count{i}"
        states.append((name, g.tensor(f"serving_default_{name}:0", (1,), np.int32)))

    out_counter = itertools.count()

    def out_tensor(shape: Sequence[int], dtype: type) -> int:
        return g.tensor(f"StatefulPartitionedCall:{next(out_counter)}", shape, dtype)

    # ---- logits = mean(image) * (c + 1) [+ state_count0] ---------------------
    if quant is not None:
        # DEQUANTIZE gives (q - zp) * scale in float32. Version 2 is the
        # int8-capable kernel version (uint8 is version 1).
        image_f = g.tensor("image_dequantized", image_shape, np.float32)
        g.op(_OP.DEQUANTIZE, [image], [image_f], version=2 if image_dtype == "int8" else 1)
    else:
        image_f = image

    # MEAN in two rank-2 stages (rows, then the row means) instead of one
    # reduction over all H*W*3 values: rank-2 single-axis MEAN is supported
    # everywhere, and the shorter float32 running sums keep the result within
    # ~1e-6 relative of the true mean (one 88k-element sum drifts ~3e-4 on
    # tflite-runtime 2.14).  Row sums are exact for dyadic pixel values.
    rows_shape = g.const("rows_shape", np.array([height, width * 3], dtype=np.int32))
    rows = g.tensor("image_rows", (height, width * 3), np.float32)
    reshape_opts = schema.ReshapeOptionsT()
    reshape_opts.newShape = [height, width * 3]
    g.op(_OP.RESHAPE, [image_f, rows_shape], [rows], options_type=_OPT.ReshapeOptions, options=reshape_opts)

    def mean_2d(src: int, axis: int, shape: tuple[int, int], name: str) -> int:
        axis_t = g.const(f"{name}_axis", np.array([axis], dtype=np.int32))
        dst = g.tensor(name, shape, np.float32)
        opts = schema.ReducerOptionsT()
        opts.keepDims = True
        g.op(_OP.MEAN, [src, axis_t], [dst], options_type=_OPT.ReducerOptions, options=opts)
        return dst

    row_means = mean_2d(rows, 1, (height, 1), "image_row_means")
    mean = mean_2d(row_means, 0, (1, 1), "image_mean")

    # Broadcasting MUL [1,1] x [1,C] -> [1,C] with class weights 1..C.
    class_weights = g.const("class_weights", np.arange(1, num_classes + 1, dtype=np.float32).reshape(1, num_classes))
    mul_opts = schema.MulOptionsT()
    mul_opts.fusedActivationFunction = schema.ActivationFunctionType.NONE

    if n_int:
        scaled = g.tensor("logits_scaled", (1, num_classes), np.float32)
        g.op(_OP.MUL, [mean, class_weights], [scaled], options_type=_OPT.MulOptions, options=mul_opts)
        counter_f = g.tensor("state_count0_float", (1,), np.float32)
        cast_opts = schema.CastOptionsT()
        cast_opts.inDataType = schema.TensorType.INT32
        cast_opts.outDataType = schema.TensorType.FLOAT32
        count0 = states[len(float_shapes)][1]
        g.op(_OP.CAST, [count0], [counter_f], options_type=_OPT.CastOptions, options=cast_opts)
        logits = out_tensor((1, num_classes), np.float32)
        # [1,C] + [1] broadcasts the counter over all classes.
        g.op(_OP.ADD, [scaled, counter_f], [logits], options_type=_OPT.AddOptions, options=_add_options())
    else:
        logits = out_tensor((1, num_classes), np.float32)
        g.op(_OP.MUL, [mean, class_weights], [logits], options_type=_OPT.MulOptions, options=mul_opts)

    # ---- next states ---------------------------------------------------------
    next_states: list[tuple[str, int]] = []
    for name, idx in states:
        t = g.tensors[idx]
        is_float = t.type == schema.TensorType.FLOAT32
        dtype = np.float32 if is_float else np.int32
        # The increment has the state's full shape: no broadcasting needed,
        # which keeps the ADD on every runtime's simplest kernel path.
        one = g.const(f"{name}_increment", np.ones(t.shape, dtype=dtype))
        nxt = out_tensor(t.shape, dtype)
        g.op(_OP.ADD, [idx, one], [nxt], options_type=_OPT.AddOptions, options=_add_options())
        next_states.append((name, nxt))

    # ---- wire up inputs / outputs / signature -------------------------------
    inputs = [(image_name, image), *states]
    outputs = [*reversed(next_states), ("logits", logits)] if shuffle_outputs else [("logits", logits), *next_states]

    subgraph = schema.SubGraphT()
    subgraph.name = "main"
    subgraph.tensors = g.tensors
    subgraph.operators = g.operators
    subgraph.inputs = [idx for _, idx in inputs]
    subgraph.outputs = [idx for _, idx in outputs]

    def tensor_map(name: str, idx: int) -> schema.TensorMapT:
        tm = schema.TensorMapT()
        tm.name = name
        tm.tensorIndex = idx
        return tm

    signature = schema.SignatureDefT()
    signature.signatureKey = SIGNATURE_KEY
    signature.subgraphIndex = 0
    signature.inputs = [tensor_map(n, i) for n, i in inputs]
    signature.outputs = [tensor_map(n, i) for n, i in outputs]

    model = schema.ModelT()
    model.version = 3  # current TFLite schema version
    model.description = "synthetic MoViNet-Stream-like test model"
    model.operatorCodes = g.opcodes
    model.subgraphs = [subgraph]
    model.buffers = g.buffers
    model.signatureDefs = [signature]

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")

    out = Path(path)
    out.write_bytes(bytes(builder.Output()))
    return out
