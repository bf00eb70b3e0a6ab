"""A network camera for real: an MJPEG stream over HTTP on loopback, read through OpenCV.

The server plays a real clip at 30 fps as multipart JPEG, the way IP cameras and
`python -m app run --web` serve video; the test then takes it away mid-run, as a
camera losing power would, and brings it back on the same port.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import pytest

from app.pipeline import Pipeline, PipelineOptions
from app.results import Result
from app.sources import OpenCVSource, open_source


class MjpegCamera:
    """A loopback HTTP server streaming a clip's frames as multipart/x-mixed-replace JPEGs."""

    def __init__(self, clip: Path, port: int = 0) -> None:
        capture = cv2.VideoCapture(str(clip))
        self.jpegs = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            self.jpegs.append(cv2.imencode(".jpg", frame)[1].tobytes())
        capture.release()
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self.running = threading.Event()

    def start(self) -> None:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while camera.running.is_set():
                        data = camera.jpegs[index % len(camera.jpegs)]
                        index += 1
                        head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                        self.wfile.write(head.encode() + data + b"\r\n")
                        time.sleep(1 / 30)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.running.set()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Power cut: stop serving and end every open stream."""
        self.running.clear()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"


@pytest.fixture
def camera(clips):
    camera = MjpegCamera(clips / "carving_ice_360.mp4")
    camera.start()
    yield camera
    camera.stop()


def run_for(pipeline: Pipeline, seconds: float) -> list[Result]:
    results: list[Result] = []
    pipeline.on_result(results.append)
    threading.Timer(seconds, pipeline.stop).start()
    pipeline.run(handle_signals=False)
    return results


def test_http_stream_is_a_live_source(camera, classifier, top_k):
    source = open_source(camera.url)
    assert isinstance(source, OpenCVSource) and source.live
    results = run_for(Pipeline(source, classifier, top_k), 4.0)
    assert len(results) == pytest.approx(4 * 5, abs=4)
    assert results[-1].top[0].label == "carving ice"
    assert max(r.latency_ms for r in results) < 500


def test_stream_that_goes_away_is_reopened_when_it_returns(camera, classifier, top_k):
    pipeline = Pipeline(OpenCVSource(camera.url), classifier, top_k, PipelineOptions(stall_timeout=2.0))

    def outage() -> None:
        time.sleep(2.0)
        camera.stop()
        time.sleep(1.5)
        camera.start()  # same port

    threading.Thread(target=outage, daemon=True).start()
    results = run_for(pipeline, 9.0)
    assert pipeline.reopens >= 1
    resets = [r for r in results if r.reset]
    assert resets, "the stream state is reset when the camera comes back"
    after = [r for r in results if r.seq > resets[-1].seq]
    assert len(after) >= 5, "results flow again after the outage"
    assert pipeline.error is None
