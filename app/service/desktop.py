"""Which display the kiosk uses: the console (DRM), or the desktop of the user it logs in.

The Pi boots to a desktop when display-manager.service is enabled and graphical.target
is the default; then the kiosk is a window in the session of LightDM's autologin user
(systemd/movinet-kiosk-desktop.conf says why). --console or --desktop-user say instead.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
from dataclasses import dataclass
from pathlib import Path

from app.errors import AppError
from app.service.progress import warn


@dataclass(frozen=True)
class DesktopUser:
    """The user whose desktop session the kiosk shows in."""

    name: str
    uid: int
    home: str


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


def not_root(user: DesktopUser) -> DesktopUser:
    """The kiosk runs as the desktop user: as root, a hole in any library would own the Pi."""
    if user.uid == 0:
        raise AppError(
            f"the kiosk will not run as {user.name} (uid 0), with every privilege: log in to the desktop as an "
            "ordinary user (sudo raspi-config: System Options > Boot / Auto Login) and name it (--desktop-user NAME)"
        )
    return user


def choose_desktop(root: Path, console: bool, desktop_user: str | None) -> DesktopUser | None:
    """The desktop user to show the kiosk as, or None for the console (DRM) set-up."""
    if console:
        return None
    if desktop_user:
        return not_root(lookup_user(root, desktop_user))
    if not boots_to_desktop(root):
        return None
    user = autologin_user(root)
    if user is None:
        raise AppError(
            "this Pi boots to a desktop but no user logs in automatically, so there is no screen for the kiosk "
            "at boot: turn on Desktop Autologin (sudo raspi-config: System Options > Boot / Auto Login), or name "
            "the desktop user (--desktop-user NAME), or boot to the console (Console Autologin) and use --console"
        )
    return not_root(lookup_user(root, user))


def check_desktop_groups(user: DesktopUser) -> None:
    for group in ("video", "render"):
        try:
            if user.name not in grp.getgrnam(group).gr_mem:
                warn(f"{user.name} is not in the {group} group: sudo usermod -aG {group} {user.name}")
        except KeyError:
            pass
