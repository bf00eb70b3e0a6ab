"""Check that two `python -m app classify --json` runs of the same clips agree.

    python3 tests/system/compare_scores.py REFERENCE.jsonl OTHER.jsonl

Used to compare an emulated arm64 run with the x86 one. The int8 kernels round
differently on each architecture and the stream states carry the differences forward,
so scores are not bit-identical: measured on the A0 model, a mid-clip score moved by up
to 0.36 while final scores stayed within 0.004. The tolerances below leave room for that
and still catch a wrong model, a broken state hand-over (which scrambles every step) or a
preprocessing change. Standard library only; prints the largest differences seen.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

FINAL_TOLERANCE = 0.02  # each label in both final top-5s, absolute score
STEP_TOLERANCE = 0.5  # each label in both top-5s at any step, absolute score


def load(path: Path) -> dict[str, list[dict[str, float]]]:
    """Per clip (by file name), the steps in order, each as {label: score} of its top-k."""
    clips: dict[str, list[dict[str, float]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        record = json.loads(line)
        clips[Path(record["file"]).name].append({t["label"]: t["score"] for t in record["top"]})
    return clips


def compare(reference: Path, other: Path) -> list[str]:
    """Every disagreement beyond tolerance, one line each (empty: they agree)."""
    ref, got = load(reference), load(other)
    problems = []
    if sorted(ref) != sorted(got):
        return [f"different clips: {sorted(ref)} vs {sorted(got)}"]
    worst_step = worst_final = 0.0
    for clip, ref_steps in ref.items():
        steps = got[clip]
        if len(steps) != len(ref_steps):
            problems.append(f"{clip}: {len(steps)} steps, reference has {len(ref_steps)}")
            continue
        clip_worst = 0.0
        for n, (a, b) in enumerate(zip(ref_steps, steps, strict=True)):
            shared = a.keys() & b.keys()
            diff = max((abs(a[label] - b[label]) for label in shared), default=0.0)
            clip_worst = max(clip_worst, diff)
            if diff > STEP_TOLERANCE:
                problems.append(f"{clip} step {n + 1}: scores differ by {diff:.3f} (> {STEP_TOLERANCE})")
        final_a, final_b = ref_steps[-1], steps[-1]
        top_a, top_b = max(final_a, key=final_a.get), max(final_b, key=final_b.get)
        if top_a != top_b:
            problems.append(f"{clip}: final top-1 {top_b!r}, reference {top_a!r}")
        diff = max(abs(final_a[label] - final_b[label]) for label in final_a.keys() & final_b.keys())
        print(f"  {clip}: {len(steps)} steps, largest difference mid-clip {clip_worst:.3f}, final {diff:.4f}")
        worst_step, worst_final = max(worst_step, clip_worst), max(worst_final, diff)
        if diff > FINAL_TOLERANCE:
            problems.append(f"{clip}: final scores differ by {diff:.4f} (> {FINAL_TOLERANCE})")
    print(
        f"{other.name} vs {reference.name}: {len(ref)} clips; largest difference "
        f"mid-clip {worst_step:.3f} (tolerance {STEP_TOLERANCE}), final {worst_final:.4f} (tolerance {FINAL_TOLERANCE})"
    )
    return problems


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    problems = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    for line in problems:
        print(f"MISMATCH {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
