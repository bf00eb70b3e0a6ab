"""Stand-in for picamera2.platform: which ISP the fake camera reports."""

import os
from enum import Enum


class Platform(Enum):
    VC4 = "VC4"
    PISP = "PISP"


def get_platform() -> Platform:
    return Platform[os.environ.get("FAKE_PICAMERA_PLATFORM", "VC4")]
