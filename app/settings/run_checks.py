"""Every check of `run`'s options that needs no camera or network (the model is loaded for `config check`).

`run` makes them before it opens anything and `config check` makes the same ones, so a
config the check accepts is one `run` starts with (a service that restart-loops on a
bad value is found when it is installed, not at boot). Each check raises the error the
part of the app using the option raises itself; `config check` collects them all.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from app import assets
from app.display.pictures import pictures_dir
from app.display.preview import check_fullscreen, check_preview_fits
from app.errors import AppError, OptionError
from app.inference.sampling import context_steps
from app.input_files import regular_file
from app.logs.options import log_settings
from app.mqtt.settings import mqtt_settings
from app.settings.model import check_classifier
from app.settings.overwrite import model_inputs, refuse_overwriting
from app.sources import file_path, is_pi_camera
from app.web.view import load_token, parse_listen

Check = Callable[[argparse.Namespace], None]


def _model_files(args: argparse.Namespace) -> None:
    model = assets.resolve_model(args.model)
    if not regular_file(model, "model"):
        fix = "run ./setup.sh or `python -m app models fetch`"
        if args.model is None:
            raise AppError(f"model not found: {model} ({fix})")
        raise OptionError("model", f"{args.model}: not found: {model} ({fix})")
    if args.labels is not None and not regular_file(args.labels, "label file"):
        raise OptionError("labels", f"{args.labels}: no such file")


def _context(args: argparse.Namespace) -> None:
    context_steps(args.context, args.fps)


def _source(args: argparse.Namespace) -> None:
    path = file_path(args.source)
    if path is not None and not regular_file(path, "video"):
        raise OptionError(
            "source", f"{args.source}: no such file (or a camera name mistyped: auto, picam, /dev/videoN)"
        )


def _preview(args: argparse.Namespace) -> None:
    if is_pi_camera(args.source) is False:
        check_preview_fits(args.preview, False, args.source)
    check_fullscreen(args.fullscreen, args.preview)


def _logging(args: argparse.Namespace) -> None:
    log_settings(args)


def _outputs(args: argparse.Namespace) -> None:
    refuse_overwriting({"record": args.record, "log": args.log, "csv": args.csv}, model_inputs(args))


def _web(args: argparse.Namespace) -> None:
    if args.web is not None:
        parse_listen(args.web)
        if args.web_token_file is not None:
            load_token(args.web_token_file, {})
    elif args.teach_set is not None:
        raise OptionError("teach_set", "is the web view's Teach page's set: it needs --web")


def _pictures(args: argparse.Namespace) -> None:
    pictures_dir(args)


def _mqtt(args: argparse.Namespace) -> None:
    mqtt_settings(args, {})  # URL, CA file, password file; the broker itself is only met by `run`


CHECKS: tuple[Check, ...] = (_source, _model_files, _context, _preview, _logging, _pictures, _outputs, _web, _mqtt)


def run_option_problems(args: argparse.Namespace, load_model: bool = False) -> list[AppError]:
    """Every problem found, in the order `run` would meet them.

    `load_model`: also load the model and label map as `run` does next (config check; `run`
    itself loads them right after these checks, once).
    """
    problems = []
    for check in CHECKS:
        try:
            check(args)
        except AppError as exc:
            problems.append(exc)
    if load_model and not problems:  # as `run` gets there only when all the rest is right
        try:
            check_classifier(args)
        except AppError as exc:
            problems.append(exc)
    return problems


def check_run_options(args: argparse.Namespace) -> None:
    """Raise the first problem `run_option_problems` finds."""
    problems = run_option_problems(args)
    if problems:
        raise problems[0]
