"""Stand-in for picamera2/platform.py: which ISP the Pi has (VC4 on a Pi 4 and older, PiSP on a Pi 5).

The real module asks each /dev/video* for its card name (bcm2835-isp or pispbe); here
FAKE_PICAMERA_PLATFORM says which.
"""

import os
from enum import Enum


class Platform(Enum):
    VC4 = 0
    PISP = 1


def get_platform() -> Platform:
    return Platform[os.environ.get("FAKE_PICAMERA_PLATFORM", "VC4")]
