"""Command line: `python -m app COMMAND ...`."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from app import assets
from app.bench.cli import add_bench_command
from app.classify import classify_video
from app.display.pictures import attach_event_pictures
from app.display.preview import attach_outputs, attach_snapshot
from app.errors import AppError
from app.eval.cli import add_eval_command
from app.logs.attach import attach_logs
from app.logs.cli import add_plot_command, add_summary_command
from app.mqtt import attach_mqtt
from app.overlay import OverlaySettings, overlay_for
from app.pipeline import Pipeline, PipelineOptions
from app.results import Result, StepResult, console_line, ranked_lines, top_text
from app.service.sdnotify import attach_systemd
from app.settings.argtypes import seconds_up_to_a_day
from app.settings.config import ConfigFile, load_config_file, parse_config
from app.settings.flags import add_overlay_options, add_run_arguments
from app.settings.model import open_classifier
from app.settings.options import (
    add_decode_options,
    add_model_options,
    add_result_options,
    max_pixels,
    model_settings,
)
from app.settings.overwrite import model_inputs, refuse_overwriting
from app.settings.run import run_settings, run_settings_problems
from app.sources import SourceSettings
from app.sources.files import frame_count
from app.sysinfo import SystemInfo
from app.teach.cli import add_teach_command
from app.web.view import attach_web


class AppParser(argparse.ArgumentParser):
    """The top-level parser (and, as argparse makes them of its class, every command's),
    keeping a handle on `run` so config files can fill it in."""

    run_command: argparse.ArgumentParser

    def error(self, message: str) -> NoReturn:
        """A mistyped flag or value: one line and exit 2, where argparse printed its usage block first."""
        self.exit(2, f"error: {message} (`{self.prog} --help` lists the options)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    config: ConfigFile | None = None
    try:
        if getattr(args, "config", None) is not None:
            # The file's values become defaults, so flags on the command line still win.
            config = load_config_file(args.config, parser.run_command)
            parser.run_command.set_defaults(**config.values)
            args = parser.parse_args(argv)
        return args.handler(args)
    except AppError as exc:
        print(f"error: {config.describe(exc, args) if config else exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        # The net under every path a user gives: a name longer than the file system takes.
        print(f"error: {exc.filename}: file name too long (at most 255 bytes a name)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `python -m app classify --json x.mp4 | head`
        sys.stderr.close()
        return 0


def build_parser() -> AppParser:
    parser = AppParser(prog="python -m app", description="Live action recognition with MoViNet-Stream.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    classify = commands.add_parser("classify", help="classify video files (mp4, avi, mkv, GIF, ...)")
    classify.add_argument("videos", nargs="+", metavar="VIDEO")
    add_model_options(classify)
    add_result_options(classify)
    add_decode_options(classify)
    classify.add_argument("--json", action="store_true", help="print one JSON object per model step")
    classify.set_defaults(handler=run_classify)

    run = commands.add_parser("run", help="classify a live camera, stream or file as it plays")
    add_run_arguments(run)
    run.set_defaults(handler=run_live)
    parser.run_command = run

    snapshot = commands.add_parser("snapshot", help="run a source a while and save a frame with the overlay (PNG)")
    snapshot.add_argument("--source", default="auto", help="as for run: a file, a camera or a stream")
    snapshot.add_argument("-o", "--output", type=Path, default=Path("snapshot.png"), help="picture (snapshot.png)")
    snapshot.add_argument(
        "--seconds",
        type=seconds_up_to_a_day,
        help="stop after this much video (default: a file's end, 5 s of a camera)",
    )
    snapshot.add_argument("--realtime", action="store_true", help="play a file at its own rate, like a camera")
    add_model_options(snapshot)
    add_result_options(snapshot, live=True)
    add_decode_options(snapshot)
    add_overlay_options(snapshot.add_argument_group("overlay"))
    snapshot.set_defaults(handler=run_snapshot)

    config = commands.add_parser("config", help="check a config file for `run --config`")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_commands.add_parser("check", help="report every problem in a config file, with key and line")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=run_config_check)

    add_bench_command(commands)
    add_teach_command(commands)

    demo = commands.add_parser("demo", help="classify the demo clip and show the top-5 as it evolves")
    add_model_options(demo)
    add_result_options(demo)
    demo.set_defaults(handler=run_demo)

    evaluate = add_eval_command(commands)
    add_model_options(evaluate)
    add_result_options(evaluate, live=True)  # for the session; clips are scored as classify does
    add_decode_options(evaluate)
    add_plot_command(commands)
    add_summary_command(commands)

    models = commands.add_parser("models", help="list, fetch or verify the official models")
    models_commands = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    models_commands.add_parser("list", help="the official variants and whether each is installed").set_defaults(
        handler=run_models_list
    )
    fetch = models_commands.add_parser("fetch", help="download and verify models (default: the default set)")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="model names from `models list`, or `all`")
    fetch.add_argument("--force", action="store_true", help="download again even if installed")
    fetch.set_defaults(handler=run_models_fetch)
    models_commands.add_parser("verify", help="check the installed files' sha256").set_defaults(
        handler=run_models_verify
    )
    return parser


def run_classify(args: argparse.Namespace) -> int:
    settings = model_settings(args)
    classifier, top_k = open_classifier(settings)
    for video in args.videos:
        results = classify_video(classifier, video, top_k, settings.fps, max_pixels(args))
        if args.json:
            for result in _with_progress(results, video):
                print(json.dumps({"file": video, **result.as_json()}), flush=True)
        else:
            last = _last(_with_progress(results, video))
            print(f"{video}: {classifier.frames_seen} model steps over {last.t:.1f} s")
            _print_top(last)
    return 0


def run_live(args: argparse.Namespace) -> int:
    settings = run_settings(args)  # every option checked before anything opens
    classifier, top_k = open_classifier(settings.model)
    source = settings.source.open(classifier.input_size, settings.pipeline.fps)
    pipeline = Pipeline(source, classifier, top_k, settings.pipeline)
    pictures = settings.pictures.folder if settings.pictures else None  # the log, MQTT and the web view point here
    # The order listeners run in is the pipeline's Stage, not the order of these lines.
    attach_logs(pipeline, settings.logs, pictures)
    if settings.console == "json":
        pipeline.on_result(to_console(lambda r: print(json.dumps(r.as_json()), flush=True)))
    elif settings.console == "lines":
        pipeline.on_result(to_console(lambda r: print(console_line(r), flush=True)))
    # One overlay for the run: the previews, the recording, the web view and the event
    # pictures show the same labels, smoothed once per result (and not at all when none is on).
    overlay = overlay_for(settings.overlay, classifier.model_path.stem)
    if settings.pictures is not None:
        attach_event_pictures(pipeline, settings.pictures, overlay, settings.events.detector())
    attach_web(pipeline, settings.web, settings.model, overlay, pictures)
    attach_mqtt(pipeline, settings.mqtt, settings.events.detector(), settings.model.allow, SystemInfo().read, pictures)
    attach_systemd(pipeline)
    main_loop = attach_outputs(pipeline, settings.preview, overlay)
    pipeline.run(main_loop=main_loop)
    return 0


def run_snapshot(args: argparse.Namespace) -> int:
    refuse_overwriting({"output": args.output}, model_inputs(args))
    settings = model_settings(args)
    classifier, top_k = open_classifier(settings)
    source = SourceSettings(args.source, args.realtime, max_pixels=max_pixels(args))
    pipeline = Pipeline(
        source.open(classifier.input_size, settings.fps), classifier, top_k, PipelineOptions(settings.fps)
    )
    overlay = overlay_for(OverlaySettings(settings.top_k, args.smoothing, args.hold), classifier.model_path.stem)
    snapshot = attach_snapshot(pipeline, args.output, args.seconds, overlay)
    pipeline.run()
    print(f"wrote {snapshot.path} ({snapshot.size[0]}x{snapshot.size[1]}), showing:")
    print("\n".join(ranked_lines(snapshot.shown)))
    return 0


def to_console(printer: Callable[[Result], None]) -> Callable[[Result], None]:
    """A result printer that goes quiet once its terminal is gone (EIO after an SSH session
    closed) instead of ending the run with an error; the log and other outputs carry on.
    A closed pipe (`run --json | head`) still ends the run, as the reader has left."""
    gone = False

    def listener(result: Result) -> None:
        nonlocal gone
        if gone:
            return
        try:
            printer(result)
        except BrokenPipeError:
            raise
        except OSError:
            gone = True

    return listener


def run_config_check(args: argparse.Namespace) -> int:
    """The file's own problems, then everything `run --config FILE` would refuse before starting."""
    run_command = build_parser().run_command  # a fresh parser: the file's values become its defaults
    config = parse_config(args.file, run_command)
    problems = config.problems
    if not problems:
        run_command.set_defaults(**config.values)
        run_args = run_command.parse_args([])
        _, errors = run_settings_problems(run_args, env={}, load_model=True)
        problems = [config.describe(error, run_args) for error in errors]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"{args.file}: ok ({len(config.values)} key(s))")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    manifest = assets.load_manifest()
    clip = assets.models_dir() / manifest.demo_clip.file
    if not clip.is_file():
        raise AppError(f"demo clip not found: {clip} (run ./setup.sh or `python -m app models fetch`)")
    settings = model_settings(args)
    classifier, top_k = open_classifier(settings)
    print(
        f"Model {classifier.model_path.name} ({classifier.runtime}, {classifier.threads} threads), "
        f"input {classifier.input_size[0]}x{classifier.input_size[1]}, {settings.fps:g} frames/s"
    )
    print(f"Clip {clip.name}: a person {manifest.demo_clip.details.get('expected', '?')}\n")
    last = None
    for last in classify_video(classifier, clip, top_k, settings.fps):
        print(f"t={last.t:4.1f}s  {top_text(last.top, '  ')}")
    if last is not None:
        print("\nFinal top-5:")
        _print_top(last)
    return 0


def run_models_list(args: argparse.Namespace) -> int:
    manifest = assets.load_manifest()
    directory = assets.models_dir()
    print(f"{'name':<12} {'input':>7} {'quant':<8} {'size':>7}  status      file")
    for key, asset in manifest.models.items():
        size = f"{asset.size / 1e6:.1f}MB" if asset.size else "?"
        marker = " (default)" if key == manifest.default_model else ""
        resolution = asset.details.get("resolution")
        print(
            f"{key:<12} {resolution:>3}x{resolution:<3} {asset.details.get('quantization', ''):<8} {size:>7}  "
            f"{assets.verify(asset, directory):<11} {asset.file}{marker}"
        )
    print(f"\ninstalled in {directory}")
    return 0


def run_models_fetch(args: argparse.Namespace) -> int:
    manifest = assets.load_manifest()
    names = args.names or [manifest.default_model]
    if names == ["all"]:
        names = list(manifest.models)
    wanted = [manifest.model(name) for name in names] + [manifest.labels, manifest.demo_clip]
    for asset in wanted:
        path = assets.fetch(asset, force=args.force)
        print(f"{assets.verify(asset):<10} {path}")
    return 0


def run_models_verify(args: argparse.Namespace) -> int:
    manifest = assets.load_manifest()
    bad = 0
    for asset in [*manifest.models.values(), manifest.labels, manifest.demo_clip]:
        status = assets.verify(asset)
        if status == "missing" and asset.key not in (manifest.default_model, "labels", "demo"):
            continue  # optional variants the user never fetched
        if status == "unreadable":
            raise assets.unreadable_fix(assets.models_dir() / asset.file)
        assets.repair_mode(assets.models_dir() / asset.file)
        print(f"{status:<10} {asset.file}")
        bad += status in ("corrupt", "missing")
    if bad:
        raise AppError(f"{bad} file(s) missing or corrupt: run `python -m app models fetch --force`")
    return 0


def _with_progress(results: Iterator[StepResult], video: str) -> Iterator[StepResult]:
    """Pass results through, showing how far into the file we are when on a terminal."""
    if not sys.stderr.isatty():
        yield from results
        return
    total = None
    for result in results:
        if total is None:  # after the first step: the file is checked (not a FIFO frame_count would wait on)
            total = frame_count(video)
        if total:
            sys.stderr.write(f"\r{video}: {min(100, 100 * (result.frame + 1) // total):3d}%")
        yield result
    sys.stderr.write("\r" + " " * (len(video) + 8) + "\r")


def _last(results: Iterator[StepResult]) -> StepResult:
    last = None
    for result in results:
        last = result
    if last is None:
        raise AppError("the video produced no model steps")
    return last


def _print_top(result: StepResult) -> None:
    print("\n".join(ranked_lines(result.top)))
