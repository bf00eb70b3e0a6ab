"""`python -m app teach add|record|list|remove|fit|group`: see docs/teach.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app import assets
from app.inference.engine import ANSWER_LONGEST, StreamingClassifier
from app.inference.labels import load_labels
from app.inference.sampling import DEFAULT_FPS
from app.settings.argtypes import non_negative_float, positive_float, positive_int, split_commas
from app.settings.options import MODEL_FPS, add_model_options, model_settings
from app.teach.api import Teacher
from app.teach.groups import read_groups
from app.teach.record import (
    DEFAULT_COUNT,
    DEFAULT_COUNTDOWN,
    DEFAULT_PAUSE,
    DEFAULT_SECONDS,
    TakeSettings,
    record_takes,
)
from app.teach.record_view import RECORD_PREVIEWS
from app.teach.store import check_action_name


def add_teach_command(commands: argparse._SubParsersAction) -> None:
    teach = commands.add_parser("teach", help="teach your own actions from a few examples (docs/teach.md)")
    actions = teach.add_subparsers(dest="teach_command", required=True, metavar="ACTION")

    add = with_model(actions.add_parser("add", help="add each clip as one example of ACTION"))
    add.add_argument("set", type=Path, metavar="SET", help="the set's folder (created when missing)")
    add.add_argument("action", metavar="ACTION")
    add.add_argument("clips", nargs="+", metavar="CLIP")
    add.add_argument("--from", dest="start", type=non_negative_float, metavar="S", help="use the clips from S seconds")
    add.add_argument("--to", dest="end", type=positive_float, metavar="S", help="... up to S seconds")
    add.set_defaults(handler=run_add)

    add_record_command(actions)

    listing = actions.add_parser("list", help="the set's actions and examples")
    listing.add_argument("set", type=Path, metavar="SET")
    listing.set_defaults(handler=run_list)

    remove = actions.add_parser("remove", help="remove an action's example N (1 = first), or the whole action")
    remove.add_argument("set", type=Path, metavar="SET")
    remove.add_argument("action", metavar="ACTION")
    remove.add_argument("number", nargs="?", type=positive_int, metavar="N")
    remove.set_defaults(handler=run_remove)

    fit = actions.add_parser("fit", help="fit the set's head and estimate how often it is right")
    fit.add_argument("set", type=Path, metavar="SET")
    fit.set_defaults(handler=run_fit)

    group = actions.add_parser("group", help="an action made of Kinetics labels, no examples needed")
    group.add_argument("set", type=Path, metavar="SET")
    group.add_argument("name", metavar="NAME")
    group.add_argument("labels", metavar="LABEL,LABEL...", help="Kinetics labels, comma-separated")
    group.add_argument("--labels", dest="label_map", type=Path, help="label map (default: Kinetics-600)")
    group.set_defaults(handler=run_group)


def open_teacher(args: argparse.Namespace) -> Teacher:
    """The set with a model that extracts features: one stream over the whole example."""
    model = model_settings(args)
    classifier = StreamingClassifier(
        model.model_path, model.runtime, model.threads, context_steps=0, answer=ANSWER_LONGEST
    )
    return Teacher(args.set, classifier, model.fps)


def with_model(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`parser` with the model options and the model's frame rate, as every command that extracts features has."""
    add_model_options(parser)
    parser.add_argument("--fps", type=MODEL_FPS, default=DEFAULT_FPS, help="frames per second fed to the model (5)")
    return parser


def add_record_command(actions: argparse._SubParsersAction) -> None:
    record = with_model(actions.add_parser("record", help="record examples of ACTION from a camera, with a countdown"))
    record.add_argument("set", type=Path, metavar="SET")
    record.add_argument("action", metavar="ACTION")
    record.add_argument("--source", default="auto", help="as for run: auto, picam, /dev/videoN, a URL or a file")
    record.add_argument("--seconds", type=positive_float, default=DEFAULT_SECONDS, help="length of a take (6)")
    record.add_argument("--count", type=positive_int, default=DEFAULT_COUNT, help="takes to record (3)")
    record.add_argument("--countdown", type=non_negative_float, default=DEFAULT_COUNTDOWN, help="seconds before (3)")
    record.add_argument("--pause", type=non_negative_float, default=DEFAULT_PAUSE, help="seconds between takes (3)")
    record.add_argument("--keep-video", action="store_true", help="also keep each take's frames as SET/videos/ID.mp4")
    record.add_argument(
        "--preview",
        choices=RECORD_PREVIEWS,
        default="auto",
        help="a window with the picture and the countdown: auto (if $DISPLAY), window or none",
    )
    record.set_defaults(handler=run_record)


def run_record(args: argparse.Namespace) -> int:
    fields = ("source", "fps", "seconds", "count", "countdown", "pause", "keep_video", "preview")
    settings = TakeSettings(args.set, args.action, **{name: getattr(args, name) for name in fields})
    record_takes(settings, lambda: open_teacher(args))
    return 0


def run_add(args: argparse.Namespace) -> int:
    check_action_name(args.action)  # before the model loads and the clips are read
    teacher = open_teacher(args)
    # Every clip is read before any is stored: one bad clip adds none.
    features = [teacher.clip_features(clip, args.start, args.end) for clip in args.clips]
    added = teacher.add_all(args.action, features, args.clips)
    total = len(teacher.actions()[args.action])
    for example, clip in zip(added, args.clips, strict=True):
        print(f"added {clip} ({example.start:.1f}-{example.end:.1f} s, {example.steps} steps) to {args.action!r}")
    print(f"{args.action!r} has {total} example(s); run `python -m app teach fit {args.set}` when done")
    return 0


def run_list(args: argparse.Namespace) -> int:
    teacher = Teacher(args.set)
    teacher.check_exists()
    taught = teacher.actions()
    for action, examples in taught.items():
        print(f"{action}: {len(examples)} example(s)")
        for number, e in enumerate(examples, start=1):
            print(f"  {number}. {e.source} {e.start:.1f}-{e.end:.1f} s, {e.steps} steps  {teacher.thumbnail(e)}")
    groups = read_groups(teacher.set, load_labels(assets.default_labels_path()))
    for name, labels in groups.items():
        print(f"{name}: group of {', '.join(labels)}")
    if not taught and not groups:
        print(f"{args.set}: no actions yet")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    gone = Teacher(args.set).remove(args.action, args.number)
    what = f"example {args.number} of" if args.number else f"all {len(gone)} example(s) of"
    print(f"removed {what} {args.action!r}; run `python -m app teach fit {args.set}` again")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    report = Teacher(args.set).fit()
    estimate = report.estimate
    examples = sum(report.actions.values())
    print(f"fitted {len(report.actions)} actions on {examples} examples in {report.seconds:.2f} s")
    print(f"estimate ({estimate.method}, each example answered by a head fitted without it):")
    width = max(len(a) for a in report.actions)
    for action, count in report.actions.items():
        share = estimate.per_action.get(action)
        shown = "   -  (one example: nothing to hold out)" if share is None else f"{share * 100:5.0f}%"
        print(f"  {action:<{width}}  {count:3d} examples  {shown}")
    if estimate.per_action:
        print(f"  overall {estimate.overall * 100:.0f}%")
    for taught, answered, count in estimate.confusions:
        print(f"  confused: {taught!r} answered as {answered!r} ({count}x)")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {args.set / 'head.npz'}")
    return 0


def run_group(args: argparse.Namespace) -> int:
    kinetics = load_labels(args.label_map or assets.default_labels_path())
    Teacher(args.set).group(args.name, split_commas([args.labels]), kinetics)
    print(f"{args.name!r} = {args.labels} in {args.set}")
    return 0
