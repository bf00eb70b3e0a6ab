"""Headless Chromium for the tests, driven with the DevTools protocol over a pipe.

`--remote-debugging-pipe` makes Chromium read commands on its fd 3 and answer on fd 4,
as NUL-terminated JSON: no websocket client, no Node, no browser download (Debian's
`chromium` package; `setup.sh --dev` installs it).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

# Sandboxing needs user namespaces a container may lack; the rest keeps a browser with no
# network from trying (and logging) its background services.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]


def _above_ten(fd: int) -> int:
    """The same file on a descriptor >= 10, so the `3<&N 4>&M` below cannot clobber it."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Chromium:
    """One browser with a fresh profile and one page; a context manager."""

    def __init__(self, profile: Path, size: tuple[int, int] = (1280, 800), timeout: float = 20) -> None:
        executable = shutil.which("chromium")
        if executable is None:
            pytest.fail("chromium not found: ./setup.sh --dev installs it (apt package chromium)")
        profile.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        to_browser, self._commands = map(_above_ten, os.pipe())
        self._answers, from_browser = map(_above_ten, os.pipe())
        # bash (dash takes only one-digit fds) puts our pipe ends on the fds Chromium expects, then becomes Chromium.
        script = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}'
        command = ["bash", "-c", script, executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"]
        self._process = subprocess.Popen(
            command, pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._id = 0
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self._session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        width, height = size
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", self._session, **metrics)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("Browser.close")
            self._process.wait(timeout=10)
        except (OSError, EOFError, TimeoutError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            os.close(self._commands)
            os.close(self._answers)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer (events in between are skipped)."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" not in self._buffer:
                ready, _, _ = select.select([self._answers], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise TimeoutError(f"Chromium did not answer {method}")
                chunk = os.read(self._answers, 1 << 20)
                if not chunk:
                    raise EOFError("Chromium closed its pipe")
                self._buffer += chunk
            line, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(line)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", self._session, url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able values only)."""
        answer = self.call("Runtime.evaluate", self._session, expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def screenshot(self) -> bytes:
        """The page as PNG."""
        return base64.b64decode(self.call("Page.captureScreenshot", self._session, format="png")["data"])
