"""Which picamera2 release the stand-in plays: FAKE_PICAMERA_VERSION (default: a current one).

Before 0.3.20 (picamera2.py at v0.3.19) there is no cancel_all_and_flush and
dispatch_functions ignores a numeric `wait` (any true value waits with no timeout, so
capture_request(wait=3.0) blocks for ever); before 0.3.13 create_video_configuration
takes no `sensor` and wait(job) no timeout.
"""

from __future__ import annotations

import os

CURRENT = (0, 3, 31)


def version() -> tuple[int, ...]:
    text = os.environ.get("FAKE_PICAMERA_VERSION", "")
    return tuple(int(part) for part in text.split(".")) if text else CURRENT


def bounded_waits() -> bool:
    return version() >= (0, 3, 20)


def apply(picamera2_class: type) -> None:
    """Strip what the chosen release lacks from the class."""
    if not bounded_waits():
        del picamera2_class.cancel_all_and_flush
    if version() < (0, 3, 13):
        create = picamera2_class.create_video_configuration
        wait = picamera2_class.wait

        def create_video_configuration(
            self,
            main=None,
            lores=None,
            raw={},  # noqa: B006  picamera2's own default: a raw stream
            transform=None,
            colour_space=None,
            buffer_count=6,
            controls=None,
            display="main",
            encode="main",
            queue=True,
        ):
            return create(
                self, main, lores, raw, transform, colour_space, buffer_count, controls, display, encode, queue, {}
            )

        def old_wait(self, job):
            return wait(self, job)

        picamera2_class.create_video_configuration = create_video_configuration
        picamera2_class.wait = old_wait
