"""What the TFLite runtimes print on the process's stderr while a model loads.

Their C++ code logs INFO lines (delegates, accelerator registry) straight to file
descriptor 2. While a model loads, that output goes to a small keeper process instead
of the terminal. When loading succeeds the app takes the text back, and shows at most
the one line that explains a failure. When native code kills the process mid-load (an
abort, an illegal instruction on a CPU the library was not built for), the keeper
outlives it and prints everything to the real stderr, so the runtime's last words reach
the user; a temporary file would have died with the process.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

# Reads until every writer is gone, then hands the text back on stdout. If nobody reads
# it there (the app died), the write fails (SIGPIPE ignored) and it goes to stderr.
_KEEPER = """
trap '' PIPE
text=$(cat; echo .)
text=${text%.}
printf '%s' "$text" 2>/dev/null || printf '%s' "$text" >&2
"""


class CapturedStderr:
    """The runtime's output so far; reading it ends the capture."""

    def __init__(self, keeper: subprocess.Popen | None, saved_fd: int) -> None:
        self._keeper = keeper
        self._saved_fd = saved_fd
        self._text: str | None = None if keeper else ""

    def text(self) -> str:
        if self._text is None:
            assert self._keeper is not None and self._keeper.stdin and self._keeper.stdout
            sys.stderr.flush()
            os.dup2(self._saved_fd, 2)
            os.close(self._saved_fd)
            self._keeper.stdin.close()
            self._text = self._keeper.stdout.read().decode("utf-8", "replace")
            self._keeper.stdout.close()
            self._keeper.wait()
        return self._text

    def last_line(self) -> str:
        """The most telling line: the last ERROR (or FATAL) line, else the last line."""
        lines = [line.strip() for line in self.text().splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith(("ERROR", "FATAL"))]
        return (errors or lines or [""])[-1]


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[CapturedStderr]:
    """Send file descriptor 2 to the keeper for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        # Its own session: a Ctrl-C at the terminal must not kill it mid-capture.
        keeper = subprocess.Popen(
            ["/bin/sh", "-c", _KEEPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=saved,
            start_new_session=True,
        )
    except OSError:  # no shell to keep it: let the runtime write to the terminal
        os.close(saved)
        yield CapturedStderr(None, -1)
        return
    assert keeper.stdin is not None
    os.dup2(keeper.stdin.fileno(), 2)
    captured = CapturedStderr(keeper, saved)
    try:
        yield captured
    finally:
        captured.text()


def silence_native_stderr() -> None:
    """Send file descriptor 2 to /dev/null (for the runtime's teardown chatter at exit)."""
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
