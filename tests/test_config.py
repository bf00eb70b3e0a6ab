"""Config files: every `run` option is a key, and every mistake is named with key and line."""

from __future__ import annotations

import argparse

import pytest
from conftest import run_app

from app.cli import build_parser
from app.config import NOT_CONFIGURABLE, config_actions, load_config, read_config
from app.errors import AppError


@pytest.fixture
def run_parser() -> argparse.ArgumentParser:
    return build_parser().run_command


def test_every_run_option_has_a_config_key(run_parser):
    keys = config_actions(run_parser)
    flags = {a.option_strings[-1] for a in run_parser._actions if a.option_strings} - {"--help", "--config"}
    assert {f"--{key.replace('_', '-')}" for key in keys} == flags
    assert not NOT_CONFIGURABLE & set(keys)


def test_values_are_converted_like_flags(tmp_path, run_parser):
    path = tmp_path / "ok.toml"
    path.write_text('source = "/dev/video0"\nfps = 4\nthreshold = 0.25\nrealtime = true\nallow = ["bowling"]\n')
    assert load_config(path, run_parser) == {
        "source": "/dev/video0",
        "fps": 4.0,
        "threshold": 0.25,
        "realtime": True,
        "allow": ["bowling"],
    }


def test_every_problem_is_reported_with_key_and_line(tmp_path, run_parser):
    path = tmp_path / "bad.toml"
    path.write_text(
        '# comment\nsource = "auto"\nfsp = 3\nthreads = 0\nrealtime = "yes"\nruntime = "nope"\ntop_k = "x"\n'
    )
    _, problems = read_config(path, run_parser)
    assert problems == [
        f"{path}:3: fsp: unknown key (did you mean 'fps'?)",
        f"{path}:4: threads: must be at least 1, got 0",
        f"{path}:5: realtime: expected true or false, got 'yes'",
        f"{path}:6: runtime: must be one of auto, litert, tflite, got 'nope'",
        f"{path}:7: top_k: expected a whole number, got 'x'",
    ]
    with pytest.raises(AppError, match=r"fsp: unknown key .*\(and 4 more"):
        load_config(path, run_parser)


def test_broken_and_missing_files(tmp_path, run_parser):
    broken = tmp_path / "broken.toml"
    broken.write_text("fps = = 3\n")
    assert "not valid TOML" in read_config(broken, run_parser)[1][0]
    assert "no such file" in read_config(tmp_path / "absent.toml", run_parser)[1][0]


def test_command_line_flags_override_the_file(tmp_path, clips, a0_model, labels_path):
    path = tmp_path / "run.toml"
    path.write_text(
        f'source = "{clips / "carving_ice_172.mp4"}"\nmodel = "{a0_model}"\nlabels = "{labels_path}"\n'
        "fps = 2\njson = true\n"
    )
    from_file = run_app("run", "--config", str(path))
    overridden = run_app("run", "--config", str(path), "--fps", "5")
    assert from_file.returncode == overridden.returncode == 0
    assert len(from_file.stdout.splitlines()) == pytest.approx(4.4 * 2, abs=1.5)
    assert len(overridden.stdout.splitlines()) == pytest.approx(4.4 * 5, abs=1.5)


def test_config_check_command(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('source = "auto"\nthreads = 2\n')
    done = run_app("config", "check", str(good))
    assert done.returncode == 0 and "ok (2 key(s))" in done.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("fps = -1\n")
    done = run_app("config", "check", str(bad))
    assert done.returncode == 1
    assert done.stderr.strip() == f"{bad}:1: fps: must be greater than 0, got -1"
    done = run_app("run", "--config", str(bad))
    assert done.returncode == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
