"""The logger and kiosk services under a real systemd 252, installed as docs/services.md says.

A Debian bookworm root file system (tests/system/rootfs.sh, cached outside the clone)
boots with systemd as PID 1 in systemd-nspawn (tests/system/nspawn.py). Inside, as the
user `pi` of a Pi (groups video, render, input; sudo), docs/services.md ("Run as a service") is
followed word for word: clone the committed tree under test to /opt/movinet, `setup.sh`
(offline: the shared assets folder is mounted in) and `--install-service logger`. Then
what systemd sees is checked: READY, STATUS, the log, the watchdog, a clean stop, the
files' modes, `systemd-analyze security`, and the kiosk on a machine with no display.

The tests run in file order and share one container (a module fixture): each goes on
from where the one before left the service.

    sudo .venv/bin/python -m pytest -m system        # as root: debootstrap, nspawn
    MOVINET_SYSTEM_TEST_REF=<commit> ...             # test another commit (default HEAD)

Outside CI, a machine that cannot boot the container skips these; in CI (CI=true) that
is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import PROJECT_ROOT, assets_dir
from nspawn import BootError, Container

pytestmark = pytest.mark.system

IN_CI = os.environ.get("CI", "").lower() == "true"
PACKAGES = "systemd systemd-sysv dbus sudo git ca-certificates python3 python3-venv libglib2.0-0 procps"
CHECKOUT = "/opt/movinet"
ASSETS_INSIDE = "/srv/movinet-assets"
REPOSITORY_INSIDE = "/srv/movinet.git"
PIP_CACHE_INSIDE = "/var/cache/movinet-pip"
CLIP = f"{CHECKOUT}/models/carving_ice_172.mp4"
CLIP_ACTION = "carving ice"
LOGGER = "movinet-logger.service"
KIOSK = "movinet-kiosk.service"
STEP_LOG = "/var/log/movinet/steps.jsonl"
# Both bounds as in tests/test_systemd_units.py (offline); here systemd's own, online view.
MAX_EXPOSURE = {LOGGER: 2.0, KIOSK: 4.0}
LOGGER_CONFIG = f"""\
# The logger reading the demo clip again and again at its own rate, as a camera would.
source = "{CLIP}"
loop = true
realtime = true
preview = "none"
quiet = true
log = "{STEP_LOG}"
log_level = "steps"
"""
# A kiosk for a USB camera (a window) on a Pi that boots to the console: no display.
KIOSK_CONFIG = f"""\
source = "{CLIP}"
loop = true
preview = "window"
fullscreen = true
quiet = true
"""


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"the systemd container cannot run in CI: {reason}")
    pytest.skip(reason)


def cache_dir() -> Path:
    return Path(os.environ.get("MOVINET_CI_CACHE", "/var/cache/movinet-ci"))


def build_rootfs() -> Path:
    built = subprocess.run(
        [
            str(PROJECT_ROOT / "tests/system/rootfs.sh"),
            "--name",
            "systemd-bookworm",
            "--arch",
            "amd64",
            "--packages",
            PACKAGES,
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if built.returncode != 0:
        unavailable(f"tests/system/rootfs.sh failed: {built.stderr.strip()[-2000:]}")
    return Path(built.stdout.strip().splitlines()[-1])


def host_pip_config() -> tuple[str, list[Path]]:
    """The host's pip settings as one pip.conf, and the local files and folders they name (to mount in).

    CI machines reach PyPI through their own index, certificates and wheel folders; pip
    inside the container must use the same.
    """
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    sections: dict[str, dict[str, str]] = {"global": {}}
    paths: list[Path] = []
    for line in listed.stdout.splitlines():
        match = re.fullmatch(r"([^.]*)\.([^=]+)='?(.*?)'?", line.strip())
        if not match:
            continue
        section, key, value = match.groups()
        section = "global" if section == ":env:" else section
        sections.setdefault(section, {})[key] = value
        for word in value.split():
            path = Path(word.removeprefix("file://"))
            if word.startswith("file://"):
                path = path.parent  # a local index: its pages (simple/) link to files beside them
            if path.is_absolute() and path.exists():
                paths.append(path)
    sections["global"]["cache-dir"] = PIP_CACHE_INSIDE
    text = "".join(
        f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in values.items())
        for name, values in sections.items()
    )
    return text, sorted(set(paths))


@pytest.fixture(scope="module")
def container() -> Iterator[Container]:
    if os.geteuid() != 0:
        unavailable("the systemd container needs root (debootstrap, systemd-nspawn)")
    for tool in ("systemd-nspawn", "nsenter"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (apt-get install systemd-container util-linux)")
    started = time.monotonic()
    rootfs = build_rootfs()
    print(f"\nroot file system ready in {time.monotonic() - started:.0f} s: {rootfs}")
    pip_conf, pip_paths = host_pip_config()
    pip_cache = cache_dir() / "pip-systemd"
    pip_cache.mkdir(parents=True, exist_ok=True)
    os.chown(pip_cache, 1000, 1000)  # pi's uid inside: the first user made there
    with tempfile.TemporaryDirectory(prefix="movinet-systemd-") as scratch:
        # The committed tree under test as a repository to clone from, like a remote.
        ref = os.environ.get("MOVINET_SYSTEM_TEST_REF", "HEAD")
        repository = Path(scratch) / "movinet.git"
        subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(repository)], check=True)
        subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "push", "--quiet", str(repository), f"{ref}:refs/heads/main"], check=True
        )
        # pi's, as a remote's files would be to git (it refuses a repository of another owner).
        subprocess.run(["chown", "-R", "1000:1000", str(repository)], check=True)
        machine = Container(
            rootfs,
            f"movinet-systemd-{os.getpid()}",
            binds=[(pip_cache, PIP_CACHE_INSIDE)],
            read_only_binds=[(repository, REPOSITORY_INSIDE), (assets_dir(), ASSETS_INSIDE)]
            + [(path, str(path)) for path in pip_paths],
            log=Path(scratch) / "console.log",
        )
        # A CI timeout sends SIGTERM: turn it into an exception so `finally` halts the container.
        previous_handler = signal.signal(signal.SIGTERM, interrupted)
        try:
            try:
                machine.boot()
            except BootError as exc:
                unavailable(str(exc))
            print(f"booted in {time.monotonic() - started:.0f} s")
            prepare_pi(machine, pip_conf)
            yield machine
        finally:
            machine.close()
            signal.signal(signal.SIGTERM, previous_handler)


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def prepare_pi(machine: Container, pip_conf: str) -> None:
    """What a fresh Raspberry Pi OS has and a Debian minbase lacks: the Pi's groups, user `pi` with sudo."""
    machine.write("/etc/pip.conf", pip_conf)
    # Its own name resolves, as on a Pi (sudo looks it up; debootstrap copied the host's name).
    machine.run('echo "127.0.1.1 $(hostname)" >> /etc/hosts')
    machine.run("groupadd -f video && groupadd -f render && groupadd -f input")
    machine.run("useradd --create-home --shell /bin/bash --groups sudo,video,render,input pi")
    machine.write("/etc/sudoers.d/010_pi-nopasswd", "pi ALL=(ALL) NOPASSWD: ALL\n", mode="0440")


def as_pi(machine: Container, line: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    return machine.run(line, user="pi", check=check, timeout=timeout)


def unit(machine: Container, name: str, *properties: str) -> dict[str, str]:
    shown = machine.run(["systemctl", "show", f"--property={','.join(properties)}", name])
    return dict(line.split("=", 1) for line in shown.stdout.splitlines())


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def logger(container: Container) -> dict[str, str]:
    """docs/services.md's steps as pi; returns the outputs of the installs (the first fails: no camera)."""
    machine = container
    started = time.monotonic()
    as_pi(machine, 'sudo mkdir -p /opt/movinet && sudo chown "$USER": /opt/movinet')
    as_pi(machine, f"git clone --quiet {REPOSITORY_INSIDE} {CHECKOUT}")
    # The example config reads the camera, and this machine has none: the installer must
    # say so in one line from the journal, not "Running:".
    first = as_pi(
        machine, f"cd {CHECKOUT} && MOVINET_ASSETS_DIR={ASSETS_INSIDE} ./setup.sh --install-service logger", check=False
    )
    print(f"clone + setup.sh + first install: {time.monotonic() - started:.0f} s")

    # docs/services.md "Change the configuration": edit, check, install again (or restart).
    as_pi(machine, f"sudo tee /etc/movinet/logger.toml >/dev/null <<'EOF'\n{LOGGER_CONFIG}EOF")
    check = as_pi(machine, f"cd {CHECKOUT} && .venv/bin/python -m app config check /etc/movinet/logger.toml")
    # A file the service's user cannot read is refused before anything starts...
    as_pi(machine, f"chmod 600 {CLIP}")
    refused = as_pi(machine, f"cd {CHECKOUT} && sudo .venv/bin/python -m app.service install logger", check=False)
    # ...and setup.sh makes it readable again.
    second = as_pi(machine, f"cd {CHECKOUT} && ./setup.sh --install-service logger", check=False)
    print(f"... until the logger runs: {time.monotonic() - started:.0f} s")
    return {
        "first": first.stdout + first.stderr,
        "first_rc": str(first.returncode),
        "check": check.stdout,
        "refused": refused.stdout + refused.stderr,
        "refused_rc": str(refused.returncode),
        "second": second.stdout + second.stderr,
        "second_rc": str(second.returncode),
    }


def test_installer_reports_the_journals_error_when_the_service_cannot_start(logger: dict[str, str]) -> None:
    assert logger["first_rc"] != "0", logger["first"]
    errors = [line for line in logger["first"].splitlines() if line.startswith("error:")]
    assert len(errors) == 1, logger["first"]
    assert errors[0].startswith(f"error: {LOGGER} is installed and enabled but did not start: error: "), errors
    assert "no camera" in errors[0]
    assert "Traceback" not in logger["first"]


def test_installer_refuses_a_source_the_service_user_cannot_read(logger: dict[str, str]) -> None:
    assert logger["refused_rc"] == "1", logger["refused"]
    assert logger["refused"].strip().splitlines()[-1] == (
        f"error: the movinet user cannot read the source {CLIP} (-rw-------): "
        f"run ./setup.sh in {CHECKOUT} again (it makes the model files readable)"
    )


def test_setup_repairs_the_mode_and_the_installer_reports_the_settled_status(
    container: Container, logger: dict[str, str]
) -> None:
    assert logger["second_rc"] == "0", logger["second"]
    assert f"note: {CLIP} was mode 0600; now 0644" in logger["second"]
    running = [line for line in logger["second"].splitlines() if line.startswith("==> Running: ")]
    assert running and running[0].startswith(f"==> Running: {CLIP_ACTION} ("), logger["second"]
    # Settled: some seconds in, a real rate, not the first step's "0.0 fps".
    assert " 0.0 fps" not in running[0]


def test_active_running_after_ready_with_the_clips_action_as_status(container: Container) -> None:
    state = unit(container, LOGGER, "Type", "ActiveState", "SubState", "StatusText", "UnitFileState", "User")
    assert state["Type"] == "notify"  # so "active" means the app sent READY=1
    journal = container.run(["journalctl", "--no-pager", "-o", "cat", "-u", LOGGER]).stdout
    assert (state["ActiveState"], state["SubState"]) == ("active", "running"), f"{state}\n{journal[-1500:]}"
    assert state["StatusText"].startswith(f"{CLIP_ACTION} ("), state
    assert state["UnitFileState"] == "enabled"
    assert state["User"] == "movinet"
    assert "Started" in journal


def test_the_log_grows_with_valid_json(container: Container) -> None:
    def records() -> list[dict]:
        text = container.run(["cat", STEP_LOG]).stdout
        return [json.loads(line) for line in text.splitlines()]

    before = records()
    time.sleep(3)
    after = records()
    assert len(after) >= len(before) + 5, "5 steps a second"
    assert after[: len(before)] == before, "appended, never rewritten"
    steps = [record for record in after if record["type"] == "step"]
    assert steps and steps[-1]["top"][0]["label"] == CLIP_ACTION
    assert any(record["type"] == "start" for record in after)


def test_file_modes(container: Container) -> None:
    listing = container.run(
        f"stat -c '%a %U %n' {CHECKOUT}/models/*.tflite {CHECKOUT}/models/*.txt {CHECKOUT}/models/*.mp4 "
        f"/etc/movinet/logger.toml /etc/systemd/system/{LOGGER} /var/log/movinet {STEP_LOG}"
    ).stdout
    modes = {line.split()[2]: tuple(line.split()[:2]) for line in listing.splitlines()}
    for path, mode in modes.items():
        if path.startswith(f"{CHECKOUT}/models/"):
            assert mode == ("644", "pi"), (path, mode)  # pi's 022 umask: the service user can read them
    assert modes["/etc/movinet/logger.toml"] == ("644", "root")
    assert modes[f"/etc/systemd/system/{LOGGER}"] == ("644", "root")
    assert modes["/var/log/movinet"][1] == "movinet"
    assert modes[STEP_LOG] == ("600", "movinet")  # UMask=0077: the log is the service's own


def seconds(span: str) -> float:
    """A time span as systemctl shows it ("30s", "1min 30s", "100ms") in seconds."""
    units = {"min": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(min|ms|us|s)", span)
    assert parts, span
    return sum(float(number) * units[unit] for number, unit in parts)


def test_watchdog_kills_a_hung_process_and_systemd_starts_it_again(container: Container) -> None:
    settings = unit(container, LOGGER, "WatchdogUSec", "RestartUSec", "MainPID", "NRestarts")
    watchdog_s, restart_s = seconds(settings["WatchdogUSec"]), seconds(settings["RestartUSec"])
    hung = settings["MainPID"]
    assert hung != "0", f"{LOGGER} is not running, so there is nothing to hang: {settings}"
    container.run(["kill", "-STOP", hung])
    stopped_at = time.monotonic()
    deadline = stopped_at + watchdog_s + restart_s + 60
    while time.monotonic() < deadline:
        state = unit(container, LOGGER, "MainPID", "ActiveState", "SubState", "ExecMainStartTimestampMonotonic")
        if state["MainPID"] not in ("0", hung) and state["ActiveState"] == "active":
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"not back within {deadline - stopped_at:.0f} s of SIGSTOP: {state}")
    back = time.monotonic() - stopped_at
    restarted = int(state["ExecMainStartTimestampMonotonic"]) / 1e6 - stopped_at
    print(f"\nSIGSTOP -> new process started after {restarted:.1f} s, ready after {back:.1f} s")
    # The watchdog fires at most WatchdogSec after the last ping, systemd restarts RestartSec later.
    assert restarted <= watchdog_s + restart_s + 1
    assert int(unit(container, LOGGER, "NRestarts")["NRestarts"]) == int(settings["NRestarts"]) + 1
    journal = container.run(["journalctl", "--no-pager", "-o", "cat", "-u", LOGGER]).stdout
    assert "Watchdog timeout" in journal


def test_stop_exits_0_and_writes_the_stop_record(container: Container) -> None:
    stopped = container.run(["systemctl", "stop", LOGGER], check=False)
    assert stopped.returncode == 0, stopped.stderr
    state = unit(container, LOGGER, "ActiveState", "Result", "ExecMainStatus")
    assert state == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}
    last = json.loads(container.run(["tail", "-n", "1", STEP_LOG]).stdout)
    assert last["type"] == "stop" and last["steps"] > 0 and last["lost"] == 0


def exposure(container: Container, name: str) -> float:
    analysis = container.run(["systemd-analyze", "security", "--no-pager", name]).stdout
    match = re.search(rf"Overall exposure level for {re.escape(name)}: (\d+\.\d+)", analysis)
    assert match, analysis[-500:]
    print(f"\nsystemd-analyze security {name}: {match[1]}")
    return float(match[1])


def test_security_exposure_of_both_units_online(container: Container) -> None:
    assert exposure(container, LOGGER) <= MAX_EXPOSURE[LOGGER]
    # The kiosk's unit as the console set-up installs it (the example config: Pi camera, DRM).
    as_pi(container, f"cd {CHECKOUT} && sudo .venv/bin/python -m app.service install kiosk --no-systemctl")
    container.run(["systemctl", "daemon-reload"])
    assert exposure(container, KIOSK) <= MAX_EXPOSURE[KIOSK]


def test_kiosk_without_a_display_fails_with_one_clear_line(container: Container) -> None:
    as_pi(container, f"sudo tee /etc/movinet/kiosk.toml >/dev/null <<'EOF'\n{KIOSK_CONFIG}EOF")
    result = as_pi(container, f"cd {CHECKOUT} && ./setup.sh --install-service kiosk", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    errors = error_lines(result)
    assert len(errors) == 1, output
    assert "display" in errors[0].lower(), errors[0]
    print(f"\n{errors[0]}")
    assert unit(container, KIOSK, "ActiveState")["ActiveState"] != "active"
