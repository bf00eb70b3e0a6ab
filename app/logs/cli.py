"""`python -m app plot LOG` and `python -m app summary LOG`: their flags, read into typed values."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.logs.plot import DEFAULT_SIZE, PALETTE, parse_size, plot_log
from app.logs.summary import print_summary
from app.settings.argtypes import positive_int, up_to
from app.settings.flags import add_event_arguments, given_thresholds


def add_plot_command(commands: argparse._SubParsersAction) -> None:
    plot = commands.add_parser("plot", help="draw the top-5 actions over time from a --log (or --json output) as a PNG")
    plot.add_argument("log", metavar="LOG", help="a `run --log` file (with its rotated files) or --json output")
    plot.add_argument("-o", "--output", type=Path, metavar="PNG", help="the image to write (default: LOG with .png)")
    plot.add_argument(
        "--size", default=DEFAULT_SIZE, metavar="WxH", help=f"image size in pixels (default {DEFAULT_SIZE})"
    )
    plot.add_argument(
        "--top",
        type=up_to(len(PALETTE), positive_int, ": more lines are not told apart; the rest is drawn as other"),
        default=5,
        metavar="N",
        help=f"actions drawn in colour, those with the longest events (default 5, at most {len(PALETTE)})",
    )
    add_event_arguments(plot, defaults=False)
    plot.set_defaults(handler=run_plot)


def run_plot(args: argparse.Namespace) -> int:
    plot_log(args.log, args.output, parse_size(args.size), args.top, given_thresholds(args))
    return 0


def add_summary_command(commands: argparse._SubParsersAction) -> None:
    summary = commands.add_parser("summary", help="list the action events of a --log (or --json output) as a table")
    summary.add_argument(
        "log", metavar="LOG", help="a `run --log` file (its rotated files are read too) or --json output"
    )
    add_event_arguments(summary, defaults=False)
    summary.set_defaults(handler=run_summary)


def run_summary(args: argparse.Namespace) -> int:
    print_summary(args.log, given_thresholds(args))
    return 0
