"""What the model said about a frame, and the one place a result becomes text.

Two result types, on purpose: a `StepResult` is a file's frame classified offline (no
clock, so none of the live timing; its JSON is `classify --json`'s record), a `Result`
is a live step with the timing and health every output reports (its JSON is `run
--json`'s record and the log's step). Both carry the same `top` labels, which the
functions below write the same way wherever they are shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.inference.labels import Scored


@dataclass(frozen=True)
class StepResult:
    """What the model said after one sampled frame."""

    frame: int  # index of the frame in the source
    t: float  # its timestamp, seconds
    top: list[Scored]
    logits: np.ndarray

    def as_json(self) -> dict[str, object]:
        return {"frame": self.frame, "t": round(self.t, 4), "top": [s.as_dict() for s in self.top]}


@dataclass(frozen=True)
class Result:
    """What the model said about one sampled frame, and how fast it said it."""

    seq: int  # model step since the app started
    frame: int  # frame index in the source
    t: float  # stream time of the frame, seconds
    wall: float  # time.time() when the result was ready
    source: str
    top: list[Scored]
    model_ms: float  # inference time of this step
    latency_ms: float  # from frame capture to result
    model_fps: float  # achieved model steps per second, recent
    dropped: int  # sampled frames the model never saw, so far
    reset: bool  # the stream state was reset just before this step

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "frame": self.frame,
            "t": round(self.t, 4),
            "wall": round(self.wall, 3),
            "source": self.source,
            "top": [s.as_dict() for s in self.top],
            "model_ms": round(self.model_ms, 2),
            "latency_ms": round(self.latency_ms, 2),
            "model_fps": round(self.model_fps, 2),
            "dropped": self.dropped,
            "reset": self.reset,
        }


def scored_text(scored: Scored) -> str:
    """`push up 0.87`."""
    return f"{scored.label} {scored.score:.2f}"


def top_text(top: Sequence[Scored], separator: str, count: int = 3) -> str:
    """The best `count` labels on one line."""
    return separator.join(scored_text(s) for s in top[:count])


def ranked_lines(top: Sequence[Scored]) -> list[str]:
    """One label a line, score first, for a final answer."""
    return [f"  {s.score:6.3f}  {s.label}" for s in top]


def console_line(result: Result) -> str:
    """`run`'s line per step."""
    return (
        f"{result.t:7.1f}s  {top_text(result.top, ' | ')}   "
        f"[{result.model_fps:.1f} fps, model {result.model_ms:.1f} ms, "
        f"latency {result.latency_ms:.0f} ms, dropped {result.dropped}]"
    )


def systemd_status(result: Result) -> str:
    """The STATUS line `systemctl status` shows."""
    top = f"{result.top[0].label} ({result.top[0].score:.2f})" if result.top else "nothing above threshold"
    return f"{top}; {result.model_fps:.1f} fps, model {result.model_ms:.1f} ms, dropped {result.dropped}"


def overlay_status(model: str, result: Result) -> str:
    """The overlay's status line, under the labels."""
    return f"{model} · {result.model_fps:.1f} fps · {result.model_ms:.0f} ms · {result.dropped} dropped"
