"""The screen as the kernel's DRM/KMS sees it: its size, and whether the app may draw on it.

picamera2's DRM preview draws on a display plane of the card driving the monitor. Only
that card's DRM master may change what is shown; a desktop compositor holds it, and then
picamera2's commits fail without a word (a blank screen). Checking first turns that into
a choice (`--preview auto` runs headless) or a one-line error (`--preview drm`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import struct
from pathlib import Path

Size = tuple[int, int]

DRM_SYSFS = Path("/sys/class/drm")
DEV_DRI = Path("/dev/dri")
#: _IOW('d', 0x11, drm_auth_t): libdrm's drmIsMaster() asks it with magic 0, which the
#: master is refused with EINVAL and anyone else with EACCES.
DRM_IOCTL_AUTH_MAGIC = 0x40046411


def connected_output() -> tuple[str, Size] | None:
    """(card, preferred mode) of the first connected monitor, e.g. ("card1", (1920, 1080))."""
    for status in sorted(DRM_SYSFS.glob("card*-*/status")):
        try:
            if status.read_text().strip() != "connected":
                continue
            first_mode = (status.parent / "modes").read_text().split("\n", 1)[0]
        except OSError:
            continue
        if match := re.match(r"(\d+)x(\d+)", first_mode):
            return status.parent.name.split("-", 1)[0], (int(match[1]), int(match[2]))
    return None


def display_size() -> Size | None:
    """The connected monitor's preferred mode (no X needed)."""
    output = connected_output()
    return output[1] if output is not None else None


def screen_is_free() -> bool | None:
    """Could this process become the monitor's DRM master, i.e. draw on it?

    Opening a card that has no master makes the opener its master (until it closes the
    card), so: master after opening means nothing else draws there. False when another
    program (a desktop) holds it; None when it cannot tell (no monitor, no permission).
    """
    output = connected_output()
    if output is None:
        return None
    try:
        fd = os.open(DEV_DRI / output[0], os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.ioctl(fd, DRM_IOCTL_AUTH_MAGIC, struct.pack("I", 0))
    except OSError as exc:
        if exc.errno == errno.EACCES:
            return False
        return True if exc.errno == errno.EINVAL else None
    finally:
        os.close(fd)
    return None
