"""`run`'s settings: every flag and config key checked once, into one typed value per package.

`run` builds them before it opens anything and `config check` builds the same ones, so a
config the check accepts is one `run` starts with (a service that restart-loops on a bad
value is found when it is installed, not at boot). The packages below get their own
frozen settings and never see a flag's name. What needs a camera, a display or the
network (which preview `auto` is, resolving a host, the broker) is met by `run` alone.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from app.display.pictures import PictureSettings, pictures_folder
from app.display.preview import PreviewSettings, check_fullscreen, check_preview_fits
from app.errors import AppError, OptionError
from app.events import EventThresholds
from app.inference.sampling import context_steps
from app.input_files import regular_file
from app.logs.attach import LogSettings
from app.mqtt.settings import MqttSettings, mqtt_settings
from app.overlay import OverlaySettings
from app.pipeline import PipelineOptions
from app.settings.flags import event_thresholds
from app.settings.model import ModelSettings, check_classifier
from app.settings.options import max_pixels, model_settings
from app.settings.overwrite import model_inputs, refuse_overwriting
from app.sources import SourceSettings, file_path, is_pi_camera
from app.web.view import WebSettings, load_token, parse_listen

T = TypeVar("T")
CONSOLE_MODES = ("lines", "json", "quiet")


@dataclass(frozen=True)
class RunSettings:
    model: ModelSettings
    source: SourceSettings
    pipeline: PipelineOptions
    console: str  # one of CONSOLE_MODES: what stdout gets per step
    events: EventThresholds
    logs: LogSettings
    preview: PreviewSettings
    overlay: OverlaySettings
    pictures: PictureSettings | None  # None: no event pictures
    web: WebSettings | None  # None: no web view
    mqtt: MqttSettings | None  # None: no MQTT


def run_settings(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> RunSettings:
    """The settings, or the first problem `run_settings_problems` finds, raised."""
    settings, problems = run_settings_problems(args, env)
    if problems:
        raise problems[0]
    assert settings is not None
    return settings


def run_settings_problems(
    args: argparse.Namespace, env: Mapping[str, str] = os.environ, load_model: bool = False
) -> tuple[RunSettings | None, list[AppError]]:
    """The settings (None if any problem), and every problem found, in the order `run` meets them.

    `env`: where tokens and passwords may come from ({} for `config check`: the service's
    environment is not this one). `load_model`: also load the model and label map as `run`
    does next (config check; `run` itself loads them right after, once).
    """
    problems: list[AppError] = []

    def built(build: Callable[[], T]) -> T | None:
        try:
            return build()
        except AppError as exc:
            problems.append(exc)
            return None

    source = built(lambda: _source(args))
    model = built(lambda: _model(args))
    preview = built(lambda: _preview(args))
    events = built(lambda: event_thresholds(args))
    logs = built(lambda: _logs(args, events)) if events is not None else None
    pictures = built(lambda: _pictures(args))
    built(lambda: refuse_overwriting({"record": args.record, "log": args.log, "csv": args.csv}, model_inputs(args)))
    web = built(lambda: _web(args, env))
    mqtt = built(lambda: _mqtt(args, env))
    if load_model and not problems and model is not None:  # as `run` gets there only when all the rest is right
        built(lambda: check_classifier(model))
    if problems:
        return None, problems
    assert source and model and preview and events and logs
    pipeline = PipelineOptions(fps=model.fps, reset_after=args.reset_after, stall_timeout=args.stall_timeout)
    console = "json" if args.json else "quiet" if args.quiet else "lines"
    overlay = OverlaySettings(rows=model.top_k, smoothing=args.smoothing, hold=args.hold)
    return RunSettings(model, source, pipeline, console, events, logs, preview, overlay, pictures, web, mqtt), []


def _source(args: argparse.Namespace) -> SourceSettings:
    path = file_path(args.source)
    if path is not None and not regular_file(path, "video"):
        raise OptionError(
            "source", f"{args.source}: no such file (or a camera name mistyped: auto, picam, /dev/videoN)"
        )
    return SourceSettings(args.source, args.realtime, args.loop, max_pixels(args), autofocus=not args.no_autofocus)


def _model(args: argparse.Namespace) -> ModelSettings:
    settings = model_settings(args)
    model = settings.model_path
    if not regular_file(model, "model"):
        fix = "run ./setup.sh or `python -m app models fetch`"
        if args.model is None:
            raise AppError(f"model not found: {model} ({fix})")
        raise OptionError("model", f"{args.model}: not found: {model} ({fix})")
    if args.labels is not None and not regular_file(args.labels, "label file"):
        raise OptionError("labels", f"{args.labels}: no such file")
    context_steps(settings.context, settings.fps)
    return settings


def _preview(args: argparse.Namespace) -> PreviewSettings:
    if is_pi_camera(args.source) is False:
        check_preview_fits(args.preview, False, args.source)
    check_fullscreen(args.fullscreen, args.preview)
    return PreviewSettings(args.preview, args.fullscreen, args.record)


def _logs(args: argparse.Namespace, events: EventThresholds) -> LogSettings:
    max_bytes = int(args.log_max_mb * 1_000_000) or None
    return LogSettings(args.log, args.csv, args.log_level, max_bytes, args.log_keep, events)


def _pictures(args: argparse.Namespace) -> PictureSettings | None:
    if args.event_pictures_keep == 0:
        return None
    folder = pictures_folder(args.event_pictures, args.log)
    if folder is None:
        return None
    max_bytes = int(args.event_pictures_max_mb * 1_000_000) or None
    return PictureSettings(folder, args.event_pictures_keep, max_bytes)


def _web(args: argparse.Namespace, env: Mapping[str, str]) -> WebSettings | None:
    if args.web is None:
        if args.teach_set is not None:
            raise OptionError("teach_set", "is the web view's Teach page's set: it needs --web")
        return None
    host, port = parse_listen(args.web)
    token = load_token(args.web_token_file, env)
    return WebSettings(host, port, token, args.web_fps, teach_set=args.teach_set or args.custom)


def _mqtt(args: argparse.Namespace, env: Mapping[str, str]) -> MqttSettings | None:
    """URL, CA file, password file; the broker itself is only met by `run`."""
    if args.mqtt is None:
        return None
    return mqtt_settings(
        args.mqtt,
        user=args.mqtt_user,
        password_file=args.mqtt_password_file,
        ca_file=args.mqtt_ca_file,
        client_id=args.mqtt_client_id,
        prefix=args.mqtt_prefix,
        discovery_prefix=args.mqtt_discovery_prefix,
        status_interval=args.mqtt_status_interval,
        env=env,
    )
