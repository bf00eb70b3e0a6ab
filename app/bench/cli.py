"""The `bench` command: the table a user runs on their own Pi."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app import assets
from app.bench.model import BenchRow, bench_model, format_table, runtime_ratios
from app.bench.pipeline import format_pipeline_report, format_soak, pipeline_report, soak
from app.errors import AppError
from app.inference.engine import ANSWER_BLEND, ANSWERS, StreamingClassifier
from app.inference.labels import TopK, load_labels
from app.inference.runtime import available_runtimes
from app.inference.sampling import DEFAULT_FPS, LIVE_CONTEXT_S, context_steps
from app.settings.argtypes import non_negative_float, positive_int, split_commas


def add_bench_command(commands: Any) -> None:
    bench = commands.add_parser("bench", help="measure per-step cost of models and runtimes on this machine")
    bench.add_argument(
        "--model", action="append", default=[], help="model name or path (repeatable; default: installed)"
    )
    bench.add_argument("--labels", type=Path, help="label map, for --clip top-1 (default: Kinetics-600)")
    bench.add_argument(
        "--runtime",
        default="all",
        help="all (what this machine can run), or a comma list of litert, litert-interpreter, tflite",
    )
    bench.add_argument("--threads", default="1,2", help="thread counts to measure, comma-separated (default 1,2)")
    bench.add_argument("--clip", type=Path, help="time with this clip's frames and report each model's top-1 on it")
    bench.add_argument("--steps", type=positive_int, default=50, help="steps per round (default 50)")
    bench.add_argument("--rounds", type=positive_int, default=5, help="interleaved rounds (default 5)")
    bench.add_argument("--json", action="store_true", help="print the rows as JSON")
    bench.add_argument("--markdown", action="store_true", help="print a Markdown table")
    bench.add_argument("--pipeline", type=Path, metavar="FILE", help="whole-pipeline throughput on FILE instead")
    bench.add_argument("--live-seconds", type=float, default=20.0, help="with --pipeline: seconds of live CPU use (20)")
    bench.add_argument("--soak", type=positive_int, metavar="STEPS", help="with --pipeline: a soak run of STEPS steps")
    bench.add_argument(
        "--context",
        type=non_negative_float,
        default=LIVE_CONTEXT_S,
        help=f"with --pipeline: as `run --context` (default {LIVE_CONTEXT_S:g})",
    )
    bench.add_argument(
        "--answer", choices=ANSWERS, default=ANSWER_BLEND, help="with --pipeline: as `run --answer` (blend)"
    )
    bench.set_defaults(handler=run_bench)


def _models(names: list[str]) -> list[Path]:
    if names:
        return [assets.resolve_model(name) for name in names]
    manifest = assets.load_manifest()
    installed = [assets.models_dir() / a.file for a in manifest.models.values()]
    installed = [path for path in installed if path.is_file()]
    if not installed:
        raise AppError("no model installed: run ./setup.sh or pass --model")
    return installed


def _runtimes(text: str) -> list[str]:
    here = available_runtimes()
    if text == "all":
        return here
    wanted = split_commas([text])
    missing = [r for r in wanted if r not in here]
    if missing:
        raise AppError(f"runtime(s) not installed here: {', '.join(missing)} (installed: {', '.join(here)})")
    return wanted


def _threads(text: str) -> list[int]:
    try:
        values = [int(part) for part in split_commas([text])]
    except ValueError:
        raise AppError(f"--threads takes whole numbers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise AppError(f"--threads values must be at least 1, got {text!r}")
    return values


def run_bench(args: argparse.Namespace) -> int:
    models = _models(args.model)
    runtimes = _runtimes(args.runtime)
    threads = _threads(args.threads)
    labels_path = args.labels or assets.default_labels_path()
    if args.pipeline:
        return _run_pipeline_bench(args, models[0], runtimes[0], threads[-1], labels_path)
    rows: list[BenchRow] = []
    for model in models:
        for count in threads:
            for runtime in runtimes:
                top_k = None
                if args.clip:
                    classifier = StreamingClassifier(model, runtime=runtime, threads=count)
                    top_k = TopK(load_labels(labels_path, classifier.num_classes), k=1)
                    del classifier
                rows.append(bench_model(model, runtime, count, args.clip, args.steps, args.rounds, top_k))
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return 0
    print(format_table(rows, args.markdown))
    for note in runtime_ratios(rows):
        print(f"\n{note}" if args.markdown else note)
    return 0


def _run_pipeline_bench(args: argparse.Namespace, model: Path, runtime: str, threads: int, labels_path: Path) -> int:
    # As `run` does it by default, so the live CPU figure is what a user will see.
    steps = context_steps(args.context, DEFAULT_FPS)
    classifier = StreamingClassifier(model, runtime=runtime, threads=threads, context_steps=steps, answer=args.answer)
    top_k = TopK(load_labels(labels_path, classifier.num_classes), k=5)
    if args.soak:
        report = soak(classifier, top_k, args.pipeline, args.soak, report_every=max(1, args.soak // 10))
        print(json.dumps(report, indent=2) if args.json else format_soak(report))
        return 0
    report = pipeline_report(classifier, top_k, args.pipeline, args.steps * args.rounds, args.live_seconds)
    report.update(model=model.name, runtime=classifier.runtime, threads=threads)
    header = f"{model.name}, {classifier.runtime}, {threads} thread(s)"
    print(json.dumps(report, indent=2) if args.json else f"{header}\n{format_pipeline_report(report)}")
    return 0
