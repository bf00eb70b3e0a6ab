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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import AppError, OptionError
from app.input_files import UnreadableFile, clipped, read_small_text

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


#: A real config is a few kilobytes; refusing a huge file up front keeps `config check`
#: and `run` instant (and their messages short) whatever a file holds.
MAX_CONFIG_BYTES = 64 * 1024
#: Deeper arrays or tables than any option needs; tomllib itself would recurse until Python's limit.
MAX_NESTING = 32
#: A problem's own text is cut here: a 60,000-character value makes no 60 KB line.
MAX_PROBLEM_CHARS = 200
#: Unknown keys listed one by one; beyond this they are summed up in one line.
MAX_UNKNOWN_LISTED = 5


@dataclass
class ConfigFile:
    """A config file read and checked: its values, each key's line, every problem found."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def where(self, key: str) -> str:
        """`FILE:LINE: key`, how messages about a value from this file name it."""
        return f"{self.path}:{self.lines.get(key, '?')}: {clipped(key)}"

    def describe(self, error: AppError, args: argparse.Namespace) -> str:
        """The error's message, naming the key and line when the bad value came from this file."""
        from_here = isinstance(error, OptionError) and error.dest in self.values
        if from_here and getattr(args, error.dest, None) == self.values[error.dest]:  # not overridden by a flag
            return error.in_config(self.where(error.dest))
        return str(error)


def parse_config(path: str | os.PathLike, parser: argparse.ArgumentParser) -> ConfigFile:
    """Parse and check a config file's keys and values one by one (see run_checks for the rest)."""
    config = ConfigFile(Path(path))
    path = config.path
    try:
        text = read_small_text(path, "config file", MAX_CONFIG_BYTES)
    except UnreadableFile as exc:
        config.problems.append(f"{path}: {'no such file' if exc.missing else exc.reason}")
        return config
    except AppError as exc:  # permission denied
        config.problems.append(str(exc))
        return config
    too_deep = _line_nested_deeper_than(text, MAX_NESTING)
    if too_deep is not None:
        config.problems.append(f"{path}:{too_deep}: arrays or tables nested more than {MAX_NESTING} deep")
        return config
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        config.problems.append(f"{path}: not valid TOML: {exc}")
        return config
    except RecursionError:  # nesting the pre-scan missed (e.g. brackets it took for a string)
        config.problems.append(f"{path}: not valid TOML: nested too deeply")
        return config
    config.lines = _key_lines(text)
    actions = config_actions(parser)
    unknown = []
    found: list[tuple[int, str]] = []  # (line, problem), reported in the file's order
    for key, raw in data.items():
        action = actions.get(key)
        if action is None:
            unknown.append(key)
            continue
        try:
            config.values[key] = _convert(action, raw)
        except ValueError as exc:
            found.append((config.lines.get(key, 0), f"{config.where(key)}: {clipped(str(exc), MAX_PROBLEM_CHARS)}"))
    found += _unknown_key_problems(config, unknown, actions)
    config.problems = [problem for _, problem in sorted(found, key=lambda item: item[0])]
    return config


def read_config(path: str | os.PathLike, parser: argparse.ArgumentParser) -> tuple[dict[str, Any], list[str]]:
    """Parse and check a config file: (values by option dest, every problem found)."""
    config = parse_config(path, parser)
    return config.values, config.problems


def load_config(path: str | os.PathLike, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The file's values, or AppError naming the first problem (check lists them all)."""
    return load_config_file(path, parser).values


def load_config_file(path: str | os.PathLike, parser: argparse.ArgumentParser) -> ConfigFile:
    """The checked file, or AppError naming the first problem (check lists them all)."""
    config = parse_config(path, parser)
    problems = config.problems
    if problems:
        more = f" (and {len(problems) - 1} more: run `python -m app config check {path}`)" if len(problems) > 1 else ""
        raise AppError(problems[0] + more)
    return config


def _unknown_key_problems(
    config: ConfigFile, unknown: list[str], actions: dict[str, argparse.Action]
) -> list[tuple[int, str]]:
    lines = config.lines
    if len(unknown) > MAX_UNKNOWN_LISTED:  # one line, not thousands (and no fuzzy matching for each)
        first = min(unknown, key=lambda key: lines.get(key, 0))
        named = ", ".join(repr(clipped(key)) for key in unknown[:MAX_UNKNOWN_LISTED])
        problem = f"{config.where(first)}: {len(unknown)} unknown keys ({named}, ...): see `python -m app run --help`"
        return [(lines.get(first, 0), problem)]
    problems = []
    for key in unknown:
        hint = difflib.get_close_matches(key.replace("-", "_"), actions, n=1)
        problem = f"{config.where(key)}: unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        problems.append((lines.get(key, 0), problem))
    return problems


_KEY_LINE = re.compile(r"^[ \t]*[\"']?([A-Za-z0-9_-]+)[\"']?[ \t]*=", re.MULTILINE)


def _key_lines(text: str) -> dict[str, int]:
    """Each top-level key's first line, in one pass over the text."""
    lines: dict[str, int] = {}
    line, position = 1, 0
    for match in _KEY_LINE.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        lines.setdefault(match.group(1), line)
    return lines


def _line_nested_deeper_than(text: str, limit: int) -> int | None:
    """The line where `[`/`{` nesting first passes `limit`, skipping strings and comments; else None."""
    if text.count("[") + text.count("{") <= limit:  # the usual case: too few brackets to nest that deep
        return None
    depth = 0
    line = 1
    quote = ""
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if char == "\n":
            line += 1
        if quote:
            if char == "\\" and quote == '"':
                index += 2
                continue
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            end = text.find("\n", index)
            index = size if end < 0 else end
            continue
        elif char in "[{":
            depth += 1
            if depth > limit:
                return line
        elif char in "]}":
            depth = max(0, depth - 1)
        index += 1
    return None


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
    if isinstance(raw, str) and isinstance(value, int | float) and not isinstance(value, bool):
        # `threads = "4"`: a quoted number is a string in TOML, and a config that means a number says one
        raise ValueError(f"expected a number, got the string {raw!r}: write it without quotes")
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"must be one of {', '.join(map(str, action.choices))}, got {raw!r}")
    return value
