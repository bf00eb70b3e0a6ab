"""The options that name the model and shape its results, shared by classify, run, snapshot, eval and teach,
and the typed ModelSettings a command hands on (the only place their flag names are read)."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.inference.engine import ANSWER_BLEND, ANSWER_LONGEST, ANSWERS
from app.inference.runtime import RUNTIMES
from app.inference.sampling import CLIP_CONTEXT_S, DEFAULT_FPS, LIVE_CONTEXT_S
from app.settings.argtypes import (
    non_negative_float,
    positive_float,
    positive_int,
    probability,
    split_commas,
    thread_count,
    up_to,
)
from app.settings.model import ModelSettings
from app.sources.files import DEFAULT_MAX_PIXELS
from app.teach.custom import DEFAULT_UNSURE
from app.teach.store import OTHER


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model", help="a model name from `models list` (default a0-int8) or the path of any MoViNet-Stream .tflite"
    )
    group.add_argument("--labels", type=Path, help="label map, one class a line (default: Kinetics-600)")
    group.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="TFLite runtime (default: auto = the fastest installed that this CPU can run)",
    )
    group.add_argument("--threads", type=thread_count, help="CPU threads for the model (default: cores, at most 4)")


# Bounds that keep steps counts finite: a camera gives at most a few dozen frames a
# second, and a day of context is as good as none (0).
MODEL_FPS = up_to(120.0, positive_float)
MEGAPIXELS = up_to(1000.0, positive_float)
CONTEXT_SECONDS = up_to(86400.0, non_negative_float, " (a day; 0 = no limit)")


def add_result_options(parser: argparse.ArgumentParser, live: bool = False) -> None:
    """`live`: the defaults of a camera that should follow changes, not of whole clips."""
    context, answer = (LIVE_CONTEXT_S, ANSWER_BLEND) if live else (CLIP_CONTEXT_S, ANSWER_LONGEST)
    group = parser.add_argument_group("results")
    group.add_argument(
        "--fps", type=MODEL_FPS, default=DEFAULT_FPS, help="frames per second fed to the model (default 5)"
    )
    group.add_argument(
        "--context",
        type=CONTEXT_SECONDS,
        default=context,
        metavar="SECONDS",
        help=f"video a stream holds before it restarts, 0 = everything since the start (default {context:g})",
    )
    group.add_argument(
        "--answer",
        choices=ANSWERS,
        default=answer,
        help="blend: both streams' answers averaged (follows changes); longest: the stream with the longest "
        f"history (whole clips, exactly) (default {answer})",
    )
    group.add_argument(
        "--custom", type=Path, metavar="SET", help="report a taught set's actions instead of Kinetics' (docs/teach.md)"
    )
    group.add_argument(
        "--custom-threshold",
        type=probability,
        default=DEFAULT_UNSURE,
        metavar="P",
        help=f"with --custom: answer '{OTHER}' when no action reaches this probability (default {DEFAULT_UNSURE:g})",
    )
    group.add_argument("--top-k", type=positive_int, default=5, help="how many labels to report (default 5)")
    group.add_argument("--threshold", type=probability, default=0.0, help="hide labels scoring below this (0..1)")
    group.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="LABELS",
        help="only report these labels (comma-separated, repeatable)",
    )
    group.add_argument(
        "--deny",
        action="append",
        default=[],
        metavar="LABELS",
        help="never report these labels (comma-separated, repeatable)",
    )


def add_decode_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-megapixels",
        type=MEGAPIXELS,
        default=DEFAULT_MAX_PIXELS / 1e6,
        metavar="MP",
        help=f"refuse video files and GIFs with larger frames (default {DEFAULT_MAX_PIXELS / 1e6:.1f}, 4096x4096)",
    )


def model_settings(args: argparse.Namespace) -> ModelSettings:
    """The model and result options of any command; those it has not keep ModelSettings' defaults."""
    given = {name: getattr(args, name) for name in MODEL_SETTING_NAMES if hasattr(args, name)}
    for name in ("allow", "deny"):
        if name in given:
            given[name] = tuple(split_commas(given[name]))
    return ModelSettings(**given)


MODEL_SETTING_NAMES = tuple(ModelSettings.__dataclass_fields__)


def max_pixels(args: argparse.Namespace) -> int:
    """--max-megapixels as the pixel count the decoders take."""
    return int(args.max_megapixels * 1e6)
