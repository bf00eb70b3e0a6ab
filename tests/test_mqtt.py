"""`run --mqtt`: against a real Mosquitto broker, with a real paho client as Home Assistant.

Each test starts its own broker on a free loopback port (tests/mqtt_broker.py) and runs
the app as a user would, then looks only at what reached the broker.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import PROJECT_ROOT, assert_clean_error, run_app
from mqtt_broker import Broker, Subscriber, free_port, make_ca, wait_for

from app.events import EventDetector
from app.mqtt.discovery import Device, Topics, discovery_configs
from app.mqtt.outbox import Message, Outbox

PREFIX = "movinet/test-pi"
CLIENT = "movinet-test-pi"

# Home Assistant's documented MQTT discovery keys (MQTT sensor and binary sensor pages,
# and the discovery page for `device` and `origin`): anything else is refused or ignored.
ENTITY_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic", "default_entity_id",
    "device", "enabled_by_default", "encoding", "entity_category", "entity_picture", "expire_after",
    "force_update", "icon", "json_attributes_template", "json_attributes_topic", "name", "object_id", "origin",
    "payload_available", "payload_not_available", "platform", "qos", "state_topic", "unique_id", "value_template",
}  # fmt: skip
COMPONENT_KEYS = {
    "sensor": ENTITY_KEYS | {"device_class", "last_reset_value_template", "options", "state_class",
                             "suggested_display_precision", "unit_of_measurement"},
    "binary_sensor": ENTITY_KEYS | {"device_class", "off_delay", "payload_off", "payload_on"},
    "image": (ENTITY_KEYS - {"state_topic", "value_template", "expire_after", "force_update"})
             | {"content_type", "image_encoding", "image_topic", "url_template", "url_topic"},
}  # fmt: skip
DEVICE_KEYS = {
    "configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id", "name",
    "serial_number", "suggested_area", "sw_version", "via_device",
}  # fmt: skip
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
DISCOVERY_TOPIC = re.compile(r"homeassistant/(sensor|binary_sensor|image)/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)/config")


@pytest.fixture
def model_args(a0_model: Path, labels_path: Path) -> list[str]:
    return ["--model", str(a0_model), "--labels", str(labels_path)]


def mqtt_args(broker: Broker, *more: str) -> list[str]:
    return ["--mqtt", broker.url, "--mqtt-prefix", PREFIX, "--mqtt-client-id", CLIENT, *more]


class App:
    """`run --json --realtime --loop` in the background; its steps are collected as they come."""

    def __init__(self, clip: Path, args: list[str], stderr: Path) -> None:
        command = [sys.executable, "-m", "app", "run", "--source", str(clip), "--realtime", "--loop", "--json", *args]
        self.stderr_path = stderr
        self._stderr = stderr.open("w")
        self.process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self.steps: list[tuple[float, dict[str, Any]]] = []  # (time.monotonic() when read, the step)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.steps.append((time.monotonic(), json.loads(line)))

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=20)
        self._reader.join(timeout=5)
        self._stderr.close()
        return code

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()


def events(subscriber: Subscriber) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in subscriber.on(f"{PREFIX}/events")]


# ---- the messages and what Home Assistant makes of them ----------------------------------


def test_a_run_publishes_discovery_action_events_and_goes_offline(tmp_path, clips, model_args):
    """A short run: valid discovery configs, the action on change only, events, offline at the end."""
    broker = Broker(tmp_path / "broker")
    log = tmp_path / "run.jsonl"
    with Subscriber(broker) as home_assistant:
        result = run_app(
            "run", "--source", str(clips / "carving_ice_172.mp4"), "--realtime", "--quiet", "--log", str(log),
            *model_args,
            *mqtt_args(broker, "--allow", "carving ice,stretching arm,push up"),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        wait_for(lambda: home_assistant.on(f"{PREFIX}/availability")[-1:][0].text == "offline", 5, "offline")
        configs = {m.topic: json.loads(m.payload) for m in home_assistant.messages if m.topic.endswith("/config")}
        actions = [m.text for m in home_assistant.on(f"{PREFIX}/action")]
        published = events(home_assistant)
    broker.stop()

    assert [m for m in result.stderr.splitlines() if "MQTT" in m] == []  # nothing to complain about
    # Discovery: the action sensor, two diagnostics and one binary sensor per allowed action.
    kinds = sorted((DISCOVERY_TOPIC.fullmatch(topic)[1], DISCOVERY_TOPIC.fullmatch(topic)[3]) for topic in configs)
    assert kinds == [
        ("binary_sensor", "action_carving_ice"), ("binary_sensor", "action_push_up"),
        ("binary_sensor", "action_stretching_arm"), ("image", "event_picture"), ("sensor", "action"),
        ("sensor", "cpu_temperature"), ("sensor", "model_rate"),
    ]  # fmt: skip
    unique_ids = [config["unique_id"] for config in configs.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    for topic, config in configs.items():
        component = DISCOVERY_TOPIC.fullmatch(topic)[1]
        assert set(config) <= COMPONENT_KEYS[component], (topic, set(config) - COMPONENT_KEYS[component])
        assert set(config["device"]) <= DEVICE_KEYS and set(config["origin"]) <= ORIGIN_KEYS
        assert config["device"]["identifiers"] == [CLIENT] and config["device"]["name"]
        assert config["availability_topic"] == f"{PREFIX}/availability"
        assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
        assert config.get("state_topic", config.get("image_topic")).startswith(PREFIX + "/")
    action = configs[f"homeassistant/sensor/{CLIENT}/action/config"]
    assert action["state_topic"] == f"{PREFIX}/action"
    assert action["json_attributes_topic"] == f"{PREFIX}/action/attributes"
    push_up = configs[f"homeassistant/binary_sensor/{CLIENT}/action_push_up/config"]
    assert push_up["name"] == "Push up" and push_up["state_topic"] == f"{PREFIX}/action"
    assert push_up["value_template"] == "{{ 'ON' if value == \"push up\" else 'OFF' }}"

    # Events: the log's, in the same order, with the same ids; the action follows them, on change only.
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    logged_events = [(r["event"], r["id"], r["label"]) for r in logged if r["type"] == "event"]
    assert [(e["event"], e["id"], e["label"]) for e in published] == logged_events
    assert [label for _, _, label in logged_events] == ["stretching arm"] * 2 + ["carving ice"] * 2
    for event in published:
        assert {"label", "score", "started_at", "ended_at", "duration" if event["event"] == "end" else "id"} <= set(
            event
        )
    # On change only: never the same twice in a row. (Carving ice replaces stretching arm in one
    # step, so a "none" between them may or may not be sent: only the newest state counts.)
    assert actions[0] == actions[-1] == "none"
    assert all(a != b for a, b in itertools.pairwise(actions))
    assert [a for a in actions if a != "none"] == ["stretching arm", "carving ice"]


def test_state_is_retained_for_a_late_subscriber_and_the_last_will_says_offline(tmp_path, clips, model_args):
    """Home Assistant (re)connecting mid-run gets the retained state; SIGKILL makes the broker say offline."""
    broker = Broker(tmp_path / "broker")
    app = App(clips / "carving_ice_360.mp4", [*model_args, *mqtt_args(broker)], tmp_path / "stderr")
    try:
        with Subscriber(broker, client_id="first") as first:
            wait_for(lambda: first.last(f"{PREFIX}/action") and first.last(f"{PREFIX}/action").text == "carving ice",
                     40, "carving ice")  # fmt: skip
        # A subscriber that comes later (Home Assistant restarted) gets the state at once, retained.
        with Subscriber(broker, client_id="second") as second:
            wait_for(lambda: second.last(f"{PREFIX}/action"), 5, "retained action")
            action, availability = second.last(f"{PREFIX}/action"), second.last(f"{PREFIX}/availability")
            attributes = second.last(f"{PREFIX}/action/attributes")
            wait_for(lambda: len([m for m in second.messages if m.topic.endswith("/config")]) == 3, 5, "configs")
            assert action.retain and action.text == "carving ice"
            assert availability.retain and availability.text == "online"
            assert json.loads(attributes.payload)["score"] > 0.5
            assert all(m.retain for m in second.messages if m.topic.endswith("/config"))
            assert second.on(f"{PREFIX}/events") == []  # events are not retained: each is said once
            app.process.kill()  # no clean stop: only the broker's last will can say it
            offline = wait_for(lambda: second.last(f"{PREFIX}/availability").text == "offline", 10, "last will")
            assert offline
        with Subscriber(broker, client_id="third") as third:  # and the will's offline is retained too
            wait_for(lambda: third.last(f"{PREFIX}/availability"), 5, "retained availability")
            assert third.last(f"{PREFIX}/availability").text == "offline"
    finally:
        app.process.kill()
        app.stop()
        broker.stop()


def test_broker_away_mid_run_loses_no_event(tmp_path, clips, model_args):
    """Broker stopped for a while and started again: events queued, then delivered in order; model rate holds."""
    broker = Broker(tmp_path / "broker", persistent=True)
    log = tmp_path / "run.jsonl"
    args = [
        *model_args,
        *mqtt_args(broker, "--mqtt-status-interval", "0.5"),
        "--log",
        str(log),
        "--log-level",
        "events",
    ]
    # Thresholds on the edge of carving ice's score (0.96-0.99 once it settles): an event every few steps.
    args += ["--event-start", "0.985", "--event-end", "0.98", "--event-min-steps", "1"]
    home_assistant = Subscriber(broker, topics=(f"{PREFIX}/events",), persistent=True)
    app = App(clips / "carving_ice_172.mp4", args, tmp_path / "stderr")
    try:
        wait_for(lambda: len(events(home_assistant)) >= 2 and len(app.steps) > 20, 40, "first events")
        home_assistant.close()  # its session stays on the broker (and on disk), collecting events
        heard_before = events(home_assistant)
        broker.stop()
        stopped_at, stopped_wall = time.monotonic(), time.time()
        time.sleep(8)  # about 40 steps, and several events, while the broker is away
        restarted_at, restarted_wall = time.monotonic(), time.time()
        broker.start()
        home_assistant = Subscriber(broker, topics=(f"{PREFIX}/events",), persistent=True)
        wait_for(lambda: "MQTT broker" in app.stderr and "back after" in app.stderr, 40, "reconnection")
        time.sleep(1)
    finally:
        code = app.stop()
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    logged_ids = [(r["event"], r["id"]) for r in logged if r["type"] == "event"]

    def received() -> list[tuple[str, str]]:
        # QoS 1 is at least once: a message in flight when the broker went down may come twice.
        return list(dict.fromkeys((e["event"], e["id"]) for e in heard_before + events(home_assistant)))

    try:
        wait_for(lambda: received() == logged_ids, 10, "every logged event, in order")
    finally:
        home_assistant.close()
        broker.stop()
    assert code == 0, app.stderr
    assert "lost" in app.stderr and "reconnecting" in app.stderr
    away = [r for r in logged if r["type"] == "event" and stopped_wall < r["wall"] < restarted_wall]
    assert len(away) >= 2, away  # events the broker only heard of once it was back
    assert len([at for at, _ in app.steps if stopped_at + 1 < at < restarted_at]) >= 20  # the run went on


def uncapped_rates(process: subprocess.Popen, rates: list[tuple[float, float]]) -> None:
    """(when read, model rate) of each step of `run --json` after its 10th (on a thread, to the end:
    a full pipe would stall the run)."""
    assert process.stdout is not None
    for line in process.stdout:
        step = json.loads(line)
        if step["seq"] >= 10:
            rates.append((time.monotonic(), step["model_fps"]))


def test_publishing_does_not_slow_the_model(tmp_path, clips, model_args):
    """Uncapped model rates, three runs at once (so the machine's load falls on all alike): without
    MQTT, with a broker taking every message (an event every few steps, status twice a second), and
    with the broker away. A publish blocking the model for 0.2 s a step would cut the rate to a
    fraction; a --realtime rate (capped at 5 steps/s) could not show it."""
    broker = Broker(tmp_path / "broker")
    run = [sys.executable, "-m", "app", "run", "--source", str(clips / "carving_ice_360.mp4"), "--loop", "--json"]
    run += [*model_args, "--preview", "none", "--event-start", "0.985", "--event-end", "0.98", "--event-min-steps", "1"]
    mqtt = ["--mqtt-prefix", PREFIX, "--mqtt-status-interval", "0.5"]
    commands = {
        "alone": run,
        "broker": [*run, "--mqtt", broker.url, *mqtt],
        "away": [*run, "--mqtt", f"mqtt://127.0.0.1:{free_port()}", *mqtt],
    }
    try:
        processes = {
            name: subprocess.Popen(
                command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            for name, command in commands.items()
        }
        collected: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for name in commands:
            threading.Thread(target=uncapped_rates, args=(processes[name], collected[name]), daemon=True).start()
        try:
            # Only the steps while all three run (a model that loaded first has the machine to itself).
            wait_for(lambda: all(collected.values()), 120, "every run stepping")
            together = max(rates[0][0] for rates in collected.values())
            steps = {name: lambda name=name: [fps for at, fps in collected[name] if at > together] for name in commands}
            wait_for(lambda: all(len(during()) >= 60 for during in steps.values()), 120, "60 steps of each run")
        finally:
            for process in processes.values():
                process.kill()
                process.wait()
    finally:
        broker.stop()
    rates = {name: statistics.median(during()[:60]) for name, during in steps.items()}
    print(f"\nuncapped model steps/s, medians: {rates}")
    assert rates["alone"] > 10, rates  # uncapped indeed: well above the live 5
    assert rates["broker"] > 0.35 * rates["alone"] and rates["away"] > 0.35 * rates["alone"], rates


# ---- what is wrong, said in one line -----------------------------------------------------


def test_tls_with_a_self_made_ca(tmp_path, clips, model_args):
    """mqtts:// works with --mqtt-ca-file; without it the certificate is refused in one line."""
    tls = make_ca(tmp_path / "ca")
    broker = Broker(tmp_path / "broker", tls=tls)
    url = f"mqtts://127.0.0.1:{broker.port}"
    clip = ["run", "--source", str(clips / "carving_ice_172.mp4"), "--quiet", *model_args]
    try:
        refused = run_app(*clip, "--mqtt", url, timeout=60)
        assert_clean_error(refused, f"--mqtt {url}: TLS certificate refused", "--mqtt-ca-file")
        result = run_app(*clip, "--mqtt", url, "--mqtt-ca-file", str(tls.ca), "--mqtt-prefix", PREFIX, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "MQTT" not in result.stderr
    finally:
        broker.stop()
    # The broker's log shows the app's TLS connection and its clean disconnect.
    assert re.search(r"New client connected from 127\.0\.0\.1.* as movinet-", broker.log.read_text())


def test_wrong_password_is_one_line_and_the_right_one_works(tmp_path, clips, model_args):
    broker = Broker(tmp_path / "broker", users={"pi": "correct horse"})
    secret = tmp_path / "password"
    secret.write_text("wrong\n")
    clip = ["run", "--source", str(clips / "carving_ice_172.mp4"), "--quiet", *model_args]
    url = f"mqtt://pi@127.0.0.1:{broker.port}"
    try:
        refused = run_app(*clip, "--mqtt", url, "--mqtt-password-file", str(secret), timeout=60)
        assert_clean_error(refused, f"--mqtt mqtt://127.0.0.1:{broker.port}: the broker refused", "Not authorized")
        right = run_app(*clip, "--mqtt", url, env={"MOVINET_MQTT_PASSWORD": "correct horse"}, timeout=60)
        assert right.returncode == 0, right.stderr
        assert "MQTT" not in right.stderr
    finally:
        broker.stop()


@pytest.mark.parametrize("broker", ["refusing", "hung"])
def test_a_broker_away_at_start_is_a_warning_and_the_run_goes_on(broker, clips, model_args):
    """Nothing listens on the port, or a hung broker accepts and never answers: one warning, every step, exit 0."""
    with socket.socket() as hung:
        if broker == "hung":
            hung.bind(("127.0.0.1", 0))
            hung.listen(8)  # the kernel completes connections; nobody reads them
            port, warning = hung.getsockname()[1], "does not answer"
        else:
            port, warning = free_port(), "not reachable"
        result = run_app(
            "run", "--source", str(clips / "carving_ice_172.mp4"), "--json", *model_args, "--mqtt",
            f"mqtt://127.0.0.1:{port}", timeout=60,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"MQTT broker mqtt://127.0.0.1:{port} {warning}" in result.stderr
    assert len(result.stdout.splitlines()) == 22  # 4.4 s at 5 steps/s, as without MQTT


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--mqtt", "http://pi.local"], ["--mqtt", "use mqtt://HOST[:PORT]"]),
        (["--mqtt", "mqtt://"], ["--mqtt", "no broker host"]),
        (["--mqtt", "mqtt://pi:secret@pi.local"], ["--mqtt", "not in the URL"]),
        (["--mqtt", "mqtt://pi.local:99999"], ["--mqtt", "out of range"]),
        (["--mqtt", "mqtt://127.0.0.1:0"], ["--mqtt", "port 0"]),  # once silently 1883
        (["--mqtt", f"mqtt://{'h' * 70000}"], ["--mqtt", "not a host name"]),  # once a UnicodeError traceback
        (["--mqtt", "mqtt://pi.local", "--mqtt-prefix", "p" * 70000], ["--mqtt-prefix", "at most 1024 bytes"]),
        (["--mqtt", "mqtt://pi.local", "--mqtt-discovery-prefix", "h" * 70000], ["--mqtt-discovery-prefix", "1024"]),
        (["--mqtt", "mqtt://pi.local", "--mqtt-prefix", "a//b"], ["--mqtt-prefix", "none empty"]),
        (["--mqtt", "mqtt://pi.local", "--mqtt-ca-file", "/nonexistent.pem"], ["--mqtt-ca-file", "no such file"]),
        # A 1e300 s wait overflows the clock in the status thread (OverflowError), as elsewhere.
        (["--mqtt", "mqtt://pi.local", "--mqtt-status-interval", "1e300"], ["--mqtt-status-interval", "at most"]),
    ],
)
def test_bad_mqtt_options_are_one_line(args, fragments, clips, model_args):
    result = run_app("run", "--source", str(clips / "carving_ice_172.mp4"), *model_args, *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert all(fragment in result.stderr.splitlines()[-1] for fragment in fragments), result.stderr


def test_options_that_only_conflict_together_are_one_line(tmp_path, clips, model_args):
    clip = ["run", "--source", str(clips / "carving_ice_172.mp4"), *model_args]
    # MQTT strings hold at most 65535 bytes (once a struct.error traceback), from any of their sources.
    assert_clean_error(run_app(*clip, "--mqtt", "mqtt://127.0.0.1", "--mqtt-user", "u" * 70000), "65535 bytes")
    assert_clean_error(run_app(*clip, "--mqtt", f"mqtt://{'u' * 70000}@127.0.0.1"), "MQTT user", "65535 bytes")
    long_password = tmp_path / "password"
    long_password.write_text("p" * 70000)
    too_long = run_app(*clip, "--mqtt", "mqtt://pi@127.0.0.1", "--mqtt-password-file", str(long_password))
    assert_clean_error(too_long, "--mqtt-password-file", "too big for a password file (over 64 KB)")
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    assert_clean_error(run_app(*clip, "--mqtt", "mqtt://127.0.0.1", "--mqtt-ca-file", str(ca)), "use --mqtt mqtts://")
    assert_clean_error(run_app(*clip, "--mqtt", "mqtts://127.0.0.1", "--mqtt-ca-file", str(ca)), "not a PEM CA")
    env = {"MOVINET_MQTT_PASSWORD": "x"}
    assert_clean_error(run_app(*clip, "--mqtt", "mqtt://127.0.0.1", env=env), "an MQTT password needs a user")


def test_config_check_names_bad_mqtt_keys(tmp_path):
    config = tmp_path / "logger.toml"
    config.write_text('mqtt = "mqtt://pi:secret@broker.local"\nmqtt_ca_file = "/nonexistent.pem"\n')
    result = run_app("config", "check", str(config))
    assert result.returncode == 1
    assert f"{config}:1: mqtt: put the password in --mqtt-password-file" in result.stderr
    assert f"{config}:2: mqtt_ca_file: no such file" in result.stderr
    not_a_ca = tmp_path / "ca.pem"
    not_a_ca.write_text("hello\n")
    config.write_text(f'mqtt = "mqtt://broker.local"\nmqtt_ca_file = "{not_a_ca}"\n')
    result = run_app("config", "check", str(config))
    assert result.returncode == 1
    assert 'mqtt mqtt://broker.local:1883 is not TLS, yet a CA file is given: set mqtt = "mqtts://' in result.stderr
    config.write_text(f'mqtt = "mqtts://broker.local"\nmqtt_ca_file = "{not_a_ca}"\n')
    assert "mqtt_ca_file" in run_app("config", "check", str(config)).stderr
    good = tmp_path / "good.toml"
    good.write_text('mqtt = "mqtts://pi@broker.local"\nmqtt_prefix = "home/garage"\nmqtt_status_interval = 60\n')
    assert run_app("config", "check", str(good)).returncode == 0


# ---- the outbox's bounds -----------------------------------------------------------------


def test_outbox_keeps_events_in_order_and_only_the_newest_state():
    outbox = Outbox(max_events=3)
    for n in range(5):
        outbox.put(Message("events", str(n).encode(), qos=1, event=True))
        outbox.put(Message("status", str(n).encode()))
    outbox.put(Message("action", b"push up", qos=1, retain=True))
    taken = []
    while (message := outbox.take()) is not None:
        taken.append((message.topic, message.payload))
    assert taken == [("events", b"2"), ("events", b"3"), ("events", b"4"), ("status", b"4"), ("action", b"push up")]
    assert (outbox.dropped_events, outbox.dropped_states) == (2, 4)


def test_discovery_topics_stay_short_for_long_labels():
    """A custom label file's 70,000-character label once made a topic paho refused on its own thread."""
    labels = ["a" * 70000, "a" * 69999 + "b", "push up"]
    configs = discovery_configs("homeassistant", Topics(PREFIX), Device(CLIENT, "MoViNet test-pi", "a0"), labels)
    topics = [message.topic for message in configs]
    assert all(DISCOVERY_TOPIC.fullmatch(topic) for topic in topics)
    assert max(len(topic) for topic in topics) < 200 and len(set(topics)) == len(topics)
    assert f"homeassistant/binary_sensor/{CLIENT}/action_push_up/config" in topics  # short ones unchanged


# ---- paho's own thread -------------------------------------------------------------------


def test_a_failing_callback_is_one_line_and_the_link_carries_on(tmp_path, caplog):
    """A subscription handler that raises once ended paho's network thread: nothing was
    published for the rest of the run, and stderr had only a traceback."""
    from app.mqtt.link import MqttLink
    from app.mqtt.settings import broker_url, mqtt_settings

    broker = Broker(tmp_path / "broker")
    settings = mqtt_settings(broker_url(broker.url), client_id="link-test", prefix="test", env={})

    def handler(payload: bytes) -> None:
        raise ValueError(f"cannot read {payload!r}")

    outbox = Outbox()
    link = MqttLink(settings, outbox, Message("test/availability", b"offline"), lambda: [], {"test/cmd": handler})
    try:
        with Subscriber(broker, topics=("test/events",)) as subscriber:
            link.start()
            wait_for(lambda: link.connected, 10, "the link's connection")
            for n in range(3):  # each message raises in paho's thread
                subscriber.client.publish("test/cmd", f"bad {n}".encode(), qos=1).wait_for_publish(5)
            outbox.put(Message("test/events", b"after", qos=1, event=True))
            wait_for(lambda: subscriber.on("test/events"), 10, "the event published after the failures")
            # Its acknowledgement is read by paho's network thread: alive, it also reconnects later.
            wait_for(lambda: link._in_flight() == 0, 10, "the broker's acknowledgement, read by paho's thread")
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == ["MQTT: Caught exception in on_message: cannot read b'bad 0' (the connection carries on)"]
        assert link.connected
    finally:
        link.close([])
        broker.stop()


def test_relabel_announces_new_actions_and_removes_the_old(tmp_path):
    """After a fit on the web page: new binary sensors configured, those of actions gone removed."""
    from app.mqtt.output import MqttOutput
    from app.mqtt.settings import broker_url, mqtt_settings

    broker = Broker(tmp_path / "broker")
    settings = mqtt_settings(broker_url(broker.url), client_id="relabel", prefix="relabel", env={})
    output = MqttOutput(settings, Device("relabel", "MoViNet relabel", "a0"), ["wave", "clap"], EventDetector(), dict)
    config = "homeassistant/binary_sensor/relabel/action_{}/config"
    try:
        with Subscriber(broker, topics=("homeassistant/#",)) as home_assistant:
            output.start()
            wait_for(lambda: home_assistant.on(config.format("clap")), 10, "the first sensors")
            output.relabel(["clap", "jump"])
            wait_for(lambda: home_assistant.on(config.format("jump")), 10, "the new action's sensor")
            wait_for(lambda: home_assistant.on(config.format("wave"))[-1].payload == b"", 10, "the old one removed")
            assert len(home_assistant.on(config.format("clap"))) == 2  # sent again, unchanged: harmless
        with Subscriber(broker, topics=("homeassistant/#",), client_id="late") as late:  # what is retained now
            wait_for(lambda: late.on(config.format("jump")), 10, "the retained configs")
            assert not late.on(config.format("wave"))
    finally:
        output.close()
        broker.stop()
