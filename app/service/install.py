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
data) and the movinet user (it may own files there) stay; docs/services.md says how to remove them.

The kiosk's display depends on how the Pi boots: to a console (Raspberry Pi OS Lite), the
service user draws on the screen through DRM; to a desktop, it must be a window in the
desktop session, so it runs as the user the desktop logs in automatically
(systemd/movinet-kiosk-desktop.conf says why). That is detected from the system
(display-manager.service enabled, graphical.target the default, LightDM's autologin
user) unless --console or --desktop-user says.

Standard library only, so uninstalling works with the system Python and no venv. The
flow is here; units.py renders the unit files, checks.py checks what the service's user
can run, desktop.py picks the kiosk's display, system.py makes the system's changes.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.errors import AppError
from app.service.checks import (
    check_config,
    check_prefix,
    files_the_service_reads,
    preview_mismatch,
    service_user_problem,
    under_home,
    unreadable_for,
)
from app.service.desktop import check_desktop_groups, choose_desktop
from app.service.progress import say, warn
from app.service.system import enable, ensure_service_user, systemctl
from app.service.units import (
    PROJECT_ROOT,
    SERVICE_USER,
    TEMPLATES,
    Layout,
    desktop_dropin_text,
    remove_dropin,
    unit_path_problem,
    unit_text,
    write_file,
    write_network_dropin,
)

# The camera (video), the GPU and dma-heaps (render), and the kiosk's keyboard (input).
SERVICE_GROUPS = {"kiosk": ("video", "render", "input"), "logger": ("video", "render")}


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
    if problem := unit_path_problem(prefix):
        raise AppError(problem)
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
    write_file(layout.unit, unit_text(layout, prefix))
    if desktop is not None:
        say(f"Writing {layout.desktop_dropin}")
        write_file(layout.desktop_dropin, desktop_dropin_text(desktop))
    elif layout.desktop_dropin.exists():
        say(f"Removing {layout.desktop_dropin} (console set-up now)")
        remove_dropin(layout)

    write_network_dropin(layout)

    if use_systemctl:
        enable(layout, live)
    say(f"Installed {layout.unit_name}. Its settings: {layout.system_config} (after a change: config check, restart)")


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
