"""Topics, and Home Assistant MQTT discovery: the entities appear with no YAML.

Home Assistant reads retained JSON configs on `<discovery>/<component>/<node>/<object>/config`
(keys as documented for MQTT discovery, the MQTT sensor and the MQTT binary sensor):

- sensor `Action`: the current action (`none` between actions), its score and the
  event's picture as attributes;
- one binary sensor per `--allow` action ("Push up"): on while that action is going on,
  read off the same action topic with a template, so the two never disagree;
- diagnostic sensors for the model rate and the CPU temperature, from the status topic;
- with event pictures, an image `Last event`: the picture of the latest action started.

All share one device block (one device per Pi) and the availability topic, so the
entities go "unavailable" when the app stops or its Pi drops off the network.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from app import __version__
from app.mqtt.outbox import Message

ONLINE, OFFLINE = b"online", b"offline"
NO_ACTION = "none"


@dataclass(frozen=True)
class Topics:
    prefix: str

    @property
    def availability(self) -> str:
        return f"{self.prefix}/availability"

    @property
    def action(self) -> str:
        return f"{self.prefix}/action"

    @property
    def action_attributes(self) -> str:
        return f"{self.prefix}/action/attributes"

    @property
    def events(self) -> str:
        return f"{self.prefix}/events"

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def picture(self) -> str:
        return f"{self.prefix}/picture"


SLUG_MAX = 64  # a label of a custom label file may be any length; a topic level must stay short


def slug(text: str) -> str:
    """What discovery topics and unique ids may hold: letters, digits, `_` and `-`, at most SLUG_MAX.

    A longer one is cut and ends in a hash of the whole text, so two labels that share
    their first characters still get different ids.
    """
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"
    if len(safe) <= SLUG_MAX:
        return safe
    return f"{safe[: SLUG_MAX - 9]}_{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()[:8]}"


@dataclass(frozen=True)
class Device:
    node_id: str  # one per Pi: the MQTT client id, made safe for topics
    name: str  # shown in Home Assistant, e.g. "MoViNet kitchen-pi"
    model: str  # the model variant, e.g. a0_int8


def discovery_configs(
    discovery_prefix: str, topics: Topics, device: Device, actions: list[str], pictures: bool = False
) -> list[Message]:
    """The retained config messages for every entity of this Pi (an image entity if there are event pictures)."""
    node = slug(device.node_id)
    shared: dict[str, Any] = {
        "availability_topic": topics.availability,
        "payload_available": ONLINE.decode(),
        "payload_not_available": OFFLINE.decode(),
        "device": {
            "identifiers": [node],
            "name": device.name,
            "manufacturer": "MoViNet action recognition",
            "model": device.model,
            "sw_version": __version__,
        },
        "origin": {"name": "movinet", "sw_version": __version__},
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "sensor",
            "action",
            {
                "name": "Action",
                "state_topic": topics.action,
                "json_attributes_topic": topics.action_attributes,
                "icon": "mdi:run",
            },
        ),
        (
            "sensor",
            "model_rate",
            {
                "name": "Model rate",
                "state_topic": topics.status,
                "value_template": "{{ value_json.model_fps }}",
                "unit_of_measurement": "steps/s",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            },
        ),
        (
            "sensor",
            "cpu_temperature",
            {
                "name": "CPU temperature",
                "state_topic": topics.status,
                "value_template": "{{ value_json.cpu_temp_c }}",
                "device_class": "temperature",
                "unit_of_measurement": "°C",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            },
        ),
    ]
    if pictures:
        entities.append(
            (
                "image",
                "event_picture",
                {"name": "Last event", "image_topic": topics.picture, "content_type": "image/jpeg"},
            )
        )
    for label in actions:
        entities.append(
            (
                "binary_sensor",
                f"action_{slug(label)}",
                {
                    "name": label[:1].upper() + label[1:],
                    "state_topic": topics.action,
                    # json.dumps: the label as a quoted string literal the template can compare with
                    "value_template": f"{{{{ 'ON' if value == {json.dumps(label)} else 'OFF' }}}}",
                    "payload_on": "ON",
                    "payload_off": "OFF",
                    "icon": "mdi:run-fast",
                },
            )
        )
    messages = []
    for component, object_id, config in entities:
        payload = {**config, "unique_id": f"{node}_{object_id}", **shared}
        topic = f"{discovery_prefix}/{component}/{node}/{object_id}/config"
        messages.append(Message(topic, json.dumps(payload).encode(), qos=1, retain=True))
    return messages
