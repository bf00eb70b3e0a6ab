"""The web view's Teach page: record takes from the live camera, fit, and answer with the new set.

    GET  /teach, /teach.js, /teach.css        the page (app/web/teach_page.py)
    GET  /api/teach                           the set, its examples, the recording, the last fit
    GET  /api/teach/thumbnails/ID.jpg         an example's thumbnail
    POST /api/teach/record?action=A&takes=N&seconds=S[&countdown=C]
    POST /api/teach/cancel
    POST /api/teach/delete?id=ID
    POST /api/teach/fit                       fit, then the live view answers with the set

Which set: `--teach-set DIR`, else `--custom SET`, else none (the page says how to pick
one). The token rules are the server's, as for every path; the POSTs also need the
X-Movinet-Teach header, which no other site's page can send here (see server.py).
After a fit the live classifier's head and the run's TopK are swapped between two
model steps (Pipeline.restart_with), so every output that reads result labels follows.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict
from http import HTTPStatus
from pathlib import Path
from typing import Any

from app.errors import AppError
from app.inference.labels import TopK, load_labels
from app.pipeline import Pipeline
from app.settings.model import ModelSettings
from app.teach.api import FitReport, Teacher
from app.teach.custom import CustomHead, open_custom
from app.teach.live import (
    MAX_COUNTDOWN,
    MAX_SECONDS,
    MAX_TAKES,
    MIN_SECONDS,
    LiveRecorder,
    Session,
    TakeCollector,
    extraction_classifier,
)
from app.teach.store import OTHER, Example, check_action_name
from app.web import teach_page

log = logging.getLogger(__name__)

API = "/api/teach"
THUMBNAILS = API + "/thumbnails/"
THUMBNAIL_NAME = re.compile(r"([0-9a-f]{12})\.jpg")
SWAP_WAIT_S = 2.0  # for the next model step to take the new head, before answering the fit
PAGES = {
    "/teach": ("text/html; charset=utf-8", teach_page.HTML.encode()),
    "/teach.js": ("text/javascript; charset=utf-8", teach_page.JS.encode()),
    "/teach.css": ("text/css; charset=utf-8", teach_page.CSS.encode()),
}
MAX_LABELS_SHOWN = 100
OFF = "no set to teach: start with --teach-set DIR (teach_set in a config) or --custom SET"

Reply = tuple[int, bytes, str]  # status, body, content type (as WebHandler._reply takes them)


def json_reply(status: int, data: Any) -> Reply:
    return status, json.dumps(data).encode() + b"\n", "application/json"


def error(status: int, message: str) -> Reply:
    return json_reply(status, {"error": message})


def write_problem(path: Path) -> str | None:
    """Why this process cannot write the set (None if it can), found by writing a probe file.

    A probe, not permission bits: root passes any access() check, yet cannot write a
    read-only mount. Called at start and before each change, never per page refresh.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder: teach into another --teach-set"
    folders = [existing] + [path / "examples"] * (existing == path and (path / "examples").is_dir())
    for folder in folders:
        try:
            handle, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
            os.close(handle)
            os.unlink(probe)
        except OSError as exc:
            return f"cannot write to {folder} ({exc.strerror or exc}): teach into another --teach-set"
    return None


class TeachDesk:
    """The Teach page's state and actions for one running pipeline."""

    def __init__(self, pipeline: Pipeline, set_path: Path | None, kinetics: list[str], model: ModelSettings):
        self.pipeline = pipeline
        self.set_path = set_path
        self.kinetics = kinetics
        self.model = model  # the run's label options, applied to the set's labels
        self.fit_report: dict[str, Any] | None = None
        self.problem = OFF if set_path is None else write_problem(set_path)  # refreshed by each change
        self._lock = threading.Lock()  # one change at a time from this page (the store locks against others)
        classifier = pipeline.classifier
        self.collector = TakeCollector(pipeline.options.fps, classifier.input_size)
        self.recorder: LiveRecorder | None = None
        if set_path is not None:
            teacher = Teacher(set_path, None, pipeline.options.fps)
            self.recorder = LiveRecorder(teacher, self.collector, extraction_classifier(classifier))
            pipeline.on_frame(self.collector.on_frame, wanted=lambda: False)  # the frames it converts anyway

    # ---- routing -------------------------------------------------------------------------

    def get(self, path: str) -> Reply | None:
        if path in PAGES:
            content_type, body = PAGES[path]
            return HTTPStatus.OK, body, content_type
        if path == API:
            return json_reply(HTTPStatus.OK, self.state())
        if path.startswith(THUMBNAILS):
            return self.thumbnail(path.removeprefix(THUMBNAILS))
        return None

    def post(self, path: str, query: Mapping[str, list[str]]) -> Reply | None:
        routes: dict[str, Callable[[Mapping[str, list[str]]], Reply]] = {
            API + "/record": self.record,
            API + "/cancel": self.cancel,
            API + "/delete": self.delete,
            API + "/fit": self.fit,
        }
        route = routes.get(path)
        if route is None:
            return None
        if self.recorder is None or self.set_path is None:
            return error(HTTPStatus.CONFLICT, OFF)
        try:
            return route(query)
        except AppError as exc:
            return error(HTTPStatus.BAD_REQUEST, str(exc))

    # ---- the state -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        problem = self.problem
        actions: list[dict[str, Any]] = []
        if self.recorder is not None:
            try:
                actions = [
                    {"name": name, "examples": [self._example(e, n) for n, e in enumerate(examples, start=1)]}
                    for name, examples in self.recorder.teacher.actions().items()
                ]
            except AppError as exc:
                problem = str(exc)
        session = self.recorder.session if self.recorder is not None else None
        labels = list(self.pipeline.top_k.labels)
        return {
            "set": str(self.set_path) if self.set_path is not None else None,
            "problem": problem,
            "labels": labels if len(labels) <= MAX_LABELS_SHOWN else None,  # not Kinetics' 600
            "label_count": len(labels),
            "limits": {"takes": MAX_TAKES, "seconds": [MIN_SECONDS, MAX_SECONDS], "countdown": MAX_COUNTDOWN},
            "actions": actions,
            "session": session.as_json() if session is not None else None,
            "fit": self.fit_report,
        }

    @staticmethod
    def _example(example: Example, number: int) -> dict[str, Any]:
        return {
            "id": example.id,
            "number": number,
            "steps": example.steps,
            "seconds": round(example.end - example.start, 1),
            "source": example.source,
            "thumbnail": f"{THUMBNAILS.lstrip('/')}{example.id}.jpg",
        }

    def thumbnail(self, name: str) -> Reply:
        match = THUMBNAIL_NAME.fullmatch(name)
        data = None
        if self.recorder is not None and match is not None:
            teacher = self.recorder.teacher
            try:
                examples = (e for taught in teacher.actions().values() for e in taught)
                example = next((e for e in examples if e.id == match[1]), None)
                data = teacher.thumbnail(example).read_bytes() if example is not None else None
            except (AppError, OSError):
                data = None
        if data is None:
            return HTTPStatus.NOT_FOUND, b"no such thumbnail\n", "text/plain; charset=utf-8"
        return HTTPStatus.OK, data, "image/jpeg"

    # ---- changes -------------------------------------------------------------------------

    def _recheck(self) -> str | None:
        assert self.set_path is not None
        self.problem = write_problem(self.set_path)
        return self.problem

    def record(self, query: Mapping[str, list[str]]) -> Reply:
        assert self.recorder is not None and self.set_path is not None
        action = check_action_name(_field(query, "action", default=""))  # parse_qs drops a blank one
        takes = _number(query, "takes", 1, MAX_TAKES, int)
        seconds = _number(query, "seconds", MIN_SECONDS, MAX_SECONDS, float)
        countdown = _number(query, "countdown", 0, MAX_COUNTDOWN, float, default="3")
        if problem := self._recheck():
            return error(HTTPStatus.CONFLICT, problem)
        session = Session(action, int(takes), seconds, countdown)
        try:
            self.recorder.start(session)
        except AppError as exc:
            return error(HTTPStatus.CONFLICT, str(exc))
        return json_reply(HTTPStatus.ACCEPTED, {"session": session.as_json()})

    def cancel(self, query: Mapping[str, list[str]]) -> Reply:
        assert self.recorder is not None
        self.recorder.cancel()
        return json_reply(HTTPStatus.OK, {"cancelled": True})

    def delete(self, query: Mapping[str, list[str]]) -> Reply:
        assert self.recorder is not None and self.set_path is not None
        wanted = _field(query, "id")
        if problem := self._recheck():
            return error(HTTPStatus.CONFLICT, problem)
        teacher = self.recorder.teacher
        with self._lock:
            for action, examples in teacher.actions().items():
                for number, example in enumerate(examples, start=1):
                    if example.id == wanted:
                        teacher.remove(action, number)
                        return json_reply(HTTPStatus.OK, {"deleted": wanted, "action": action})
        return error(HTTPStatus.NOT_FOUND, f"no example {wanted!r} in {self.set_path}")

    def fit(self, query: Mapping[str, list[str]]) -> Reply:
        assert self.recorder is not None and self.set_path is not None
        if problem := self._recheck():
            return error(HTTPStatus.CONFLICT, problem)
        with self._lock:
            report = self.recorder.teacher.fit()
            head = open_custom(self.set_path, self.pipeline.classifier.model_path, self.kinetics)
            applied = self.use(head)
        self.fit_report = {**fit_json(report), "labels": head.labels, "applied": applied}
        return json_reply(HTTPStatus.OK, self.fit_report)

    def use(self, head: CustomHead) -> bool:
        """Answer with `head` from the next model step on; True once a step has taken it."""
        top_k = self.top_k_for(head.labels)
        done = threading.Event()

        def swap() -> None:  # on the inference thread, between two steps
            self.pipeline.classifier.set_head(head)
            self.pipeline.top_k = top_k
            done.set()

        self.pipeline.restart_with(swap)
        log.info("the live view answers with %s from the next step: %s", self.set_path, ", ".join(head.labels))
        return done.wait(SWAP_WAIT_S)

    def top_k_for(self, labels: list[str]) -> TopK:
        """The run's top-k options for the set's labels; --allow/--deny names not in the set are dropped."""
        allow = [x for x in self.model.allow if x in labels]
        deny = [x for x in self.model.deny if x in labels]
        unsure = (OTHER, self.model.custom_threshold)
        return TopK(labels, self.model.top_k, allow, deny, self.model.threshold, unsure)


def fit_json(report: FitReport) -> dict[str, Any]:
    estimate = asdict(report.estimate)
    return {
        "actions": report.actions,
        "seconds": round(report.seconds, 2),
        "warnings": report.warnings,
        **{key: estimate[key] for key in ("method", "per_action", "overall", "confusions", "unestimated")},
    }


def _field(query: Mapping[str, list[str]], name: str, default: str | None = None) -> str:
    values = query.get(name)
    if not values:
        if default is None:
            raise AppError(f"{name} is missing")
        return default
    return values[0]


def _number(
    query: Mapping[str, list[str]], name: str, low: float, high: float, kind: type, default: str | None = None
) -> float:
    text = _field(query, name, default)
    try:
        value = kind(text)
    except ValueError:
        raise AppError(f"{name} must be a number from {low:g} to {high:g}, got {text[:20]!r}") from None
    if not low <= value <= high:  # also refuses nan
        raise AppError(f"{name} must be from {low:g} to {high:g}, got {text[:20]}")
    return value


def teach_desk_for(pipeline: Pipeline, set_path: Path | None, model: ModelSettings) -> TeachDesk:
    """The desk for `run --web`: the set from --teach-set or --custom (or none: the page says so)."""
    kinetics = load_labels(model.labels_path, pipeline.classifier.num_classes) if set_path is not None else []
    return TeachDesk(pipeline, set_path, kinetics, model)
