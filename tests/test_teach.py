"""`teach` end to end with the real model and clips, `--custom` through classify, groups, MQTT."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers import assert_clean_error, run_app
from teach_fixtures import PLAN, TaughtSet, teach_set

from app.inference.engine import ANSWER_BLEND, StreamingClassifier
from app.inference.labels import TopK
from app.teach.custom import CustomHead
from app.teach.head import Head
from app.teach.store import OTHER


@pytest.fixture(scope="module")
def taught(tmp_path_factory, clips, a0_model) -> TaughtSet:
    return teach_set(tmp_path_factory.mktemp("taught"), clips, a0_model)


def test_add_list_fit_remove_through_the_cli(tmp_path, clips, a0_model):
    folder = tmp_path / "new" / "set"  # created when missing
    arm, pool = clips / "arm_wrestling.mp4", clips / "cleaning_pool.mp4"
    model = ["--model", str(a0_model)]
    added = run_app("teach", "add", str(folder), "arm wrestling", str(arm), str(arm), "--to", "3", *model)
    assert added.returncode == 0, added.stderr
    assert "'arm wrestling' has 2 example(s)" in added.stdout
    for start in ("0", "3", "6"):
        end = str(int(start) + 3)
        more = run_app("teach", "add", str(folder), "cleaning pool", str(pool), "--from", start, "--to", end, *model)
        assert more.returncode == 0, more.stderr
    listing = run_app("teach", "list", str(folder))
    assert listing.returncode == 0, listing.stderr
    assert "arm wrestling: 2 example(s)" in listing.stdout and "cleaning pool: 3 example(s)" in listing.stdout
    thumbnails = sorted((folder / "examples").glob("*.jpg"))
    assert len(thumbnails) == 5 and all(t.read_bytes()[:2] == b"\xff\xd8" for t in thumbnails)  # JPEGs

    fitted = run_app("teach", "fit", str(folder))
    assert fitted.returncode == 0, fitted.stderr
    assert "leave-one-example-out" in fitted.stdout and "overall 100%" in fitted.stdout, fitted.stdout
    assert "under 3 examples: 'arm wrestling' (2)" in fitted.stderr  # a warning, not an error
    head = Head.from_bytes((folder / "head.npz").read_bytes(), "head")
    assert head.labels == ["arm wrestling", "cleaning pool"] and head.weights.shape == (480, 2)

    removed = run_app("teach", "remove", str(folder), "cleaning pool", "2")
    assert removed.returncode == 0, removed.stderr
    assert "cleaning pool: 2 example(s)" in run_app("teach", "list", str(folder)).stdout
    assert len(list((folder / "examples").glob("*.npy"))) == 4  # its files went with it
    assert run_app("teach", "remove", str(folder), "arm wrestling").returncode == 0
    assert "arm wrestling" not in run_app("teach", "list", str(folder)).stdout


def test_classify_custom_json_reports_the_sets_actions(taught, a0_model):
    videos = [str(taught.tried[action]) for action in PLAN]
    result = run_app("classify", "--custom", str(taught.path), "--json", "--model", str(a0_model), *videos)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    allowed = {*PLAN, OTHER}
    assert all({s["label"] for s in r["top"]} <= allowed for r in records)
    for action, video in zip(PLAN, videos, strict=True):
        last = [r for r in records if r["file"] == video][-1]  # a file's answer
        assert last["top"][0]["label"] == action, (action, last["top"])


def test_an_unconfident_answer_is_other(taught, a0_model):
    """Threshold 1.0: nothing is ever sure enough, so every step answers 'other'."""
    video = str(taught.tried["arm wrestling"])
    result = run_app("classify", "--custom", str(taught.path), "--custom-threshold", "1", "--json",
                     "--model", str(a0_model), video)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert {json.loads(line)["top"][0]["label"] for line in result.stdout.splitlines()} == {OTHER}


def test_the_head_runs_per_stream_on_the_pooled_feature(taught, a0_model, runtime):
    """Each stream's own pool sum/count feeds the head, on every runtime (each reads states its own way)."""
    classifier = StreamingClassifier(a0_model, runtime=runtime, context_steps=20, answer=ANSWER_BLEND)
    seen: list[np.ndarray] = []
    head = Head.from_bytes((taught.path / "head.npz").read_bytes(), "head")

    class Recording(CustomHead):
        def __call__(self, feature, logits):  # type: ignore[no-untyped-def]
            seen.append(feature.copy())
            return super().__call__(feature, logits)

    classifier.set_head(Recording(head, {}, []))
    frame = np.random.default_rng(0).random((1, 1, 172, 172, 3), dtype=np.float32)
    for _ in range(15):  # past the second stream's start (step 10): two features a step
        out = classifier.step(frame)
    assert out.shape == (len(head.labels) + 1,) and len(seen) == 10 + 2 * 5
    states = classifier.states()
    expected = states["state_head_pool_buffer"].reshape(-1) / states["state_head_pool_frame_count"][0]
    assert np.allclose(seen[-2], expected) or np.allclose(seen[-1], expected)
    assert np.allclose(classifier.pool_feature(), expected)


# ---- groups of Kinetics labels ------------------------------------------------------------


def test_a_group_of_kinetics_labels_is_an_action(tmp_path, clips, a0_model):
    folder = tmp_path / "groups"
    made = run_app("teach", "group", str(folder), "ice work", "carving ice,ice climbing")
    assert made.returncode == 0, made.stderr
    assert (folder / "groups.txt").read_text() == "ice work = carving ice, ice climbing\n"
    listing = run_app("teach", "list", str(folder))
    assert "ice work: group of carving ice, ice climbing" in listing.stdout
    result = run_app("classify", "--custom", str(folder), "--json", "--model", str(a0_model),
                     str(clips / "carving_ice_172.mp4"), str(clips / "arm_wrestling.mp4"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    last = {r["file"]: r["top"] for r in records}
    assert [s["label"] for s in last[str(clips / "carving_ice_172.mp4")]] == ["ice work", OTHER]
    assert last[str(clips / "arm_wrestling.mp4")][0]["label"] == OTHER


def test_an_unknown_kinetics_label_names_the_closest(tmp_path):
    folder = tmp_path / "groups"
    result = run_app("teach", "group", str(folder), "fall", "faceplanting,falling of chair")
    assert_clean_error(result, "'falling of chair' is not a Kinetics label", "closest is 'falling off chair'")
    assert not (folder / "groups.txt").exists()


def test_a_group_and_taught_actions_together(taught, tmp_path, a0_model):
    folder = tmp_path / "both"
    shutil.copytree(taught.path, folder)
    assert run_app("teach", "group", str(folder), "ice work", "carving ice,ice climbing").returncode == 0
    result = run_app("classify", "--custom", str(folder), "--json", "--model", str(a0_model),
                     str(taught.tried["cleaning pool"]))  # fmt: skip
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["top"][0]["label"] == "cleaning pool"
    assert {s["label"] for s in last["top"]} <= {*PLAN, "ice work", OTHER}


# ---- MQTT: a binary sensor per custom action ---------------------------------------------


def test_mqtt_binary_sensors_are_the_sets_actions(taught, tmp_path, a0_model):
    from mqtt_broker import Broker, Subscriber, wait_for

    broker = Broker(tmp_path / "broker")
    with Subscriber(broker) as home_assistant:
        result = run_app(
            "run", "--source", str(taught.tried["arm wrestling"]), "--quiet", "--custom", str(taught.path),
            "--model", str(a0_model), "--mqtt", broker.url, "--mqtt-prefix", "teach", "--mqtt-client-id", "teach",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        wait_for(lambda: home_assistant.on("teach/availability")[-1:][0].text == "offline", 5, "offline")
        sensors = sorted(m.topic.split("/")[3] for m in home_assistant.messages if "/binary_sensor/" in m.topic)
        actions = {m.text for m in home_assistant.on("teach/action")}
    broker.stop()
    assert sensors == ["action_arm_wrestling", "action_cleaning_pool", "action_riding_horse",
                       "action_shooting_basketball"]  # fmt: skip
    assert "arm wrestling" in actions and actions <= {*PLAN, OTHER, "none"}


def test_topk_unsure_puts_other_first():
    top = TopK(["a", "b", OTHER], k=3, unsure=(OTHER, 0.5))
    assert [s.label for s in top(np.log(np.array([0.4, 0.35, 0.25])))] == [OTHER, "a", "b"]
    assert [s.label for s in top(np.log(np.array([0.6, 0.3, 0.1])))] == ["a", "b", OTHER]
    denied = TopK(["a", "b", OTHER], k=3, deny=[OTHER], unsure=(OTHER, 0.5))  # --deny other: never answered
    assert [s.label for s in denied(np.log(np.array([0.4, 0.35, 0.25])))] == ["a", "b"]


def test_run_with_custom_from_a_config_file_logs_the_sets_actions(taught, tmp_path, a0_model):
    """The config key `custom` works as --custom; the log's steps and events name the set's actions."""
    config = tmp_path / "run.toml"
    log = tmp_path / "run.jsonl"
    video = taught.tried["cleaning pool"]
    config.write_text(f'custom = "{taught.path}"\nsource = "{video}"\nlog = "{log}"\nquiet = true\npreview = "none"\n')
    assert run_app("config", "check", str(config)).returncode == 0
    result = run_app("run", "--config", str(config), "--model", str(a0_model))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    steps = [r for r in records if r["type"] == "step"]
    assert steps and all({s["label"] for s in r["top"]} <= {*PLAN, OTHER} for r in steps)
    assert [r["label"] for r in records if r["type"] == "event"] == ["cleaning pool", "cleaning pool"]
