"""The installer's progress lines (`==> ...` on stdout) and warnings (stderr)."""

from __future__ import annotations

import sys


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
