"""Choose which frames reach the model, by timestamp, so it sees its trained rate.

MoViNet-Stream was trained on frames 5 apart at 25 fps: 5 frames per second. Sampling by
time rather than by frame count gives the same rate from a 30 fps file, a 7 fps GIF or a
camera whose rate wanders.
"""

from __future__ import annotations

from app.errors import OptionError

DEFAULT_FPS = 5.0
# Seconds of video a stream holds before it restarts (see StreamingClassifier). A file is
# classified as a whole clip: ten seconds, like the Kinetics clips the models learnt from,
# so clips up to 10 s long are classified exactly as a single stream would. A live source
# follows changes with shorter windows (measured with `eval --session`, see docs/live.md).
CLIP_CONTEXT_S = 10.0
LIVE_CONTEXT_S = 4.0
_EPSILON = 1e-3  # seconds: container timestamps are rounded to the millisecond


class RateSampler:
    """Accepts frames at most `fps` times per second of stream time, evenly spaced."""

    def __init__(self, fps: float = DEFAULT_FPS) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.period = 1.0 / fps
        self._next_due: float | None = None

    def due(self, t: float) -> bool:
        """Would accept(t) take this frame? (No state change: lets a decoder skip work.)"""
        return self._next_due is None or t + _EPSILON >= self._next_due

    def accept(self, t: float) -> bool:
        """Should the frame captured at `t` seconds go to the model? Records the choice."""
        if not self.due(t):
            return False
        if self._next_due is None or t - self._next_due > self.period:
            # First frame, or a gap longer than a period: restart the schedule here
            # rather than accept a burst of frames to catch up.
            self._next_due = t + self.period
        else:
            # Keep the schedule on its grid so a 7 fps source still averages 5 fps.
            self._next_due += self.period
        return True

    def reset(self) -> None:
        self._next_due = None


def context_steps(context_s: float, fps: float) -> int:
    """`--context` seconds as model steps: 0 (unbounded) or at least the two a stream needs."""
    steps = round(context_s * fps)
    if context_s and steps < 2:
        raise OptionError("context", f"{context_s:g} is under two model steps at {fps:g} fps: use 0 or more")
    return steps
