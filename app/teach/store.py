"""A taught set on disk: one folder, every write atomic, writers serialised by a lock.

    SET/set.json          the model it belongs to (sha256), so features are never mixed
    SET/examples.json     the examples: id, action, where each came from
    SET/examples/ID.npy   an example's feature after each model step (steps x features)
    SET/examples/ID.jpg   a thumbnail of it
    SET/head.npz          the fitted head (`teach fit`)
    SET/groups.txt        actions made of Kinetics labels, `fall = faceplanting, falling off chair`

Files are written to a temporary name and renamed over the old one, so a reader (or a
crash) sees the old file or the new one, never half of one. Writers take an exclusive
flock on SET/.lock around every read-modify-write of examples.json, so two `teach add`
at once both land.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import AppError, permission_denied

FORMAT = 1
MAX_NAME = 48
OTHER = "other"  # what a set reports when nothing it knows is confident


@dataclass(frozen=True)
class Example:
    id: str
    action: str
    source: str  # the clip, or "camera"
    start: float  # seconds into the source
    end: float
    steps: int


def examples_digest(examples: list[Example]) -> str:
    """Names one list of examples: a head records the one it was fitted on."""
    return hashlib.sha256("\n".join(f"{e.id} {e.action}" for e in examples).encode()).hexdigest()[:16]


def check_action_name(name: str) -> str:
    """The name as given, or AppError saying why it cannot be an action's name."""
    if not name.strip():
        raise AppError("an action needs a name")
    if len(name) > MAX_NAME:
        raise AppError(f"action name is {len(name)} characters long: at most {MAX_NAME}")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise AppError(f"action name {name!r} holds a control character (a newline?)")
    if "/" in name or "\\" in name or name.startswith(".") or name != name.strip():
        raise AppError(f"action name {name!r}: no '/', '\\', leading '.' or outer spaces (it names files and topics)")
    if "," in name or "=" in name:
        raise AppError(f"action name {name!r}: no ',' or '=' (they separate a group's labels)")
    return name


class TeachSet:
    """One set folder. Reading needs no lock; `writing()` holds it for a change."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.examples_dir = self.path / "examples"

    # ---- the model it belongs to -------------------------------------------------------

    def model_sha(self) -> str | None:
        meta = self._read_json("set.json")
        if meta is None:
            return None
        sha = meta.get("model_sha256") if isinstance(meta, dict) else None
        if not isinstance(sha, str):
            raise AppError(f"{self.path / 'set.json'} is damaged: no model_sha256")
        return sha

    def check_model(self, sha: str, model_name: str) -> None:
        """AppError if the set's features came from another model: they would mean nothing to this one."""
        own = self.model_sha()
        if own is not None and own != sha:
            meta = self._read_json("set.json") or {}
            raise AppError(
                f"{self.path} was taught with another model ({meta.get('model', '?')}, sha256 {own[:12]}), "
                f"not {model_name} (sha256 {sha[:12]}): use that model or teach a new set"
            )

    def bind_model(self, sha: str, model_name: str, feature_size: int) -> None:
        """Under `writing()`: record the model on the first example."""
        self.check_model(sha, model_name)
        if self.model_sha() is None:
            meta = {"format": FORMAT, "model_sha256": sha, "model": model_name, "features": feature_size}
            self._write("set.json", json.dumps(meta, indent=1).encode())

    # ---- examples ----------------------------------------------------------------------

    def examples(self) -> list[Example]:
        data = self._read_json("examples.json")
        if data is None:
            return []
        try:
            return [Example(**item) for item in data["examples"]]
        except (KeyError, TypeError) as exc:
            raise AppError(f"{self.path / 'examples.json'} is damaged ({exc}): restore it or remove it") from None

    def actions(self) -> dict[str, list[Example]]:
        """Action -> its examples, in the order they were added."""
        by_action: dict[str, list[Example]] = {}
        for example in self.examples():
            by_action.setdefault(example.action, []).append(example)
        return by_action

    def trajectory(self, example: Example) -> np.ndarray:
        """The example's feature after each model step (steps x features), float32."""
        path = self.examples_dir / f"{example.id}.npy"
        try:
            values = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise AppError(f"{path} is missing: remove the example ({example.action!r}) and teach it again") from None
        except (OSError, ValueError, EOFError) as exc:
            raise AppError(f"{path} is damaged ({exc}): remove the example and teach it again") from None
        if values.ndim != 2 or values.shape[0] < 1 or not np.isfinite(values).all():
            raise AppError(f"{path} is damaged: not a trajectory of features")
        return values.astype(np.float32, copy=False)

    def thumbnail_path(self, example: Example) -> Path:
        return self.examples_dir / f"{example.id}.jpg"

    def add(
        self, action: str, trajectory: np.ndarray, thumbnail: bytes, source: str, start: float, end: float
    ) -> Example:
        """Under `writing()`: store one example (files first, then the index that names them)."""
        example = Example(uuid.uuid4().hex[:12], check_action_name(action), source, start, end, len(trajectory))
        existing = self.examples()  # a damaged index stops the change before any file is written
        self._mkdir(self.examples_dir)
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(trajectory, np.float32), allow_pickle=False)
        self._write(f"examples/{example.id}.npy", buffer.getvalue())
        self._write(f"examples/{example.id}.jpg", thumbnail)
        self._save_examples([*existing, example])
        return example

    def remove(self, action: str, number: int | None = None) -> list[Example]:
        """Under `writing()`: drop an action's example `number` (1-based), or all of them."""
        mine = self.actions().get(action)
        if not mine:
            known = ", ".join(repr(a) for a in self.actions()) or "none"
            raise AppError(f"{self.path} has no action {action!r} (actions: {known})")
        if number is not None and not 1 <= number <= len(mine):
            raise AppError(f"{action!r} has {len(mine)} example(s): give a number from 1 to {len(mine)}")
        gone = mine if number is None else [mine[number - 1]]
        ids = {e.id for e in gone}
        self._save_examples([e for e in self.examples() if e.id not in ids])
        for example in gone:  # after the index no longer names them
            for path in (self.examples_dir / f"{example.id}.npy", self.thumbnail_path(example)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        return gone

    def _save_examples(self, examples: list[Example]) -> None:
        data = {"format": FORMAT, "examples": [asdict(e) for e in examples]}
        self._write("examples.json", json.dumps(data, indent=1, ensure_ascii=False).encode())

    # ---- the head and groups -----------------------------------------------------------

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None
        except PermissionError:
            raise permission_denied(self.path / name) from None
        except OSError as exc:
            raise AppError(f"cannot read {self.path / name}: {exc}") from None

    def write_bytes(self, name: str, data: bytes) -> None:
        """Under `writing()`: replace SET/name atomically."""
        self._write(name, data)

    # ---- locking and atomic files ------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[TeachSet]:
        """Hold the set's lock (created with the folder when missing) for one change."""
        self._mkdir(self.path)
        try:
            descriptor = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            raise permission_denied(self.path) from None
        except OSError as exc:
            raise AppError(f"cannot write to {self.path}: {exc}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield self
        finally:
            os.close(descriptor)  # releases the lock

    def _mkdir(self, path: Path) -> None:
        if path.exists() and not path.is_dir():
            raise AppError(f"{path} is a file, not a set folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            raise permission_denied(path) from None
        except OSError as exc:
            raise AppError(f"cannot create {path}: {exc}") from None

    def _write(self, name: str, data: bytes) -> None:
        target = self.path / name
        try:
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        except PermissionError:
            raise permission_denied(target.parent) from None
        except OSError as exc:
            raise AppError(f"cannot write to {target.parent}: {exc}") from None
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise AppError(f"cannot write {target}: {exc}") from None

    def _read_json(self, name: str) -> Any:
        data = self.read_bytes(name)
        if data is None:
            return None
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AppError(f"{self.path / name} is damaged ({exc}): restore it or remove it") from None
