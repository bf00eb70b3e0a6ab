"""Shared fixtures: the real model, label map and clips from the assets folder.

Tests read the official files from MOVINET_ASSETS_DIR (CI points it at
../shared/assets), the same variable an offline install uses. Without it they fall
back to ../shared/assets beside the project, and fail loudly if that is missing:
a suite that silently skips the real model would prove nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.inference.engine import StreamingClassifier
from app.inference.labels import TopK, load_labels
from app.inference.runtime import available_runtimes

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def assets_dir() -> Path:
    folder = Path(os.environ.get("MOVINET_ASSETS_DIR") or PROJECT_ROOT.parent / "shared" / "assets")
    if not (folder / "models" / "movinet_a0_stream_int8.tflite").is_file():
        pytest.fail(f"test assets not found in {folder}: set MOVINET_ASSETS_DIR to the shared assets folder")
    return folder


@pytest.fixture(scope="session")
def assets() -> Path:
    return assets_dir()


@pytest.fixture(scope="session")
def a0_model(assets: Path) -> Path:
    return assets / "models" / "movinet_a0_stream_int8.tflite"


@pytest.fixture(scope="session")
def labels_path(assets: Path) -> Path:
    return assets / "models" / "kinetics600_label_map.txt"


@pytest.fixture(scope="session")
def clips(assets: Path) -> Path:
    return assets / "clips"


@pytest.fixture
def classifier(a0_model: Path) -> StreamingClassifier:
    """A fresh A0 stream (function scope: no state carried over from another test)."""
    return StreamingClassifier(a0_model, threads=2)


@pytest.fixture(scope="session")
def top_k(labels_path: Path) -> TopK:
    return TopK(load_labels(labels_path, 600), k=5)


RUNTIMES_HERE = available_runtimes()


@pytest.fixture(params=RUNTIMES_HERE)
def runtime(request: pytest.FixtureRequest) -> str:
    """Every TFLite runtime installed in this environment."""
    return request.param


def run_app(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m app ...` as a user would, from the project root."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=PROJECT_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


FAKES = Path(__file__).parent / "fakes"


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> Any:
    """tests/fakes/picamera2, freshly imported (no camera held, no stall used up), no FAKE_ settings."""
    monkeypatch.syspath_prepend(str(FAKES))
    for name in [m for m in sys.modules if m.startswith(("picamera2", "libcamera"))]:
        monkeypatch.delitem(sys.modules, name)
    for name in [name for name in os.environ if name.startswith("FAKE_PICAMERA_")]:
        monkeypatch.delenv(name)
    import picamera2

    return picamera2
