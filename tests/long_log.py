"""Write a long `run --log` log the way the app does, without a camera or a model.

A scripted day of scenes (one action at a time, each for tens of seconds to minutes,
with noisy scores and four runners-up) goes through the app's own JsonLog and event
detector, so the records are exactly the app's. `killed=True` ends it like `kill -9`:
no stop record, the last action's event never closed.

    python tests/long_log.py OUT.jsonl --hours 7      # ~60 MB, for measuring plot/summary
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.events import EventDetector
from app.inference.labels import Scored
from app.logs.jsonlog import JsonLog
from app.results import Result

ACTIONS = [
    "carving ice",
    "arm wrestling",
    "shooting basketball",
    "cleaning pool",
    "riding or walking with horse",
    "stretching arm",
    "playing trumpet",
    "push up",
    "bowling",
    "using computer",
    "texting",
    "drinking shots",
    "washing dishes",
    "sweeping floor",
    "reading book",
    "answering questions",
]
START_WALL = 1_764_000_000.0  # 2025-11-24, a fixed day: the same log every time


def write_long_log(
    path: Path,
    hours: float,
    fps: float = 5.0,
    actions: int = 12,
    killed: bool = True,
    scene_s: tuple[float, float] = (20, 600),
    seed: int = 7,
) -> int:
    """Write the log; returns the number of steps. Each scene lasts `scene_s` seconds (random in)."""
    rng = random.Random(seed)
    pool = ACTIONS[:actions]
    log = JsonLog(path, EventDetector(), max_bytes=None, keep=0, run_info={"source": "picam", "fps": fps})
    steps = int(hours * 3600 * fps)
    scene_left, action, quiet = 0, pool[0], False
    for seq in range(steps):
        if scene_left <= 0:  # a new scene: some action for 20 s to 10 min, or nobody (low scores)
            action = rng.choice(pool)
            scene_left = int(rng.uniform(*scene_s) * fps)
            quiet = rng.random() < 0.2
        scene_left -= 1
        score = rng.uniform(0.05, 0.35) if quiet else min(0.99, max(0.0, rng.gauss(0.8, 0.12)))
        others = rng.sample([a for a in pool if a != action], 4)
        rest = 1.0 - score
        top = [Scored(action, round(score, 6))] + [
            Scored(name, round(rest * share, 6)) for name, share in zip(others, (0.4, 0.2, 0.1, 0.05), strict=True)
        ]
        top.sort(key=lambda s: -s.score)
        t = seq / fps
        log.on_result(Result(seq, seq * 6, t, START_WALL + t, "picam", top, 48.0, 60.0, fps, 0, False))
    if killed:
        log.file.close()  # only the file: no stop record, the event in progress left open
    else:
        log.close()
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--hours", type=float, default=7.0)
    parser.add_argument("--actions", type=int, default=12)
    parser.add_argument("--clean-stop", action="store_true", help="end with a stop record (default: as if killed)")
    args = parser.parse_args()
    steps = write_long_log(args.output, args.hours, actions=args.actions, killed=not args.clean_stop)
    print(f"{args.output}: {steps} steps, {args.output.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
