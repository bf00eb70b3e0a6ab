"""`run --mqtt URL`: events, the current action and status to an MQTT broker, for Home Assistant.

app/settings/run.py builds MqttSettings (mqtt_settings), cli.py calls `attach_mqtt` on the pipeline.
Modules: settings (URL, credentials, TLS), outbox (what waits, bounded), link (paho and
the sender thread), discovery (topics and Home Assistant configs), output (the pipeline
listener that turns results into messages).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.mqtt.discovery import Device
from app.mqtt.output import MqttOutput
from app.mqtt.settings import MqttSettings, hostname
from app.teach.store import OTHER

if TYPE_CHECKING:
    from app.events import EventDetector
    from app.inference.labels import TopK
    from app.pipeline import Pipeline


def attach_mqtt(
    pipeline: Pipeline,
    settings: MqttSettings | None,
    detector: EventDetector,
    allow: Sequence[str],
    system_info: Callable[[], dict[str, Any]],
    pictures: Path | None = None,
) -> MqttOutput | None:
    """Connect, and publish from the pipeline (None without --mqtt).

    The cli hands in what this output shares with others: the event thresholds (as a
    detector of its own), the `--allow` labels, the Pi's health, and the event pictures'
    folder (a picture is named by its event id).
    """
    if settings is None:
        return None

    def actions() -> list[str]:
        return sensor_actions(pipeline.top_k, allow, taught=pipeline.classifier.head is not None)

    model = pipeline.classifier.model_path.stem
    device = Device(settings.client_id, f"MoViNet {hostname()}", model)
    output = MqttOutput(settings, device, actions(), detector, system_info, pictures)
    output.start()
    pipeline.on_labels(lambda top_k: output.relabel(actions()))  # a fit on the web view's Teach page
    pipeline.on_result(output.on_result)
    pipeline.on_close(output.close)
    return output


def sensor_actions(top_k: TopK, allow: Sequence[str], taught: bool) -> list[str]:
    """The actions that get a Home Assistant binary sensor: the `--allow` labels the run
    reports, else a taught set's actions (all but its automatic 'other'); Kinetics' 600 get none."""
    if allow:
        return [label for label in allow if label in top_k.labels]
    return [label for label in top_k.labels if label != OTHER] if taught else []
