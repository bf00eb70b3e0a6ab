"""`python -m app summary LOG` (app/logs/cli.py): the action events of a log as a table."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from app.events import EventThresholds
from app.logs.read import read_timeline


def print_summary(log: str, thresholds: EventThresholds | None) -> None:
    """The log's events as a table; `thresholds` None: the events the log holds."""
    detector = thresholds.detector() if thresholds is not None else None
    timeline = read_timeline(log, detector)  # the steps are read, not kept
    with_pictures = any(span.picture for span in timeline.spans)
    rows = [["action", "start", "end", "duration", "peak", "started at", "source"] + ["picture"] * with_pictures]
    for span in timeline.spans:
        rows.append(
            [
                span.label,
                clock(span.start),
                clock(span.end) + ("+" if span.open else ""),
                clock(span.duration) + ("+" if span.open else ""),
                f"{span.peak:.2f}",
                datetime.fromtimestamp(span.start_wall).strftime("%Y-%m-%d %H:%M:%S") if span.start_wall else "-",
                span.source,
            ]
            + [picture_cell(Path(log).parent, span.picture)] * with_pictures
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {1, 2, 3, 4}  # numbers line up on the right
    for row in rows:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    total = sum(span.duration for span in timeline.spans)
    notes = [f"{len(timeline.spans)} event(s), {clock(total)} in all"]
    still_open = sum(span.open for span in timeline.spans)
    if still_open:
        notes.append(
            f"{still_open} still going when the log ends (+: until its last record; the app was killed or still runs)"
        )
    if timeline.lost:
        notes.append(f"{timeline.lost} record(s) lost while the disk was full")
    if timeline.skipped:
        notes.append(f"{timeline.skipped} unreadable line(s) skipped")
    print("; ".join(notes))


def picture_cell(log_folder: Path, picture: str | None) -> str:
    """The event picture's path as the user can open it from here, or why there is none."""
    if picture is None:
        return "-"
    path = log_folder / picture  # relative to the log's folder (an absolute path stays itself)
    return str(path) if os.path.isfile(path) else f"{path} (deleted)"


def clock(seconds: float) -> str:
    """Stream time: 3.2s, 12:05.4 or 2:01:05."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}:{seconds % 60:04.1f}"
    return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
