"""The Pi's temperature and throttling, from a fake sysfs file and a fake vcgencmd."""

from __future__ import annotations

import pytest

from app import sysinfo
from app.sysinfo import SystemInfo, cpu_temperature, decode_throttled, run_vcgencmd


def test_temperature_from_sysfs(tmp_path):
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    assert cpu_temperature(zone) == pytest.approx(48.312)
    zone.write_text("not a number")
    assert cpu_temperature(zone) is None
    assert cpu_temperature(tmp_path / "absent") is None


@pytest.mark.parametrize(
    ("text", "now", "since_boot"),
    [
        ("throttled=0x0\n", [], []),
        ("throttled=0x50000\n", [], ["under-voltage", "throttled"]),
        ("throttled=0x50005\n", ["under-voltage", "throttled"], ["under-voltage", "throttled"]),
        ("throttled=0xe000e", ["frequency capped", "throttled", "soft temperature limit"], ["frequency capped",
         "throttled", "soft temperature limit"]),
    ],
)  # fmt: skip
def test_throttle_bits(text, now, since_boot):
    decoded = decode_throttled(text)
    assert decoded is not None
    assert decoded["now"] == now and decoded["since_boot"] == since_boot
    assert decoded["raw"] == text.strip().removeprefix("throttled=")


def test_unreadable_throttle_output():
    assert decode_throttled('error=1 error_msg="Command not registered"') is None


def fake_vcgencmd(folder, output: str, status: int = 0) -> None:
    script = folder / "vcgencmd"
    script.write_text(f"#!/bin/sh\necho '{output}'\nexit {status}\n")
    script.chmod(0o755)


def test_vcgencmd_is_optional(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert run_vcgencmd() is None  # not installed
    fake_vcgencmd(tmp_path, "throttled=0x50000")
    assert run_vcgencmd() == "throttled=0x50000\n"
    fake_vcgencmd(tmp_path, "VCHI initialization failed", status=255)  # not in the video group
    assert run_vcgencmd() is None


def test_throttling_is_asked_at_most_every_few_seconds(monkeypatch):
    calls = []

    def vcgencmd() -> str:
        calls.append(1)
        return "throttled=0x4"

    info = SystemInfo(temperature=lambda: 51.0, vcgencmd=vcgencmd)
    for _ in range(5):
        assert info.read() == {
            "cpu_temp_c": 51.0,
            "throttled": {"raw": "0x4", "now": ["throttled"], "since_boot": []},
        }
    assert len(calls) == 1
    monkeypatch.setattr(sysinfo, "THROTTLE_CACHE_S", 0.0)
    info.read()
    assert len(calls) == 2
