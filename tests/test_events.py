"""The hysteresis event detector on hand-made score sequences (one step every 0.2 s)."""

from __future__ import annotations

import pytest

from app.errors import AppError
from app.events import Event, EventDetector
from app.inference.labels import Scored


def feed(detector: EventDetector, steps: list[dict[str, float]], reset_at: int | None = None) -> list[Event]:
    """Steps as {label: score}; returns every event, including those flushed by close()."""
    events: list[Event] = []
    for i, scores in enumerate(steps):
        top = [Scored(label, score) for label, score in scores.items()]
        events += detector.update(round(i * 0.2, 4), 1000.0 + i * 0.2, top, reset=i == reset_at)
    return events + detector.close()


def ends(events: list[Event]) -> list[tuple[str, float, float | None, float, str | None]]:
    return [(e.label, e.start, e.end, e.peak, e.reason) for e in events if e.kind == "end"]


def test_one_confident_frame_makes_no_event() -> None:
    """A single 0.98 frame (like "fencing" opening the basketball clip) is noise, not an action."""
    steps = [{"fencing": 0.98}, {"gymnastics": 0.36}, {"shooting": 0.97}, {"shooting": 0.96}, {"shooting": 0.9}]
    assert ends(feed(EventDetector(), steps)) == [("shooting", 0.4, 0.8, 0.97, "stopped")]


def test_scores_between_the_thresholds_keep_the_action() -> None:
    """Below the start threshold but above the end one, an action goes on (hysteresis)."""
    steps = [{"a": 0.6}, {"a": 0.7}, {"a": 0.45}, {"a": 0.35}, {"a": 0.4}, {"a": 0.8}]
    events = feed(EventDetector(0.5, 0.3), steps)
    assert [e.kind for e in events] == ["start", "end"]
    assert ends(events) == [("a", 0.0, 1.0, 0.8, "stopped")]


def test_one_low_frame_does_not_end_an_action_but_two_do() -> None:
    steps = [{"a": 0.9}, {"a": 0.9}, {"a": 0.1}, {"a": 0.9}, {"a": 0.9}, {"a": 0.1}, {"a": 0.2}, {"b": 0.2}]
    events = feed(EventDetector(), steps)
    assert ends(events) == [("a", 0.0, 0.8, 0.9, "faded")]  # ends at the last step that held it
    assert events[-1].duration == pytest.approx(0.8)


def test_a_new_action_ends_the_old_one_where_it_begins() -> None:
    """While "a" still scores above the end threshold, "b" takes over: no overlap, no gap."""
    steps = [{"a": 0.9}, {"a": 0.9}, {"b": 0.55, "a": 0.4}, {"b": 0.6, "a": 0.35}, {"b": 0.7}]
    events = feed(EventDetector(), steps)
    assert [(e.kind, e.label) for e in events] == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b")]
    assert ends(events) == [("a", 0.0, 0.2, 0.9, "replaced"), ("b", 0.4, 0.8, 0.7, "stopped")]


def test_a_candidate_that_does_not_last_changes_nothing() -> None:
    steps = [{"a": 0.9}, {"a": 0.9}, {"b": 0.8, "a": 0.35}, {"a": 0.9}, {"a": 0.9}]
    assert ends(feed(EventDetector(), steps)) == [("a", 0.0, 0.8, 0.9, "stopped")]


def test_a_stream_reset_ends_the_action() -> None:
    steps = [{"a": 0.9}, {"a": 0.9}, {"a": 0.9}, {"a": 0.9}, {"a": 0.9}]
    events = feed(EventDetector(), steps, reset_at=3)
    assert ends(events) == [("a", 0.0, 0.4, 0.9, "reset"), ("a", 0.6, 0.8, 0.9, "stopped")]


def test_min_steps_one_reacts_at_once() -> None:
    steps = [{"a": 0.9}, {"b": 0.9, "a": 0.4}, {"c": 0.9}]
    assert ends(feed(EventDetector(min_steps=1), steps)) == [
        ("a", 0.0, 0.0, 0.9, "replaced"),
        ("b", 0.2, 0.2, 0.9, "faded"),  # "b" has no score at the last step: below the end threshold
        ("c", 0.4, 0.4, 0.9, "stopped"),
    ]


@pytest.mark.parametrize(
    ("start", "end", "steps", "message"),
    [
        (0.0, 0.0, 2, "--event-start"),
        (1.5, 0.3, 2, "--event-start"),
        (0.5, 0.5, 2, "--event-end"),
        (0.5, 0.3, 0, "min"),
    ],
)
def test_bad_thresholds(start: float, end: float, steps: int, message: str) -> None:
    with pytest.raises(AppError, match=message):
        EventDetector(start, end, steps)


def test_the_thresholds_are_inclusive() -> None:
    """A score at exactly --event-start starts an action; one at exactly --event-end keeps it."""
    started = feed(EventDetector(0.5, 0.3), [{"a": 0.5}, {"a": 0.5}])
    assert [(e.kind, e.label) for e in started] == [("start", "a"), ("end", "a")]
    kept = feed(EventDetector(0.5, 0.3), [{"a": 0.9}, {"a": 0.9}, {"a": 0.3}, {"a": 0.3}, {"a": 0.3}])
    assert ends(kept) == [("a", 0.0, 0.8, 0.9, "stopped")]


def test_a_start_event_is_stamped_with_its_first_step() -> None:
    """Said once min_steps have held it, yet dated from the first of them (time, wall clock, id)."""
    events = feed(EventDetector(min_steps=3), [{"b": 0.2}, {"a": 0.9}, {"a": 0.95}, {"a": 0.9}])
    start = next(e for e in events if e.kind == "start")
    assert (start.start, start.start_wall, start.peak) == (0.2, 1000.2, 0.95)
    assert start.id == events[-1].id  # the end names the same event
    assert start.as_json()["start"] == 0.2
