"""Shared fixtures: the real model, label map and clips from the assets folder.

Tests read the official files (`models/` and `clips/` in one folder) from, in order:
MOVINET_ASSETS_DIR (CI points it at ../shared/assets, the same variable an offline
install uses); ../shared/assets beside the project; tests/assets, which
`./setup.sh --dev` fills from the network on a fresh clone (tests/fetch_assets.py).
They fail loudly if none has them: a suite that silently skips the real model would
prove nothing.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import FAKES, RUNTIMES_HERE, SCREEN, LiveApp, XServer, assets_dir, need

from app.inference.engine import StreamingClassifier
from app.inference.labels import TopK, load_labels

# The tests whose outcome depends on which TFLite runtimes and which numpy the environment
# has: the only ones .venv-tflite runs (`pytest -m runtime`). Its tflite-runtime 2.14 with
# numpy 1 is Raspberry Pi OS Bookworm's package set; every other test runs the same LiteRT
# the same way in both venvs, so .venv alone runs them. A test elsewhere that comes to
# depend on the runtime takes the `runtime` fixture (marked by that) or the marker itself.
RUNTIME_MODULES = {
    "test_runtime.py": "which runtime this CPU gets, loading a model under each, native crashes",
    "test_engine.py": "the real model under every runtime installed; the runtimes compared (both: only there)",
    "test_engine_generic.py": "any stream model's states threaded exactly under every runtime",
    "test_synthetic_models.py": "the synthetic models' semantics under LiteRT's interpreter with numpy 1",
    "test_preprocess.py": "the model's input computed with numpy 1 as on Bookworm, numpy 2 in .venv",
    "test_picamera.py": "the Pi camera's frames (numpy, OpenCV): on a Bookworm Pi always numpy 1",
    "test_bench.py": "a row per runtime installed, and the ratio between two runtimes",
    "test_teach.py": "taught actions: the model's features and heads fitted with numpy 1, as on a Bookworm Pi",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in RUNTIME_MODULES or "runtime" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.runtime)


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


@pytest.fixture(params=RUNTIMES_HERE)
def runtime(request: pytest.FixtureRequest) -> str:
    """Every TFLite runtime installed in this environment."""
    return request.param


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


@pytest.fixture
def model_args(a0_model: Path, labels_path: Path) -> list[str]:
    return ["--model", str(a0_model), "--labels", str(labels_path)]


@pytest.fixture
def live_apps() -> Iterator[list[LiveApp]]:
    apps: list[LiveApp] = []
    yield apps
    for app in apps:  # a failed test must not leave an app playing forever
        app.watchdog.cancel()
        if app.process.poll() is None:
            app.process.kill()
            app.process.wait()


@pytest.fixture
def xserver(tmp_path: Path) -> Iterator[XServer]:
    """A fresh Xvfb on a free display number (Xvfb picks it and reports it on a pipe)."""
    read_end, write_end = os.pipe()
    width, height = SCREEN
    command = [need("Xvfb"), "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24"]
    command += ["-fbdir", str(tmp_path), "-nolisten", "tcp"]
    server = subprocess.Popen(command, pass_fds=(write_end,), stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 10)
        assert ready, "Xvfb did not start"
        number = os.read(read_end, 16).decode().strip()
        yield XServer(f":{number}", tmp_path / "Xvfb_screen0", server)
    finally:
        os.close(read_end)
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=10)
