"""Outputs never overwrite inputs: `--record`, `--log`, `--csv`, snapshot and plot images that
name the video, the model or the log being read (directly or through a link) are refused
with one line, and the input is left as it was. Real processes, real files."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from helpers import assert_clean_error, run_app


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def clip(tmp_path: Path, clips: Path) -> Path:
    copy = tmp_path / "clip.mp4"
    shutil.copyfile(clips / "carving_ice_172.mp4", copy)
    return copy


@pytest.fixture
def model(tmp_path: Path, a0_model: Path) -> Path:
    copy = tmp_path / "model.tflite"
    shutil.copyfile(a0_model, copy)
    return copy


def run(clip: Path, model: Path, labels: Path, *flags: str) -> tuple[str, ...]:
    return (
        "run",
        "--source",
        str(clip),
        "--preview",
        "none",
        "--quiet",
        "--model",
        str(model),
        "--labels",
        str(labels),
        *flags,
    )


@pytest.mark.parametrize(
    ("option", "target", "link"),
    [
        ("--record", "clip", None),  # the reported case: exit 0 and the clip cut to 7 frames
        ("--record", "clip", "symlink"),
        ("--log", "clip", "hardlink"),
        ("--csv", "model", None),
        ("--log", "labels", "symlink"),
    ],
)
def test_run_refuses_an_output_that_is_an_input(tmp_path, clip, model, labels_path, option, target, link):
    labels = tmp_path / "labels.txt"
    shutil.copyfile(labels_path, labels)
    victim = {"clip": clip, "model": model, "labels": labels}[target]
    output = victim
    if link == "symlink":
        output = tmp_path / ("out.mp4" if option == "--record" else "out.jsonl")
        output.symlink_to(victim)
    elif link == "hardlink":
        output = tmp_path / "out.jsonl"
        os.link(victim, output)
    before = digest(victim)
    result = run_app(*run(clip, model, labels, option, str(output)))
    what = {"clip": "video source", "model": "model", "labels": "label file"}[target]
    assert_clean_error(result, f"{option} {output} is the {what}", "choose another file")
    assert digest(victim) == before, "the input was left as it was"


def test_config_check_reports_a_record_over_the_source(tmp_path, clip):
    config = tmp_path / "run.toml"
    config.write_text(f'source = "{clip}"\nrecord = "{clip}"\n')
    result = run_app("config", "check", str(config))
    assert result.returncode == 1
    assert "is the video source" in result.stderr and "run.toml:2" in result.stderr, result.stderr


def test_snapshot_refuses_to_write_over_the_model(tmp_path, clip, model, labels_path):
    picture = tmp_path / "picture.png"
    os.link(model, picture)  # the same file under a picture's name
    before = digest(model)
    result = run_app(
        "snapshot", "--source", str(clip), "-o", str(picture), "--model", str(model), "--labels", str(labels_path)
    )
    assert_clean_error(result, f"--output {picture} is the model")
    assert digest(model) == before


def test_plot_refuses_to_write_over_its_log_through_a_hard_link(tmp_path, clip, model, labels_path):
    log = tmp_path / "run.jsonl"
    assert run_app(*run(clip, model, labels_path, "--log", str(log))).returncode == 0
    picture = tmp_path / "timeline.png"
    os.link(log, picture)
    before = digest(log)
    result = run_app("plot", str(log), "-o", str(picture))
    assert_clean_error(result, f"--output {picture} is the log")
    assert digest(log) == before


def test_a_new_output_beside_the_input_is_fine(tmp_path, clip, model, labels_path):
    recording = tmp_path / "annotated.mp4"
    result = run_app(*run(clip, model, labels_path, "--record", str(recording)))
    assert result.returncode == 0, result.stderr
    assert recording.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("first", "second", "link"),
    [
        ("--log", "--record", None),  # the reported case: exit 0, the log lost inside the MP4
        ("--csv", "--record", None),
        ("--log", "--csv", "symlink"),  # two names, one file once written
    ],
)
def test_run_refuses_two_outputs_in_one_file(tmp_path, clip, model, labels_path, first, second, link):
    shared = tmp_path / "out.mp4"
    other = shared
    if link == "symlink":
        other = tmp_path / "other.jsonl"
        other.symlink_to(shared)  # dangling: the file does not exist yet
    result = run_app(*run(clip, model, labels_path, first, str(shared), second, str(other)))
    line = assert_clean_error(result, "too: each output needs a file of its own")
    assert f"{first} {shared} is the" in line or f"{second} {other} is the" in line, line
    assert not shared.exists(), "nothing was written"


def secret(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text("s3cret-password\n" if "password" in name else "-----BEGIN CERTIFICATE-----\n")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("option", "what", "mqtt"),
    [
        ("--log", "MQTT password file", ["--mqtt", "mqtt://user@127.0.0.1:1", "--mqtt-password-file"]),
        ("--csv", "MQTT CA file", ["--mqtt", "mqtts://127.0.0.1:1", "--mqtt-ca-file"]),
    ],
)
def test_run_and_config_check_refuse_a_log_onto_an_mqtt_secret(tmp_path, clip, model, labels_path, option, what, mqtt):
    """Exit 0 before, with the log appended to the password (or CA) file; config check accepted it."""
    target = secret(tmp_path, "password.txt" if "password" in what else "ca.pem")
    before = digest(target)
    result = run_app(*run(clip, model, labels_path, *mqtt, str(target), option, str(target)))
    assert_clean_error(result, f"{option} {target} is the {what}", "choose another file")
    config = tmp_path / "run.toml"
    keys = {"--mqtt": f'mqtt = "{mqtt[1]}"', mqtt[2]: f'{mqtt[2][2:].replace("-", "_")} = "{target}"'}
    config.write_text(f'source = "{clip}"\n' + "\n".join(keys.values()) + f'\n{option[2:]} = "{target}"\n')
    checked = run_app("config", "check", str(config))
    assert checked.returncode == 1 and f"{config}:4: {option[2:]} {target} is the {what}" in checked.stderr
    assert digest(target) == before


def test_run_refuses_a_log_onto_its_config_file(tmp_path, clip, model, labels_path):
    """The config file is an input of the guard (removing it from the inputs must fail a test)."""
    config = tmp_path / "run.toml"
    config.write_text(f'source = "{clip}"\nmodel = "{model}"\nlabels = "{labels_path}"\npreview = "none"\n')
    before = digest(config)
    result = run_app("run", "--config", str(config), "--quiet", "--log", str(config))
    assert_clean_error(result, f"--log {config} is the config file")
    assert digest(config) == before


def test_run_refuses_a_csv_onto_the_web_token_file(tmp_path, clip, model, labels_path):
    """The web token file is an input of the guard too."""
    token = secret(tmp_path, "token.txt")
    token.write_text("abcdefghijklmnopqrstuvwxyz012345\n")
    before = digest(token)
    flags = ["--web", "127.0.0.1:0", "--web-token-file", str(token), "--csv", str(token)]
    result = run_app(*run(clip, model, labels_path, *flags))
    assert_clean_error(result, f"--csv {token} is the web token file")
    assert digest(token) == before
