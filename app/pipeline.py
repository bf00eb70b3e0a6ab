"""The live pipeline: a capture thread feeding the streaming model through a one-slot mailbox.

    source --(every frame)--> capture thread --(sampled, preprocessed)--> Mailbox
        --> inference thread --> Result --> listeners (console, log, overlay, web, systemd)

The capture thread reads the source continuously, samples frames to the model rate by
timestamp and preprocesses them, so decoding and resizing overlap with inference. The
mailbox holds one frame: if the model falls behind, the newest frame replaces the
waiting one (counted as dropped) and latency never builds up. A file read as fast as
possible instead waits for the slot, so no frame of it is lost.
"""

from __future__ import annotations

import bisect
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from types import FrameType
from typing import Any

import numpy as np

from app.inference.engine import StreamingClassifier
from app.inference.labels import TopK
from app.inference.preprocess import Preprocessor
from app.inference.sampling import DEFAULT_FPS, RateSampler
from app.inference.slowness import SlownessWatch
from app.results import Result
from app.sources.base import Frame, FrameSource, SourceError

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0
RATE_WINDOW = 10  # steps over which the achieved model rate is measured


class Stage(IntEnum):
    """When a result listener runs: by stage, then in the order attached, whatever order outputs are wired in."""

    LOG = 0  # the durable records: a step shown or sent anywhere is already on disk
    OVERLAY = 1  # the labels shown (smoothed, held), which the outputs below draw or report
    OUTPUT = 2  # console, previews, web view, MQTT
    WATCHDOG = 3  # systemd: READY and watchdog pings only once every output has had the result


@dataclass(frozen=True)
class Sample:
    """A sampled frame, preprocessed, on its way to the model."""

    frame: int
    t: float
    captured_at: float
    model_input: np.ndarray
    reset: bool  # the source was reopened: start a new stream


_END = object()  # the source has ended (files only)


class Mailbox:
    """A one-slot hand-over between two threads.

    `put` replaces a waiting item (counting it as dropped) unless `block` is set, in
    which case it waits for the consumer: no backlog either way.
    """

    def __init__(self, block: bool = False) -> None:
        self.block = block
        self.dropped = 0
        self._item: Any = None
        self._full = False
        self._condition = threading.Condition()

    def put(self, item: Any, stop: threading.Event) -> None:
        with self._condition:
            if self.block:
                while self._full and not stop.is_set():
                    self._condition.wait(0.1)
            elif self._full and self._item is not _END:
                self.dropped += 1
            self._item, self._full = item, True
            self._condition.notify_all()

    def get(self, timeout: float) -> Any:
        """The waiting item, or None after `timeout` seconds with nothing."""
        with self._condition:
            if not self._full and not self._condition.wait_for(lambda: self._full, timeout):
                return None
            item, self._item, self._full = self._item, None, False
            self._condition.notify_all()
            return item


@dataclass
class PipelineOptions:
    fps: float = DEFAULT_FPS
    reset_after: float | None = None  # seconds of no frames that start a new stream
    stall_timeout: float = 5.0  # seconds without frames before a live source is reopened


class Pipeline:
    """Runs source -> model -> listeners until the source ends or a signal arrives."""

    def __init__(
        self,
        source: FrameSource,
        classifier: StreamingClassifier,
        top_k: TopK,
        options: PipelineOptions | None = None,
    ) -> None:
        self.source = source
        self.classifier = classifier
        self.top_k = top_k
        self.options = options or PipelineOptions()
        self.stop_event = threading.Event()
        # A file read as fast as possible waits for the model instead of dropping frames.
        self.mailbox = Mailbox(block=not source.paced)
        self.result_listeners: list[Callable[[Result], None]] = []  # in calling order, see on_result
        self._result_stages: list[Stage] = []  # each listener's stage, same order
        self.frame_listeners: list[Callable[[Frame], None]] = []
        self._frame_demand: list[Callable[[], bool] | None] = []  # per frame listener, see on_frame
        self.closers: list[Callable[[], None]] = []
        self.label_listeners: list[Callable[[TopK], None]] = []  # see on_labels
        self.last_frame_at = time.monotonic()
        self.reopens = 0
        self.error: BaseException | None = None
        self._sampler = RateSampler(self.options.fps)
        self._preprocess = Preprocessor(*classifier.input_size, buffers=3)
        # A file read as fast as possible has no target rate to fall behind.
        self._slowness = SlownessWatch(self.options.fps) if source.paced else None
        self._shutdown_lock = threading.Lock()
        self._changes: list[Callable[[], None]] = []  # see restart_with
        self._changes_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._signal_handlers: dict[int, Any] = {}

    # -- wiring -------------------------------------------------------------------------
    def on_result(self, listener: Callable[[Result], None], stage: Stage = Stage.OUTPUT) -> None:
        """Every result, on the inference thread: listeners run by `stage`, then in the order attached.

        Attaching the same listener again does nothing, so outputs that share one overlay can
        each ask for it to be updated and it is still updated once per result.
        """
        if listener in self.result_listeners:  # a bound method equals another of the same object
            return
        position = bisect.bisect_right(self._result_stages, stage)
        self._result_stages.insert(position, stage)
        self.result_listeners.insert(position, listener)

    def on_frame(self, listener: Callable[[Frame], None], wanted: Callable[[], bool] | None = None) -> None:
        """Every captured frame (for a preview); called on the capture thread, keep it cheap.

        `wanted` is for a listener that needs every frame only some of the time (a web view
        nobody watches): while it returns False, frames are converted for the model only and
        the listener gets just the sampled ones.
        """
        self.frame_listeners.append(listener)
        self._frame_demand.append(wanted)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Called once at shutdown, after the last result: flush and release."""
        self.closers.append(closer)

    def on_labels(self, listener: Callable[[TopK], None]) -> None:
        """When a change (restart_with) swaps `top_k`: called with the new one on the inference
        thread, before its first result (MQTT announces the new actions' sensors)."""
        self.label_listeners.append(listener)

    def stop(self) -> None:
        self.stop_event.set()

    def restart_with(self, change: Callable[[], None]) -> None:
        """Run `change` on the inference thread between two steps, then start a new stream.

        For swapping the classifier's head and `top_k` while running (the web view's Teach
        page): no step ever sees half of a change, and the next result has `reset` set,
        so the overlay drops the old labels at once. `change` must not raise.
        """
        with self._changes_lock:
            self._changes.append(change)

    # -- running ------------------------------------------------------------------------
    def run(self, handle_signals: bool = True, main_loop: Callable[[Pipeline], None] | None = None) -> None:
        """Open the source (AppError if impossible), run to the end, then shut down cleanly.

        `main_loop` replaces the main thread's wait, for a GUI toolkit that must own the main
        thread: it must call `tick()` about every 0.1 s and return once `stop_event` is set.
        """
        self.source.open()
        if handle_signals:
            self._signal_handlers = self._install_signal_handlers()
        self._threads = [
            threading.Thread(target=self._guard(self._capture_loop), name="capture", daemon=True),
            threading.Thread(target=self._guard(self._inference_loop), name="inference", daemon=True),
        ]
        try:
            for thread in self._threads:
                thread.start()
            if main_loop is not None:
                main_loop(self)
            else:
                while not self.stop_event.wait(0.1):
                    self._watchdog()
        finally:
            self.shutdown()
        if self.error is not None:
            raise self.error

    def shutdown(self) -> None:
        """Stop the threads, then run every closer (logs, recording, web view), once.

        run() calls it on its way out; a handler that cannot return to run() (the display's
        connection lost, see app/display/xlib.py) calls it itself before ending the process.
        """
        if not self._shutdown_lock.acquire(blocking=False):
            return  # under way or done
        self.stop_event.set()
        self.source.close()  # unblocks a capture thread waiting on the device
        capture, inference = self._threads or (None, None)
        if capture is not None and capture.is_alive():
            capture.join(timeout=5)
        if inference is not None and inference.is_alive():
            inference.join(timeout=30)
        for closer in self.closers:
            closer()
        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            for signum, handler in self._signal_handlers.items():
                signal.signal(signum, handler)

    def tick(self) -> None:
        """The main thread's periodic duty (the stall watchdog), for a custom main loop."""
        self._watchdog()

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        def guarded() -> None:
            try:
                loop()
            except BaseException as exc:  # re-raised on the main thread by run()
                self.error = exc
            finally:
                self.stop_event.set()

        return guarded

    def _install_signal_handlers(self) -> dict[int, Any]:
        previous = {}

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("%s received: stopping", signal.Signals(signum).name)
            self.stop_event.set()

        # SIGHUP: the terminal went away (an SSH session closed); stopping cleanly keeps the
        # log's stop record and a playable recording, where the default would just die.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if signum == signal.SIGHUP and signal.getsignal(signum) is signal.SIG_IGN:
                continue  # started with nohup: meant to outlive the terminal
            previous[signum] = signal.signal(signum, handler)
        return previous

    def _watchdog(self) -> None:
        """A live source silent for stall_timeout is closed, which makes capture reopen it."""
        if not self.source.live:
            return
        silent = time.monotonic() - self.last_frame_at
        if silent > self.options.stall_timeout:
            log.warning("%s delivered no frame for %.1f s: reopening", self.source.name, silent)
            self.last_frame_at = time.monotonic()
            self.source.close()

    def _capture_loop(self) -> None:
        reset_next = False
        backoff = BACKOFF_START_S
        while not self.stop_event.is_set():
            try:
                for frame in self.source.frames(self._wanted):
                    self.last_frame_at = time.monotonic()
                    backoff = BACKOFF_START_S
                    for listener in self.frame_listeners:
                        listener(frame)
                    if self._sampler.accept(frame.t):
                        model_input = self._preprocess(frame.image, frame.order)
                        sample = Sample(frame.index, frame.t, frame.captured_at, model_input, reset_next)
                        self.mailbox.put(sample, self.stop_event)
                        reset_next = False
                    if self.stop_event.is_set():
                        return
                if not self.source.live:
                    self.mailbox.put(_END, self.stop_event)
                    return
                if self.stop_event.is_set():
                    return
                raise SourceError(f"{self.source.name} stopped")
            except SourceError as exc:
                log.warning("%s failed: %s", self.source.name, exc)
            reset_next = True
            self._sampler.reset()
            backoff = self._reopen(backoff)

    def _wanted(self, t: float) -> bool:
        """Convert this frame? Always if a frame listener wants every frame, else only sampled ones."""
        return any(wanted is None or wanted() for wanted in self._frame_demand) or self._sampler.due(t)

    def _reopen(self, backoff: float) -> float:
        """Reopen the source, waiting longer after each failure; returns the next wait."""
        while not self.stop_event.is_set():
            self.source.close()
            if self.stop_event.wait(backoff):
                break
            try:
                self.source.open()
            except Exception as exc:  # any failure to reopen is retried, never fatal
                log.warning("reopening %s failed: %s (next try in %.1f s)", self.source.name, exc, backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            self.reopens += 1
            self.last_frame_at = time.monotonic()
            log.warning("%s reopened; the stream state will be reset", self.source.name)
            return min(BACKOFF_MAX_S, backoff * 2)
        return backoff

    def _apply_changes(self) -> bool:
        """On the inference thread: the changes asked for since the last step; True if any."""
        with self._changes_lock:
            changes, self._changes = self._changes, []
        if not changes:
            return False
        labels_before = self.top_k
        for change in changes:
            change()
        if self.top_k is not labels_before:
            for listener in self.label_listeners:
                listener(self.top_k)
        return True

    def _inference_loop(self) -> None:
        seq = 0
        last_t: float | None = None
        finished: deque[float] = deque(maxlen=RATE_WINDOW)
        while not self.stop_event.is_set():
            sample = self.mailbox.get(timeout=0.2)
            if sample is None:
                continue
            if sample is _END:
                self.stop_event.set()
                return
            gap = self.options.reset_after
            reset = sample.reset or (gap is not None and last_t is not None and sample.t - last_t > gap)
            reset = self._apply_changes() or reset
            if reset:
                self.classifier.reset()
            last_t = sample.t
            started = time.perf_counter()
            logits = self.classifier.step(sample.model_input)
            model_ms = (time.perf_counter() - started) * 1000
            now = time.monotonic()
            finished.append(now)
            model_fps = (len(finished) - 1) / (finished[-1] - finished[0]) if len(finished) > 1 else 0.0
            result = Result(
                seq=seq,
                frame=sample.frame,
                t=sample.t,
                wall=time.time(),
                source=self.source.name,
                top=self.top_k(logits),
                model_ms=model_ms,
                latency_ms=(now - sample.captured_at) * 1000,
                model_fps=model_fps,
                dropped=self.mailbox.dropped,
                reset=reset,
            )
            seq += 1
            if self._slowness is not None:
                self._slowness.observe(model_ms)
            for listener in self.result_listeners:
                listener(result)
