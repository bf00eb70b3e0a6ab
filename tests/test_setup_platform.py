"""setup.sh on platforms it cannot serve: one line saying what to do, before apt or pip run.

No 32-bit or old-glibc Python exists on this machine, so each case gets an interpreter
that answers setup.sh's one platform question as that system's would (its pointer size,
machine, version and glibc), then must not be asked anything else. The supported case
runs the real Python with the same question.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import PROJECT_ROOT

CASES = {
    "32-bit Raspberry Pi OS": ("32 armv7l 3.11 2.36", "32-bit system (armv7l)", "Raspberry Pi OS (64-bit)"),
    "Buster's Python": ("64 aarch64 3.7 2.28", "Python 3.7 is too old", "Bookworm or Trixie"),
    "Bullseye's glibc": ("64 aarch64 3.11 2.31", "glibc 2.31 is too old", "Bookworm or Trixie"),
}


def run_setup(python: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """A copy of setup.sh alone in a folder: whatever it does, it cannot touch this project."""
    script = tmp_path / "setup.sh"
    shutil.copy(PROJECT_ROOT / "setup.sh", script)
    env = {**os.environ, "PYTHON": python}
    return subprocess.run(
        [str(script), "--no-fetch"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(Path("/etc/rpi-issue").exists(), reason="Raspberry Pi OS always uses /usr/bin/python3")
@pytest.mark.parametrize("case", sorted(CASES))
def test_unservable_platform_is_one_line_and_exit_1(case, tmp_path):
    facts, problem, advice = CASES[case]
    python = tmp_path / "python3"
    # Answers the platform question once; any second call (venv, pip) leaves a mark.
    python.write_text(f'#!/bin/sh\n[ -e "$0.used" ] && echo "called again: $*" >&2\ntouch "$0.used"\necho "{facts}"\n')
    python.chmod(0o755)
    result = run_setup(str(python), tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert problem in lines[0] and advice in lines[0]
    assert result.stdout == ""


def test_this_machine_passes_the_platform_check(tmp_path):
    """The real interpreter: no complaint, and set-up goes on to create the venv."""
    result = run_setup(sys.executable, tmp_path)
    assert "==> Creating .venv" in result.stdout, result.stderr
    assert "too old" not in result.stderr and "32-bit" not in result.stderr
