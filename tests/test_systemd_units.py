"""The systemd services as installed: file layout, `systemd-analyze verify`, exposure scores.

The installer runs as a user would (`python -m app.service`), but always with
`--root` into a temporary folder, so nothing here touches the system: no user is
created and systemctl only links files offline (`systemctl --root`). The units are then
checked where they were installed, with the real systemd-analyze.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
from helpers import PROJECT_ROOT, run_app

from app.service.checks import files_the_service_reads, service_user_problem, unreadable_for
from app.service.units import SERVICES, Layout

ANALYZE = shutil.which("systemd-analyze")
# Skipped where systemd's own tool is missing, except in CI (CI=true), where `setup.sh --dev`
# installs it: there a missing tool fails these tests instead of passing them unchecked.
IN_CI = os.environ.get("CI", "").lower() == "true"
needs_analyze = pytest.mark.skipif(
    ANALYZE is None and not IN_CI, reason="systemd-analyze (systemd's own tool) is not installed"
)
ANALYZE_MISSING = "systemd-analyze is not installed: ./setup.sh --dev installs it (Debian package systemd)"
MAX_EXPOSURE = {"logger": 2.0, "kiosk": 4.0}
PYTHON = PROJECT_ROOT / ".venv/bin/python"


def installer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.service", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def install(root: Path, name: str, *options: str) -> subprocess.CompletedProcess:
    result = installer("install", name, "--root", str(root), *options)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def make_desktop_root(root: Path, autologin: str | None = "pi") -> Path:
    """What Raspberry Pi OS with Desktop Autologin looks like to the installer."""
    (root / "etc/lightdm").mkdir(parents=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    login = f"autologin-user={autologin}" if autologin else "#autologin-user="
    (root / "etc/lightdm/lightdm.conf").write_text(f"[LightDM]\n[Seat:*]\ngreeter-session=pi-greeter\n{login}\n")
    (root / "etc/systemd/system/display-manager.service").symlink_to("/lib/systemd/system/lightdm.service")
    (root / "etc/systemd/system/default.target").symlink_to("/lib/systemd/system/graphical.target")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000:,,,:/home/pi:/bin/bash\n")
    return root


def settings(path: Path) -> dict[str, list[str]]:
    """A unit file's assignments, key -> values in order (comments and sections left out)."""
    values: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def verify(unit: Path) -> list[str]:
    """Everything `systemd-analyze verify` complains about: warnings go to stderr with exit 0."""
    assert ANALYZE is not None, ANALYZE_MISSING
    result = subprocess.run([ANALYZE, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=30)
    problems = [line for line in result.stderr.splitlines() if line.strip()]
    if result.returncode != 0:
        problems.append(f"exit status {result.returncode}")
    return problems


def exposure(unit: Path) -> float:
    assert ANALYZE is not None, ANALYZE_MISSING
    result = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(unit)], capture_output=True, text=True, timeout=30
    )
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, f"no overall exposure in:\n{result.stdout}{result.stderr}"
    return float(match[1])


@pytest.fixture
def console_root(tmp_path: Path) -> Path:
    """Both services installed on a console-only Pi (Raspberry Pi OS Lite), logger first."""
    root = tmp_path / "console"
    install(root, "logger")
    install(root, "kiosk")
    return root


@pytest.fixture
def desktop_root(tmp_path: Path) -> Path:
    root = make_desktop_root(tmp_path / "desktop")
    install(root, "kiosk")
    return root


def test_installed_layout_points_at_the_real_checkout(console_root: Path) -> None:
    for name in SERVICES:
        layout = Layout(console_root, name)
        assert layout.unit == console_root / f"etc/systemd/system/movinet-{name}.service"
        assert layout.config == console_root / f"etc/movinet/{name}.toml"
        assert layout.config.read_text() == (PROJECT_ROOT / f"systemd/{name}.toml").read_text()
        unit = settings(layout.unit)
        command = unit["ExecStart"][0].split()
        assert command == [str(PYTHON), "-m", "app", "run", "--config", f"/etc/movinet/{name}.toml"]
        assert PYTHON.exists()
        assert unit["WorkingDirectory"] == [str(PROJECT_ROOT)]
        assert not re.search(r"@[A-Z]+@", layout.unit.read_text())  # every placeholder filled in
        for path in (layout.unit, layout.config):
            assert path.stat().st_mode & 0o777 == 0o644
    # Both want the one camera: installing the kiosk disabled the logger.
    wants = console_root / "etc/systemd/system/multi-user.target.wants"
    assert sorted(p.name for p in wants.iterdir()) == ["movinet-kiosk.service"]
    assert not (console_root / "etc/systemd/system/movinet-kiosk.service.d").exists()


def test_units_keep_the_service_contract(console_root: Path) -> None:
    for name in SERVICES:
        unit = settings(Layout(console_root, name).unit)
        for key, value in {
            "Type": "notify",
            "NotifyAccess": "main",
            "WatchdogSec": "30s",
            "Restart": "on-failure",
            "User": "movinet",
            "DevicePolicy": "closed",
            "ProtectSystem": "strict",
            "ProtectHome": "yes",
            "NoNewPrivileges": "yes",
            "CapabilityBoundingSet": "",
            "LogsDirectory": "movinet",
            "IPAddressDeny": "any",
            "RestrictAddressFamilies": "AF_UNIX AF_NETLINK",
            "PrivateTmp": "yes",
            "ProtectProc": "invisible",
            "ProtectKernelTunables": "yes",
            "ProtectKernelModules": "yes",
            "ProtectKernelLogs": "yes",
            "ProtectControlGroups": "yes",
            "ProtectClock": "yes",
            "ProtectHostname": "yes",
            "RestrictNamespaces": "yes",
            "RestrictRealtime": "yes",
            "RestrictSUIDSGID": "yes",
            "LockPersonality": "yes",
            "SystemCallArchitectures": "native",
            "SystemCallErrorNumber": "EPERM",
            "UMask": "0077",
        }.items():
            assert unit.get(key) == [value], (name, key)
        assert unit["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]
        assert "MemoryDenyWriteExecute" not in unit and "ProcSubset" not in unit  # why: see the unit's comments
    logger = settings(Layout(console_root, "logger").unit)
    kiosk = settings(Layout(console_root, "kiosk").unit)
    assert logger["PrivateNetwork"] == ["yes"]
    assert "char-drm rw" not in logger["DeviceAllow"] and "char-drm rw" in kiosk["DeviceAllow"]
    # The logger writes where systemd lets it: under LogsDirectory=, i.e. /var/log/movinet.
    config = Layout(console_root, "logger").config.read_text()
    assert re.search(r'^log = "/var/log/movinet/[^"/]+"$', config, re.MULTILINE)
    assert re.search(r'^preview = "none"$', config, re.MULTILINE)


def test_reinstall_keeps_an_edited_config_and_renews_the_unit(console_root: Path) -> None:
    layout = Layout(console_root, "logger")
    edited = layout.config.read_text().replace('log_level = "events"', 'log_level = "steps"') + "top_k = 3\n"
    layout.config.write_text(edited)
    layout.unit.write_text("[Service]\nExecStart=/bin/false\n")
    result = install(console_root, "logger")
    assert f"Keeping {layout.config}" in result.stdout
    assert layout.config.read_text() == edited
    assert settings(layout.unit)["ExecStart"][0].startswith(str(PYTHON))


def test_reinstall_refuses_a_broken_config(console_root: Path) -> None:
    layout = Layout(console_root, "logger")
    layout.config.write_text('top_kk = 3\npreview = "sideways"\n')
    result = installer("install", "logger", "--root", str(console_root))
    assert result.returncode == 1
    assert "top_kk" in result.stderr and "sideways" in result.stderr


def test_uninstall_removes_the_units_and_keeps_configs_logs_and_overrides(console_root: Path) -> None:
    logs = console_root / "var/log/movinet"
    logs.mkdir(parents=True)
    (logs / "events.jsonl").write_text('{"event": "start"}\n')
    override = console_root / "etc/systemd/system/movinet-kiosk.service.d/override.conf"
    override.parent.mkdir()
    override.write_text("[Service]\nEnvironment=MOVINET_MODELS_DIR=/srv/models\n")
    for name in SERVICES:
        result = installer("uninstall", name, "--root", str(console_root))
        assert result.returncode == 0, result.stderr
        assert not Layout(console_root, name).unit.exists()
        assert Layout(console_root, name).config.exists()
    wants = console_root / "etc/systemd/system/multi-user.target.wants"
    assert not wants.exists() or not list(wants.iterdir())
    assert (logs / "events.jsonl").exists() and override.exists()
    # Uninstalling again is fine: nothing left to do.
    assert installer("uninstall", "kiosk", "--root", str(console_root)).returncode == 0


def test_desktop_kiosk_runs_in_the_autologin_users_session(desktop_root: Path) -> None:
    layout = Layout(desktop_root, "kiosk")
    dropin = settings(layout.desktop_dropin)
    assert dropin["User"] == ["pi"]
    environment = dropin["Environment"][0].split()
    assert {"DISPLAY=:0", "QT_QPA_PLATFORM=xcb", "XDG_RUNTIME_DIR=/run/user/1000"} <= set(environment)
    assert dropin["ProtectHome"] == ["read-only"] and dropin["RemoveIPC"] == ["no"]
    assert re.search(r'^preview = "qt"$', layout.config.read_text(), re.MULTILINE)
    # Back to the console: the drop-in goes, and the kept config's qt preview is pointed out.
    result = install(desktop_root, "kiosk", "--console")
    assert not layout.dropin_dir.exists()
    assert 'preview = "qt" needs a desktop' in result.stderr


def test_desktop_without_autologin_is_refused(tmp_path: Path) -> None:
    root = make_desktop_root(tmp_path, autologin=None)
    result = installer("install", "kiosk", "--root", str(root))
    assert result.returncode == 1
    assert "Desktop Autologin" in result.stderr
    assert not Layout(root, "kiosk").unit.exists()
    assert installer("install", "kiosk", "--root", str(root), "--desktop-user", "pi").returncode == 0


@needs_analyze
def test_installed_units_pass_systemd_analyze_verify(console_root: Path, desktop_root: Path) -> None:
    units = [Layout(console_root, name).unit for name in SERVICES] + [Layout(desktop_root, "kiosk").unit]
    for unit in units:  # a unit's path also loads its .d drop-ins
        assert verify(unit) == [], unit


@needs_analyze
def test_verify_check_catches_real_errors(console_root: Path, tmp_path: Path) -> None:
    """The check above would pass vacuously if systemd-analyze's warnings went unread."""
    good = Layout(console_root, "logger").unit.read_text()
    broken = tmp_path / "broken" / "movinet-logger.service"
    broken.parent.mkdir()
    broken.write_text(good.replace("WatchdogSec=30s", "WatchdogSec=30s\nWatchDogSec=30s"))
    assert any("WatchDogSec" in problem for problem in verify(broken))
    broken.write_text(good.replace(str(PYTHON), "/nonexistent/python"))
    assert verify(broken)


@needs_analyze
def test_exposure_is_within_bounds(console_root: Path, desktop_root: Path) -> None:
    scores = {name: exposure(Layout(console_root, name).unit) for name in SERVICES}
    scores["kiosk (desktop)"] = exposure(Layout(desktop_root, "kiosk").unit)
    print(scores)  # docs/services.md quotes these
    assert scores["logger"] <= MAX_EXPOSURE["logger"]
    assert scores["kiosk"] <= MAX_EXPOSURE["kiosk"]
    assert scores["kiosk (desktop)"] <= MAX_EXPOSURE["kiosk"]


def test_example_configs_pass_config_check(tmp_path: Path) -> None:
    """As shipped, and with every commented-out example key switched on."""
    for name in SERVICES:
        example = PROJECT_ROOT / f"systemd/{name}.toml"
        everything = tmp_path / f"{name}-all.toml"
        everything.write_text(re.sub(r"^# ([a-z_]+ = )", r"\1", example.read_text(), flags=re.MULTILINE))
        for path in (example, everything):
            result = run_app("config", "check", str(path), timeout=60)
            assert result.returncode == 0, result.stdout + result.stderr


def test_a_checkout_the_service_user_cannot_read_is_named() -> None:
    assert "home directories are hidden" in (service_user_problem(Path("/home/pi/movinet-pi")) or "")
    # Not pytest's tmp_path: its parent folder is private to the user running the tests.
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        private = Path(folder) / "private"
        (private / "movinet/app").mkdir(parents=True)
        os.chmod(private, 0o700)
        assert f"read {private} " in (service_user_problem(private / "movinet") or "")
        os.chmod(private, 0o755)
        assert f"read {private} " not in (service_user_problem(private / "movinet") or "")


def test_files_the_service_reads_follow_the_config(tmp_path: Path) -> None:
    """Model and labels as `run` resolves them (names, defaults), plus a file source, relative to the checkout."""
    config = tmp_path / "logger.toml"
    config.write_text('source = "clips/walk.mp4"\nmodel = "a2-int8"\n')
    files = dict(files_the_service_reads(config, Path("/opt/movinet")))
    assert files["model"].name == "movinet_a2_stream_int8.tflite"
    assert files["labels"].name == "kinetics600_label_map.txt"
    assert files["source"] == Path("/opt/movinet/clips/walk.mp4")
    config.write_text('source = "/dev/video0"\n')
    assert "source" not in dict(files_the_service_reads(config, Path("/opt/movinet")))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="checking as another user needs root (CI runs as root)")


@needs_root
def test_files_the_service_user_cannot_read_are_named_with_the_fix() -> None:
    """Checked as the user itself (here `nobody`): a 0600 file, a folder it cannot enter, a missing file."""
    # Not pytest's tmp_path: its parent folder is private to the user running the tests.
    with tempfile.TemporaryDirectory(dir="/var/tmp") as folder:
        prefix = Path(folder)
        os.chmod(prefix, 0o755)
        (prefix / "models").mkdir(mode=0o755)
        model, clip = prefix / "models/a0.tflite", prefix / "clip.mp4"
        model.write_bytes(b"model")
        clip.write_bytes(b"clip")
        files = [("model", model), ("source", clip)]
        assert unreadable_for("nobody", files, prefix) is None

        model.chmod(0o600)
        assert unreadable_for("nobody", files, prefix) == (
            f"the nobody user cannot read the model {model} (-rw-------): "
            f"run ./setup.sh in {prefix} again (it makes the model files readable)"
        )
        model.chmod(0o644)
        clip.chmod(0o600)
        assert unreadable_for("nobody", files, prefix) == (
            f"the nobody user cannot read the source {clip} (-rw-------): sudo chmod a+r {clip}"
        )
        clip.chmod(0o644)
        (prefix / "models").chmod(0o700)
        assert unreadable_for("nobody", files, prefix) == (
            f"the nobody user cannot enter {prefix / 'models'} (drwx------), which holds the model {model}: "
            f"sudo chmod a+x {prefix / 'models'}"
        )
        (prefix / "models").chmod(0o755)
        clip.unlink()
        assert unreadable_for("nobody", files, prefix) == (
            f"the source {clip} does not exist: set source in the config to a file that exists"
        )


def test_mqtt_in_the_config_gives_the_service_network_and_only_then(console_root: Path) -> None:
    """The installer writes the network drop-in while the config sets `mqtt`, and removes it after."""
    layout = Layout(console_root, "logger")
    original = layout.config.read_text()
    assert not layout.network_dropin.exists()  # the example config has no broker: no network
    layout.config.write_text(original + 'mqtt = "mqtt://192.168.1.10"\n')
    assert "mqtt is set" in install(console_root, "logger").stdout
    dropin = settings(layout.network_dropin)
    assert dropin == {
        "PrivateNetwork": ["no"],
        "RestrictAddressFamilies": ["AF_INET AF_INET6"],
        "IPAddressAllow": ["192.168.1.10"],  # and the unit's IPAddressDeny=any still holds for the rest
    }
    if ANALYZE is not None or IN_CI:
        assert verify(layout.unit) == []  # the unit with its drop-in
    layout.config.write_text(original + 'mqtt = "mqtts://homeassistant.local"\n')
    install(console_root, "logger")
    assert settings(layout.network_dropin)["IPAddressDeny"] == [""]  # a name: any address
    layout.config.write_text(original)
    assert "no longer set" in install(console_root, "logger").stdout
    assert not layout.network_dropin.exists()
    layout.config.write_text(original + 'mqtt = "mqtt://192.168.1.10"\n')
    install(console_root, "logger")
    assert installer("uninstall", "logger", "--root", str(console_root)).returncode == 0
    assert not layout.network_dropin.exists()


def test_a_taught_sets_files_are_files_the_service_reads(tmp_path: Path) -> None:
    taught = tmp_path / "kitchen"
    taught.mkdir()
    for name in ("set.json", "head.npz"):
        (taught / name).write_text("-")
    config = tmp_path / "logger.toml"
    config.write_text(f'custom = "{taught}"\n')
    files = files_the_service_reads(config, Path("/opt/movinet"))
    assert [path for key, path in files if key == "custom"] == [taught / "set.json", taught / "head.npz"]


def test_the_brokers_ca_and_password_files_are_files_the_service_reads(tmp_path: Path) -> None:
    ca, password = tmp_path / "ca.pem", tmp_path / "mqtt-password"
    ca.write_text("-")
    password.write_text("secret\n")
    config = tmp_path / "logger.toml"
    config.write_text(f'mqtt = "mqtts://pi@broker"\nmqtt_ca_file = "{ca}"\nmqtt_password_file = "{password}"\n')
    files = dict(files_the_service_reads(config, Path("/opt/movinet")))
    assert (files["mqtt_ca_file"], files["mqtt_password_file"]) == (ca, password)


def odd_checkout(tmp_path: Path, name: str) -> Path:
    """A checkout at a path systemd reads specially: the project's venv, package and models linked in."""
    prefix = tmp_path / name
    prefix.mkdir()
    for entry in (".venv", "app", "models"):
        (prefix / entry).symlink_to(PROJECT_ROOT / entry)
    return prefix


def test_a_checkout_path_with_spaces_and_specifiers_is_quoted_for_systemd(tmp_path: Path) -> None:
    """A space splits ExecStart= into words and %n is the unit's name, unless quoted and escaped."""
    prefix = odd_checkout(tmp_path, "my movinet %n copy")
    root = tmp_path / "root"
    install(root, "logger", "--prefix", str(prefix))
    layout = Layout(root, "logger")
    unit = settings(layout.unit)
    escaped = str(prefix).replace("%", "%%")
    assert unit["ExecStart"] == [f'"{escaped}/.venv/bin/python" -m app run --config /etc/movinet/logger.toml']
    assert unit["WorkingDirectory"] == [escaped]
    assert unit["Documentation"] == ["file:" + quote(f"{prefix}/README.md").replace("%", "%%")]
    if ANALYZE is not None or IN_CI:  # systemd's own reading: the command exists, the URL is one
        assert verify(layout.unit) == []


@pytest.mark.parametrize(("folder", "named"), [("movinet-$HOME", "a $"), ('movinet "copy"', "a quote")])
def test_a_checkout_path_systemd_cannot_run_is_refused(tmp_path: Path, folder: str, named: str) -> None:
    """$HOME in ExecStart= becomes the service user's home at start; a quote makes systemd refuse the unit."""
    prefix = odd_checkout(tmp_path, folder)
    root = tmp_path / "root"
    result = installer("install", "logger", "--root", str(root), "--prefix", str(prefix))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1, result.stderr
    assert named in result.stderr
    assert not Layout(root, "logger").unit.exists()


def test_the_kiosk_never_runs_as_root(tmp_path: Path) -> None:
    """A desktop logged in as root would give the kiosk root's powers, sandbox or not."""
    root = make_desktop_root(tmp_path, autologin="root")
    for options in ((), ("--desktop-user", "root")):
        result = installer("install", "kiosk", "--root", str(root), *options)
        assert result.returncode == 1, result.stdout
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1, result.stderr
        assert "root" in result.stderr
        assert not Layout(root, "kiosk").unit.exists()


def test_a_desktop_home_with_a_space_stays_one_environment_assignment(tmp_path: Path) -> None:
    root = make_desktop_root(tmp_path)
    (root / "etc/passwd").write_text("pi:x:1000:1000:,,,:/home/pi %h x:/bin/bash\n")
    install(root, "kiosk")
    dropin = Layout(root, "kiosk").desktop_dropin
    assert '"XAUTHORITY=/home/pi %%h x/.Xauthority"' in settings(dropin)["Environment"][0]
    if ANALYZE is not None or IN_CI:
        assert verify(Layout(root, "kiosk").unit) == []
