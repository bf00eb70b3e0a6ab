"""The only module that imports a TFLite runtime.

Three ways to run a stream model, all threading every output state into the next step:

* `litert`: LiteRT (`ai-edge-litert`) `CompiledModel`, with two banks of state
  `TensorBuffer`s, one read and one written each step, swapped afterwards, so no state
  byte is copied. Fastest, but it loads LiteRT's GPU accelerator library, which crashes
  CPUs older than a Pi 5's (app/inference/cpu.py).
* `litert-interpreter`: LiteRT's classic `Interpreter`, which runs on every 64-bit Pi.
* `tflite`: tflite-runtime 2.14 (or TensorFlow's bundled interpreter).

The interpreter paths copy each state output into its input tensor through views made
once, rather than the signature runner's copies in and out on every call.

`--runtime auto` takes the first of those this machine has and its CPU can run.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import AppError
from app.inference.cpu import compiled_model_missing
from app.inference.native_stderr import captured_native_stderr, silence_native_stderr
from app.input_files import regular_file

RUNTIMES = ("auto", "litert", "litert-interpreter", "tflite")
CONCRETE_RUNTIMES = RUNTIMES[1:]  # in the order `auto` tries them: fastest first


@dataclass(frozen=True)
class TensorSpec:
    """One signature input or output: what the model expects or returns."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float = 0.0  # 0.0: not quantized
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)

    def zeros(self) -> np.ndarray:
        """The stream's initial value: real zero, which is the zero point if quantized."""
        fill = self.zero_point if self.quantized else 0
        return np.full(self.shape, fill, dtype=self.dtype)


class StreamRunner(ABC):
    """Runs one stream: each step feeds an image and the previous step's states."""

    @abstractmethod
    def step(self, image: np.ndarray) -> np.ndarray:
        """Run one frame (already in the model's dtype and shape); return raw logits."""

    @abstractmethod
    def reset(self) -> None:
        """Zero every state so the next step starts a new stream."""

    @abstractmethod
    def states(self) -> dict[str, np.ndarray]:
        """Copies of the states the next step will read (for tests and debugging)."""

    @abstractmethod
    def invoke_only(self) -> None:
        """One bare model invocation with no input or state handling (the bench baseline)."""

    @abstractmethod
    def read_state(self, name: str) -> np.ndarray:
        """One state the next step will read, uncopied where the runtime allows: read it at once."""


@dataclass
class LoadedModel:
    """A model opened by one runtime, inspected but not yet streaming."""

    path: Path
    runtime: str  # "litert" or "tflite"
    threads: int
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    _opener: Any  # callable(image, logits, state_pairs) -> StreamRunner

    def open_stream(self, image: str, logits: str, state_pairs: dict[str, str]) -> StreamRunner:
        """Start a stream; `state_pairs` maps each state input name to its output name."""
        return self._opener(image, logits, state_pairs)


def default_threads() -> int:
    """All cores up to four: a Pi has four, and more threads stop helping this model."""
    return max(1, min(4, os.cpu_count() or 1))


def load_model(path: str | os.PathLike, runtime: str = "auto", threads: int | None = None) -> LoadedModel:
    """Open a TFLite file with the chosen runtime; a clear AppError for anything wrong."""
    path = Path(path)
    if runtime not in RUNTIMES:
        raise AppError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    if threads is None:
        threads = default_threads()
    if threads < 1:
        raise AppError(f"threads must be at least 1, got {threads}")
    if not regular_file(path, "model"):  # a FIFO would block the runtime's open forever
        raise AppError(f"model not found: {path} (run ./setup.sh or `python -m app models fetch`)")
    chosen = _resolve_runtime(runtime)
    interpreter_class = _interpreter_class(chosen)
    with captured_native_stderr() as native:
        try:
            interpreter = interpreter_class(model_path=str(path), num_threads=threads)
            inputs, outputs, signature = _inspect(interpreter)
        except (ValueError, RuntimeError) as exc:
            detail = native.last_line() or str(exc).splitlines()[0]
            raise AppError(f"{path} is not a usable TFLite model: {detail}") from None
    if chosen == "litert":
        del interpreter  # only needed to inspect; CompiledModel runs the model

        def opener(image: str, logits: str, pairs: dict[str, str]) -> StreamRunner:
            # LiteRT logs its accelerator registry to stderr while compiling and binding.
            with captured_native_stderr() as native:
                try:
                    return _CompiledModelStream(path, threads, signature, inputs, outputs, image, logits, pairs)
                except RuntimeError as exc:
                    raise AppError(f"LiteRT could not compile {path}: {native.last_line() or exc}") from None
    else:
        spare = [interpreter]  # the inspected interpreter serves the first stream

        def opener(image: str, logits: str, pairs: dict[str, str]) -> StreamRunner:
            # An interpreter holds one set of state tensors: each stream needs its own.
            if spare:
                own = spare.pop()
            else:
                with captured_native_stderr():
                    own = interpreter_class(model_path=str(path), num_threads=threads)
                    own.allocate_tensors()
            return _InterpreterStream(own, signature, inputs, image, logits, pairs)

    return LoadedModel(path, chosen, threads, inputs, outputs, opener)


def available_runtimes() -> list[str]:
    """The concrete runtimes installed here that this CPU can run, fastest first."""
    return [name for name in CONCRETE_RUNTIMES if _why_not(name) is None]


def _resolve_runtime(runtime: str) -> str:
    if runtime != "auto":
        problem = _why_not(runtime)
        if problem:
            raise AppError(problem)
        return runtime
    found = available_runtimes()
    if not found:
        raise AppError("no TFLite runtime installed: pip install ai-edge-litert (or tflite-runtime)")
    return found[0]


def _why_not(runtime: str) -> str | None:
    """Why `runtime` cannot run here, in one line; None if it can."""
    try:
        _interpreter_class(runtime)
    except AppError as exc:
        return str(exc)
    if runtime != "litert":
        return None
    if not _compiled_model_available():
        return "runtime 'litert' needs ai-edge-litert 2.1.5 or later: pip install -r requirements.txt"
    missing = compiled_model_missing()
    if missing:
        return (
            f"runtime 'litert' cannot run on this CPU: LiteRT's CompiledModel loads a library built for "
            f"CPU features this one lacks ({' '.join(missing)}) and would crash; "
            "use --runtime litert-interpreter (what auto picks here)"
        )
    return None


def _interpreter_class(runtime: str) -> Any:
    if runtime in ("litert", "litert-interpreter"):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise AppError(f"runtime {runtime!r} is not installed: pip install ai-edge-litert") from None
        return Interpreter
    if runtime != "tflite":
        raise AppError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    try:
        from tflite_runtime.interpreter import Interpreter
    except ImportError:
        try:
            from tensorflow.lite import Interpreter  # type: ignore[no-redef]
        except ImportError:
            raise AppError("runtime 'tflite' is not installed: pip install tflite-runtime") from None
    return Interpreter


def _compiled_model_available() -> bool:
    try:
        from ai_edge_litert import compiled_model, cpu_options  # noqa: F401
    except ImportError:  # 1.x has only the Interpreter; 2.0-2.1.4 have no CpuOptions
        return False
    return True


def _inspect(interpreter: Any) -> tuple[dict[str, TensorSpec], dict[str, TensorSpec], str]:
    signatures = interpreter.get_signature_list()
    if not signatures:
        raise ValueError("the model has no signature (MoViNet-Stream exports have one)")
    key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
    interpreter.allocate_tensors()  # tflite-runtime needs it before tensors can be set
    runner = interpreter.get_signature_runner(key)
    inputs = {name: _spec(name, d) for name, d in runner.get_input_details().items()}
    outputs = {name: _spec(name, d) for name, d in runner.get_output_details().items()}
    return inputs, outputs, key


def _spec(name: str, details: dict[str, Any]) -> TensorSpec:
    scale, zero_point = details.get("quantization", (0.0, 0))
    return TensorSpec(
        name=name,
        shape=tuple(int(d) for d in details["shape"]),
        dtype=np.dtype(details["dtype"]),
        scale=float(scale),
        zero_point=int(zero_point),
    )


class _InterpreterStream(StreamRunner):
    def __init__(
        self,
        interpreter: Any,
        signature: str,
        inputs: dict[str, TensorSpec],
        image: str,
        logits: str,
        pairs: dict[str, str],
    ) -> None:
        # Indices come from a signature runner, which must then be dropped: while it
        # exists it holds the interpreter and invoke() refuses to run.
        runner = interpreter.get_signature_runner(signature)
        in_index = {n: d["index"] for n, d in runner.get_input_details().items()}
        out_index = {n: d["index"] for n, d in runner.get_output_details().items()}
        del runner
        self._interpreter = interpreter
        self._logits_index = out_index[logits]
        self._state_specs = {name: inputs[name] for name in pairs}
        self._state_index = {name: in_index[name] for name in pairs}
        self._image_index = in_index[image]
        # Views of the tensors made once: a step writes the image and copies each state
        # output into its input through them, instead of creating 87 arrays a step.
        self._indices = [self._image_index, *(in_index[i] for i in pairs), *(out_index[o] for o in pairs.values())]
        self._views: list[np.ndarray] = []
        self._image_view = self._state_copies = None
        self._state_views: dict[str, np.ndarray] = {}
        self._make_views()
        self.reset()

    def _make_views(self) -> None:
        # An array from interpreter.tensor() keeps the interpreter referenced, and while
        # one exists invoke() refuses to run; these views point at the same memory without
        # that reference. The interpreter is never re-allocated after this, and reset()
        # checks the memory has not moved.
        views = [_unowned_view(self._interpreter.tensor(index)()) for index in self._indices]
        count = len(self._state_index)
        self._views = views
        self._image_view = views[0]
        self._state_views = dict(zip(self._state_index, views[1 : 1 + count], strict=True))
        self._state_copies = list(zip(views[1 : 1 + count], views[1 + count :], strict=True))

    def step(self, image: np.ndarray) -> np.ndarray:
        np.copyto(self._image_view, image)
        self._interpreter.invoke()
        for state_in, state_out in self._state_copies:
            np.copyto(state_in, state_out)
        return self._interpreter.get_tensor(self._logits_index)

    def reset(self) -> None:
        moved = any(
            self._interpreter.tensor(index)().ctypes.data != view.ctypes.data
            for index, view in zip(self._indices, self._views, strict=True)
        )
        if moved:
            self._make_views()
        for name, spec in self._state_specs.items():
            self._interpreter.set_tensor(self._state_index[name], spec.zeros())

    def states(self) -> dict[str, np.ndarray]:
        return {name: self._interpreter.get_tensor(index) for name, index in self._state_index.items()}

    def invoke_only(self) -> None:
        self._interpreter.invoke()

    def read_state(self, name: str) -> np.ndarray:
        return self._state_views[name]


def _unowned_view(array: np.ndarray) -> np.ndarray:
    """The same memory as `array`, as an array that does not reference its owner."""
    memory = (ctypes.c_char * array.nbytes).from_address(array.ctypes.data)
    return np.frombuffer(memory, dtype=array.dtype).reshape(array.shape)


class _CompiledModelStream(StreamRunner):
    def __init__(
        self,
        path: Path,
        threads: int,
        signature: str,
        inputs: dict[str, TensorSpec],
        outputs: dict[str, TensorSpec],
        image: str,
        logits: str,
        pairs: dict[str, str],
    ) -> None:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import Options

        options = Options(hardware_accelerators=HardwareAccelerator.CPU, cpu_options=CpuOptions(num_threads=threads))
        self._model = CompiledModel.from_file(str(path), environment=_litert_environment(), options=options)
        self._signature = self._model.get_signature_index(signature)
        names = self._model.get_signature_list()[signature]
        in_buffers = dict(zip(names["inputs"], self._model.create_input_buffers(self._signature), strict=True))
        out_buffers = dict(zip(names["outputs"], self._model.create_output_buffers(self._signature), strict=True))
        self._image = in_buffers[image]
        self._logits = out_buffers[logits]
        self._logits_spec = outputs[logits]
        self._logits_size = int(np.prod(self._logits_spec.shape))
        self._state_specs = {name: inputs[name] for name in pairs}
        # Two banks of state buffers: a step reads one and writes the other, then they swap
        # roles. Passing one step's outputs straight in as the next step's inputs means no
        # state is ever copied (about 2.7 MB per frame on A0).
        bank_a = {i: in_buffers[i] for i in pairs}
        bank_b = {i: out_buffers[o] for i, o in pairs.items()}

        def arguments(read: dict, write: dict) -> tuple[list, list]:
            ins = [self._image if n == image else read[n] for n in names["inputs"]]
            reverse = {o: i for i, o in pairs.items()}
            outs = [self._logits if n == logits else write[reverse[n]] for n in names["outputs"]]
            return ins, outs

        self._banks = (bank_a, bank_b)
        self._runs = (arguments(bank_a, bank_b), arguments(bank_b, bank_a))
        self._parity = 0
        self.reset()

    def step(self, image: np.ndarray) -> np.ndarray:
        self._image.write(image)
        ins, outs = self._runs[self._parity]
        self._model.run_by_index(self._signature, ins, outs)
        self._parity ^= 1
        spec = self._logits_spec
        return self._logits.read(self._logits_size, spec.dtype).reshape(spec.shape)

    def reset(self) -> None:
        for name, buffer in self._banks[self._parity].items():
            buffer.write(self._state_specs[name].zeros())

    def states(self) -> dict[str, np.ndarray]:
        bank = self._banks[self._parity]
        return {
            name: bank[name].read(int(np.prod(spec.shape)), spec.dtype).reshape(spec.shape)
            for name, spec in self._state_specs.items()
        }

    def read_state(self, name: str) -> np.ndarray:
        spec = self._state_specs[name]
        return self._banks[self._parity][name].read(int(np.prod(spec.shape)), spec.dtype).reshape(spec.shape)

    def invoke_only(self) -> None:
        ins, outs = self._runs[self._parity]
        self._model.run_by_index(self._signature, ins, outs)


_environment: Any = None


def _litert_environment() -> Any:
    """One LiteRT environment per process, pointed at an empty plugin directory.

    By default LiteRT tries to load every NPU vendor's compiler plugin it ships, which
    fails noisily on a Pi or a PC; an empty directory makes it use the CPU directly.
    """
    global _environment
    if _environment is None:
        from ai_edge_litert.environment import Environment

        no_plugins = tempfile.mkdtemp(prefix="movinet-no-plugins-")
        atexit.register(shutil.rmtree, no_plugins, True)
        _environment = Environment.create(compiler_plugin_path=no_plugins, dispatch_library_path=no_plugins)
        # LiteRT logs at INFO level to the process's stderr when it tears the
        # environment down; by then our own output is complete.
        atexit.register(silence_native_stderr)
    return _environment
