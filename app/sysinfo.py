"""The Pi's health for the web view: CPU temperature (sysfs) and throttling (vcgencmd).

A Pi that runs hot or on a weak power supply slows its CPU down, and the model's rate
drops with it: the web view shows why. Both readings are optional: elsewhere (or without
access to the firmware) they are simply None.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")  # the SoC's sensor on a Pi
THROTTLE_CACHE_S = 10.0  # vcgencmd is a process start: ask at most this often
VCGENCMD_TIMEOUT_S = 2.0

# Bits of `vcgencmd get_throttled` (Raspberry Pi documentation, "vcgencmd"): the low ones
# say what is true now, the same ones shifted by 16 what happened since boot.
THROTTLE_BITS = {
    0: "under-voltage",
    1: "frequency capped",
    2: "throttled",
    3: "soft temperature limit",
}


def cpu_temperature(path: Path = THERMAL_ZONE) -> float | None:
    """Degrees Celsius, or None where there is no such sensor."""
    try:
        return int(path.read_text().strip()) / 1000
    except (OSError, ValueError):
        return None


def decode_throttled(text: str) -> dict[str, Any] | None:
    """`throttled=0x50005` -> {"raw": "0x50005", "now": [...], "since_boot": [...]}."""
    match = re.search(r"throttled=(0x[0-9a-fA-F]+)", text)
    if match is None:
        return None
    value = int(match[1], 16)
    return {
        "raw": match[1],
        "now": [name for bit, name in THROTTLE_BITS.items() if value >> bit & 1],
        "since_boot": [name for bit, name in THROTTLE_BITS.items() if value >> (bit + 16) & 1],
    }


def run_vcgencmd() -> str | None:
    """The output of `vcgencmd get_throttled`, or None if it is missing or refuses."""
    command = shutil.which("vcgencmd")
    if command is None:
        return None
    try:
        done = subprocess.run(
            [command, "get_throttled"], capture_output=True, text=True, timeout=VCGENCMD_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None  # e.g. not in the `video` group


class SystemInfo:
    """Temperature read fresh each time (a sysfs read), throttling cached (a process start)."""

    def __init__(
        self,
        temperature: Callable[[], float | None] = cpu_temperature,
        vcgencmd: Callable[[], str | None] = run_vcgencmd,
    ) -> None:
        self._temperature = temperature
        self._vcgencmd = vcgencmd
        self._lock = threading.Lock()
        self._throttled: dict[str, Any] | None = None
        self._asked_at: float | None = None

    def read(self) -> dict[str, Any]:
        return {"cpu_temp_c": self._temperature(), "throttled": self._throttle_state()}

    def _throttle_state(self) -> dict[str, Any] | None:
        with self._lock:  # several viewers must not start several processes at once
            now = time.monotonic()
            if self._asked_at is None or now - self._asked_at >= THROTTLE_CACHE_S:
                output = self._vcgencmd()
                self._throttled = decode_throttled(output) if output else None
                self._asked_at = now
            return self._throttled
