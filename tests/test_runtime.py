"""Runtime choice by CPU, and native output that survives a crash.

Run here on x86 and, by tests/system/arm64.sh, on emulated Pi CPUs, where the CPU
checks meet the real thing: a Cortex-A72 or A53 must never be given the CompiledModel.
"""

from __future__ import annotations

import platform
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import PROJECT_ROOT, RUNTIMES_HERE, run_app

from app.errors import AppError
from app.inference import cpu, runtime
from app.inference.cpu import ACCELERATOR_FEATURES, compiled_model_missing, cpu_flags

# /proc/cpuinfo feature lines of real boards.
PI4_A72 = "fp asimd evtstrm crc32 cpuid"  # Pi 4, 400, CM4; a Pi 3 and Zero 2 W (A53) alike
PI5_A76 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"


def test_a_pi4_lacks_what_the_compiled_model_needs_and_a_pi5_has_it():
    pi4 = cpu_flags(f"processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: {PI4_A72}\nCPU part\t: 0xd08\n")
    pi5 = cpu_flags(f"processor\t: 0\nFeatures\t: {PI5_A76}\n")
    assert compiled_model_missing("aarch64", pi4) == ["aes", "asimddp", "asimdrdm", "atomics", "fphp", "lrcpc", "sha2"]
    assert compiled_model_missing("aarch64", pi5) == []


def test_unreadable_cpu_flags_choose_the_safe_path(monkeypatch):
    assert cpu_flags("no feature line here\n") is None
    monkeypatch.setattr(cpu, "cpu_flags", lambda: None)
    assert compiled_model_missing("aarch64") == sorted(ACCELERATOR_FEATURES["aarch64"].values())


def accelerator_library() -> Path | None:
    try:
        import ai_edge_litert
    except ImportError:
        return None
    path = Path(ai_edge_litert.__file__).parent / "libLiteRtWebGpuAccelerator.so"
    return path if path.is_file() else None


@pytest.mark.skipif(accelerator_library() is None, reason="this ai-edge-litert ships no GPU accelerator library")
def test_every_feature_the_installed_accelerator_checks_is_known():
    """A new wheel that checks for more than the table knows must fail here, not crash a Pi."""
    checked = set(re.findall(rb"compiled with ([\w.]+) enabled", accelerator_library().read_bytes()))
    known = ACCELERATOR_FEATURES[platform.machine()]
    assert checked, "the library no longer says what it needs: check how it fails on a Pi 4"
    assert {name.decode() for name in checked} <= known.keys()


def test_auto_never_picks_the_compiled_model_on_a_cpu_that_lacks_its_features(monkeypatch):
    if "litert-interpreter" not in RUNTIMES_HERE:
        pytest.skip("needs ai-edge-litert")
    monkeypatch.setattr(runtime, "compiled_model_missing", lambda: ["atomics", "asimddp"])
    assert runtime.available_runtimes()[0] == "litert-interpreter"
    with pytest.raises(AppError, match=r"cannot run on this CPU: .*\(atomics asimddp\)"):
        runtime.load_model(PROJECT_ROOT / "README.md", "litert")


def test_forcing_the_compiled_model_here_runs_it_or_refuses_in_one_line(a0_model, clips):
    """On this CPU, for real: an emulated Pi 4 refuses, x86 and a Pi 5 run it."""
    result = run_app("classify", "--runtime", "litert", "--model", str(a0_model), str(clips / "carving_ice_172.mp4"))
    if compiled_model_missing():
        assert result.returncode == 1
        assert result.stderr.strip().count("\n") == 0
        assert "cannot run on this CPU" in result.stderr and "litert-interpreter" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert re.search(r"^ +0\.9\d+  carving ice$", result.stdout, re.MULTILINE), result.stdout


def test_auto_runs_the_demo_clip_on_this_cpu(a0_model, clips):
    result = run_app("classify", "--model", str(a0_model), str(clips / "carving_ice_172.mp4"))
    assert result.returncode == 0, result.stderr
    assert re.search(r"^ +0\.9\d+  carving ice$", result.stdout, re.MULTILINE), result.stdout


CRASH_WHILE_CAPTURED = """
import os, sys
from app.inference.native_stderr import captured_native_stderr
with captured_native_stderr() as native:
    os.write(2, b"INFO: loading\\n")
    os.write(2, b"FATAL ERROR: This binary was compiled with lse enabled\\n")
    os.abort()
"""


def test_a_native_abort_while_loading_still_reaches_the_terminal():
    result = subprocess.run(
        [sys.executable, "-c", CRASH_WHILE_CAPTURED], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -signal.SIGABRT
    assert "FATAL ERROR: This binary was compiled with lse enabled" in result.stderr


def test_native_output_of_a_successful_load_is_kept_from_the_terminal():
    quiet = """
import os
from app.inference.native_stderr import captured_native_stderr
with captured_native_stderr() as native:
    os.write(2, b"INFO: Created XNNPACK delegate.\\nERROR: the one that matters\\nINFO: after\\n")
print(repr(native.last_line()))
"""
    result = subprocess.run([sys.executable, "-c", quiet], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.strip() == repr("ERROR: the one that matters")
