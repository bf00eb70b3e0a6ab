"""Changes to the running system: the service user, systemctl, and watching the started service."""

from __future__ import annotations

import grp
import pwd
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from app.errors import AppError
from app.service.progress import say, warn
from app.service.units import SERVICE_USER, SERVICES, Layout

# How long the installer watches a started service before reporting its status.
SETTLE_S = 6.0


def run(command: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(list(command), capture_output=True, text=True)
    except FileNotFoundError:
        raise AppError(f"{command[0]} not found: this needs a systemd system (Raspberry Pi OS is one)") from None
    if check and result.returncode != 0:
        raise AppError(f"`{' '.join(command)}` failed: {(result.stderr or result.stdout).strip()}")
    return result


def ensure_service_user(groups: Sequence[str]) -> None:
    """Create the system user, or add it to groups it lacks; groups this system has not are skipped."""
    present = []
    for group in groups:
        try:
            grp.getgrnam(group)
            present.append(group)
        except KeyError:
            warn(f"no group {group!r} on this system: {SERVICE_USER} is not added to it")
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        say(f"Creating the system user {SERVICE_USER} (groups {', '.join(present)})")
        home = ["--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]
        run(["useradd", "--system", *home, "--groups", ",".join(present), SERVICE_USER])
        return
    missing = [group for group in present if SERVICE_USER not in grp.getgrnam(group).gr_mem]
    if missing:
        say(f"Adding {SERVICE_USER} to {', '.join(missing)}")
        run(["usermod", "--append", "--groups", ",".join(missing), SERVICE_USER])


def systemctl(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The real systemctl, or its offline mode under --root (only links files, starts nothing)."""
    prefix = ["systemctl"] if root == Path("/") else ["systemctl", f"--root={root}"]
    return run([*prefix, *args], check=check)


def other_service(name: str) -> str:
    return next(other for other in SERVICES if other != name)


def enable(layout: Layout, live: bool) -> None:
    other = Layout(layout.root, other_service(layout.name))
    if live:
        systemctl(layout.root, "daemon-reload")
    if systemctl(layout.root, "is-enabled", "--quiet", other.unit_name, check=False).returncode == 0:
        say(f"Disabling {other.unit_name}: both services need the camera")
        systemctl(layout.root, "disable", *(["--now"] if live else []), other.unit_name)
    systemctl(layout.root, "enable", layout.unit_name)
    if not live:
        return
    say(f"Starting {layout.unit_name} (it reports ready after the first classified frame)")
    started = time.time()
    if systemctl(layout.root, "restart", layout.unit_name, check=False).returncode != 0:
        raise AppError(did_not_start(layout.unit_name, started))
    say(f"Running: {settled_status(layout.unit_name, started)}")


def unit_state(unit: str) -> dict[str, str]:
    shown = run(["systemctl", "show", "--property=ActiveState,SubState,StatusText,NRestarts", unit], check=False)
    return dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)


def settled_status(unit: str, started: float) -> str:
    """The service's status once it has run a while; AppError if it fails meanwhile.

    READY=1 comes with the first classified frame, whose status is a warm-up figure
    (one step, 0 fps); the one a few seconds later is what it settles on.
    """
    deadline = time.monotonic() + SETTLE_S
    restarts = unit_state(unit).get("NRestarts", "0")
    while True:
        state = unit_state(unit)
        if state.get("ActiveState") != "active" or state.get("NRestarts", "0") != restarts:
            raise AppError(did_not_start(unit, started, "started but then stopped"))
        if time.monotonic() >= deadline:
            return state.get("StatusText") or f"{state.get('ActiveState')} ({state.get('SubState')})"
        time.sleep(0.5)


def did_not_start(unit: str, since: float, how: str = "did not start") -> str:
    """One line: the unit failed, with the last error its journal holds since `since`."""
    command = ["journalctl", "--quiet", "--no-pager", "--output=cat", f"--unit={unit}", f"--since=@{since:.0f}"]
    journal = run(command, check=False)
    lines = [line.strip() for line in journal.stdout.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")] or lines
    last = f": {errors[-1]}" if errors else ""
    return f"{unit} is installed and enabled but {how}{last} (all of it: journalctl -b -u {unit})"
