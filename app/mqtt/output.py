"""What the app tells the broker: availability, the current action, events and status.

`on_result` is a pipeline result listener on the inference thread: it only runs the
event detector and puts small messages in the Outbox (no network, no lock held for
long). The status, which reads the Pi's temperature and throttling (a process start),
is built on its own thread every `status_interval` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.events import picture_name
from app.mqtt.discovery import NO_ACTION, OFFLINE, ONLINE, Device, Topics, discovery_configs
from app.mqtt.link import MqttLink
from app.mqtt.outbox import Message, Outbox
from app.mqtt.settings import MqttSettings

PICTURE_POLL_S = 0.25  # how soon an event picture follows its event
PICTURE_WAIT_S = 10.0  # a picture not written by then is not coming

if TYPE_CHECKING:
    from app.events import Event, EventDetector
    from app.results import Result


def iso(wall: float | None) -> str | None:
    return None if wall is None else datetime.fromtimestamp(wall).astimezone().isoformat(timespec="milliseconds")


class MqttOutput:
    """One Pi's messages: built from the pipeline's results, published by an MqttLink."""

    def __init__(
        self,
        settings: MqttSettings,
        device: Device,
        actions: list[str],
        detector: EventDetector,
        system_info: Callable[[], dict[str, Any]],
        pictures: Path | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.prefix)
        self.detector = detector
        self.system_info = system_info
        self.pictures = pictures  # the event pictures' folder: a picture is named by its event id
        self.outbox = Outbox()
        self.device = device
        self._discovery = self._configs(actions)
        self._picture_due: tuple[Path, float] | None = None  # an event picture being written, and since when
        self._lock = threading.Lock()
        self._action = NO_ACTION
        self._attributes: dict[str, Any] = {"score": 0.0}
        self._latest: Result | None = None
        self._started = time.monotonic()
        self._stop = threading.Event()
        # Home Assistant says `online` on <discovery>/status when it (re)starts: send the configs again.
        subscriptions = {f"{settings.discovery_prefix}/status": self._home_assistant_status} if self._discovery else {}
        will = Message(self.topics.availability, OFFLINE, qos=1, retain=True)
        self.link = MqttLink(settings, self.outbox, will, self.announce, subscriptions)
        self._status_thread = threading.Thread(target=self._status_loop, name="mqtt-status", daemon=True)

    def start(self) -> None:
        self.link.start()
        self._status_thread.start()

    # -- the pipeline's listener and closer ---------------------------------------------
    def on_result(self, result: Result) -> None:
        self._latest = result
        for event in self.detector.update(result.t, result.wall, result.top, result.reset):
            self._publish_event(event, result.source)

    def close(self) -> None:
        """End the action in progress, say so, and go offline (not via the will: a clean stop)."""
        self._stop.set()
        source = self._latest.source if self._latest is not None else ""
        for event in self.detector.close():
            self._publish_event(event, source)
        self._status_thread.join(timeout=5)
        self._send_picture()  # the pictures' writer has finished by now (closed before us)
        self.link.close([Message(self.topics.availability, OFFLINE, qos=1, retain=True)])

    def relabel(self, actions: list[str]) -> None:
        """New actions (a fit on the web view's Teach page): their binary sensors announced, and
        those of actions no longer reported removed (an empty retained config, as Home Assistant asks)."""
        configs = self._configs(actions)
        kept = {message.topic for message in configs}
        gone = [Message(m.topic, b"", qos=1, retain=True) for m in self._discovery if m.topic not in kept]
        self._discovery = configs
        for message in [*gone, *configs]:
            self.outbox.put(message)

    # -- messages -----------------------------------------------------------------------
    def _configs(self, actions: list[str]) -> list[Message]:
        prefix = self.settings.discovery_prefix
        if not prefix:
            return []
        return discovery_configs(prefix, self.topics, self.device, actions, self.pictures is not None)

    def announce(self) -> list[Message]:
        """Sent first on every connection (the broker may have restarted and forgotten them)."""
        return [Message(self.topics.availability, ONLINE, qos=1, retain=True), *self._discovery, *self._state()]

    def picture_path(self, event_id: str) -> str | None:
        return str(self.pictures / picture_name(event_id)) if self.pictures is not None else None

    def event_payload(self, event: Event, source: str) -> dict[str, Any]:
        return {
            **event.as_json(),
            "score": round(event.peak, 4),
            "started_at": iso(event.start_wall),
            "ended_at": iso(event.end_wall),
            "picture": self.picture_path(event.id),
            "source": source,
        }

    def _publish_event(self, event: Event, source: str) -> None:
        payload = json.dumps(self.event_payload(event, source)).encode()
        self.outbox.put(Message(self.topics.events, payload, qos=1, event=True))
        with self._lock:
            if event.kind == "start":
                if self.pictures is not None:
                    self._picture_due = (self.pictures / picture_name(event.id), time.monotonic())
                self._action = event.label
                self._attributes = {
                    "score": round(event.peak, 4),
                    "event_id": event.id,
                    "since": iso(event.start_wall),
                    "picture": self.picture_path(event.id),
                }
            elif event.label == self._action:
                self._action, self._attributes = NO_ACTION, {"score": 0.0, "last_event_id": event.id}
        for message in self._state():
            self.outbox.put(message)

    def _state(self) -> list[Message]:
        with self._lock:
            action, attributes = self._action, self._attributes
        return [
            Message(self.topics.action, action.encode(), qos=1, retain=True),
            Message(self.topics.action_attributes, json.dumps(attributes).encode(), qos=1, retain=True),
        ]

    def status_payload(self) -> dict[str, Any]:
        """The model's rate and the Pi's health: the figures the web view's status shows."""
        result = self._latest
        figures: dict[str, Any] = {"state": "starting" if result is None else "running"}
        if result is not None:
            figures.update(
                model_fps=round(result.model_fps, 2),
                model_ms=round(result.model_ms, 2),
                latency_ms=round(result.latency_ms, 2),
                dropped_frames=result.dropped,
                steps=result.seq + 1,
                source=result.source,
            )
        return {
            **figures,
            **self.system_info(),
            "uptime_s": round(time.monotonic() - self._started, 1),
            "mqtt_waiting": len(self.outbox),  # messages held while the broker is away or slow
            "mqtt_events_dropped": self.outbox.dropped_events,  # beyond the outbox's bound: lost
            "mqtt_states_replaced": self.outbox.dropped_states,  # a newer action or status went instead
        }

    def _status_loop(self) -> None:
        """The status every interval, and each event picture once its writer has finished it."""
        next_status = time.monotonic() + self.settings.status_interval
        while not self._stop.wait(PICTURE_POLL_S):
            self._send_picture()
            if time.monotonic() >= next_status:
                next_status += self.settings.status_interval
                self.outbox.put(Message(self.topics.status, json.dumps(self.status_payload()).encode()))

    def _send_picture(self) -> None:
        """The newest event picture as the retained image (it is written on another thread, soon after)."""
        with self._lock:
            due = self._picture_due
        if due is None:
            return
        path, since = due
        try:
            data = path.read_bytes()
        except OSError:  # not written yet (or skipped, or the disk is full): wait a while, then give up
            if time.monotonic() - since > PICTURE_WAIT_S:
                with self._lock:
                    if self._picture_due == due:
                        self._picture_due = None
            return
        with self._lock:
            if self._picture_due == due:
                self._picture_due = None
        self.outbox.put(Message(self.topics.picture, data, qos=1, retain=True))

    def _home_assistant_status(self, payload: bytes) -> None:
        if payload.strip() == b"online":
            for message in self._discovery + self._state():
                self.outbox.put(message)
