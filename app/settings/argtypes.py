"""Checked number types for command-line options (and so for config keys, which reuse them).

Each raises argparse.ArgumentTypeError with a message naming the bad value, so argparse
names the option, and `config check` names the key and line, for the same mistake.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from typing import TypeVar

from app.input_files import clipped

N = TypeVar("N", int, float)


def split_commas(texts: Iterable[str]) -> list[str]:
    """Names given comma-separated, in repeatable options or one: ["a, b", "c"] -> ["a", "b", "c"]."""
    return [name.strip() for text in texts for name in text.split(",") if name.strip()]


def _number(text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {noun}, got {clipped(text)!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def probability(text: str) -> float:
    value = _number(text, float)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def up_to(limit: N, convert: Callable[[str], N], why: str = "") -> Callable[[str], N]:
    """`convert`, also refusing values above `limit` (values that reach native code or loops)."""

    def checked(text: str) -> N:
        value = convert(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be at most {limit:g}{why}, got {text}")
        return value

    return checked


#: A Pi has 4 cores and more threads stop helping this model; runtimes take a C int.
thread_count = up_to(64, positive_int)

#: Durations and sizes with a ceiling: waits of 1e300 s overflow the system clock, and a
#: cap of 1e300 MB is no cap. A day and a terabyte are beyond anything a run needs.
seconds_up_to_a_day = up_to(86400.0, positive_float, " (a day)")
megabytes = up_to(1_000_000.0, non_negative_float, " (1 TB; 0 = no limit)")
