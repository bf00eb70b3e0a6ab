"""Which /dev/video* nodes are cameras, and which picture formats and sizes they offer.

On a Pi most video nodes are not: the codecs (memory-to-memory), the ISP's inputs and
outputs and the CSI receiver that libcamera drives, so the lowest-numbered node is
rarely the USB webcam. Each node says what it is through VIDIOC_QUERYCAP, and what it
can send through VIDIOC_ENUM_FMT and VIDIOC_ENUM_FRAMESIZES (the V4L2 uAPI's structs,
packed as in linux/videodev2.h).
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
#: _IOWR('V', 2, struct v4l2_fmtdesc), 64 bytes: index, type, flags, description, pixelformat, ...
VIDIOC_ENUM_FMT = 0xC0405602
FMTDESC_FORMAT = "III32sII3I"
#: _IOWR('V', 74, struct v4l2_frmsizeenum), 44 bytes: index, pixel_format, type, a union of 6, 2 reserved.
VIDIOC_ENUM_FRAMESIZES = 0xC02C564A
FRMSIZE_FORMAT = "III6I2I"
BUF_TYPE_VIDEO_CAPTURE = 1
FRMSIZE_TYPE_DISCRETE = 1
#: Formats a webcam's small picture is asked in, best first: MJPG needs a tenth of YUYV's
#: USB 2 bandwidth (several cameras on one bus), and a small JPEG decodes quickly.
PREFERRED_FORMATS = ("MJPG", "YUYV")


@dataclass(frozen=True)
class Capability:
    driver: str
    card: str
    caps: int  # this node's capabilities (device_caps when the driver reports them)
    bus: str = ""  # where it is plugged in, e.g. usb-0000:01:00.0-1.2 (the same port after a replug)

    @classmethod
    def parse(cls, data: bytes) -> Capability:
        driver, card, bus, _version, capabilities, device_caps, *_ = struct.unpack(QUERYCAP_FORMAT, data)
        caps = device_caps if capabilities & CAP_DEVICE_CAPS else capabilities
        return cls(_text(driver), _text(card), caps, _text(bus))

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


@dataclass(frozen=True)
class Mode:
    fourcc: str  # "MJPG", "YUYV", ...
    width: int
    height: int


def fourcc_text(code: int) -> str:
    return code.to_bytes(4, "little").decode("ascii", errors="replace")


def modes(path: str) -> list[Mode]:
    """The formats and sizes the camera offers (stepwise ranges by their two ends); [] if it cannot tell."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return []
    found: list[Mode] = []
    try:
        for index in range(64):
            request = struct.pack(FMTDESC_FORMAT, index, BUF_TYPE_VIDEO_CAPTURE, 0, b"", 0, 0, 0, 0, 0)
            try:
                answer = fcntl.ioctl(fd, VIDIOC_ENUM_FMT, request)
            except OSError:  # EINVAL: no more formats
                break
            code = struct.unpack(FMTDESC_FORMAT, answer)[4]
            found += _sizes(fd, code)
    finally:
        os.close(fd)
    return found


def _sizes(fd: int, code: int) -> list[Mode]:
    sizes = []
    for index in range(64):
        try:
            answer = fcntl.ioctl(fd, VIDIOC_ENUM_FRAMESIZES, struct.pack(FRMSIZE_FORMAT, index, code, *[0] * 9))
        except OSError:
            break
        _, _, kind, *union = struct.unpack(FRMSIZE_FORMAT, answer)
        if kind == FRMSIZE_TYPE_DISCRETE:
            sizes.append(Mode(fourcc_text(code), union[0], union[1]))
        else:  # stepwise or continuous: min_width, max_width, step, min_height, max_height, step
            sizes += [Mode(fourcc_text(code), union[0], union[3]), Mode(fourcc_text(code), union[1], union[4])]
            break
    return sizes


def choose_mode(offered: list[Mode], model_size: tuple[int, int]) -> Mode | None:
    """The smallest offered picture that still covers the model's input (height, width), MJPG first."""
    need_h, need_w = model_size
    for fourcc in PREFERRED_FORMATS:
        fits = [m for m in offered if m.fourcc == fourcc and m.width >= need_w and m.height >= need_h]
        if fits:
            return min(fits, key=lambda m: (m.width * m.height, m.width))
    return None


def video_nodes() -> list[str]:
    return sorted(glob.glob("/dev/video[0-9]*"), key=lambda d: int(d.removeprefix("/dev/video")))


def cameras() -> dict[str, Capability]:
    """The /dev/video* nodes that are cameras and what each says it is, lowest number first."""
    return {node: caps for node in video_nodes() if (caps := query(node)) is not None and caps.is_camera}


def capture_devices() -> list[str]:
    """The /dev/video* nodes that are cameras, lowest number first."""
    return list(cameras())


def find_camera(identity: Capability, given: str) -> str | None:
    """Where the camera `identity` describes is now, or None if it is not plugged in.

    A webcam unplugged while its node is still held open (the app releases it only after
    a failed read) comes back at the next free number, /dev/video2 for /dev/video0. It is
    known by its port (bus), else by its name and driver if only one camera has them.
    """
    found = cameras()
    if found.get(given) == identity:
        return given
    same_port = [node for node, caps in found.items() if caps.bus and caps.bus == identity.bus]
    if same_port:
        return same_port[0]
    same_name = [node for node, caps in found.items() if (caps.card, caps.driver) == (identity.card, identity.driver)]
    return same_name[0] if len(same_name) == 1 else None
