"""Never write over an input: an output path that names an input file (the same file, also
through a symbolic or hard link) is refused before anything is opened.

`run --source x.mp4 --record x.mp4` would otherwise replace the clip being read with a
few frames of the recording, and `--log` or `--csv` would append text to it.
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


def model_inputs(args: argparse.Namespace) -> dict[str, Path | None]:
    """The files `run` and `snapshot` read: the video source, the model, the labels, the config and token files."""
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
    }


def same_file(a: Path, b: Path) -> bool:
    """Whether both name one existing file (compared by device and inode, so links count)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): nothing to overwrite
        return False


def refuse_overwriting(outputs: Paths, inputs: Paths) -> None:
    """OptionError for the first output that is one of the inputs.

    Keys are option names without dashes (`record`, `log`) for outputs, and what the
    input is to a user (`video source`, `model`) for inputs.
    """
    for option, output in outputs.items():
        if output is None:
            continue
        for what, path in inputs.items():
            if path is not None and same_file(output, path):
                same = "" if os.path.abspath(output) == os.path.abspath(path) else f" ({path})"
                problem = f"{output} is the {what}{same}: writing it would destroy it; choose another file"
                raise OptionError(option, problem)
