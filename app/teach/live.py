"""Takes recorded from a running pipeline's camera, for the web view's Teach page.

The live recognition keeps running while a take is recorded: `TakeCollector` is a frame
listener that, only while a take is armed, keeps the frames at the model rate, cropped
and shrunk to the model's input size (a 30 s take at 5 fps is 150 frames of 172x172,
13 MB on A0) and nothing more. The features are extracted after each take on the
session's own thread by a second classifier of the same model at whole-clip context
(context 0, one thread), loaded when the first take is recorded, so the inference
thread never waits for teaching.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2

from app.errors import AppError
from app.inference.engine import ANSWER_LONGEST, StreamingClassifier
from app.inference.preprocess import centre_crop
from app.inference.sampling import RateSampler
from app.sources.base import Frame
from app.teach.api import Teacher

log = logging.getLogger(__name__)

MAX_TAKES = 10
MIN_SECONDS = 2.0  # an example needs 1 s of model steps; 2 s leaves room for a late first frame
MAX_SECONDS = 30.0
MAX_COUNTDOWN = 10.0
NO_FRAMES_GRACE_S = 5.0  # a take that has not filled this long after its end: the camera stalled


class TakeCollector:
    """Pipeline frame listener: the frames of one take at `fps`, at the model's input size."""

    def __init__(self, fps: float, size: tuple[int, int]) -> None:
        self.fps = fps
        self.height, self.width = size
        self._lock = threading.Lock()
        self._armed = False
        self._seconds = 0.0
        self._limit = 0
        self._frames: list[Frame] = []
        self._sampler = RateSampler(fps)
        self._start: float | None = None
        self.full = threading.Event()

    def arm(self, seconds: float) -> None:
        with self._lock:
            self._frames, self._start, self._seconds = [], None, seconds
            self._limit = math.ceil(seconds * self.fps) + 1  # bounds memory whatever the timestamps do
            self._sampler = RateSampler(self.fps)
            self.full.clear()
            self._armed = True

    def disarm(self) -> list[Frame]:
        with self._lock:
            self._armed = False
            frames, self._frames = self._frames, []
            return frames

    def on_frame(self, frame: Frame) -> None:
        """Capture thread: cheap unless a take is armed, then a crop and a resize at `fps`."""
        if not self._armed:
            return
        with self._lock:
            if not self._armed:
                return
            self._start = frame.t if self._start is None else self._start
            if frame.t - self._start >= self._seconds or len(self._frames) >= self._limit:
                self._armed = False
                self.full.set()
                return
            if not self._sampler.accept(frame.t):
                return
            crop = centre_crop(frame.image, self.width / self.height)  # as the model's preprocessing does
            small = cv2.resize(crop, (self.width, self.height), interpolation=cv2.INTER_AREA)
            self._frames.append(Frame(frame.index, frame.t, small, frame.order, frame.captured_at))


@dataclass
class Session:
    """One request to record: `takes` takes of `seconds` of `action`, each after a countdown."""

    action: str
    takes: int
    seconds: float
    countdown: float
    take: int = 0  # the take under way, from 1
    phase: str = "starting"  # starting, countdown, recording, extracting, done, failed, cancelled
    phase_ends: float = 0.0  # time.monotonic() (countdown and recording)
    stored: list[str] = field(default_factory=list)  # the ids of the examples stored
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.phase not in ("done", "failed", "cancelled")

    def as_json(self) -> dict[str, object]:
        left = max(0.0, self.phase_ends - time.monotonic()) if self.phase in ("countdown", "recording") else None
        return {
            "action": self.action,
            "takes": self.takes,
            "seconds": self.seconds,
            "take": self.take,
            "phase": self.phase,
            "left_s": round(left, 1) if left is not None else None,
            "stored": len(self.stored),
            "error": self.error,
        }


class LiveRecorder:
    """Runs one Session at a time on its own thread, storing each take through `teacher`."""

    def __init__(self, teacher: Teacher, collector: TakeCollector, model: Callable[[], StreamingClassifier]) -> None:
        self.teacher = teacher
        self.collector = collector
        self._model = model  # makes the extraction classifier (called once, on the first take)
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self.session: Session | None = None

    def start(self, session: Session, on_take: Callable[[], None] = lambda: None) -> None:
        """AppError if a session is still running; else record in the background."""
        with self._lock:
            if self.session is not None and self.session.running:
                raise AppError(f"still recording {self.session.action!r}: wait for it or cancel it")
            self.session = session
            self._cancel.clear()
        thread = threading.Thread(target=self._run, args=(session, on_take), name="teach-record", daemon=True)
        thread.start()

    def cancel(self) -> None:
        self._cancel.set()
        self.collector.full.set()

    def _run(self, session: Session, on_take: Callable[[], None]) -> None:
        try:
            if self.teacher.classifier is None:
                self.teacher.classifier = self._model()
            self.teacher.check_model()  # a set of another model: say so before anyone performs
            for take in range(1, session.takes + 1):
                session.take = take
                frames = self._record(session)
                if frames is None:
                    session.phase = "cancelled"
                    return
                session.phase = "extracting"
                example = self.teacher.add_frames(session.action, frames, f"web take {take}")
                session.stored.append(example.id)
                on_take()
            session.phase = "done"
        except AppError as exc:
            session.error, session.phase = str(exc), "failed"
        except Exception as exc:  # a bug must not end silently with the page waiting for ever
            log.exception("recording a take failed")
            session.error, session.phase = f"recording failed: {exc}", "failed"
        finally:
            self.collector.disarm()

    def _record(self, session: Session) -> list[Frame] | None:
        """The countdown, then one take's frames; None if cancelled."""
        session.phase, session.phase_ends = "countdown", time.monotonic() + session.countdown
        if self._cancel.wait(session.countdown):
            return None
        session.phase, session.phase_ends = "recording", time.monotonic() + session.seconds
        self.collector.arm(session.seconds)
        filled = self.collector.full.wait(session.seconds + NO_FRAMES_GRACE_S)
        frames = self.collector.disarm()
        if self._cancel.is_set():
            return None
        if not filled:
            raise AppError(
                f"take {session.take}: the camera gave {len(frames)} frame(s) in {session.seconds:g} s "
                "(stalled?); the takes before it are kept"
            )
        return frames


def extraction_classifier(live: StreamingClassifier) -> Callable[[], StreamingClassifier]:
    """The second classifier, made on first use: the live one's model, whole-clip context, one thread."""
    return lambda: StreamingClassifier(live.model_path, live.runtime, 1, context_steps=0, answer=ANSWER_LONGEST)
