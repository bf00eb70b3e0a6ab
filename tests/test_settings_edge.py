"""The command line stops at the edge: flags are read in app/cli.py, app/settings/ and each
command's own cli.py, and every package below gets typed, frozen settings instead.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest
from helpers import run_app

from app.cli import build_parser
from app.settings.model import ModelSettings
from app.settings.run import RunSettings, run_settings

APP = Path(__file__).resolve().parents[1] / "app"
# Flags of `run` that are not settings: the config file itself, and argparse's own.
NOT_SETTINGS = {"help", "config", "handler"}
PARSING = ("add_argument", "add_parser", "parse_args", "set_defaults")


def is_edge(module: Path) -> bool:
    relative = module.relative_to(APP)
    return relative.parts[0] == "settings" or relative.name == "cli.py"


def namespace_uses(module: Path) -> list[str]:
    """Where a module below the edge reads the command line: a Namespace parameter, an
    argument definition or parsing, or argparse used beyond its ArgumentTypeError."""
    tree = ast.parse(module.read_text(), str(module))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "argparse":
            if node.attr != "ArgumentTypeError":  # a value type's error: how argparse names a bad value
                found.append(f"{module.name}:{node.lineno}: argparse.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PARSING:
            found.append(f"{module.name}:{node.lineno}: {node.func.attr}()")
    return found


def test_no_module_below_the_edge_reads_the_command_line():
    below = [module for module in sorted(APP.rglob("*.py")) if not is_edge(module)]
    assert len(below) > 60  # the scan sees the packages (a moved app/ would make it pass empty)
    uses = [use for module in below for use in namespace_uses(module)]
    assert uses == []


def test_the_scan_finds_a_namespace_parameter(tmp_path):
    """The check above can fail: a module taking `args` is reported."""
    module = tmp_path / "preview.py"
    module.write_text("import argparse\n\ndef attach(pipeline, args: argparse.Namespace) -> None:\n    pass\n")
    assert namespace_uses(module) == ["preview.py:3: argparse.Namespace"]


def test_every_run_flag_becomes_a_setting():
    """A flag added to `run` and not read into the settings would be a config key that does nothing."""
    read = "\n".join((APP / "settings" / name).read_text() for name in ("run.py", "options.py", "flags.py"))
    fields = {field.name for field in dataclasses.fields(ModelSettings)}
    flags = {action.dest for action in build_parser().run_command._actions} - NOT_SETTINGS
    unread = sorted(dest for dest in flags if dest not in fields and not re.search(rf"\bargs\.{dest}\b", read))
    assert len(flags) > 40
    assert unread == []


def test_run_settings_are_typed_and_frozen(a0_model, labels_path, tmp_path):
    model = ["--model", str(a0_model), "--labels", str(labels_path)]
    flags = ["--allow", "a, b", "--allow", "c", "--log", str(tmp_path / "run.jsonl"), "--web", "8080"]
    args = build_parser().parse_args(["run", *model, *flags, "--smoothing", "0.2", "--top-k", "3"])
    settings = run_settings(args, env={})
    assert isinstance(settings, RunSettings)
    assert settings.model.allow == ("a", "b", "c")  # split once, here, not by each package
    assert settings.overlay.rows == 3 and settings.overlay.smoothing == 0.2
    assert settings.pictures is not None and settings.pictures.folder == tmp_path / "pictures"  # beside the log
    assert settings.web is not None and (settings.web.host, settings.web.port) == ("127.0.0.1", 8080)
    assert settings.mqtt is None and settings.console == "lines"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.model.top_k = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "--fps", "0"], "argument --fps: must be greater than 0, got 0"),
        (["run", "--preview", "tv"], "argument --preview: invalid choice: 'tv'"),
        (["teach", "record"], "the following arguments are required: SET, ACTION"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_a_mistyped_flag_is_one_line(args, fragment):
    """argparse printed its usage block (up to 40 lines for `run`) above the error."""
    result = run_app(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert "--help` lists the options" in lines[0]
