"""`run` options for unattended runs: the JSON Lines log, the CSV file and action events.

cli.py calls `add_log_arguments` on the `run` parser and `attach_logs` on the pipeline.
Each value is checked by its argparse type (so `config check` catches it too); what
depends on two options together is checked in `log_settings`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from app.events import DEFAULT_END, DEFAULT_MIN_STEPS, DEFAULT_START, EventDetector
from app.logs.csvlog import CsvLog
from app.logs.jsonlog import LEVELS, JsonLog
from app.pipeline import Pipeline, Stage
from app.settings.argtypes import megabytes, non_negative_int, positive_int, probability, up_to

DEFAULT_MAX_MB = 10.0
DEFAULT_KEEP = 5


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


def detector_from_args(args: argparse.Namespace) -> EventDetector:
    """An EventDetector with the thresholds given on the command line (or the defaults)."""
    start = args.event_start if args.event_start is not None else DEFAULT_START
    end = args.event_end if args.event_end is not None else DEFAULT_END
    steps = args.event_min_steps if args.event_min_steps is not None else DEFAULT_MIN_STEPS
    return EventDetector(start, end, steps)


def given_detector(args: argparse.Namespace) -> EventDetector | None:
    """For `plot` and `summary`: a detector if any threshold was given, else None (use the log's events)."""
    if (args.event_start, args.event_end, args.event_min_steps) == (None, None, None):
        return None
    return detector_from_args(args)


@dataclass(frozen=True)
class LogSettings:
    level: str
    max_bytes: int | None  # None: never rotate
    keep: int
    detector: EventDetector


def log_settings(args: argparse.Namespace) -> LogSettings:
    """The logging options checked (AppError naming a bad one), without opening any file."""
    max_bytes = int(args.log_max_mb * 1_000_000) or None
    return LogSettings(args.log_level, max_bytes, args.log_keep, detector_from_args(args))


def attach_logs(pipeline: Pipeline, args: argparse.Namespace, pictures: Path | None = None) -> None:
    """Check the logging options and attach the log and CSV writers the user asked for.

    They run at Stage.LOG, before any output: a step shown on stdout is then already in the log.
    `pictures`: the event pictures' folder, which the log's event records point into.
    """
    settings = log_settings(args)
    max_bytes, keep, detector = settings.max_bytes, settings.keep, settings.detector
    if args.csv:  # first: if the log then fails, a CSV holding only its header is harmless
        csv_log = CsvLog(args.csv, pipeline.top_k.k, max_bytes=max_bytes, keep=keep)
        pipeline.on_result(csv_log.on_result, Stage.LOG)
        pipeline.on_close(csv_log.close)
    if args.log:
        classifier = pipeline.classifier
        run_info = {
            "source": pipeline.source.name,
            "model": classifier.model_path.name,
            "runtime": classifier.runtime,
            "fps": pipeline.options.fps,
            "event_start": detector.start,
            "event_end": detector.end,
            "event_min_steps": detector.min_steps,
            "pid": os.getpid(),
        }
        log = JsonLog(
            args.log,
            detector,
            level=settings.level,
            max_bytes=max_bytes,
            keep=keep,
            run_info=run_info,
            pictures=pictures,
        )
        pipeline.on_result(log.on_result, Stage.LOG)
        pipeline.on_close(log.close)
