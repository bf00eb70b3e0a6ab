"""systemd notify protocol over a real datagram socket: READY, WATCHDOG pings, STATUS."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from helpers import FlakyCamera

from app.inference.engine import StreamingClassifier
from app.inference.labels import TopK, load_labels
from app.pipeline import Pipeline, PipelineOptions
from app.service.sdnotify import attach_systemd


class NotifySocket:
    """What systemd does: a unix datagram socket, each message timestamped on arrival."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.messages.append((time.monotonic(), fields))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    receiver = NotifySocket(path)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # ping at most every 0.1 s: once per result at 5 fps
    yield receiver
    receiver.close()


def test_ready_after_first_result_then_pings_while_frames_flow_and_none_once_stalled(
    notify_socket, a0_model, labels_path, clips
):
    classifier = StreamingClassifier(a0_model, threads=2)
    top_k = TopK(load_labels(labels_path, 600))
    camera = FlakyCamera(clips / "carving_ice_172.mp4", "stall", after_frames=10)
    pipeline = Pipeline(camera, classifier, top_k, PipelineOptions(stall_timeout=60))
    first_result: list[float] = []
    pipeline.on_result(lambda r: first_result.append(time.monotonic()) if not first_result else None)
    attach_systemd(pipeline)
    threading.Timer(4.5, pipeline.stop).start()
    pipeline.run(handle_signals=False)
    time.sleep(0.3)

    messages = notify_socket.messages
    ready = [(t, m) for t, m in messages if m.get("READY") == "1"]
    assert len(ready) == 1 and ready[0][0] >= first_result[0]
    assert "fps" in ready[0][1]["STATUS"]
    pings = [t for t, m in messages if m.get("WATCHDOG") == "1"]
    # 10 sampled frames at 5 fps = 2 s of frames: a ping with each result, then silence.
    assert len(pings) >= 6
    stalled_at = first_result[0] + 10 / 5
    assert all(t < stalled_at + 0.5 for t in pings), "no pings once the source stalls"
    assert messages[-1][1] == {"STOPPING": "1", "STATUS": "stopping"}


def test_nothing_is_sent_without_notify_socket(monkeypatch):
    from app.service.sdnotify import SystemdNotifier

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled
    notifier.send(READY=1)  # no error, no effect
