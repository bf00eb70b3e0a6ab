"""A real Mosquitto broker on a free loopback port, and a paho subscriber acting as Home Assistant.

Debian's `mosquitto` package (installed by `setup.sh --dev`) is started by the test with
its own config file in the test's folder: no system service, no persistence, nothing
left behind. TLS uses a CA made here with openssl.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class Tls:
    ca: Path
    cert: Path
    key: Path


def make_ca(folder: Path, host: str = "127.0.0.1") -> Tls:
    """A throw-away CA and a server certificate for `host`, signed by it (openssl)."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=movinet test CA",
            "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}", "-keyout", "server.key",
            "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text(f"subjectAltName=IP:{host}\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.pem")  # fmt: skip
    return Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key")


class Broker:
    """`mosquitto -c <own config>` on 127.0.0.1:port; stop() and start() again keep the port."""

    def __init__(
        self, folder: Path, users: dict[str, str] | None = None, tls: Tls | None = None, persistent: bool = False
    ) -> None:
        if not Path(MOSQUITTO).exists():
            pytest.fail("mosquitto not installed: run ./setup.sh --dev (Debian package `mosquitto`)")
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = free_port()
        self.log = folder / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Persistent: sessions and retained messages survive a restart, as a real install's do.
            f"persistence {'true' if persistent else 'false'}",
            f"persistence_location {folder}/",
            f"user {getpass.getuser()}",  # as root, mosquitto would switch to a `mosquitto` user
            "log_dest stderr",
            "log_type all",
        ]
        if users:
            passwords = folder / "passwords"
            passwords.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}"]
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log)
        wait_for(self._listening, 10, f"mosquitto on port {self.port} (log: {self.log})")

    def _listening(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.monotonic()

    @property
    def text(self) -> str:
        return self.payload.decode()


class Subscriber:
    """A paho client subscribed to `topics`, keeping every message it gets (as Home Assistant would)."""

    def __init__(
        self,
        broker: Broker,
        topics: tuple[str, ...] = ("#",),
        client_id: str = "home-assistant",
        persistent: bool = False,  # a session the broker keeps (and fills) while we are away
    ) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
        self.topics = topics
        subscribed = threading.Event()

        def on_connect(client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            client.subscribe([(topic, 1) for topic in self.topics])

        def on_subscribe(client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
            subscribed.set()

        def on_message(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
            with self._lock:
                self.messages.append(Received(message.topic, message.payload, message.retain, time.monotonic()))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise AssertionError("the subscriber could not subscribe")

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> Received | None:
        found = self.on(topic)
        return found[-1] if found else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
