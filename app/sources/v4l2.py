"""Which /dev/video* nodes are cameras.

On a Pi most video nodes are not: the codecs (memory-to-memory), the ISP's inputs and
outputs and the CSI receiver that libcamera drives, so the lowest-numbered node is
rarely the USB webcam. Each node says what it is through VIDIOC_QUERYCAP.
"""

from __future__ import annotations

import fcntl
import glob
import os
import struct
from dataclasses import dataclass

#: _IOR('V', 0, struct v4l2_capability), a 104-byte struct.
VIDIOC_QUERYCAP = 0x80685600
QUERYCAP_FORMAT = "16s32s32sIII3I"
CAP_VIDEO_CAPTURE = 0x00000001
CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
CAP_VIDEO_M2M_MPLANE = 0x00004000
CAP_VIDEO_M2M = 0x00008000
CAP_DEVICE_CAPS = 0x80000000
#: Nodes of the camera pipelines libcamera drives (Pi 4 Unicam and ISP, Pi 5 CFE and
#: back end): they deliver raw sensor data or ISP buffers, not pictures OpenCV can use.
PIPELINE_DRIVERS = frozenset({"unicam", "rp1-cfe", "bcm2835-isp", "pispbe"})


@dataclass(frozen=True)
class Capability:
    driver: str
    card: str
    caps: int  # this node's capabilities (device_caps when the driver reports them)

    @classmethod
    def parse(cls, data: bytes) -> Capability:
        driver, card, _bus, _version, capabilities, device_caps, *_ = struct.unpack(QUERYCAP_FORMAT, data)
        caps = device_caps if capabilities & CAP_DEVICE_CAPS else capabilities
        return cls(_text(driver), _text(card), caps)

    @property
    def is_camera(self) -> bool:
        captures = self.caps & (CAP_VIDEO_CAPTURE | CAP_VIDEO_CAPTURE_MPLANE)
        converts = self.caps & (CAP_VIDEO_M2M | CAP_VIDEO_M2M_MPLANE)
        return bool(captures) and not converts and self.driver not in PIPELINE_DRIVERS


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode(errors="replace")


def query(path: str) -> Capability | None:
    """What the node says it is, or None if it is not a V4L2 device (or cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = fcntl.ioctl(fd, VIDIOC_QUERYCAP, bytes(struct.calcsize(QUERYCAP_FORMAT)))
        return Capability.parse(data)
    except OSError:
        return None
    finally:
        os.close(fd)


def video_nodes() -> list[str]:
    return sorted(glob.glob("/dev/video[0-9]*"), key=lambda d: int(d.removeprefix("/dev/video")))


def capture_devices() -> list[str]:
    """The /dev/video* nodes that are cameras, lowest number first."""
    return [node for node in video_nodes() if (caps := query(node)) is not None and caps.is_camera]
