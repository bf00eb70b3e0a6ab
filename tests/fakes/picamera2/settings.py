"""The stand-in's settings: FAKE_PICAMERA_<NAME> environment variables (the package docstring lists them)."""

from __future__ import annotations

import os


def env(name: str, default: str = "") -> str:
    return os.environ.get(f"FAKE_PICAMERA_{name}", default)
