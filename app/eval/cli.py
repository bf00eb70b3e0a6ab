"""The `eval` command's options, tables and JSON."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from app.eval.score import SWITCH_RUN, ClipScore, SessionScore, read_list, run_session, score_clips
from app.inference.engine import ANSWER_LONGEST
from app.inference.sampling import CLIP_CONTEXT_S
from app.results import scored_text
from app.settings.argtypes import positive_float, up_to
from app.settings.model import open_classifier
from app.settings.options import max_pixels, model_settings

DEFAULT_HOLD_S = 10.0


def add_eval_command(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The command and its own options; the caller adds the model, result and decode options.

    The model opens as every command's does (app/settings/model.py), so eval sees what run sees.
    """
    evaluate = commands.add_parser(
        "eval",
        help="score a model on labelled clips: top-1/top-5 per clip, and live switching with --session",
        description="LIST holds one 'path<TAB>expected label' (or 'path,label') a line; # starts a comment; "
        "paths are relative to the LIST file.",
    )
    evaluate.add_argument("list", type=Path, metavar="LIST")
    evaluate.add_argument(
        "--session",
        action="store_true",
        help="also play the clips back to back as one live stream and score every model step",
    )
    evaluate.add_argument(
        "--hold",
        type=up_to(3600.0, positive_float, " (an hour a clip)"),
        default=DEFAULT_HOLD_S,
        metavar="SECONDS",
        help=f"with --session: seconds each clip is shown, looped if shorter (default {DEFAULT_HOLD_S:g})",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    evaluate.set_defaults(handler=run_eval)
    return evaluate


def run_eval(args: argparse.Namespace) -> int:
    # Clips are scored as `classify` sees them (whole clips); the session as `run` would
    # play it, with the --context and --answer given here (live defaults otherwise).
    # Top-5 needs five labels, whatever --top-k says.
    live = model_settings(args)
    whole_clips = replace(live, context=CLIP_CONTEXT_S, answer=ANSWER_LONGEST, top_k=max(5, live.top_k))
    classifier, top_k = open_classifier(whole_clips)
    clips = read_list(args.list, top_k.labels)
    progress = Progress(sys.stderr)
    pixels = max_pixels(args)
    clip_scores = score_clips(
        classifier,
        clips,
        top_k,
        live.fps,
        pixels,
        lambda done: progress.show(done / len(clips), f"clips {done}/{len(clips)}"),
    )
    setting: dict[str, Any] = {"model": classifier.model_path.name, "runtime": classifier.runtime, "fps": live.fps}
    if live.custom is not None:
        setting["custom"] = str(live.custom)
    failed = [c for c in clip_scores if c.error is not None]
    playable = [c.clip for c in clip_scores if c.error is None]  # the session plays what decodes
    session = None
    if args.session and playable:
        live_classifier, top_k = open_classifier(live)
        total = len(playable) * args.hold
        session = run_session(
            live_classifier,
            playable,
            top_k,
            live.fps,
            args.hold,
            pixels,
            lambda t: progress.show(min(1.0, t / total), f"session {t:.0f}/{total:g} s"),
        )
        setting.update(context=live.context, answer=live.answer)
    progress.clear()
    if args.json:
        print(json.dumps(as_json(setting, clip_scores, session, args.hold)))
    else:
        print_tables(sys.stdout, setting, clip_scores, session, args.hold)
    if failed:  # after the scores of the rest: one line each, and a failing exit
        for score in failed:
            print(f"error: {args.list}:{score.clip.line}: {score.error}", file=sys.stderr)
        return 1
    return 0


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.active = stream.isatty()
        self._shown = ""

    def show(self, fraction: float, text: str) -> None:
        if not self.active:
            return
        filled = round(self.WIDTH * fraction)
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {text}"
        if line != self._shown:
            self.stream.write("\r" + line.ljust(len(self._shown)))
            self.stream.flush()
            self._shown = line

    def clear(self) -> None:
        if self.active and self._shown:
            self.stream.write("\r" + " " * len(self._shown) + "\r")
            self.stream.flush()
            self._shown = ""


def as_json(
    setting: dict[str, Any], clips: list[ClipScore], session: SessionScore | None, hold: float
) -> dict[str, Any]:
    report: dict[str, Any] = {
        **setting,
        "clips": [
            {
                "path": str(c.clip.path),
                "expected": c.clip.expected,
                "steps": c.steps,
                "rank": c.rank,
                "top": [s.as_dict() for s in c.top],
                **({"line": c.clip.line, "error": c.error} if c.error is not None else {}),
            }
            for c in clips
        ],
        "top1": _share(c.rank == 1 for c in _scored(clips)),
        "top5": _share(c.rank is not None and c.rank <= 5 for c in _scored(clips)),
        "failed": sum(c.error is not None for c in clips),
    }
    if session is not None:
        report["session"] = {
            "hold": hold,
            "switch_run": SWITCH_RUN,
            "steps": session.steps,
            "correct": round(session.share, 4),
            "switch_median": _rounded(session.switch_median),
            "switch_worst": _rounded(session.switch_worst),
            "segments": [
                {
                    "path": str(s.clip.path),
                    "expected": s.clip.expected,
                    "start": round(s.segment.start, 3),
                    "steps": s.steps,
                    "correct": round(s.share, 4),
                    "switch": _rounded(s.switch),
                }
                for s in session.segments
            ],
        }
    return report


def print_tables(
    out: TextIO, setting: dict[str, Any], clips: list[ClipScore], session: SessionScore | None, hold: float
) -> None:
    custom = f", taught set {setting['custom']}" if "custom" in setting else ""
    print(f"{setting['model']} ({setting['runtime']}), {setting['fps']:g} fps{custom}", file=out)
    name_width = max(len(c.clip.path.name) for c in clips)
    label_width = max(12, *(len(c.clip.expected) for c in clips))
    print(f"\nclips, each whole as `classify` sees it (context {CLIP_CONTEXT_S:g} s, {ANSWER_LONGEST})", file=out)
    print(f"{'clip':<{name_width}}  {'expected':<{label_width}}  {'rank':>4}  top-1 at the clip's end", file=out)
    for c in clips:
        top1 = scored_text(c.top[0]) if c.top else "-" if c.error is None else f"failed (line {c.clip.line})"
        rank = "-" if c.rank is None else str(c.rank)
        print(f"{c.clip.path.name:<{name_width}}  {c.clip.expected:<{label_width}}  {rank:>4}  {top1}", file=out)
    scored = _scored(clips)
    top1 = _share(c.rank == 1 for c in scored)
    top5 = _share(c.rank is not None and c.rank <= 5 for c in scored)
    failed = f", {len(clips) - len(scored)} failed" if len(scored) < len(clips) else ""
    print(f"top-1 {top1 * 100:.1f}%  top-5 {top5 * 100:.1f}%  ({len(scored)} clips{failed})", file=out)
    if session is None:
        return
    print(
        f"\nsession: the clips back to back, {hold:g} s each, as `run` plays them (context "
        f"{setting['context']:g} s, {setting['answer']}); switch = from the clip's start to the first of "
        f"{SWITCH_RUN} correct steps in a row",
        file=out,
    )
    print(f"{'start':>6}  {'clip':<{name_width}}  {'expected':<{label_width}}  {'correct':>7}  {'switch':>7}", file=out)
    for s in session.segments:
        print(
            f"{s.segment.start:5.1f}s  {s.clip.path.name:<{name_width}}  {s.clip.expected:<{label_width}}  "
            f"{s.share * 100:6.1f}%  {_seconds(s.switch):>7}",
            file=out,
        )
    print(
        f"correct {session.share * 100:.1f}% of {session.steps} steps; switch median "
        f"{_seconds(session.switch_median)}, worst {_seconds(session.switch_worst)}",
        file=out,
    )


def _scored(clips: list[ClipScore]) -> list[ClipScore]:
    """The clips that decoded: the shares are of these, a failed clip is reported on its own."""
    return [c for c in clips if c.error is None]


def _share(flags: Any) -> float:
    values = list(flags)
    return round(sum(values) / len(values), 4) if values else 0.0


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}s"
