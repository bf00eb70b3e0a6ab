"""The web view's Teach page (`run --web --teach-set DIR`): record takes from the live camera,
thumbnails, delete, fit, and the running view answering with the set without a restart.

Real server, real model, a real clip played in real time as the camera; HTTP through the
API with the token, as the page's script sends it.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from chromium import Chromium
from helpers import PROJECT_ROOT, assert_clean_error, run_app
from test_web import TOKEN, app_serving, get, wait_for, web_app

from app.inference.engine import ANSWER_BLEND, ANSWER_LONGEST, StreamingClassifier
from app.inference.labels import TopK
from app.logs.attach import attach_logs
from app.mqtt import attach_mqtt
from app.pipeline import Pipeline
from app.results import Result
from app.settings.run import RunSettings
from app.sources import FileSource
from app.teach.api import Teacher
from app.teach.store import OTHER
from app.web.view import TOKEN_ENV, WebView

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHANGE = {**AUTH, "X-Movinet-Teach": "1"}


def live_app(
    clip: Path, top_k: TopK, a0_model: Path, *flags: str, env: dict[str, str] | None = None
) -> AbstractContextManager[tuple[WebView, Pipeline, list[Result]]]:
    """`run --web ... flags` in-process on `clip` played as a camera, with the live defaults, logs and MQTT."""

    def outputs(pipeline: Pipeline, settings: RunSettings) -> None:
        attach_logs(pipeline, settings.logs)
        attach_mqtt(pipeline, settings.mqtt, settings.events.detector(), settings.model.allow, dict)

    classifier = StreamingClassifier(a0_model, threads=2, context_steps=25, answer=ANSWER_BLEND)
    source = FileSource(clip, realtime=True, loop=True)
    env = {TOKEN_ENV: TOKEN} if env is None else env
    return web_app(source, classifier, top_k, *flags, env=env, also=outputs)


def call(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def api(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    status, content_type, body = call(port, method, path, CHANGE if headers is None else headers)
    assert content_type == "application/json", (status, body)
    return status, json.loads(body)


def state(port: int) -> dict[str, Any]:
    return api(port, "GET", "/api/teach", AUTH)[1]


def recorded(port: int) -> dict[str, Any]:
    """Wait for the recording session to end; its last state."""
    return wait_for(
        lambda: (s := state(port)["session"]) and s["phase"] in ("done", "failed", "cancelled") and s,
        120,
        lambda: json.dumps(state(port)),
    )


@pytest.fixture
def pool_set(tmp_path: Path, clips: Path, a0_model: Path) -> Path:
    """A set already holding 3 examples of 'cleaning pool', taught from a clip as `teach add` does."""
    teacher = Teacher(tmp_path / "set", StreamingClassifier(a0_model, context_steps=0, answer=ANSWER_LONGEST))
    pool = clips / "cleaning_pool.mp4"
    features = [teacher.clip_features(pool, start, start + 3) for start in (0, 3, 6)]
    teacher.add_all("cleaning pool", features, [str(pool)] * 3)
    return tmp_path / "set"


def test_record_delete_fit_and_the_live_view_answers_with_the_set(
    pool_set, tmp_path, clips, top_k, a0_model, labels_path
):
    """The user's own name for the action ('wrestle', no Kinetics label) shows where the labels come from."""
    from mqtt_broker import Broker, Subscriber

    log = tmp_path / "run.jsonl"
    broker = Broker(tmp_path / "broker")
    flags = ["--teach-set", str(pool_set), "--labels", str(labels_path), "--log", str(log)]
    flags += ["--mqtt", broker.url, "--mqtt-prefix", "teach", "--mqtt-client-id", "teach"]
    with (
        Subscriber(broker) as home_assistant,
        live_app(clips / "arm_wrestling.mp4", top_k, a0_model, *flags) as (view, _, results),
    ):
        port = view.server.port
        # The token rules of the rest of the view, and changes only from our own page.
        assert call(port, "GET", "/api/teach")[0] == 401
        assert call(port, "GET", "/teach")[0] == 401
        assert call(port, "POST", "/api/teach/record?action=x&takes=1&seconds=2", {"X-Movinet-Teach": "1"})[0] == 401
        assert api(port, "POST", "/api/teach/fit", AUTH)[0] == 403  # no X-Movinet-Teach: a form of another site
        assert api(port, "POST", "/api/teach/fit", {**CHANGE, "Origin": "http://evil.example"})[0] == 403
        assert call(port, "GET", "/teach", AUTH)[0] == 200
        status, headers, _ = get(port, f"/teach?token={TOKEN}")
        assert status == 303 and headers["Location"] == "teach" and "HttpOnly" in headers["Set-Cookie"]
        assert call(port, "POST", "/api/status", CHANGE)[0] == 405  # POST is for the Teach API only

        # Bad input: one clear error each, nothing recorded.
        for query, message in [
            ("action=&takes=1&seconds=2", "needs a name"),
            ("action=a/b&takes=1&seconds=2", "no '/'"),
            ("takes=1&seconds=2", "needs a name"),
            ("action=x&takes=11&seconds=2", "takes must be from 1 to 10"),
            ("action=x&takes=2.5&seconds=2", "takes must be a number"),
            ("action=x&takes=1&seconds=31", "seconds must be from 2 to 30"),
            ("action=x&takes=1&seconds=nan", "seconds must be from"),
            ("action=x&takes=1&seconds=2&countdown=60", "countdown must be from 0 to 10"),
        ]:
            status, answer = api(port, "POST", f"/api/teach/record?{query}")
            assert status == 400 and message in answer["error"] and "\n" not in answer["error"], (query, answer)
        assert state(port)["session"] is None

        # Three takes of 2 s from the live camera, after no countdown.
        status, answer = api(port, "POST", "/api/teach/record?action=wrestle&takes=3&seconds=2&countdown=0")
        assert status == 202, answer
        status, answer = api(port, "POST", "/api/teach/record?action=other&takes=1&seconds=2")
        assert status == 409 and "still recording 'wrestle'" in answer["error"]
        session = recorded(port)
        assert session["phase"] == "done" and session["stored"] == 3, session
        taught = {a["name"]: a["examples"] for a in state(port)["actions"]}
        assert [len(taught[a]) for a in ("cleaning pool", "wrestle")] == [3, 3]
        assert all(e["steps"] >= 5 and e["source"].startswith("web take") for e in taught["wrestle"])

        # Thumbnails, and nothing else, are served.
        for example in taught["wrestle"] + taught["cleaning pool"]:
            status, content_type, body = call(port, "GET", "/" + example["thumbnail"], AUTH)
            assert status == 200 and content_type == "image/jpeg" and body[:2] == b"\xff\xd8"
        for name in ("000000000000.jpg", "..%2Fset.json", "../examples.json", taught["wrestle"][0]["id"]):
            assert call(port, "GET", "/api/teach/thumbnails/" + name, AUTH)[0] == 404, name

        # Delete one take: its files go, the rest stay.
        gone = taught["wrestle"][1]["id"]
        status, answer = api(port, "POST", f"/api/teach/delete?id={gone}")
        assert status == 200 and answer == {"deleted": gone, "action": "wrestle"}
        assert not list((pool_set / "examples").glob(f"{gone}.*"))
        assert len(next(a for a in state(port)["actions"] if a["name"] == "wrestle")["examples"]) == 2
        assert api(port, "POST", f"/api/teach/delete?id={gone}")[0] == 404

        # Fit: the estimate, and from the next step on the live view answers with the set.
        before = len(results)
        status, fit = api(port, "POST", "/api/teach/fit")
        assert status == 200, fit
        assert fit["method"] == "leave-one-example-out" and set(fit["per_action"]) == {"wrestle", "cleaning pool"}
        assert 0 <= fit["overall"] <= 1 and any("under 3 examples: 'wrestle' (2)" in w for w in fit["warnings"])
        assert fit["labels"] == ["cleaning pool", "wrestle", OTHER] and fit["applied"]
        assert state(port)["labels"] == fit["labels"] and state(port)["fit"] == fit
        wait_for(lambda: len(results) > before + 15, 30)
        after = results[before:]
        swapped = next(i for i, r in enumerate(after) if r.reset)  # the first step with the new head restarts
        assert all(r.top[0].label in fit["labels"] for r in after[swapped:]), [r.top for r in after[swapped:]]
        assert sum(r.top[0].label == "wrestle" for r in after[swapped + 5 :]) >= len(after[swapped + 5 :]) // 2
        # The status JSON (model's answer and the overlay's labels) follows.
        status_json = json.loads(call(port, "GET", "/api/status", AUTH)[2])
        assert {s["label"] for s in status_json["result"]["top"]} <= set(fit["labels"])
        wait_for(lambda: {s.label for s in view.stream.overlay.view.top} <= set(fit["labels"]), 5)
        # MQTT's action topic carries the set's actions, and each has its binary sensor now
        # (Kinetics' 600 had none): Home Assistant learns them without a restart.
        wait_for(lambda: "wrestle" in {m.text for m in home_assistant.on("teach/action")}, 30)
        sensors = "homeassistant/binary_sensor/teach/action_{}/config"
        wait_for(lambda: all(home_assistant.on(sensors.format(a)) for a in ("wrestle", "cleaning_pool")), 10)
        assert json.loads(home_assistant.last(sensors.format("wrestle")).payload)["name"] == "Wrestle"
        assert not home_assistant.on(sensors.format("other"))
    broker.stop()
    steps = [json.loads(line) for line in log.read_text().splitlines() if '"top"' in line]
    assert {s["label"] for s in steps[-1]["top"]} <= set(fit["labels"]), steps[-1]  # the log follows too


def test_a_set_the_process_cannot_write_is_one_message(tmp_path, clips, top_k, a0_model, labels_path):
    """/proc refuses new files even to root: the page says so, and nothing is recorded."""
    flags = ["--teach-set", "/proc/movinet-set", "--labels", str(labels_path)]
    with live_app(clips / "carving_ice_172.mp4", top_k, a0_model, *flags) as (view, _, _):
        port = view.server.port
        problem = state(port)["problem"]
        assert problem.startswith("cannot write to /proc") and "--teach-set" in problem, problem
        for path in ("record?action=x&takes=1&seconds=2", "fit", "delete?id=0"):
            status, answer = api(port, "POST", f"/api/teach/{path}")
            assert status == 409 and answer["error"] == problem, (path, answer)
        assert state(port)["session"] is None


def test_cancel_stops_a_recording_and_stores_nothing(tmp_path, clips, top_k, a0_model, labels_path):
    flags = ["--teach-set", str(tmp_path / "set"), "--labels", str(labels_path)]
    with live_app(clips / "carving_ice_172.mp4", top_k, a0_model, *flags) as (view, _, _):
        port = view.server.port
        assert api(port, "POST", "/api/teach/record?action=x&takes=3&seconds=30&countdown=10")[0] == 202
        wait_for(lambda: state(port)["session"]["phase"] == "countdown", 30)
        assert api(port, "POST", "/api/teach/cancel") == (200, {"cancelled": True})
        session = recorded(port)
        assert session["phase"] == "cancelled" and session["stored"] == 0, session
        assert state(port)["actions"] == []


def test_without_a_set_the_page_says_how_to_choose_one(clips, top_k, a0_model):
    with live_app(clips / "carving_ice_172.mp4", top_k, a0_model, env={}) as (view, _, _):
        port = view.server.port
        assert call(port, "GET", "/teach")[0] == 200
        teach = state(port)
        assert teach["set"] is None and "--teach-set DIR" in teach["problem"] and "--custom SET" in teach["problem"]
        status, answer = api(port, "POST", "/api/teach/record?action=x&takes=1&seconds=2")
        assert status == 409 and answer["error"] == teach["problem"]


def test_teach_set_without_web_is_a_clean_error(tmp_path, clips, a0_model, labels_path):
    result = run_app(
        "run", "--source", str(clips / "carving_ice_172.mp4"), "--teach-set", str(tmp_path / "set"),
        "--preview", "none", "--model", str(a0_model), "--labels", str(labels_path), timeout=60,
    )  # fmt: skip
    assert_clean_error(result, "--teach-set", "needs --web")
    assert not (tmp_path / "set").exists()


def test_the_teach_page_records_and_fits_in_chromium(pool_set, tmp_path, clips, a0_model, labels_path):
    """The page: type an action, click Record, see the countdown, the take's thumbnail, then fit."""
    teach_set = tmp_path / "sets" / "workshop"  # given relative, as a user in their home folder would
    teach_set.parent.mkdir()
    pool_set.rename(teach_set)
    clip = clips / "arm_wrestling.mp4"
    run_args = ["--source", str(clip), "--realtime", "--loop", "--teach-set", "sets/workshop"]
    serving = app_serving([*run_args, "--model", str(a0_model), "--labels", str(labels_path)], tmp_path, tmp_path)
    with serving as url, Chromium(tmp_path / "profile") as browser:
        browser.navigate(url)
        wait_for(lambda: browser.evaluate("!!document.querySelector('a[href=\"teach\"]')"), 20)
        browser.evaluate("document.querySelector('a[href=\"teach\"]').click()")
        wait_for(lambda: browser.evaluate("document.getElementById('set')?.textContent"), 20)
        browser.evaluate(
            "document.getElementById('action').value = 'wrestle';"
            "document.getElementById('takes').value = '1';"
            "document.getElementById('seconds').value = '2';"
            "document.getElementById('start').click()"
        )
        countdown = (
            "(c => !c.hidden && c.className === 'countdown' && c.textContent)(document.getElementById('countdown'))"
        )
        shown = wait_for(lambda: browser.evaluate(countdown), 10, lambda: browser.evaluate("document.body.innerText"))
        taken = "document.querySelector('.examples img[alt=\"wrestle 1\"]')"
        thumbnail = f"(i => i && i.complete && i.naturalWidth)({taken})"
        wait_for(lambda: browser.evaluate(thumbnail), 60, lambda: browser.evaluate("document.body.innerText"))
        browser.evaluate("document.getElementById('fit').click()")
        answers = "document.getElementById('labels').textContent"
        wait_for(
            lambda: "wrestle" in browser.evaluate(answers), 30, lambda: browser.evaluate("document.body.innerText")
        )
        time.sleep(0.3)  # the estimate is drawn in the same refresh as the labels; let the picture settle
        text = browser.evaluate("document.body.innerText")
        png = browser.screenshot()
    assert shown in ("1", "2", "3"), shown
    assert "wrestle (1)" in text and "cleaning pool (3)" in text and "1 take(s) stored" in text, text
    assert "sets/workshop" in text, text
    assert "Estimate (leave-one-example-out)" in text and "wrestle: one example, not estimated" in text, text
    assert "answers with cleaning pool, wrestle, other" in text, text
    assert len(list((teach_set / "examples").glob("*.jpg"))) == 4
    (tmp_path / "teach-web.png").write_bytes(png)
    if os.environ.get("MOVINET_UPDATE_DOCS"):  # refresh the docs' picture on purpose only
        from PIL import Image

        picture = Image.open(tmp_path / "teach-web.png").convert("RGB")
        small = picture.resize((picture.width // 2, picture.height // 2), Image.Resampling.LANCZOS)
        small.quantize(128, method=Image.Quantize.FASTOCTREE).save(
            PROJECT_ROOT / "docs" / "teach-web.png", optimize=True
        )
