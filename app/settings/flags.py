"""Every flag of `run` (and so every config key), snapshot's overlay flags, and the event
thresholds `plot` and `summary` share. The packages below never see these names: the
values reach them as typed settings (app/settings/run.py builds them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.display.pictures import DEFAULT_KEEP as PICTURES_KEEP
from app.display.pictures import DEFAULT_MAX_MB as PICTURES_MAX_MB
from app.display.preview import PREVIEWS
from app.events import DEFAULT_END, DEFAULT_MIN_STEPS, DEFAULT_START, EventThresholds
from app.logs.attach import DEFAULT_KEEP, DEFAULT_MAX_MB
from app.logs.jsonlog import LEVELS
from app.mqtt.settings import (
    DEFAULT_DISCOVERY_PREFIX,
    DEFAULT_STATUS_S,
    PASSWORD_ENV,
    USER_ENV,
    broker_url,
    client_id,
    existing_file,
    topic_prefix,
)
from app.overlay import DEFAULT_HOLD_S, DEFAULT_SMOOTHING
from app.settings.argtypes import (
    megabytes,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
    seconds_up_to_a_day,
    up_to,
)
from app.settings.options import add_decode_options, add_model_options, add_result_options
from app.web.stream import DEFAULT_FPS as WEB_FPS
from app.web.view import DEFAULT_HOST, TOKEN_ENV


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--source",
        default="auto",
        help="auto (Pi camera, else first /dev/video*), picam, /dev/videoN or N, rtsp://... or http://..., or a file",
    )
    run.add_argument("--realtime", action="store_true", help="play a file source at its own rate, like a camera")
    run.add_argument("--loop", action="store_true", help="play a file source again and again")
    run.add_argument(
        "--reset-after", type=seconds_up_to_a_day, metavar="SECONDS", help="start a new stream after a gap"
    )
    run.add_argument(
        "--stall-timeout", type=seconds_up_to_a_day, default=5.0, metavar="SECONDS", help="reopen a silent camera (5)"
    )
    run.add_argument(
        "--no-autofocus", action="store_true", help="keep a Pi Camera Module 3 at fixed focus (default: continuous)"
    )
    run.add_argument("--json", action="store_true", help="print one JSON object per model step")
    run.add_argument("--quiet", action="store_true", help="print nothing per step")
    run.add_argument("--config", type=Path, help="TOML file setting any of these options; flags here override it")
    add_model_options(run)
    add_result_options(run, live=True)
    add_decode_options(run)
    add_log_arguments(run)
    add_preview_options(run)
    add_web_arguments(run)
    add_picture_arguments(run)
    add_mqtt_arguments(run)


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("headless logging")
    group.add_argument("--log", type=Path, metavar="PATH", help="append JSON Lines records (steps and events) to PATH")
    group.add_argument(
        "--log-level", choices=LEVELS, default="steps", help="steps (default: steps and events), or events"
    )
    group.add_argument(
        "--log-max-mb",
        type=megabytes,
        default=DEFAULT_MAX_MB,
        metavar="MB",
        help=f"rotate the log and CSV at this size, 0 = never (default {DEFAULT_MAX_MB:g})",
    )
    group.add_argument(
        "--log-keep",
        type=up_to(1000, non_negative_int),
        default=DEFAULT_KEEP,
        metavar="N",
        help=f"rotated files kept (default {DEFAULT_KEEP})",
    )
    group.add_argument("--csv", type=Path, metavar="PATH", help="append one CSV row per step (top-k columns) to PATH")
    add_event_arguments(parser, defaults=True)


def add_event_arguments(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """The event thresholds; `defaults=False` leaves them None, meaning "not given"."""
    note = "for --json output, which has no events; given with a log, its events are worked out again"
    group = parser.add_argument_group("action events", None if defaults else note)
    group.add_argument(
        "--event-start",
        type=probability,
        default=DEFAULT_START if defaults else None,
        metavar="P",
        help=f"an action starts when top-1 with a score >= P (default {DEFAULT_START:g})",
    )
    group.add_argument(
        "--event-end",
        type=probability,
        default=DEFAULT_END if defaults else None,
        metavar="P",
        help=f"and ends when its score falls below P, or another action starts (default {DEFAULT_END:g})",
    )
    group.add_argument(
        "--event-min-steps",
        type=up_to(10_000, positive_int, " (over half an hour at 5 fps)"),
        default=DEFAULT_MIN_STEPS if defaults else None,
        metavar="N",
        help=f"steps in a row either takes, so one noisy frame makes no event (default {DEFAULT_MIN_STEPS})",
    )


def event_thresholds(args: argparse.Namespace) -> EventThresholds:
    """The thresholds given (or the defaults); OptionError names a bad pair."""
    given = given_thresholds(args)
    return given if given is not None else EventThresholds()


def given_thresholds(args: argparse.Namespace) -> EventThresholds | None:
    """For `plot` and `summary`: thresholds if any was given, else None (use the log's events)."""
    values = {"start": args.event_start, "end": args.event_end, "min_steps": args.event_min_steps}
    given = {name: value for name, value in values.items() if value is not None}
    return EventThresholds(**given) if given else None


def add_preview_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("preview and recording")
    group.add_argument(
        "--preview",
        choices=PREVIEWS,
        default="auto",
        help="auto (Pi camera: qt with $DISPLAY, else drm if the screen is free; other sources: window if $DISPLAY, "
        "else none), "
        "qt, drm, window or none",
    )
    group.add_argument("--fullscreen", action="store_true", help="the preview fills the screen (kiosk)")
    group.add_argument("--record", type=Path, metavar="OUT.mp4", help="also write the annotated video to this file")
    add_overlay_options(group)


HOLD_SECONDS = up_to(3600.0, non_negative_float, " (an hour)")


def add_overlay_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--smoothing",
        type=smoothing_weight,
        default=DEFAULT_SMOOTHING,
        metavar="S",
        help=f"weight of past scores shown, 0 (raw) to below 1 ({DEFAULT_SMOOTHING:g})",
    )
    group.add_argument(
        "--hold",
        type=HOLD_SECONDS,
        default=DEFAULT_HOLD_S,
        metavar="SECONDS",
        help=f"a new top label must lead this long to replace the shown one ({DEFAULT_HOLD_S:g})",
    )


def smoothing_weight(text: str) -> float:
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be below 1 (1 would never change), got {text}")
    return value


def add_picture_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("event pictures")
    group.add_argument(
        "--event-pictures",
        type=Path,
        metavar="DIR",
        help="save the frame with the overlay as DIR/EVENT-ID.jpg when an action starts "
        "(default: pictures/ beside --log; none without --log)",
    )
    group.add_argument(
        "--event-pictures-keep",
        type=non_negative_int,
        default=PICTURES_KEEP,
        metavar="N",
        help=f"keep at most N pictures, deleting the oldest; 0 = no pictures (default {PICTURES_KEEP})",
    )
    group.add_argument(
        "--event-pictures-max-mb",
        type=megabytes,
        default=PICTURES_MAX_MB,
        metavar="MB",
        help=f"and at most this much of them, 0 = no size limit (default {PICTURES_MAX_MB:g})",
    )


def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("web view")
    group.add_argument(
        "--web",
        metavar="[HOST:]PORT",
        help=f"serve a live page (video, top-5, status) on PORT, on {DEFAULT_HOST} unless HOST is given; "
        f"another address needs a token ({TOKEN_ENV} or --web-token-file)",
    )
    group.add_argument(
        "--web-token-file", type=Path, metavar="PATH", help=f"read the web view's token from PATH (else ${TOKEN_ENV})"
    )
    group.add_argument(
        "--web-fps",
        type=positive_float,
        default=WEB_FPS,
        metavar="F",
        help=f"at most this many pictures a second in the web view's video (default {WEB_FPS:g})",
    )
    add_teach_arguments(group)


def add_teach_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--teach-set",
        type=Path,
        metavar="DIR",
        help="the set the web view's Teach page records into and fits (default: --custom's; docs/teach-web.md)",
    )


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
