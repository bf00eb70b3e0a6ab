"""What teaching costs and buys, measured in one process (medians; rounds interleaved).

    python tests/teach_bench.py [--rounds 5] [--steps 200]

1. `teach fit` time: 100 examples over 12 actions, and 100 examples of each (1200).
2. The custom head's added cost per live model step (context 4 s, blend: two streams, so
   two pool reads and two head evaluations a step), against the same engine without it.
3. `teach add` feature extraction: model steps per second on a 10 s clip, against
   `classify` of the same clip (the difference is reading the pool tensors each step).
4. What training on each example's first 1, 2 and 4 s buys live: `eval --session` on the
   untaught parts of the shared clips, head fitted with and without those windows.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `python -m app` sets it (app/__main__.py)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from helpers import assets_dir
from teach_fixtures import teach_set

from app.classify import classify_video
from app.eval.score import LabelledClip, run_session
from app.inference.engine import ANSWER_BLEND, ANSWER_LONGEST, StreamingClassifier
from app.inference.labels import TopK, load_labels
from app.teach import head as heads
from app.teach.custom import CustomHead
from app.teach.features import features_of_clip
from app.teach.store import OTHER, TeachSet


def fit_times(rounds: int) -> None:
    rng = np.random.default_rng(0)
    for per_action, actions in ((None, 12), (100, 12)):
        count = 100 if per_action is None else per_action * actions
        labels = [f"action {i % actions}" for i in range(count)]
        centres = rng.normal(size=(actions, 480)).astype(np.float32)
        trajectories = [
            centres[i % actions] + rng.normal(scale=2.0, size=(25, 480)).astype(np.float32) for i in range(count)
        ]
        fit = _median(functools.partial(heads.fit, trajectories, labels), rounds)
        cpu = _median(functools.partial(heads.fit, trajectories, labels), rounds, time.process_time)
        print(f"fit {count} examples x {actions} actions: {fit * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU (medians)")
        method = "10 folds" if count > heads.FOLDS_ABOVE else "leave-one-example-out"
        estimate = _median(functools.partial(heads.estimate, trajectories, labels), 1)
        print(f"  and its estimate ({method}): {estimate:.2f} s")


def step_cost(model: Path, head: heads.Head, kinetics: list[str], rounds: int, steps: int, threads: int) -> None:
    frames = np.random.default_rng(1).random((8, 1, 1, 172, 172, 3), dtype=np.float32)
    # One engine, its head put on and taken off: two engines differ by more than a head
    # (their interpreters' memory), which showed as +/-10% either way here.
    custom = StreamingClassifier(model, threads=threads, context_steps=20, answer=ANSWER_BLEND)
    taught = CustomHead(head, {}, kinetics)
    wall: dict[str, list[float]] = {"plain": [], "custom": []}
    cpu: dict[str, list[float]] = {"plain": [], "custom": []}
    pair = [("plain", None), ("custom", taught)]
    for round_number in range(rounds):
        for name, with_head in pair if round_number % 2 else pair[::-1]:  # neither always goes first
            custom.set_head(with_head)
            started, started_cpu = time.perf_counter(), time.process_time()
            for i in range(steps):
                custom.step(frames[i % 8])
            wall[name].append((time.perf_counter() - started) / steps)
            cpu[name].append((time.process_time() - started_cpu) / steps)
    for clock, timings in (("wall", wall), ("CPU", cpu)):
        base, with_head = statistics.median(timings["plain"]), statistics.median(timings["custom"])
        print(
            f"live step (context 4 s, blend), {clock}: {base * 1000:.2f} ms without a head, {with_head * 1000:.2f} ms "
            f"with ({(with_head / base - 1) * 100:+.1f}%, medians of {rounds} x {steps} steps, interleaved)"
        )
    base = statistics.median(cpu["plain"])
    # The head alone, outside the model's noise: what it adds is this, twice a step.
    feature = custom.pool_feature()
    logits = np.zeros(len(kinetics), np.float32)
    call = custom.head
    assert call is not None
    alone = _median(lambda: [call(feature, logits) for _ in range(1000)], rounds, time.process_time) / 1000
    read = _median(lambda: [custom.pool_feature() for _ in range(1000)], rounds, time.process_time) / 1000
    print(
        f"  the head alone: {alone * 1e6:.0f} us + pool read {read * 1e6:.0f} us (CPU), x2 streams = "
        f"{2 * (alone + read) / base * 100:.2f}% of a step's CPU"
    )


def extraction(model: Path, clip: Path, kinetics: list[str], rounds: int) -> None:
    teacher_side = StreamingClassifier(model, context_steps=0, answer=ANSWER_LONGEST)
    top_k = TopK(kinetics, k=5)
    add_s, classify_s, steps = [], [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        steps = len(features_of_clip(teacher_side, clip, 5.0, None, None).trajectory)
        add_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        for _ in classify_video(teacher_side, clip, top_k, 5.0):
            pass
        classify_s.append(time.perf_counter() - started)
    add, classify = statistics.median(add_s), statistics.median(classify_s)
    print(
        f"teach add {clip.name}: {steps / add:.0f} steps/s ({steps} steps in {add:.2f} s); "
        f"classify of it {steps / classify:.0f} steps/s (ratio {classify / add:.2f})"
    )


def windows_ablation(
    model: Path, taught: Path, tried: dict[str, Path], kinetics: list[str], others: list[Path]
) -> None:
    store = TeachSet(taught)
    examples = store.examples()
    trajectories = [store.trajectory(e) for e in examples]
    actions = [e.action for e in examples]
    clips = [LabelledClip(path, action, 0) for action, path in tried.items()]
    extractor = StreamingClassifier(model, context_steps=0, answer=ANSWER_LONGEST)
    tried_features = {a: features_of_clip(extractor, p, 5.0, None, None).trajectory for a, p in tried.items()}
    unrelated = [features_of_clip(extractor, p, 5.0, None, None).trajectory for p in others]
    saved = heads.WINDOW_STEPS
    for name, windows in (("whole examples + first 1/2/4 s", saved), ("whole examples only", ())):
        heads.WINDOW_STEPS = windows
        head = heads.fit(trajectories, actions)
        heads.WINDOW_STEPS = saved
        live = StreamingClassifier(model, context_steps=20, answer=ANSWER_BLEND)
        live.set_head(custom := CustomHead(head, {}, kinetics))
        top_k = TopK(custom.labels, k=5, unsure=(OTHER, 0.5))
        score = run_session(live, clips, top_k, 5.0, 10.0)
        print(
            f"live session, head fitted on {name}: {score.share * 100:.1f}% of {score.steps} steps right, "
            f"switch median {score.switch_median:.1f}s"
        )
        early = {k: statistics.mean(head.labels[int(np.argmax(head.log_probabilities(t[min(k, len(t)) - 1])))] == a
                                    for a, t in tried_features.items()) for k in (5, 10, 20)}  # fmt: skip
        print("  untaught parts after 1/2/4 s of a fresh stream: " + "/".join(f"{v:.2f}" for v in early.values()))
        shares = [float((np.exp(head.log_probabilities(t[4:])).max(axis=1) < 0.5).mean()) for t in unrelated]
        print(f"  steps of untaught actions (carving ice) answered '{OTHER}' at 0.5: " +
              ", ".join(f"{s:.0%}" for s in shares))  # fmt: skip


def _median(work, rounds: int, clock=time.perf_counter) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        started = clock()
        work()
        times.append(clock() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--parts", default="fit,step,add,live", help="which measurements (default all)")
    args = parser.parse_args()
    assets = assets_dir()
    model = assets / "models" / "movinet_a0_stream_int8.tflite"
    kinetics = load_labels(assets / "models" / "kinetics600_label_map.txt", 600)
    parts = args.parts.split(",")
    if "fit" in parts:
        fit_times(args.rounds)
    with tempfile.TemporaryDirectory() as folder:
        taught = teach_set(Path(folder), assets / "clips", model)
        head = heads.Head.from_bytes((taught.path / "head.npz").read_bytes(), "head")
        if "step" in parts:
            for threads in (1, 2):
                print(f"{threads} model thread(s):")
                step_cost(model, head, kinetics, args.rounds, args.steps, threads)
        if "add" in parts:
            extraction(model, assets / "clips" / "arm_wrestling.mp4", kinetics, args.rounds)
        if "live" not in parts:
            return
        others = [assets / "clips" / name for name in ("carving_ice_172.mp4", "carving_ice_360.mp4")]
        windows_ablation(model, taught.path, taught.tried, kinetics, others)


if __name__ == "__main__":
    main()
