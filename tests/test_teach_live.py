"""A taught set live: `eval --session --custom` plays the untaught parts back to back, as `run` would."""

from __future__ import annotations

import json

from helpers import run_app
from teach_fixtures import teach_set

CORRECT_AT_LEAST = 0.85  # of the session's model steps
SWITCH_MEDIAN_AT_MOST = 0.8  # seconds from a new action's start to 5 right steps in a row


def test_taught_actions_back_to_back_are_followed_live(tmp_path, clips, a0_model):
    taught = teach_set(tmp_path, clips, a0_model)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{path}\t{action}\n" for action, path in taught.tried.items()))
    custom = ["--custom", str(taught.path)]
    result = run_app("eval", str(listing), "--session", *custom, "--json", "--model", str(a0_model))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["top1"] == 1.0  # each untaught part, whole
    session = report["session"]
    print(f"live: {session['correct']:.1%} of {session['steps']} steps, switch median {session['switch_median']} s")
    assert session["correct"] >= CORRECT_AT_LEAST, session
    assert session["switch_median"] <= SWITCH_MEDIAN_AT_MOST, session
