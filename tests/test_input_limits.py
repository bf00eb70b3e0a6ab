"""Every input bounded: a device, a FIFO, a huge file, a name too long, a huge value or another
user's model is one `error:` line and exit 1 (or argparse's usage error), never a traceback, a
hang or gigabytes of memory. Real processes, real files, FIFOs and devices."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import assert_clean_error, assert_config_problem, run_app, run_unprivileged

#: Address space the app may use in these tests: far above what it needs (about 1 GB of
#: mappings), far below reading /dev/zero for a few seconds; a MemoryError shows it is read.
ADDRESS_SPACE = 3 << 30
#: A name longer than any file system takes (255 bytes a name).
LONG = "n" * 300


def cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_capped(*args: str) -> subprocess.CompletedProcess:
    """`python -m app ...` with its memory capped, so an unbounded read fails fast instead of swapping."""
    return run_app(*args, timeout=120, preexec_fn=cap_memory)


@pytest.fixture
def clip(clips: Path) -> Path:
    return clips / "carving_ice_172.mp4"


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def run_flags(clip: Path, model_args: list[str], *flags: str) -> tuple[str, ...]:
    return ("run", "--source", str(clip), "--preview", "none", "--quiet", *model_args, *flags)


# ---- unbounded reads ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["summary", "plot"])
def test_a_fifo_named_like_a_rotated_log_is_refused_at_once(command, tmp_path):
    """`run.jsonl.1` a FIFO: plot and summary waited for a writer forever."""
    log = tmp_path / "run.jsonl"
    log.write_text('{"type": "step", "t": 0.2, "top": [{"label": "a", "score": 0.9}]}\n')
    os.mkfifo(tmp_path / "run.jsonl.1")
    result = run_app(command, str(log), timeout=60)  # TimeoutExpired before
    assert_clean_error(result, f"cannot read rotated log {tmp_path / 'run.jsonl.1'}: it is a FIFO (named pipe)")


def test_web_token_file_dev_zero_is_refused_not_read(clip, model_args, tmp_path):
    """/dev/zero as the token: ~10 GB read in 30 s before; now refused as a device, by run and config check."""
    result = run_capped(*run_flags(clip, model_args, "--web", "127.0.0.1:0", "--web-token-file", "/dev/zero"))
    assert_clean_error(result, "--web-token-file /dev/zero", "a device, not a regular file")
    config = tmp_path / "web.toml"
    config.write_text(f'source = "{clip}"\nweb = "0.0.0.0:8080"\nweb_token_file = "/dev/zero"\n')
    expected = f"{config}:3: web_token_file /dev/zero: cannot read it: it is a device, not a regular file"
    assert_config_problem(run_capped("config", "check", str(config)), expected)


@pytest.mark.parametrize("which", ["model", "labels", "config", "eval-list"])
def test_a_fifo_in_place_of_an_input_is_refused_at_once(which, fifo, clip, a0_model, labels_path):
    """Opening a FIFO waits for a writer: `classify` with one as its model hung forever."""
    model = fifo if which == "model" else a0_model
    labels = fifo if which == "labels" else labels_path
    model_args = ["--model", str(model), "--labels", str(labels)]
    commands = {
        "model": ["classify", *model_args, str(clip)],
        "labels": ["classify", *model_args, str(clip)],
        "config": ["run", "--config", str(fifo)],
        "eval-list": ["eval", str(fifo), *model_args],
    }
    result = run_app(*commands[which], timeout=60)  # TimeoutExpired before
    if which == "config":
        assert_clean_error(result, str(fifo), "a FIFO (named pipe), not a regular file")
    else:
        what = {"model": "model", "labels": "label file", "eval-list": "list file"}[which]
        assert_clean_error(result, f"cannot read {what} {fifo}: it is a FIFO (named pipe), not a regular file")


def test_a_huge_mqtt_password_file_is_refused(tmp_path, clip, model_args):
    """A 67 MB password file (sparse: no disk used) is too big, said in one line by run and config check."""
    password = tmp_path / "password"
    with password.open("wb") as handle:
        handle.truncate(67_000_000)
    flags = ["--mqtt", "mqtt://user@127.0.0.1:1", "--mqtt-password-file", str(password)]
    result = run_capped(*run_flags(clip, model_args, *flags))
    assert_clean_error(result, f"--mqtt-password-file {password}: cannot read: too big for a password file")
    config = tmp_path / "mqtt.toml"
    config.write_text(f'source = "{clip}"\nmqtt = "mqtt://user@127.0.0.1:1"\nmqtt_password_file = "{password}"\n')
    expected = f"{config}:3: mqtt_password_file {password}: cannot read: too big for a password file (over 64 KB)"
    assert_config_problem(run_capped("config", "check", str(config)), expected)


# ---- names longer than the file system takes ----------------------------------------------


@pytest.mark.parametrize(
    "site", ["classify", "run-source", "labels", "model", "event-pictures", "summary", "eval-list-entry"]
)
def test_a_name_too_long_is_one_line(site, tmp_path, clip, a0_model, labels_path):
    """A 300-character name: `OSError: [Errno 36] File name too long` tracebacks before."""
    long = tmp_path / LONG
    model_args = ["--model", str(a0_model), "--labels", str(labels_path)]
    if site == "eval-list-entry":
        listing = tmp_path / "clips.tsv"
        listing.write_text(f"{LONG}.mp4\tcarving ice\n")
        result = run_app("eval", str(listing), *model_args)
        assert_clean_error(result, f"{listing}:1:", "file name too long")
        return
    commands = {
        "classify": ["classify", *model_args, f"{long}.mp4"],
        "run-source": run_flags(Path(f"{long}.mp4"), model_args),
        "labels": run_flags(clip, ["--model", str(a0_model), "--labels", str(long)]),
        "model": ["classify", "--model", f"{long}.tflite", "--labels", str(labels_path), str(clip)],
        "event-pictures": run_flags(clip, model_args, "--event-pictures", str(long)),
        "summary": ["summary", f"{long}.jsonl"],
    }
    assert_clean_error(run_app(*commands[site]), "too long")


def test_a_name_too_long_anywhere_else_is_caught_by_the_cli(tmp_path):
    """The net under every path: a models folder named too long (`demo` looks for its clip there)."""
    result = run_app("demo", env={"MOVINET_MODELS_DIR": str(tmp_path / LONG)})
    assert_clean_error(result, str(tmp_path / LONG), "file name too long")


def test_a_password_file_name_too_long_is_a_usage_error(tmp_path, clip, model_args):
    """--mqtt-password-file is checked by argparse: its usage error, not a traceback."""
    flags = ["--mqtt", "mqtt://user@127.0.0.1:1", "--mqtt-password-file", str(tmp_path / LONG)]
    result = run_app(*run_flags(clip, model_args, *flags))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "--mqtt-password-file: no such file" in result.stderr.splitlines()[-1]


# ---- values with no sane bound -----------------------------------------------------------


def test_eval_hold_is_bounded(tmp_path, clip, model_args):
    """`eval --session --hold 1e9` ran until killed; an hour a clip is the most it takes."""
    listing = tmp_path / "clips.tsv"
    listing.write_text(f"{clip}\tcarving ice\n")
    result = run_app("eval", str(listing), "--session", "--hold", "1e9", *model_args, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "--hold: must be at most 3600 (an hour a clip), got 1e9" in result.stderr.splitlines()[-1]


# ---- another user's model ----------------------------------------------------------------


@pytest.fixture
def models_of_another_user(tmp_path: Path, a0_model: Path, labels_path: Path, clip: Path) -> Path:
    """A models folder whose default model is someone else's 0600 file."""
    if os.geteuid() != 0:
        pytest.skip("making a file another user's needs root")
    folder = tmp_path / "models"
    folder.mkdir()
    for source in (a0_model, labels_path, clip):
        shutil.copyfile(source, folder / source.name)
    model = folder / a0_model.name
    model.chmod(0o600)
    os.chown(model, 65534, 65534)  # nobody
    return folder


@pytest.mark.parametrize("action", ["list", "verify", "fetch"])
def test_another_users_0600_model(action, models_of_another_user):
    """`models verify`, `fetch` and `list` raised PermissionError tracebacks; fetch must not replace it."""
    model = models_of_another_user / "movinet_a0_stream_int8.tflite"
    before = model.stat()
    result = run_unprivileged("models", action, env={"MOVINET_MODELS_DIR": str(models_of_another_user)}, chmod=True)
    if action == "list":
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        row = next(line for line in result.stdout.splitlines() if "movinet_a0_stream_int8.tflite" in line)
        assert "unreadable" in row
    else:
        assert_clean_error(result, f"permission denied: {model}", f"sudo chmod a+r {model}")
    after = model.stat()
    assert (after.st_ino, after.st_mode, after.st_uid) == (before.st_ino, before.st_mode, before.st_uid)
