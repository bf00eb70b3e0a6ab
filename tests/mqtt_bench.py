"""What MQTT and event pictures cost, measured in one process (medians, rounds interleaved).

    python tests/mqtt_bench.py [--rounds 3] [--steps 300]

1. The model's steps/s on a file read flat out, with no MQTT, with a broker port that
   refuses, and with a "broker" that accepts the connection and never answers (the worst
   case: a hung broker), each publishing an event every few steps (thresholds on the edge
   of the clip's score), rounds interleaved so machine noise hits all three alike.
2. The CPU time of one event picture (draw the overlay, encode, write, prune) per frame size.
3. How many messages a second the link delivers to a local Mosquitto, end to end.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2
import numpy as np
from helpers import assets_dir
from mqtt_broker import Broker, Subscriber, free_port, wait_for

from app.cli import build_parser
from app.display.pictures import EventPictures, _Job
from app.events import EventDetector
from app.inference.labels import Scored
from app.mqtt import attach_mqtt
from app.mqtt.link import MqttLink
from app.mqtt.outbox import Message, Outbox
from app.overlay import LiveOverlay
from app.pipeline import Pipeline, PipelineOptions
from app.results import Result
from app.settings.model import open_classifier
from app.settings.run import run_settings
from app.sources.files import FileSource

EDGE = ["--event-start", "0.985", "--event-end", "0.98", "--event-min-steps", "1"]


def steps_per_second(assets: Path, broker: str | None, steps: int) -> float:
    args = build_parser().run_command.parse_args(
        ["--model", str(assets / "models/movinet_a0_stream_int8.tflite"), "--labels",
         str(assets / "models/kinetics600_label_map.txt"), "--threads", "1", *EDGE,
         *(["--mqtt", broker, "--mqtt-status-interval", "1"] if broker else [])]
    )  # fmt: skip
    settings = run_settings(args, env={})
    classifier, top_k = open_classifier(settings.model)
    source = FileSource(assets / "clips/carving_ice_360.mp4", loop=True)
    pipeline = Pipeline(source, classifier, top_k, PipelineOptions(fps=5.0))
    times: list[float] = []

    def count(result: Result) -> None:
        times.append(time.perf_counter())
        if len(times) >= steps:
            pipeline.stop()

    pipeline.on_result(count)
    detector = EventDetector(0.985, 0.98, 1)
    attach_mqtt(pipeline, settings.mqtt, detector, [], lambda: {"cpu_temp_c": None, "throttled": None})
    pipeline.run(handle_signals=False)
    skip = 20  # the first steps warm caches up
    return (len(times) - skip - 1) / (times[-1] - times[skip])


def picture_cpu_ms(size: tuple[int, int], repeats: int = 20) -> float:
    overlay = LiveOverlay("a0_int8")
    top = [Scored("carving ice", 0.9), Scored("chiseling stone", 0.05), Scored("sawing wood", 0.02)]
    overlay.update(Result(0, 0, 0.0, time.time(), "bench", top, 10.0, 20.0, 5.0, 0, False))
    frame = cv2.resize(np.random.default_rng(0).integers(0, 255, (90, 160, 3), np.uint8), size)
    with tempfile.TemporaryDirectory() as folder:
        pictures = EventPictures(Path(folder), overlay, EventDetector(), keep=10, max_bytes=None)
        costs = []
        for n in range(repeats):
            started = time.thread_time()
            pictures._write(_Job(f"20260101-000000-{n:03d}-bench.jpg", frame, "BGR"))
            costs.append(time.thread_time() - started)
        pictures.close()
    return statistics.median(costs) * 1000


def delivered_per_second(count: int = 3000) -> float:
    with tempfile.TemporaryDirectory() as folder:
        broker = Broker(Path(folder))
        try:
            with Subscriber(broker, topics=("bench/events",)) as subscriber:
                args = build_parser().run_command.parse_args(
                    ["--mqtt", broker.url, "--mqtt-prefix", "bench", "--mqtt-discovery-prefix", "off"]
                )
                outbox = Outbox(max_events=count)
                settings = run_settings(args, env={}).mqtt
                assert settings is not None
                link = MqttLink(settings, outbox, Message("bench/availability", b"offline"), lambda: [])
                link.start()
                payload = b'{"event": "start", "label": "carving ice", "score": 0.98}' + b" " * 300  # ~ an event
                started = time.perf_counter()
                for _ in range(count):
                    outbox.put(Message("bench/events", payload, qos=1, event=True))
                wait_for(lambda: len(subscriber.on("bench/events")) >= count, 60, "every message")
                elapsed = time.perf_counter() - started
                link.close([])
        finally:
            broker.stop()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    options = parser.parse_args()
    assets = assets_dir()

    silent = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    cases = {
        "none": None,
        "refused": f"mqtt://127.0.0.1:{free_port()}",
        "silent": f"mqtt://127.0.0.1:{silent.getsockname()[1]}",
    }
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(options.rounds):
        for name, url in cases.items():
            rates[name].append(steps_per_second(assets, url, options.steps))
    base = statistics.median(rates["none"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"steps/s, broker {name:8s}: median {median:6.1f}  ratio {median / base:.2f}  rounds {values}")
    for size in ((320, 180), (640, 480), (1280, 720), (1920, 1080)):
        print(f"event picture from {size[0]}x{size[1]}: {picture_cpu_ms(size):.1f} ms CPU (median of 20)")
    print(f"messages delivered to a local broker: {delivered_per_second():.0f}/s (QoS 1, ~360 B each)")


if __name__ == "__main__":
    main()
