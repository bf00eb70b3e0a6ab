"""Can this CPU run LiteRT's CompiledModel? Its feature flags against what that path loads.

ai-edge-litert 2.x's `CompiledModel` loads LiteRT's GPU accelerator library
(`libLiteRtWebGpuAccelerator.so`) whenever it builds a model, even when asked for the CPU
only. That library is compiled for newer CPUs and checks for them as it loads: where one
is missing it prints "FATAL ERROR: This binary was compiled with lse enabled, but this
feature is not available on this processor" and the process dies of SIGILL. A Pi 4, 400
or CM4 (Cortex-A72) and a Pi 3 or Zero 2 W (Cortex-A53) have only `fp asimd evtstrm
crc32 cpuid`; a Pi 5 (Cortex-A76) has them all. The classic Interpreter never loads it.
"""

from __future__ import annotations

import platform
from pathlib import Path

# What the accelerator library checks at load (the X of its "compiled with X enabled"
# messages), mapped to the Linux feature flag that /proc/cpuinfo shows for it. The test
# suite reads the names out of the installed library, so a wheel that needs more fails
# there rather than on a user's Pi.
ACCELERATOR_FEATURES = {
    "aarch64": {
        "aes": "aes",
        "crc": "crc32",
        "dotprod": "asimddp",
        "fp16": "fphp",
        "lse": "atomics",
        "rcpc": "lrcpc",
        "rdm": "asimdrdm",
        "sha2": "sha2",
    },
    "x86_64": {
        "aes": "aes",
        "avx": "avx",
        "cmpxchg16b": "cx16",
        "mmx": "mmx",
        "pclmul": "pclmulqdq",
        "popcnt": "popcnt",
        "sse": "sse",
        "sse2": "sse2",
        "sse3": "pni",
        "sse4.1": "sse4_1",
        "sse4.2": "sse4_2",
        "ssse3": "ssse3",
    },
}


def cpu_flags(cpuinfo: str | None = None) -> set[str] | None:
    """The CPU's feature flags as /proc/cpuinfo lists them (None if it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("Features", "flags"):  # arm, x86
            return set(value.split())
    return None


def compiled_model_missing(machine: str | None = None, flags: set[str] | None = None) -> list[str]:
    """The flags CompiledModel's accelerator needs that this CPU lacks; empty if it can run.

    A CPU whose flags cannot be read is assumed to lack them all: the cost of guessing
    wrong is the slower Interpreter, not a crash.
    """
    needs = ACCELERATOR_FEATURES.get(machine or platform.machine())
    if needs is None:
        return []  # an architecture this wheel does not check (nothing known to crash)
    if flags is None:
        flags = cpu_flags()
    if flags is None:
        return sorted(needs.values())
    return sorted(flag for flag in needs.values() if flag not in flags)
