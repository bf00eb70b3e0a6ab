"""`run`'s unattended outputs: the JSON Lines log and the CSV file, wired into the pipeline.

The values arrive checked, as LogSettings (app/settings/run.py builds them from the
flags or config keys); a file that cannot be opened fails here, before the first step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app.events import EventThresholds
from app.logs.csvlog import CsvLog
from app.logs.jsonlog import JsonLog
from app.pipeline import Pipeline, Stage

DEFAULT_MAX_MB = 10.0
DEFAULT_KEEP = 5


@dataclass(frozen=True)
class LogSettings:
    log: Path | None  # the JSON Lines log, or None
    csv: Path | None  # the CSV file, or None
    level: str  # "steps" or "events"
    max_bytes: int | None  # None: never rotate
    keep: int
    events: EventThresholds


def attach_logs(pipeline: Pipeline, settings: LogSettings, pictures: Path | None = None) -> None:
    """Attach the log and CSV writers the user asked for.

    They run at Stage.LOG, before any output: a step shown on stdout is then already in the log.
    `pictures`: the event pictures' folder, which the log's event records point into.
    """
    max_bytes, keep, detector = settings.max_bytes, settings.keep, settings.events.detector()
    if settings.csv:  # first: if the log then fails, a CSV holding only its header is harmless
        csv_log = CsvLog(settings.csv, pipeline.top_k.k, max_bytes=max_bytes, keep=keep)
        pipeline.on_result(csv_log.on_result, Stage.LOG)
        pipeline.on_close(csv_log.close)
    if settings.log:
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
            settings.log,
            detector,
            level=settings.level,
            max_bytes=max_bytes,
            keep=keep,
            run_info=run_info,
            pictures=pictures,
        )
        pipeline.on_result(log.on_result, Stage.LOG)
        pipeline.on_close(log.close)
