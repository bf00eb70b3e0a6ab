"""The event pictures the web view shows: the newest few, read from their folder on request.

A picture's name is its event id (see app.events.event_id), which says when the action
started and what it was, so listing the folder is all the page needs. Only names of that
exact shape are ever opened: a request cannot reach any other file.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

NAME = re.compile(r"(\d{8}-\d{6})-(\d{3})-([a-z0-9-]+)\.jpg")
MAX_BYTES = 8_000_000  # far above any event picture: a bigger file there is not ours


def recent(folder: Path, count: int) -> list[dict[str, Any]]:
    """The newest `count` pictures, newest first: name, label and start time."""
    try:
        names = sorted((p.name for p in folder.iterdir() if NAME.fullmatch(p.name)), reverse=True)
    except OSError:
        return []
    listed = []
    for name in names[:count]:
        match = NAME.fullmatch(name)
        assert match is not None
        started = datetime.strptime(match[1], "%Y%m%d-%H%M%S").replace(microsecond=int(match[2]) * 1000)
        listed.append(
            {
                "id": name.removesuffix(".jpg"),
                "label": match[3].replace("-", " "),  # the slug: punctuation of the label is lost
                "started_at": started.isoformat(timespec="seconds"),
                "url": f"pictures/{name}",
            }
        )
    return listed


def read(folder: Path, name: str) -> bytes | None:
    """The picture's bytes, or None if the name is not a picture's or it is gone."""
    if not NAME.fullmatch(name):
        return None
    try:
        with (folder / name).open("rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_BYTES else None
