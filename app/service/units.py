"""The unit files: where they go, and their text from the templates in systemd/.

Paths are written as systemd.syntax(7) reads them: a command's words quoted, `%`
(specifiers) doubled, a URL percent-encoded. A checkout path systemd cannot carry
(`$`, which ExecStart= expands from the environment when the service starts; quotes and
backslashes, which systemd refuses in a command's path; control characters; spaces at the
end, which systemd strips) is refused in one line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from app.service.desktop import DesktopUser
from app.service.progress import say

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = PROJECT_ROOT / "systemd"
SERVICES = ("kiosk", "logger")
SERVICE_USER = "movinet"
DESKTOP_DROPIN = "10-desktop.conf"
NETWORK_DROPIN = "20-mqtt-network.conf"  # only while the config sets `mqtt`


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


# --- systemd.syntax(7) --------------------------------------------------------------------


def unit_path_problem(path: Path) -> str | None:
    """Why a unit file cannot name this path, or None."""
    text = str(path)
    if "$" in text:
        return f"{text} has a $, which systemd replaces from the environment when the service starts: move it"
    if set(text) & set("\"'\\"):
        return f"{text} has a quote or a backslash, which systemd refuses in a command's path: move it"
    if any(ord(char) < 32 or ord(char) == 127 for char in text) or text != text.rstrip():
        return f"{text!r} has control characters or trailing spaces, which a unit file cannot hold: move it"
    return None


def specifiers_escaped(text: str) -> str:
    """`%` starts a specifier (%n: the unit's name) in most settings; `%%` is a plain one."""
    return text.replace("%", "%%")


def command_word(text: str) -> str:
    """One word of an Exec*= command line: double-quoted (C escapes) when it has spaces or quotes."""
    text = specifiers_escaped(text)
    if not re.search(r"[\s\"'\\]", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(layout: Layout, prefix: Path) -> str:
    """The unit from its template, with the checkout's paths as each setting reads them."""
    template = (TEMPLATES / layout.unit_name).read_text(encoding="utf-8")
    values = {
        "PYTHON": command_word(str(prefix / ".venv/bin/python")),
        "WORKDIR": specifiers_escaped(str(prefix)),  # WorkingDirectory= takes the rest of the line as is
        "DOCS": specifiers_escaped("file:" + quote(str(prefix / "README.md"))),
    }
    return render(template, values)


def desktop_dropin_text(desktop: DesktopUser) -> str:
    environment = f"XAUTHORITY={desktop.home}/.Xauthority"
    values = {"USER": desktop.name, "UID": str(desktop.uid), "XAUTHORITY": command_word(environment)}
    return render((TEMPLATES / "movinet-kiosk-desktop.conf").read_text(encoding="utf-8"), values)


# --- drop-ins -----------------------------------------------------------------------------


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
