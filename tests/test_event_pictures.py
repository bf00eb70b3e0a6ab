"""A picture of every event: saved beside the log, named by the event id, capped, and pointed to
by the log, the MQTT event, `summary` and the web view."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from chromium import Chromium
from helpers import PROJECT_ROOT, run_app
from mqtt_broker import Broker, Subscriber, wait_for
from PIL import Image

from app.overlay import BAR


@pytest.fixture
def model_args(a0_model: Path, labels_path: Path) -> list[str]:
    return ["--model", str(a0_model), "--labels", str(labels_path)]


def amber_pixels(path: Path) -> int:
    """How many pixels are the overlay's bar colour (JPEG shifts colours a little)."""
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int((np.abs(rgb - np.array(BAR[:3])).sum(axis=2) < 60).sum())


def test_pictures_beside_the_log_named_by_event_and_pointed_to(tmp_path, clips, model_args):
    broker = Broker(tmp_path / "broker")
    log = tmp_path / "logs" / "run.jsonl"
    log.parent.mkdir()
    with Subscriber(broker) as home_assistant:
        result = run_app(
            "run", "--source", str(clips / "carving_ice_172.mp4"), "--quiet", "--log", str(log), *model_args,
            "--mqtt", broker.url, "--mqtt-prefix", "movinet/pictures",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        wait_for(lambda: len(home_assistant.on("movinet/pictures/events")) == 4, 5, "the four events")
        published = [json.loads(m.payload) for m in home_assistant.on("movinet/pictures/events")]
        images = home_assistant.on("movinet/pictures/picture")
    broker.stop()

    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[0]["pictures"] == "pictures"
    starts = [r for r in records if r["type"] == "event" and r["event"] == "start"]
    assert [r["label"] for r in starts] == ["stretching arm", "carving ice"]
    pictures = sorted((log.parent / "pictures").iterdir())
    assert [p.name for p in pictures] == [f"{r['id']}.jpg" for r in starts]
    for record, picture in zip(starts, pictures, strict=True):
        assert record["picture"] == f"pictures/{picture.name}"
        with Image.open(picture) as image:
            assert image.format == "JPEG" and image.height >= 480  # a 172 px clip, scaled up to be readable
        assert amber_pixels(picture) > 500  # the overlay's score bars are in the picture
    # The MQTT events name the same file (by its path on the Pi), start and end alike.
    assert {e["picture"] for e in published} == {str(p) for p in pictures}
    # Home Assistant's "Last event" image: the newest picture itself, retained.
    assert images and images[-1].payload == pictures[-1].read_bytes()

    summary = run_app("summary", str(log))
    assert summary.returncode == 0, summary.stderr
    for picture in pictures:
        assert str(picture) in summary.stdout


def test_the_cap_deletes_the_oldest_and_summary_says_so(tmp_path, clips, model_args):
    log = tmp_path / "logs" / "run.jsonl"
    log.parent.mkdir()
    folder = tmp_path / "elsewhere"
    result = run_app(
        "run", "--source", str(clips / "carving_ice_172.mp4"), "--quiet", "--log", str(log), *model_args,
        "--event-pictures", str(folder), "--event-pictures-keep", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    starts = [r for line in log.read_text().splitlines() if (r := json.loads(line)).get("event") == "start"]
    assert [p.name for p in folder.iterdir()] == [f"{starts[-1]['id']}.jpg"]  # only the newest is kept
    assert starts[0]["picture"] == str(folder / f"{starts[0]['id']}.jpg")  # outside the log's folder: absolute
    summary = run_app("summary", str(log)).stdout
    assert f"{folder / starts[0]['id']}.jpg (deleted)" in summary
    assert re.search(rf"carving ice .* {re.escape(str(folder / starts[1]['id']))}\.jpg$", summary, re.MULTILINE)


def test_no_pictures_without_a_log_or_with_keep_0(tmp_path, clips, model_args):
    log = tmp_path / "run.jsonl"
    clip = ["run", "--source", str(clips / "carving_ice_172.mp4"), "--quiet", *model_args]
    assert run_app(*clip, "--log", str(log), "--event-pictures-keep", "0").returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.jsonl"]
    assert "picture" not in log.read_text()
    bad = run_app(*clip, "--event-pictures", str(tmp_path / "no" / "such"))
    assert bad.returncode == 1 and "--event-pictures" in bad.stderr and "does not exist" in bad.stderr


def test_the_web_view_lists_and_serves_the_pictures(tmp_path, clips, model_args):
    log = tmp_path / "run.jsonl"
    command = [sys.executable, "-m", "app", "run", "--source", str(clips / "carving_ice_172.mp4"), "--realtime"]
    command += ["--loop", "--quiet", "--log", str(log), "--web", "127.0.0.1:0", *model_args]
    stderr = tmp_path / "stderr"
    with stderr.open("w") as errors:
        app = subprocess.Popen(command, cwd=PROJECT_ROOT, stderr=errors, stdout=subprocess.DEVNULL)
    try:
        url = wait_for(lambda: (m := re.search(r"web view on (http://\S+/)", stderr.read_text())) and m[1], 30, "web")
        listed = wait_for(
            lambda: json.loads(urllib.request.urlopen(url + "api/pictures", timeout=5).read()), 30, "a picture"
        )
        first = listed[0]
        assert first["label"] in ("stretching arm", "carving ice")
        assert (tmp_path / "pictures" / f"{first['id']}.jpg").is_file()
        with urllib.request.urlopen(url + first["url"], timeout=5) as response:
            assert response.headers["Content-Type"] == "image/jpeg"
            assert response.read() == (tmp_path / "pictures" / f"{first['id']}.jpg").read_bytes()
        for bad in ("pictures/../run.jsonl", "pictures/run.jsonl", "pictures/%2e%2e%2frun.jsonl"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url + bad, timeout=5)
            assert refused.value.code == 404
        # The page shows them, under "Last events", in a real browser.
        with Chromium(tmp_path / "profile") as browser:
            browser.navigate(url)
            shown = "[...document.querySelectorAll('#pictures img')].filter(i => i.naturalWidth > 0).length"
            wait_for(lambda: browser.evaluate(shown) >= 1, 30, "a picture on the page")
            caption = browser.evaluate("document.querySelector('#pictures span').textContent")
            assert not browser.evaluate("document.getElementById('pictures-title').hidden")
        assert caption.startswith(("stretching arm", "carving ice"))
    finally:
        app.terminate()
        app.wait(timeout=20)


def test_a_70000_character_label_is_drawn_cut_short_and_named_within_bounds(tmp_path, clips, labels_path, a0_model):
    """A custom label file's 70,000-character label: the run ends as without pictures (once a 6.7 s
    clip was not finished after 60 s, fitting the text one character at a time), the picture is
    saved under a name a file system takes, and the log keeps the whole label."""
    long_label = "carving ice " + "x" * 70000
    labels = tmp_path / "labels.txt"
    labels.write_text(labels_path.read_text().replace("carving ice\n", long_label + "\n"))
    log = tmp_path / "run.jsonl"
    result = run_app(
        "run", "--source", str(clips / "carving_ice_360.mp4"), "--quiet", "--log", str(log),
        "--model", str(a0_model), "--labels", str(labels), timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and "WARNING" not in result.stderr, result.stderr
    starts = [r for line in log.read_text().splitlines() if (r := json.loads(line))["type"] == "event"]
    starts = [r for r in starts if r["event"] == "start" and r["label"] == long_label]
    assert len(starts) == 1
    picture = tmp_path / starts[0]["picture"]
    assert len(picture.name) < 120 and picture.is_file()
    assert amber_pixels(picture) > 500
