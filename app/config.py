"""TOML config files for `run`: every command-line option is also a config key.

The keys are not listed twice: they are read off the `run` command's own argument
parser, so an option added to the CLI is a config key at once, validated by the same
type checks and choices. A key is the long flag without its dashes, with `_` for `-`
(`--reset-after 3` is `reset_after = 3`). Flags given on the command line override the
file. Unknown keys, wrong types and out-of-range values are errors, never ignored.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from app.errors import AppError

#: Options that make no sense inside a config file.
NOT_CONFIGURABLE = {"help", "config", "handler"}


def config_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Config key -> the argparse action that defines and checks it."""
    actions = {}
    for action in parser._actions:  # argparse has no public way to list them
        if action.dest in NOT_CONFIGURABLE or not action.option_strings:
            continue
        actions[action.dest] = action
    return actions


def read_config(path: str | os.PathLike, parser: argparse.ArgumentParser) -> tuple[dict[str, Any], list[str]]:
    """Parse and check a config file: (values by option dest, every problem found)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, [f"{path}: no such file"]
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"{path}: cannot read: {exc}"]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return {}, [f"{path}: not valid TOML: {exc}"]
    actions = config_actions(parser)
    values: dict[str, Any] = {}
    problems = []
    for key, raw in data.items():
        where = f"{path}:{_line_of(text, key)}: {key}"
        action = actions.get(key)
        if action is None:
            hint = difflib.get_close_matches(key.replace("-", "_"), actions, n=1)
            problems.append(f"{where}: unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            continue
        try:
            values[key] = _convert(action, raw)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    return values, problems


def load_config(path: str | os.PathLike, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The file's values, or AppError naming the first problem (check lists them all)."""
    values, problems = read_config(path, parser)
    if problems:
        more = f" (and {len(problems) - 1} more: run `python -m app config check {path}`)" if len(problems) > 1 else ""
        raise AppError(problems[0] + more)
    return values


def _line_of(text: str, key: str) -> int | str:
    match = re.search(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else "?"


def _convert(action: argparse.Action, raw: Any) -> Any:
    """Check one value the way the command line would, from its TOML type."""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(raw, bool):
            raise ValueError(f"expected true or false, got {raw!r}")
        return raw
    if isinstance(action, argparse._AppendAction):
        items = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(item, str) for item in items):
            raise ValueError(f"expected a list of strings, got {raw!r}")
        return [_convert_scalar(action, item) for item in items]
    return _convert_scalar(action, raw)


def _convert_scalar(action: argparse.Action, raw: Any) -> Any:
    if isinstance(raw, bool | list | dict):
        raise ValueError(f"expected a single value, got {raw!r}")
    convert = action.type
    if convert is None and not isinstance(raw, str):
        raise ValueError(f"expected a string, got {raw!r}")
    try:
        value = convert(str(raw)) if callable(convert) else raw
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise ValueError(str(exc) or f"invalid value {raw!r}") from None
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"must be one of {', '.join(map(str, action.choices))}, got {raw!r}")
    return value
