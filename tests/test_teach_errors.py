"""Bad input to `teach` and `--custom`: one line on stderr, exit 1, and nothing lost."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import PROJECT_ROOT, assert_clean_error, run_app
from teach_fixtures import TaughtSet, cut, teach_set

from app.teach.head import Head

ARM = "arm_wrestling.mp4"


@pytest.fixture(scope="module")
def taught(tmp_path_factory, clips, a0_model) -> TaughtSet:
    return teach_set(tmp_path_factory.mktemp("taught"), clips, a0_model)


@pytest.fixture
def own_set(taught, tmp_path) -> Path:
    """A copy of the taught set this test may damage."""
    return Path(shutil.copytree(taught.path, tmp_path / "set"))


def snapshot(folder: Path) -> dict[str, str]:
    """Every file in the folder and a hash of it: equal before and after means nothing lost or changed."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def add(folder: Path, action: str, clip: Path, model: Path, *more: str) -> subprocess.CompletedProcess:
    return run_app("teach", "add", str(folder), action, str(clip), *more, "--model", str(model))


def test_an_empty_set_cannot_be_fitted_or_used(tmp_path, clips, a0_model):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_error(run_app("teach", "fit", str(empty)), "has no examples", "teach add")
    result = run_app("classify", "--custom", str(empty), str(clips / ARM), "--model", str(a0_model))
    assert_clean_error(result, "has no actions")
    assert_clean_error(run_app("classify", "--custom", str(tmp_path / "none"), str(clips / ARM)), "no such set folder")


def test_one_action_only_is_refused_and_keeps_the_old_head(own_set):
    before = snapshot(own_set)
    for action in ("cleaning pool", "shooting basketball", "riding horse"):
        assert run_app("teach", "remove", str(own_set), action).returncode == 0
    assert_clean_error(run_app("teach", "fit", str(own_set)), "has one action ('arm wrestling')", "teach a second")
    assert snapshot(own_set)["head.npz"] == before["head.npz"]  # the working head stays


def test_an_action_with_one_example_warns_and_still_fits(own_set):
    for number in (3, 2):
        assert run_app("teach", "remove", str(own_set), "arm wrestling", str(number)).returncode == 0
    result = run_app("teach", "fit", str(own_set))
    assert result.returncode == 0, result.stderr
    assert "one example: nothing to hold out" in result.stdout
    assert result.stderr.splitlines() == [
        "warning: under 3 examples: 'arm wrestling' (1), 'riding horse' (2); teach 3-5 of each"
    ]


def test_a_clip_shorter_than_a_second_adds_nothing(own_set, clips, a0_model, tmp_path):
    before = snapshot(own_set)
    short = cut(clips / ARM, 0, 0.6, tmp_path / "short.mp4")
    assert_clean_error(add(own_set, "arm wrestling", short, a0_model), "short.mp4", "at least 1 s")
    # Several clips at once: one too short adds none of them.
    assert_clean_error(add(own_set, "arm wrestling", clips / ARM, a0_model, str(short)), "at least 1 s")
    part = add(own_set, "arm wrestling", clips / ARM, a0_model, "--from", "2", "--to", "2.5")
    assert_clean_error(part, "at least 1 s")
    assert snapshot(own_set) == before


def test_a_set_of_another_model_is_refused(own_set, clips, a0_model):
    meta = json.loads((own_set / "set.json").read_text())
    meta["model_sha256"] = "0" * 64
    (own_set / "set.json").write_text(json.dumps(meta))
    before = snapshot(own_set)
    added = add(own_set, "arm wrestling", clips / ARM, a0_model)
    assert_clean_error(added, "taught with another model", "000000000000")
    result = run_app("classify", "--custom", str(own_set), str(clips / ARM), "--model", str(a0_model))
    assert_clean_error(result, "taught with another model")
    # `config check` opens the set as `run` would, so a service is never installed with it.
    config = own_set.parent / "custom.toml"
    config.write_text(f'custom = "{own_set}"\nmodel = "{a0_model}"\nsource = "{clips / ARM}"\n')
    checked = run_app("config", "check", str(config))
    assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stderr
    assert "taught with another model" in checked.stderr
    assert snapshot(own_set) == before


def test_a_head_of_another_model_is_refused_even_without_set_json(own_set, clips, a0_model):
    (own_set / "set.json").unlink()
    head = Head.from_bytes((own_set / "head.npz").read_bytes(), "head")
    head.model_sha = "0" * 64
    (own_set / "head.npz").write_bytes(head.to_bytes())
    result = run_app("classify", "--custom", str(own_set), str(clips / ARM), "--model", str(a0_model))
    assert_clean_error(result, "head.npz was fitted on another model's features")


def test_a_model_without_pool_states_is_one_line(tmp_path, clips):
    from synthetic_models import build_stream_model

    model = build_stream_model(tmp_path / "synthetic.tflite")
    result = add(tmp_path / "set", "wave", clips / ARM, model)
    assert_clean_error(result, "no head pool states")


@pytest.mark.parametrize(
    ("damage", "command", "fragment"),
    [
        ("examples.json", "add", "examples.json is damaged"),
        ("examples.json", "fit", "examples.json is damaged"),
        ("examples.json", "list", "examples.json is damaged"),
        ("set.json", "add", "set.json is damaged"),
        ("example", "fit", ".npy is damaged"),
        ("head.npz", "classify", "head.npz is damaged"),
        ("groups.txt", "classify", "groups.txt:1: expected 'name = label, label'"),
    ],
)
def test_a_damaged_set_file_is_one_line_and_nothing_is_overwritten(own_set, clips, a0_model, damage, command, fragment):
    target = next((own_set / "examples").glob("*.npy")) if damage == "example" else own_set / damage
    if damage == "groups.txt":
        target.write_text("fall faceplanting\n")
    else:
        target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])  # truncated
    before = snapshot(own_set)
    if command == "add":
        result = add(own_set, "arm wrestling", clips / ARM, a0_model)
    elif command == "classify":
        result = run_app("classify", "--custom", str(own_set), str(clips / ARM), "--model", str(a0_model))
    else:
        result = run_app("teach", command, str(own_set))
    assert_clean_error(result, fragment)
    assert snapshot(own_set) == before


def run_without_override(*args: str) -> subprocess.CompletedProcess:
    """As root, drop the capabilities that ignore file permissions (as a service user has none)."""
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, sys.executable, "-m", "app", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_a_folder_that_cannot_be_written_is_one_line(own_set, clips, a0_model):
    before = snapshot(own_set)
    for folder in (own_set, own_set / "examples"):
        folder.chmod(0o555)
    try:
        added = run_without_override("teach", "add", str(own_set), "arm wrestling", str(clips / ARM), "--model",
                                     str(a0_model))  # fmt: skip
        fitted = run_without_override("teach", "fit", str(own_set))
        removed = run_without_override("teach", "remove", str(own_set), "arm wrestling", "1")
    finally:
        for folder in (own_set, own_set / "examples"):
            folder.chmod(0o755)
    for result in (added, fitted, removed):
        assert_clean_error(result, "permission denied", str(own_set))
    assert snapshot(own_set) == before


@pytest.mark.parametrize("name", ["a/b", "..", ".hidden", "two\nlines", "x" * 49, " padded", "fall = x"])
def test_an_action_name_with_odd_characters_is_refused(tmp_path, clips, a0_model, name):
    folder = tmp_path / "set"
    assert_clean_error(add(folder, name, clips / ARM, a0_model), "action name")
    assert_clean_error(run_app("teach", "group", str(folder), name, "faceplanting"), "action name")
    assert not (folder / "examples.json").exists() and not (folder / "groups.txt").exists()


def test_unknown_actions_and_numbers_are_one_line(own_set):
    assert_clean_error(run_app("teach", "remove", str(own_set), "juggling"), "no action 'juggling'", "arm wrestling")
    assert_clean_error(run_app("teach", "remove", str(own_set), "arm wrestling", "9"), "has 3 example(s)")


def test_two_writers_at_once_both_land(own_set, clips, a0_model):
    """Two `teach add` processes on one set: neither example is lost."""
    commands = [
        [sys.executable, "-m", "app", "teach", "add", str(own_set), action, str(clips / ARM), "--to", "2",
         "--model", str(a0_model)]
        for action in ("arm wrestling", "juggling")
    ]  # fmt: skip
    processes = [subprocess.Popen(c, cwd=PROJECT_ROOT, stderr=subprocess.PIPE) for c in commands]
    assert [p.wait(timeout=300) for p in processes] == [0, 0]
    listing = run_app("teach", "list", str(own_set)).stdout
    assert "arm wrestling: 4 example(s)" in listing and "juggling: 1 example(s)" in listing


STRESS = """
import sys, numpy as np
from app.teach.store import TeachSet
store = TeachSet(sys.argv[1])
for _ in range(40):
    with store.writing():
        store.add(sys.argv[2], np.zeros((5, 4), np.float32), b"jpeg", "test", 0.0, 1.0)
"""


def test_many_writes_from_two_processes_lose_nothing(tmp_path):
    """The lock, hammered: 2 x 40 adds at once, every one in the index and on disk."""
    folder = tmp_path / "set"
    processes = [
        subprocess.Popen([sys.executable, "-c", STRESS, str(folder), action], cwd=PROJECT_ROOT)
        for action in ("one", "two")
    ]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    from app.teach.store import TeachSet

    examples = TeachSet(folder).examples()
    assert len(examples) == 80 and len(list((folder / "examples").glob("*.npy"))) == 80


def test_a_missing_set_is_one_line_and_not_created(tmp_path):
    missing = tmp_path / "missing"
    assert_clean_error(run_app("teach", "list", str(missing)), "no such set")
    assert_clean_error(run_app("teach", "remove", str(missing), "wave"), "no such set")
    assert not missing.exists()


def test_a_head_older_than_its_examples_is_used_with_a_warning(own_set, clips, a0_model):
    assert run_app("teach", "remove", str(own_set), "arm wrestling", "1").returncode == 0
    result = run_app("classify", "--custom", str(own_set), str(clips / ARM), "--model", str(a0_model))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"WARNING: {own_set} changed since its head was fitted: "
                                          f"run `python -m app teach fit {own_set}`"]  # fmt: skip
    assert run_app("teach", "fit", str(own_set)).returncode == 0
    again = run_app("classify", "--custom", str(own_set), str(clips / ARM), "--model", str(a0_model))
    assert again.returncode == 0 and again.stderr == ""


def test_actions_the_head_cannot_tell_apart_warn_under_80_percent(tmp_path):
    """Two actions of the same noise: the estimate is a coin toss, and fit says so (and still fits)."""
    import numpy as np

    from app.teach.store import TeachSet

    folder = tmp_path / "set"
    store = TeachSet(folder)
    rng = np.random.default_rng(0)
    with store.writing():
        for i in range(12):
            store.add("wave" if i % 2 else "nod", rng.normal(size=(25, 480)).astype(np.float32), b"-", "x", 0, 5)
    result = run_app("teach", "fit", str(folder))
    assert result.returncode == 0, result.stderr
    assert "warning: estimate" in result.stderr and "is under 80%: teach more examples, in place" in result.stderr
    assert (folder / "head.npz").is_file()
