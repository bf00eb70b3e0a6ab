"""What every source yields and promises: `Frame`, `FrameSource`, and `SourceError`.

Sources, the pipeline and every output share these types, so they live apart from any
one kind of source (and from OpenCV, picamera2 or a file decoder).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

Keep = Callable[[float], bool]


@dataclass(frozen=True)
class Frame:
    """One decoded frame: `image` is uint8 HxWx3 in channel order `order` ("RGB"/"BGR")."""

    index: int  # position in the source, counting every frame, sampled or not
    t: float  # seconds since the start of the source
    image: np.ndarray
    order: str
    captured_at: float = 0.0  # time.monotonic() when it was captured or decoded (latency)


class SourceError(Exception):
    """The source failed while running (camera unplugged, stream dropped): reopen it."""


class FrameSource(ABC):
    """Yields timestamped frames. `live` sources are reopened on failure; files just end."""

    name: str = "source"
    live: bool = True
    #: A display that shows this source itself (the Pi camera's own preview) can be
    #: used instead of drawing frames in Python.
    native_preview: bool = False

    @property
    def paced(self) -> bool:
        """Frames come at the source's own rate (a camera, a file played in real time)."""
        return self.live

    @property
    def fps(self) -> float | None:
        """The source's own constant frame rate, if it has one it can tell (None: unknown)."""
        return None

    @abstractmethod
    def open(self) -> None:
        """Start capturing; raises AppError if the source cannot be opened at all."""

    @abstractmethod
    def frames(self, keep: Keep) -> Iterator[Frame]:
        """Frames in capture order; `keep(t)` false lets a source skip converting a frame.

        Raises SourceError when the source fails mid-stream; ends when a file ends.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the device; safe to call from another thread to unblock frames()."""
