"""The connection to the broker: paho-mqtt's network thread plus our own sender thread.

Nothing here runs on the inference thread. The pipeline's listener only puts messages in
the Outbox; the sender thread hands them to paho while the broker is connected, and
paho's network thread talks to the socket, reconnecting with a growing delay (1 s to
30 s) when the broker goes away. QoS 1 messages (events) handed over just before a
connection broke stay in paho's own in-flight store and are sent again, in order, on the
next connection; while the broker is away, new ones wait in the Outbox.

At start the first connection is made in the foreground, so what can only be fixed by
the user (a certificate not trusted, a refused user or password) is one clear error
line instead of a silent retry loop. A broker that is only unreachable is not an error:
the app runs and keeps trying, since the broker may be on a machine still booting.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from app.errors import AppError
from app.mqtt.outbox import Message, Outbox
from app.mqtt.settings import MqttSettings

log = logging.getLogger(__name__)

KEEPALIVE_S = 30  # a broker that vanished without closing the socket is noticed within 1.5x this
CONNECT_TIMEOUT_S = 5.0
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
PAHO_QUEUE = 100  # in-flight messages paho may hold; more wait in the Outbox
CLOSE_TIMEOUT_S = 3.0  # a clean stop waits this long for the last events to reach the broker


class MqttLink:
    """Publishes what is put in `outbox`; `announce()` gives what to (re)send on each connection."""

    def __init__(
        self,
        settings: MqttSettings,
        outbox: Outbox,
        will: Message,
        announce: Callable[[], list[Message]],
        subscriptions: dict[str, Callable[[bytes], None]] | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.announce = announce
        self.subscriptions = subscriptions or {}
        self.connected = False
        self.connections = 0
        self.sent = 0
        self.refusal: str | None = None  # why the broker refused us, while it does
        self._closing = False
        self._away_since: float | None = None
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=paho.MQTTv311)
        client.will_set(will.topic, will.payload, qos=1, retain=True)
        if settings.user is not None:
            client.username_pw_set(settings.user, settings.password)
        context = settings.tls_context()
        if context is not None:
            client.tls_set_context(context)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(PAHO_QUEUE)
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        # A callback's exception would end paho's network thread, and MQTT with it, for the
        # rest of the run: paho reports it through on_log instead, and the link carries on.
        client.suppress_exceptions = True
        client.on_log = self._on_log
        self._failed_callbacks: set[str] = set()
        self.client = client
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-send", daemon=True)

    # -- start and stop -----------------------------------------------------------------
    def start(self) -> None:
        """Connect (AppError for bad TLS or credentials), then run in the background."""
        url = self.settings.url
        try:
            self.client.connect(url.host, url.port, keepalive=KEEPALIVE_S)
        except ssl.SSLCertVerificationError as exc:
            raise AppError(
                f"--mqtt {url}: TLS certificate refused: {exc.verify_message} (see --mqtt-ca-file)"
            ) from None
        except ssl.SSLError as exc:
            raise AppError(f"--mqtt {url}: TLS failed: {exc.reason or exc}") from None
        except OSError as exc:  # refused, unreachable, unknown host, timed out: may come up later
            self._away_since = time.monotonic()
            log.warning(
                "MQTT broker %s not reachable (%s): running without it, retrying in the background",
                url,
                exc.strerror or exc,
            )
        self.client.loop_start()
        with self.outbox.changed:  # the broker's answer: accepted or refused
            self.outbox.changed.wait_for(lambda: self.connected or self.refusal, CONNECT_TIMEOUT_S)
        if self.refusal is not None:
            self.client.disconnect()
            self.client.loop_stop()
            raise AppError(f"--mqtt {url}: the broker refused the connection: {self.refusal}")
        if not self.connected and self._away_since is None:  # connected, but no answer (a hung broker)
            self._away_since = time.monotonic()
            log.warning("MQTT broker %s does not answer: running without it, retrying in the background", url)
        self._sender.start()

    def close(self, last: list[Message]) -> None:
        """Send `last` after what is waiting, wait a little for it all, then disconnect."""
        for message in last:
            self.outbox.put(message)
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        with self.outbox.changed:
            self.outbox.changed.wait_for(lambda: not len(self.outbox) or not self.connected, CLOSE_TIMEOUT_S)
            self._closing = True
            self.outbox.changed.notify_all()
        self._sender.join(timeout=1)
        while self.connected and self._in_flight() and time.monotonic() < deadline:
            time.sleep(0.02)  # paho has the last QoS 1 messages: let the broker acknowledge them
        unsent = len(self.outbox) + self._in_flight()
        if unsent:
            log.warning("MQTT: %d message(s) not delivered before stopping (broker away)", unsent)
        self.client.disconnect()  # a clean disconnect: the broker does not send the last will
        self.client.loop_stop()

    def _in_flight(self) -> int:
        return len(self.client._out_messages)  # paho has no public count

    # -- paho callbacks (paho's network thread) -----------------------------------------
    def _on_connect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        url = self.settings.url
        if reason.is_failure:
            if self.refusal is None and self._sender.is_alive():  # at start, start() says it
                log.warning("MQTT broker %s refused the connection: %s", url, reason)
            with self.outbox.changed:
                self.refusal = str(reason)
                self.outbox.changed.notify_all()
            return
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        for message in self.announce():  # before anything queued: availability, discovery, state
            client.publish(message.topic, message.payload, message.qos, message.retain)
        if self._away_since is not None:
            log.info("MQTT broker %s back after %.0f s", url, time.monotonic() - self._away_since)
            self._away_since = None
        with self.outbox.changed:
            self.connected, self.refusal = True, None
            self.connections += 1
            self.outbox.changed.notify_all()

    def _on_disconnect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        with self.outbox.changed:
            was_connected, self.connected = self.connected, False
            self.outbox.changed.notify_all()
        if was_connected and not self._closing:
            self._away_since = time.monotonic()
            log.warning("MQTT broker %s lost (%s): reconnecting; events wait", self.settings.url, reason)

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        handler = self.subscriptions.get(message.topic)
        if handler is not None:
            handler(message.payload)

    def _on_log(self, client: paho.Client, userdata: object, level: int, text: str) -> None:
        if level != paho.MQTT_LOG_ERR or not text.startswith("Caught exception in "):
            return  # paho's debug chatter, and socket errors _on_disconnect already reports
        callback = text.removeprefix("Caught exception in ").partition(":")[0]
        if callback not in self._failed_callbacks:  # once per callback: a handler failing per message floods no log
            self._failed_callbacks.add(callback)
            log.error("MQTT: %s (the connection carries on)", text)

    # -- the sender thread --------------------------------------------------------------
    def _send_loop(self) -> None:
        outbox = self.outbox
        while True:
            with outbox.changed:
                outbox.changed.wait_for(lambda: self._closing or (self.connected and len(outbox) > 0))
                if self._closing and not (self.connected and len(outbox)):
                    return
            message = outbox.take()
            if message is None:
                continue
            info = self.client.publish(message.topic, message.payload, message.qos, message.retain)
            if info.rc == paho.MQTT_ERR_SUCCESS or (info.rc == paho.MQTT_ERR_NO_CONN and message.qos > 0):
                self.sent += 1  # (a QoS 1 message paho could not send yet, it keeps and sends on reconnect)
                continue
            outbox.put_back(message)  # paho's queue is full, or a QoS 0 message met a closed connection
            time.sleep(0.05)
