"""Never write over an input, nor two outputs into one file: an output path that names an
input file (the same file, also through a symbolic or hard link), or another output, is
refused before anything is opened.

`run --source x.mp4 --record x.mp4` would otherwise replace the clip being read with a
few frames of the recording, `--log` or `--csv` would append text to it (or to the MQTT
password file), and `--log x.mp4 --record x.mp4` would lose the log inside the video.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from app import assets
from app.errors import AppError, OptionError
from app.sources import file_path

Paths = Mapping[str, Path | None]

#: What each output is to a user (messages name no flag: the option may be a config key).
OUTPUT_NOUNS = {"log": "log file", "csv": "CSV file", "record": "recording"}


def model_inputs(args: argparse.Namespace) -> dict[str, Path | None]:
    """The files `run` and `snapshot` read: the video source, the model, the labels, the config,
    token, password and CA files."""
    try:
        source = file_path(args.source)
    except AppError:
        source = None  # a bad --source is reported by its own check
    try:
        model: Path | None = assets.resolve_model(args.model)
    except AppError:
        model = None
    return {
        "video source": source,
        "model": model,
        "label file": args.labels or assets.default_labels_path(),
        "config file": getattr(args, "config", None),
        "web token file": getattr(args, "web_token_file", None),
        "MQTT password file": getattr(args, "mqtt_password_file", None),
        "MQTT CA file": getattr(args, "mqtt_ca_file", None),
    }


def same_file(a: Path, b: Path) -> bool:
    """Whether both name one existing file (compared by device and inode, so links count)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): nothing to overwrite
        return False


def same_place(a: Path, b: Path) -> bool:
    """Whether two outputs end up in one file: the same file now, or the same path once created."""
    return same_file(a, b) or os.path.realpath(a) == os.path.realpath(b)


def refuse_overwriting(outputs: Paths, inputs: Paths) -> None:
    """OptionError for the first output that is one of the inputs, or another output.

    Keys are option names without dashes (`record`, `log`) for outputs, and what the
    input is to a user (`video source`, `model`) for inputs.
    """
    given = [(option, output) for option, output in outputs.items() if output is not None]
    for option, output in given:
        for what, path in inputs.items():
            if path is not None and same_file(output, path):
                same = "" if os.path.abspath(output) == os.path.abspath(path) else f" ({path})"
                problem = f"{output} is the {what}{same}: writing it would destroy it; choose another file"
                raise OptionError(option, problem)
    for index, (option, output) in enumerate(given):
        for other, path in given[:index]:
            if same_place(output, path):
                noun = OUTPUT_NOUNS.get(other, other)
                raise OptionError(option, f"{output} is the {noun} too: each output needs a file of its own")
