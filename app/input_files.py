"""Files the app reads, checked before anything is read from them, and small ones read with a cap.

Every input path goes through `regular_file` (or `read_small` for the small text files:
config, labels, eval lists, token and password files), so whatever a user names ends in
one clear line, never a traceback, a hang or a memory blow-up:

* a name longer than the file system takes (ENAMETOOLONG) is said to be one;
* a file this process may not read is `permission denied: PATH` (with the service's user);
* a FIFO, a device (/dev/zero) or a folder is refused by its kind: opening a FIFO would wait
  for a writer forever, and a device reads without end;
* a small file bigger than its cap is refused before it is read, and read no further than it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from app.errors import AppError, permission_denied

#: The longest text shown of a value a user gave (a label, a key) in a one-line message.
SHOWN_CHARS = 80


def clipped(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters (with how many were left out), for messages."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


class UnreadableFile(AppError):
    """An input that is missing, not a regular file, too long a name or too big: `reason` says which.

    Its message reads `cannot read WHAT PATH: REASON`; callers that name an option rewrap `reason`.
    """

    def __init__(self, path: str | os.PathLike, what: str, reason: str, missing: bool = False) -> None:
        self.path = Path(path)
        self.reason = reason
        self.missing = missing
        super().__init__(f"cannot read {what} {path}: {reason}")


_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}
_KINDS.update({stat.S_IFDIR: "a folder", stat.S_IFSOCK: "a socket"})


def _kind_problem(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return f"it is {kind}, not a regular file" if kind != "not a regular file" else kind


def _os_problem(path: str | os.PathLike, what: str, exc: OSError) -> AppError:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return permission_denied(path)
    if exc.errno == errno.ENAMETOOLONG:
        return UnreadableFile(path, what, "file name too long (at most 255 bytes a name, 4096 a path)")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return UnreadableFile(path, what, "no such file", missing=True)
    return UnreadableFile(path, what, exc.strerror or str(exc))


def _open(path: str | os.PathLike, what: str) -> int:
    """A read-only descriptor of a regular file. O_NONBLOCK: a FIFO opens at once (to be refused)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise _os_problem(path, what, exc) from None
    problem = _kind_problem(os.fstat(descriptor).st_mode)
    if problem is not None:
        os.close(descriptor)
        raise UnreadableFile(path, what, problem)
    return descriptor


def regular_file(path: str | os.PathLike, what: str) -> bool:
    """True for a regular file this process may read, False if there is none at `path`.

    AppError for everything else: `permission denied`, a name too long, a folder, a FIFO,
    a device. Checked before a path is handed to a native library (OpenCV, a TFLite
    runtime), which would block on a FIFO or call an unreadable file damaged.
    """
    try:
        os.close(_open(path, what))
    except UnreadableFile as exc:
        if exc.missing:
            return False
        raise
    return True


def read_small(path: str | os.PathLike, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; UnreadableFile (or permission denied) if not."""
    descriptor = _open(path, what)
    with os.fdopen(descriptor, "rb") as handle:
        try:
            data = handle.read(limit + 1)  # +1: a file grown since, or a size stat got wrong, is still caught
        except OSError as exc:
            raise _os_problem(path, what, exc) from None
    if len(data) > limit:
        raise UnreadableFile(path, what, f"too big for a {what} (over {_size(limit)})")
    return data


def read_small_text(path: str | os.PathLike, what: str, limit: int, encoding: str = "utf-8") -> str:
    """`read_small`, decoded; UnreadableFile if it is not text in `encoding`."""
    data = read_small(path, what, limit)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(path, what, f"not {encoding} text ({exc.reason} at byte {exc.start})") from None


def _size(limit: int) -> str:
    if limit >= 1 << 20:
        return f"{limit / (1 << 20):.0f} MB"
    return f"{limit / 1024:.0f} KB" if limit >= 1024 else f"{limit} bytes"
