"""Actions without examples: groups of Kinetics labels, scored by the sum of their probabilities.

SET/groups.txt holds one group a line, `fall = faceplanting, falling off chair, falling off bike`
(# starts a comment). `teach group SET NAME LABEL,LABEL...` writes it; a hand edit works too.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from app.errors import AppError
from app.teach.store import OTHER, TeachSet, check_action_name

GROUPS_FILE = "groups.txt"


def check_labels(names: Sequence[str], kinetics: Sequence[str], where: str) -> list[str]:
    known = set(kinetics)
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, kinetics, n=1, cutoff=0.0)
            hint = f": the closest is {close[0]!r}" if close else ""
            raise AppError(f"{where}: {name!r} is not a Kinetics label{hint}")
    if not names:
        raise AppError(f"{where}: a group needs at least one Kinetics label")
    return list(names)


def read_groups(teach_set: TeachSet, kinetics: Sequence[str]) -> dict[str, list[str]]:
    """Name -> its Kinetics labels, checked; {} without a groups file."""
    data = teach_set.read_bytes(GROUPS_FILE)
    if data is None:
        return {}
    path = teach_set.path / GROUPS_FILE
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AppError(f"{path} is damaged ({exc})") from None
    groups: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        name, equals, labels = line.partition("=")
        if not equals:
            raise AppError(f"{where}: expected 'name = label, label', got {line.strip()!r}")
        try:
            name = check_action_name(name.strip())
        except AppError as exc:
            raise AppError(f"{where}: {exc}") from None
        groups[name] = check_labels([x.strip() for x in labels.split(",") if x.strip()], kinetics, where)
    return groups


def write_group(teach_set: TeachSet, name: str, labels: Sequence[str], kinetics: Sequence[str]) -> None:
    """Under `writing()`: add or replace one group, keeping the file's other lines."""
    check_action_name(name)
    if name == OTHER:
        raise AppError(f"{OTHER!r} is what a set answers when nothing fits: name the group otherwise")
    check_labels(labels, kinetics, f"group {name!r}")
    read_groups(teach_set, kinetics)  # a damaged file is reported, not overwritten
    old = (teach_set.read_bytes(GROUPS_FILE) or b"").decode("utf-8-sig").splitlines()
    lines = [line for line in old if line.partition("=")[0].strip() != name or line.lstrip().startswith("#")]
    lines.append(f"{name} = {', '.join(labels)}")
    teach_set.write_bytes(GROUPS_FILE, ("\n".join(lines) + "\n").encode())
