"""Install the kiosk or the logger as a systemd service: its unit, its config, its user.

    python -m app.service install kiosk|logger [--console | --desktop-user USER]
    python -m app.service uninstall kiosk|logger

`setup.sh --install-service NAME` / `--uninstall-service NAME` run this with sudo. What it
puts where (ROOT is / unless `--root DIR`, which builds the same layout in a folder, e.g.
an image being prepared, or a test):

    ROOT/etc/systemd/system/movinet-NAME.service     from systemd/, paths filled in; rewritten
    ROOT/etc/systemd/system/movinet-kiosk.service.d/10-desktop.conf   kiosk on a desktop only
    ROOT/etc/movinet/NAME.toml                       the example config, once: then it is yours

and then: the `movinet` system user, `systemctl daemon-reload`, `enable` and (re)start
(under --root only the offline `systemctl --root enable`; --no-systemctl skips systemctl).
Uninstalling removes the unit files only. The config (your edits), /var/log/movinet (your
data) and the movinet user (it may own files there) stay; README says how to remove them.

The kiosk's display depends on how the Pi boots: to a console (Raspberry Pi OS Lite), the
service user draws on the screen through DRM; to a desktop, it must be a window in the
desktop session, so it runs as the user the desktop logs in automatically
(systemd/movinet-kiosk-desktop.conf says why). That is detected from the system
(display-manager.service enabled, graphical.target the default, LightDM's autologin
user) unless --console or --desktop-user says.

Standard library only, so uninstalling works with the system Python and no venv.
"""

from __future__ import annotations

import argparse
import errno
import grp
import os
import pwd
import re
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.errors import AppError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = PROJECT_ROOT / "systemd"
SERVICES = ("kiosk", "logger")
SERVICE_USER = "movinet"
# The camera (video), the GPU and dma-heaps (render), and the kiosk's keyboard (input).
SERVICE_GROUPS = {"kiosk": ("video", "render", "input"), "logger": ("video", "render")}
DESKTOP_DROPIN = "10-desktop.conf"
NETWORK_DROPIN = "20-mqtt-network.conf"  # only while the config sets `mqtt`
# How long the installer watches a started service before reporting its status.
SETTLE_S = 6.0
# ProtectHome= hides these from the service user: a checkout in them cannot run as it.
HOME_DIRS = (Path("/home"), Path("/root"), Path("/run/user"))


@dataclass(frozen=True)
class DesktopUser:
    """The user whose desktop session the kiosk shows in."""

    name: str
    uid: int
    home: str


@dataclass(frozen=True)
class Layout:
    """Where one service's files go under a root directory."""

    root: Path
    name: str

    @property
    def unit_name(self) -> str:
        return f"movinet-{self.name}.service"

    @property
    def unit(self) -> Path:
        return self.root / "etc/systemd/system" / self.unit_name

    @property
    def dropin_dir(self) -> Path:
        return self.unit.with_name(self.unit_name + ".d")

    @property
    def desktop_dropin(self) -> Path:
        return self.dropin_dir / DESKTOP_DROPIN

    @property
    def network_dropin(self) -> Path:
        return self.dropin_dir / NETWORK_DROPIN

    @property
    def config(self) -> Path:
        return self.root / "etc/movinet" / f"{self.name}.toml"

    @property
    def system_config(self) -> str:
        """The config's path as the service sees it (the unit names this one)."""
        return f"/etc/movinet/{self.name}.toml"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def render(template: str, values: dict[str, str]) -> str:
    """Fill @KEY@ placeholders; one left over is a bug in a template, not a user error."""
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    if left := re.findall(r"@[A-Z]+@", template):
        raise AssertionError(f"template placeholders not filled in: {sorted(set(left))}")
    return template


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write via a temporary file and a rename: systemd never reads half a unit."""
    make_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def make_dirs(path: Path) -> None:
    """mkdir -p with 0755 whatever the umask (sudo's may be 077: the service must read /etc/movinet)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir()
        os.chmod(directory, 0o755)


# --- which display the kiosk uses ---------------------------------------------------------


def default_target(root: Path) -> str:
    """The unit `systemctl get-default` would name, read from the files (works under --root)."""
    for folder in ("etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"):
        link = root / folder / "default.target"
        if link.is_symlink():
            return Path(os.readlink(link)).name
    return "graphical.target"  # systemd's own default


def boots_to_desktop(root: Path) -> bool:
    """A display manager is enabled and the Pi boots to graphical.target (raspi-config B3/B4)."""
    display_manager = root / "etc/systemd/system/display-manager.service"
    return os.path.lexists(display_manager) and default_target(root) in ("graphical.target", "runlevel5.target")


def autologin_user(root: Path) -> str | None:
    """LightDM's `autologin-user` (what raspi-config's Desktop Autologin sets), or None."""
    conf = root / "etc/lightdm"
    user = None
    for path in [conf / "lightdm.conf", *sorted((conf / "lightdm.conf.d").glob("*.conf"))]:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        section = ""
        for raw in lines:
            line = raw.strip()
            if line.startswith("["):
                section = line.strip("[]")
            elif section.startswith("Seat") and (match := re.match(r"autologin-user\s*=\s*(\S*)", line)):
                user = match[1] or None  # later files override earlier ones, as in LightDM
    return user


def lookup_user(root: Path, name: str) -> DesktopUser:
    """The user's uid and home, from ROOT/etc/passwd under --root, else the system's."""
    if root != Path("/"):
        try:
            for line in (root / "etc/passwd").read_text(encoding="utf-8").splitlines():
                fields = line.split(":")
                if len(fields) >= 6 and fields[0] == name:
                    return DesktopUser(name, int(fields[2]), fields[5])
        except (OSError, ValueError):
            pass
        raise AppError(f"no user {name!r} in {root / 'etc/passwd'}")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise AppError(f"no user {name!r} on this system") from None
    return DesktopUser(name, entry.pw_uid, entry.pw_dir)


def choose_desktop(root: Path, console: bool, desktop_user: str | None) -> DesktopUser | None:
    """The desktop user to show the kiosk as, or None for the console (DRM) set-up."""
    if console:
        return None
    if desktop_user:
        return lookup_user(root, desktop_user)
    if not boots_to_desktop(root):
        return None
    user = autologin_user(root)
    if user is None:
        raise AppError(
            "this Pi boots to a desktop but no user logs in automatically, so there is no screen for the kiosk "
            "at boot: turn on Desktop Autologin (sudo raspi-config: System Options > Boot / Auto Login), or name "
            "the desktop user (--desktop-user NAME), or boot to the console (Console Autologin) and use --console"
        )
    return lookup_user(root, user)


# --- checks -------------------------------------------------------------------------------


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


# --- system changes -----------------------------------------------------------------------


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


def check_desktop_groups(user: DesktopUser) -> None:
    for group in ("video", "render"):
        try:
            if user.name not in grp.getgrnam(group).gr_mem:
                warn(f"{user.name} is not in the {group} group: sudo usermod -aG {group} {user.name}")
        except KeyError:
            pass


def systemctl(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The real systemctl, or its offline mode under --root (only links files, starts nothing)."""
    prefix = ["systemctl"] if root == Path("/") else ["systemctl", f"--root={root}"]
    return run([*prefix, *args], check=check)


def other_service(name: str) -> str:
    return next(other for other in SERVICES if other != name)


# --- install and uninstall ----------------------------------------------------------------


def install(
    name: str,
    root: Path = Path("/"),
    prefix: Path = PROJECT_ROOT,
    console: bool = False,
    desktop_user: str | None = None,
    use_systemctl: bool = True,
) -> None:
    layout = Layout(root, name)
    live = root == Path("/")  # the running system, not a folder
    desktop = choose_desktop(root, console, desktop_user) if name == "kiosk" else None
    if name == "kiosk":
        say(f"Kiosk on the {'desktop of ' + desktop.name if desktop else 'console (DRM/KMS)'}")

    check_prefix(prefix)
    # The desktop user's own checkout is fine: ProtectHome=read-only shows it.
    if desktop is None and (problem := service_user_problem(prefix)):
        if live:
            raise AppError(problem)
        warn(problem)  # a root for another machine (or a test): the checkout may differ there

    # The config: the example the first time, then the user's own, never overwritten.
    if layout.config.exists():
        say(f"Keeping {layout.config}")
        if name == "kiosk" and (mismatch := preview_mismatch(layout.config.read_text(encoding="utf-8"), desktop)):
            warn(f"{layout.config}: {mismatch}")
    else:
        text = (TEMPLATES / f"{name}.toml").read_text(encoding="utf-8")
        if desktop is not None:
            text, count = re.subn(r'^preview = "drm"$', 'preview = "qt"', text, flags=re.MULTILINE)
            assert count == 1, 'systemd/kiosk.toml must set preview = "drm" on a line of its own'
        say(f"Writing {layout.config}")
        write_file(layout.config, text)
    check_config(prefix, layout.config)

    files = files_the_service_reads(layout.config, prefix)
    source = next((path for key, path in files if key == "source"), None)
    if desktop is None and source is not None and under_home(source):
        problem = f"the {SERVICE_USER} service cannot see {source} (source in {layout.config}): home directories "
        raise AppError(problem + "are hidden from services; move the file, e.g. to /srv, and change source")
    if live:
        # As the user the service runs as: root can read anything, so a check as root proves nothing.
        if desktop is None:
            ensure_service_user(SERVICE_GROUPS[name])
        else:
            check_desktop_groups(desktop)
        user = desktop.name if desktop else SERVICE_USER
        if problem := unreadable_for(user, files, prefix):
            raise AppError(problem)
    else:
        say(f"Not creating the {SERVICE_USER} user under --root {root}")

    # The unit, always ours: local changes belong in drop-ins (systemctl edit).
    say(f"Writing {layout.unit}")
    write_file(layout.unit, render((TEMPLATES / layout.unit_name).read_text(encoding="utf-8"), {"PREFIX": str(prefix)}))
    if desktop is not None:
        values = {"USER": desktop.name, "UID": str(desktop.uid), "HOME": desktop.home}
        template = (TEMPLATES / "movinet-kiosk-desktop.conf").read_text(encoding="utf-8")
        say(f"Writing {layout.desktop_dropin}")
        write_file(layout.desktop_dropin, render(template, values))
    elif layout.desktop_dropin.exists():
        say(f"Removing {layout.desktop_dropin} (console set-up now)")
        remove_dropin(layout)

    write_network_dropin(layout)

    if use_systemctl:
        enable(layout, live)
    say(f"Installed {layout.unit_name}. Its settings: {layout.system_config} (after a change: config check, restart)")


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


def broker_addresses(config: Path) -> str | None:
    """The drop-in's address lines for the config's MQTT broker, or None if it sets no `mqtt`."""
    import ipaddress

    from app.cli import build_parser
    from app.settings.config import read_config

    values, _ = read_config(config, build_parser().run_command)
    url = values.get("mqtt")
    if url is None:
        return None
    try:
        address = ipaddress.ip_address(url.host)
    except ValueError:  # a name: its address may change (DHCP, mDNS), so no address filter
        return "# The broker is given by name (its address may change): any address.\nIPAddressDeny="
    return f"# Only the broker (IPAddressDeny=any stays).\nIPAddressAllow={address}"


def write_network_dropin(layout: Layout) -> None:
    """Network for MQTT only while the config asks for it (see systemd/movinet-mqtt-network.conf)."""
    addresses = broker_addresses(layout.config)
    if addresses is not None:
        say(f"Writing {layout.network_dropin} (mqtt is set: the service may reach its broker)")
        template = (TEMPLATES / "movinet-mqtt-network.conf").read_text(encoding="utf-8")
        write_file(layout.network_dropin, render(template, {"ADDRESSES": addresses}))
    elif layout.network_dropin.exists():
        say(f"Removing {layout.network_dropin} (mqtt is no longer set: no network)")
        layout.network_dropin.unlink()


def remove_dropin(layout: Layout) -> None:
    layout.desktop_dropin.unlink(missing_ok=True)
    # Only an empty folder: `systemctl edit` overrides in it are the user's.
    if layout.dropin_dir.is_dir() and not any(layout.dropin_dir.iterdir()):
        layout.dropin_dir.rmdir()


def uninstall(name: str, root: Path = Path("/"), use_systemctl: bool = True) -> None:
    layout = Layout(root, name)
    live = root == Path("/")
    if use_systemctl and layout.unit.exists():
        # Not installed as far as systemd knows (e.g. removed by hand) is fine here.
        systemctl(root, "disable", *(["--now"] if live else []), layout.unit_name, check=False)
    for path in (layout.unit, layout.desktop_dropin, layout.network_dropin):
        if path.exists():
            say(f"Removing {path}")
            path.unlink()
    remove_dropin(layout)
    if use_systemctl and live:
        systemctl(root, "daemon-reload")
        systemctl(root, "reset-failed", layout.unit_name, check=False)
    kept = [str(layout.config), str(root / "var/log/movinet")]
    if layout.dropin_dir.exists():
        kept.append(f"{layout.dropin_dir} (your overrides)")
    say(f"Uninstalled {layout.unit_name}. Kept: {', '.join(kept)} and the {SERVICE_USER} user")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.service", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("install", "uninstall"))
    parser.add_argument("name", choices=SERVICES, metavar="kiosk|logger")
    parser.add_argument("--root", type=Path, default=Path("/"), help="install into this folder instead of / (tests)")
    parser.add_argument("--prefix", type=Path, default=PROJECT_ROOT, help="the project checkout (default: this one)")
    parser.add_argument("--no-systemctl", action="store_true", help="only write files: no enable, start or stop")
    display = parser.add_mutually_exclusive_group()
    display.add_argument("--console", action="store_true", help="kiosk: draw on the screen via DRM (no desktop)")
    display.add_argument("--desktop-user", metavar="USER", help="kiosk: show in this user's desktop session")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = args.root.resolve()
    try:
        if root == Path("/") and os.geteuid() != 0:
            raise AppError("installing a service changes the system: run it with sudo (setup.sh does)")
        if args.action == "install":
            if args.name == "logger" and (args.console or args.desktop_user):
                raise AppError("--console and --desktop-user are for the kiosk")
            install(args.name, root, args.prefix.resolve(), args.console, args.desktop_user, not args.no_systemctl)
        else:
            uninstall(args.name, root, not args.no_systemctl)
    except AppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
