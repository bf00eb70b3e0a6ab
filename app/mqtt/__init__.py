"""`run --mqtt URL`: events, the current action and status to an MQTT broker, for Home Assistant.

cli.py calls `add_mqtt_arguments` on the `run` parser and `attach_mqtt` on the pipeline.
Modules: settings (URL, credentials, TLS), outbox (what waits, bounded), link (paho and
the sender thread), discovery (topics and Home Assistant configs), output (the pipeline
listener that turns results into messages).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.mqtt.discovery import Device
from app.mqtt.output import MqttOutput
from app.mqtt.settings import (
    PASSWORD_ENV,
    USER_ENV,
    broker_url,
    client_id,
    existing_file,
    hostname,
    mqtt_settings,
    topic_prefix,
)
from app.settings.argtypes import seconds_up_to_a_day

if TYPE_CHECKING:
    from app.events import EventDetector
    from app.pipeline import Pipeline

DEFAULT_STATUS_S = 30.0
DEFAULT_DISCOVERY_PREFIX = "homeassistant"


def add_mqtt_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("MQTT and Home Assistant")
    group.add_argument(
        "--mqtt",
        type=broker_url,
        metavar="URL",
        help="publish to this broker: mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS); a user may go in the URL",
    )
    group.add_argument("--mqtt-user", metavar="NAME", help=f"the broker's user name (else from the URL or ${USER_ENV})")
    group.add_argument(
        "--mqtt-password-file",
        type=existing_file,
        metavar="PATH",
        help=f"read the broker password from PATH (else ${PASSWORD_ENV})",
    )
    group.add_argument(
        "--mqtt-ca-file",
        type=existing_file,
        metavar="PATH",
        help="for mqtts://: trust this CA certificate (PEM) instead of the system's",
    )
    group.add_argument("--mqtt-client-id", type=client_id, metavar="ID", help="(default movinet-HOSTNAME)")
    group.add_argument(
        "--mqtt-prefix", type=topic_prefix, metavar="TOPIC", help="topic prefix (default movinet/HOSTNAME)"
    )
    group.add_argument(
        "--mqtt-discovery-prefix",
        type=topic_prefix,
        default=DEFAULT_DISCOVERY_PREFIX,
        metavar="TOPIC",
        help=f"Home Assistant discovery topic prefix, `off` for none (default {DEFAULT_DISCOVERY_PREFIX})",
    )
    group.add_argument(
        "--mqtt-status-interval",
        type=seconds_up_to_a_day,
        default=DEFAULT_STATUS_S,
        metavar="SECONDS",
        help=f"publish the model rate and the Pi's health this often (default {DEFAULT_STATUS_S:g})",
    )


def attach_mqtt(
    pipeline: Pipeline,
    args: argparse.Namespace,
    detector: EventDetector,
    actions: list[str],
    system_info: Callable[[], dict[str, Any]],
    pictures: Path | None = None,
    env: Mapping[str, str] = os.environ,
) -> MqttOutput | None:
    """Check the MQTT options, connect, and publish from the pipeline (None without --mqtt).

    The cli hands in what this output shares with others: the event thresholds (as a
    detector of its own), the `--allow` actions, the Pi's health, and the event pictures'
    folder (a picture is named by its event id).
    """
    settings = mqtt_settings(args, env)
    if settings is None:
        return None
    model = pipeline.classifier.model_path.stem
    device = Device(settings.client_id, f"MoViNet {hostname()}", model)
    output = MqttOutput(settings, device, actions, detector, system_info, pictures)
    output.start()
    pipeline.on_result(output.on_result)
    pipeline.on_close(output.close)
    return output
