"""What several test modules share that is not a fixture: paths, running the app as a user
would, the one-line error check, and a camera that fails on cue. Fixtures live in conftest.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.inference.runtime import available_runtimes
from app.sources import FileSource, SourceError
from app.sources.base import Frame, Keep

PROJECT_ROOT = Path(__file__).resolve().parent.parent


SHARED_ASSETS = PROJECT_ROOT.parent / "shared" / "assets"
DOWNLOADED_ASSETS = PROJECT_ROOT / "tests" / "assets"  # by tests/fetch_assets.py (setup.sh --dev)


def assets_dir() -> Path:
    given = os.environ.get("MOVINET_ASSETS_DIR")
    candidates = [Path(given)] if given else [SHARED_ASSETS, DOWNLOADED_ASSETS]
    for folder in candidates:
        if (folder / "models" / "movinet_a0_stream_int8.tflite").is_file() and (folder / "clips").is_dir():
            return folder
    pytest.fail(
        f"test assets not found in {' nor '.join(map(str, candidates))}: run ./setup.sh --dev "
        "(downloads them into tests/assets), or set MOVINET_ASSETS_DIR to a folder holding models/ and clips/"
    )


FAKES = PROJECT_ROOT / "tests" / "fakes"  # the picamera2 stand-in


RUNTIMES_HERE = available_runtimes()


def run_app(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    prefix: Sequence[str] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run `python -m app ...` as a user would, from the project root.

    `prefix`: a command the app runs under (setpriv); `preexec_fn`: set-up in the child (limits).
    """
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "app", *args],
        cwd=PROJECT_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec_fn,
    )


def run_unprivileged(*args: str, env: dict[str, str] | None = None, chmod: bool = False) -> subprocess.CompletedProcess:
    """`python -m app ...` unable to read or write files it has no permission for.

    Root reads a mode-000 file anyway (CAP_DAC_OVERRIDE), so as root the app runs without
    the two capabilities that override file permissions, as a service user would be;
    `chmod`: nor the one that changes other users' files' modes (CAP_FOWNER).
    """
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.fail("setpriv not found (util-linux)")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search" + (",-fowner" if chmod else "")]
    return run_app(*args, env=env, timeout=120, prefix=prefix)


def assert_config_problem(result: subprocess.CompletedProcess, expected: str) -> None:
    """`config check` found exactly one problem, said as `expected` (FILE:LINE: key ...), and no traceback."""
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == expected


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 1, no traceback, exactly one stderr line starting `error:` holding every fragment."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got:\n{result.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


class FlakyCamera(FileSource):
    """A looping clip that fails the way cameras do: an error, or silence, mid-run."""

    live = True

    def __init__(self, path: Path, fault: str, after_frames: int = 10) -> None:
        super().__init__(path, realtime=True, loop=True)
        self.fault = fault
        self.after_frames = after_frames
        self.opens = 0
        self._unblock = threading.Event()

    def open(self) -> None:
        super().open()
        self.opens += 1
        self._unblock.clear()

    def frames(self, keep) -> Iterator[Frame]:  # type: ignore[no-untyped-def]
        for n, frame in enumerate(super().frames(keep)):
            if self.opens == 1 and n == self.after_frames:
                if self.fault == "raise":
                    raise SourceError("camera unplugged")
                self._unblock.wait()  # "stall": hangs until closed, like a stuck driver
                return
            yield frame

    def close(self) -> None:
        super().close()
        self._unblock.set()


# ---- headless logs ---------------------------------------------------------------------


def run_logged(clip: Path, model_args: list[str], *args: str) -> subprocess.CompletedProcess:
    result = run_app("run", "--source", str(clip), "--quiet", *model_args, *args, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def records(*paths: Path) -> list[dict[str, Any]]:
    """Every line of the files as JSON: fails if any line is not."""
    return [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines()]


def of_type(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in items if r["type"] == kind]


class LiveApp:
    """`python -m app run --json ...` as a subprocess, read step by step; `playing` a clip by default."""

    def __init__(
        self, run_args: list[str], stderr: Path, env: dict[str, str] | None = None, watchdog_s: float = 60
    ) -> None:
        self.stderr_path = stderr
        self._stderr = stderr.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "run", "--json", *run_args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.printed: list[dict[str, Any]] = []
        self.watchdog = threading.Timer(watchdog_s, self.process.kill)  # a hung app fails the test, not the suite
        self.watchdog.start()

    @classmethod
    def playing(cls, clip: Path, model_args: list[str], stderr: Path, *args: str) -> LiveApp:
        """A clip played at its own rate, again and again, like a camera."""
        return cls(["--source", str(clip), "--realtime", "--loop", *model_args, *args], stderr)

    def read(self, count: int) -> list[dict[str, Any]]:
        """The next `count` steps printed on stdout (5 a second)."""
        assert self.process.stdout is not None
        lines = [self.process.stdout.readline() for _ in range(count)]
        assert all(lines), f"the app stopped early:\n{self.stderr_path.read_text()}"
        steps = [json.loads(line) for line in lines]
        self.printed += steps
        return steps

    def stop(self, signum: int = signal.SIGTERM, within: float = 20) -> int:
        """Send `signum`; the exit code if the app ends within `within` seconds."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=within)
        finally:
            self.process.kill()
            self.watchdog.cancel()
            self._stderr.close()

    def stderr(self) -> str:
        return self.stderr_path.read_text()


def assert_logged(printed: list[dict[str, Any]], logged: list[dict[str, Any]]) -> None:
    """Every step printed on stdout is in the log, identical apart from the log's own fields."""
    steps = {r["seq"]: r for r in of_type(logged, "step")}
    for step in printed:
        assert step["seq"] in steps, f"step {step['seq']} was printed but is not in the log"
        assert {k: v for k, v in steps[step["seq"]].items() if k not in ("type", "time")} == step


class PausableClip(FileSource):
    """A clip looping at its own rate that can be told to stop delivering, like a hung camera."""

    def __init__(self, path: Path, realtime: bool = True) -> None:
        super().__init__(path, realtime=realtime, loop=True)
        self.flowing = threading.Event()
        self.flowing.set()

    def frames(self, keep: Keep) -> Iterator[Frame]:
        for frame in super().frames(keep):
            while not self.flowing.wait(0.05):
                if self._closed:
                    return
            yield frame


# ---- a virtual X server (Xvfb) ----------------------------------------------------------

SCREEN = (1280, 720)


@dataclass
class XServer:
    display: str
    framebuffer: Path
    process: subprocess.Popen  # to kill the server mid-run

    def screenshot(self) -> np.ndarray:
        """The screen as HxWx3 RGB, from the XWD image Xvfb keeps up to date."""
        data = self.framebuffer.read_bytes()
        header = struct.unpack(">25I", data[:100])
        header_size, width, height, bits_per_pixel, bytes_per_line, colours = (
            header[0],
            header[4],
            header[5],
            header[11],
            header[12],
            header[19],
        )
        assert bits_per_pixel == 32, "a 24-bit TrueColor screen is stored as 32-bit pixels"
        pixels = np.frombuffer(data, np.uint8, bytes_per_line * height, header_size + colours * 12)
        return pixels.reshape(height, bytes_per_line // 4, 4)[:, :width, 2::-1]  # B, G, R, pad -> RGB


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: ./setup.sh --dev installs it (apt packages xvfb, xdotool)")
    return path
