"""systemd's notify protocol (READY, WATCHDOG, STATUS): one datagram, standard library only.

With `Type=notify` and `WatchdogSec=` in the unit, systemd hands the service a socket
path in NOTIFY_SOCKET and the watchdog period in WATCHDOG_USEC. The app reports ready
once the first frame has been classified, and pings the watchdog from the result path
only: if the camera hangs or the interpreter sticks, results stop, pings stop, and
systemd restarts the service.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time

from app.pipeline import Pipeline, Stage
from app.results import Result, systemd_status


class SystemdNotifier:
    """Sends notify messages; does nothing when not started by systemd."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address  # abstract namespace
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, **fields: object) -> None:
        """e.g. send(READY=1, STATUS="...") -> 'READY=1\\nSTATUS=...'."""
        if self._socket is None:
            return
        message = "\n".join(f"{key}={value}" for key, value in fields.items())
        # systemd gone (shutdown) or its socket full: nothing useful to do about it.
        with contextlib.suppress(OSError):
            self._socket.sendto(message.encode("utf-8"), self._address)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


STATUS_EVERY_S = 2.0


def watchdog_interval() -> float | None:
    """Half the watchdog period systemd asked for, in seconds (None: no watchdog)."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


class WatchdogReporter:
    """A result listener: READY on the first result, then WATCHDOG pings and STATUS text."""

    def __init__(self, notifier: SystemdNotifier, interval: float | None) -> None:
        self.notifier = notifier
        # STATUS at least every STATUS_EVERY_S even when the watchdog is slower (WatchdogSec=30s
        # pings every 15 s), so `systemctl status` and the installer see the current label.
        self.interval = min(interval, STATUS_EVERY_S) if interval is not None else STATUS_EVERY_S
        self.pings = interval is not None
        self._ready = False
        self._last = 0.0

    def __call__(self, result: Result) -> None:
        now = time.monotonic()
        if self._ready and now - self._last < self.interval:
            return
        self._last = now
        fields: dict[str, object] = {"STATUS": systemd_status(result)}
        if not self._ready:
            fields = {"READY": 1, **fields}
            self._ready = True
        if self.pings:
            fields["WATCHDOG"] = 1
        self.notifier.send(**fields)

    def close(self) -> None:
        self.notifier.send(STOPPING=1, STATUS="stopping")
        self.notifier.close()


def attach_systemd(pipeline: Pipeline) -> None:
    """Report to systemd when the app runs as a notify service; a no-op otherwise."""
    notifier = SystemdNotifier()
    if not notifier.enabled:
        return
    reporter = WatchdogReporter(notifier, watchdog_interval())
    pipeline.on_result(reporter, Stage.WATCHDOG)
    pipeline.on_close(reporter.close)
