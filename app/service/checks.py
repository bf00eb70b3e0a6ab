"""What the installer checks before it writes a unit: that the service's user can run the app.

Checked as that user where it matters: root can read anything, so a check as root
proves nothing. Each problem is one line saying what to run.
"""

from __future__ import annotations

import errno
import os
import pwd
import re
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from app.errors import AppError
from app.service.desktop import DesktopUser
from app.service.units import SERVICE_USER

# ProtectHome= hides these from the service user: a checkout in them cannot run as it.
HOME_DIRS = (Path("/home"), Path("/root"), Path("/run/user"))


def under_home(path: Path) -> bool:
    return any(path == home or home in path.parents for home in HOME_DIRS)


def check_prefix(prefix: Path) -> None:
    if not (prefix / ".venv/bin/python").exists():
        raise AppError(f"{prefix}/.venv/bin/python is missing: run ./setup.sh in {prefix} first")


def service_user_problem(prefix: Path) -> str | None:
    """Why the service user could not run the app from this checkout, or None."""
    move = "put the project where it can (e.g. sudo git clone ... /opt/movinet) and run setup.sh there"
    if under_home(prefix):
        return f"the {SERVICE_USER} service cannot see {prefix}: home directories are hidden from services; {move}"
    for folder in [*reversed(prefix.parents), prefix, prefix / "app"]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH or (folder.name == "app" and not mode & stat.S_IROTH):
            return f"the {SERVICE_USER} user cannot read {folder} (mode {stat.filemode(mode)}); {move}"
    return None


def check_config(prefix: Path, config: Path) -> None:
    """`python -m app config check` on the config: a bad one would only restart-loop."""
    check = subprocess.run(
        [str(prefix / ".venv/bin/python"), "-m", "app", "config", "check", str(config)],
        cwd=prefix,
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        raise AppError(f"{config} has problems; fix it and install again:\n{(check.stdout + check.stderr).strip()}")


# Run as the service's user: which of the files named on the command line it cannot open,
# and for a file behind a folder it may not enter, that folder. One line per problem:
# "PATH<TAB>ERRNO<TAB>FOLDER-or-empty".
_READ_PROBE = """
import os, sys
for path in sys.argv[1:]:
    try:
        open(path, "rb").close()
    except OSError as exc:
        folders = [os.path.dirname(os.path.abspath(path))]
        while folders[-1] != "/":
            folders.append(os.path.dirname(folders[-1]))
        blocked = next((f for f in reversed(folders) if not os.access(f, os.X_OK)), "")
        print(path, exc.errno, blocked, sep="\\t")
"""


TEACH_SET_FILES = ("set.json", "examples.json", "head.npz", "groups.txt")


def files_the_service_reads(config: Path, prefix: Path) -> list[tuple[str, Path]]:
    """(key, path) of every file a run with this config opens by name: model, labels, a file source."""
    # The app's own resolution, so the check sees exactly what `run` opens. These need the
    # venv, which installing runs in (uninstalling, system Python only, never gets here).
    from app import assets
    from app.cli import build_parser
    from app.settings.config import read_config
    from app.sources import file_path

    values, _ = read_config(config, build_parser().run_command)
    files = [
        ("model", assets.resolve_model(values.get("model"))),
        ("labels", Path(values.get("labels") or assets.default_labels_path())),
    ]
    if (source := file_path(str(values.get("source", "auto")))) is not None:
        files.append(("source", source))
    files += [(key, values[key]) for key in ("mqtt_ca_file", "mqtt_password_file") if values.get(key) is not None]
    if values.get("custom") is not None:  # a taught set: the files of it that exist are read
        folder = values["custom"] if values["custom"].is_absolute() else prefix / values["custom"]
        files += [("custom", folder / name) for name in TEACH_SET_FILES if (folder / name).is_file()]
    # The service runs in the checkout (WorkingDirectory=): relative paths start there.
    return [(key, path if path.is_absolute() else prefix / path) for key, path in files]


def _system_python() -> str:
    """A Python any user may run (the probe is standard library; the venv's may sit in a private folder)."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def unreadable_for(user: str, files: Sequence[tuple[str, Path]], prefix: Path) -> str | None:
    """Why `user` could not open one of `files` (one line saying what to run), or None."""
    entry = pwd.getpwnam(user)
    probe = subprocess.run(
        [_system_python(), "-I", "-c", _READ_PROBE, *(str(path) for _, path in files)],
        user=entry.pw_uid,
        group=entry.pw_gid,
        extra_groups=os.getgrouplist(user, entry.pw_gid),
        cwd="/",
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        raise AppError(f"could not check what the {user} user can read: {probe.stderr.strip().splitlines()[-1:]}")
    if not probe.stdout.strip():
        return None
    failed, error, blocked = probe.stdout.splitlines()[0].split("\t")
    key = next(key for key, path in files if str(path) == failed)
    what = f"the {key} {failed}"
    if int(error) == errno.ENOENT:
        fix = f"run ./setup.sh in {prefix}" if key != "source" else "set source in the config to a file that exists"
        return f"{what} does not exist: {fix}"
    if blocked:
        mode = stat.filemode(os.stat(blocked).st_mode)
        return f"the {user} user cannot enter {blocked} ({mode}), which holds {what}: sudo chmod a+x {blocked}"
    mode = stat.filemode(os.stat(failed).st_mode)
    if Path(failed).parent == prefix / "models":
        fix = f"run ./setup.sh in {prefix} again (it makes the model files readable)"
    else:
        fix = f"sudo chmod a+r {failed}"
    return f"the {user} user cannot read {what} ({mode}): {fix}"


def preview_mismatch(config_text: str, desktop: DesktopUser | None) -> str | None:
    """A kept kiosk config whose preview cannot show in this set-up (drm on a desktop, qt on a console)."""
    match = re.search(r'^\s*preview\s*=\s*"(\w+)"', config_text, re.MULTILINE)
    preview = match[1] if match else "auto"
    if desktop is not None and preview == "drm":
        return 'preview = "drm" cannot show while a desktop holds the screen: use "qt" (or "window")'
    if desktop is None and preview in ("qt", "window"):
        return f'preview = "{preview}" needs a desktop, and this set-up has none: use "drm"'
    return None
