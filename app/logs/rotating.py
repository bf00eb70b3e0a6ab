"""Append-only record files for unattended runs: one write per record, rotation, disk full.

Each record is one line handed to the kernel in a single os.write() on an O_APPEND file
(no Python buffer), so a killed app leaves every record it finished, and at most one
torn last line, which readers skip. Event records are fdatasync'ed at once and steps at
most once a second, so a power cut loses at most the last second of steps: syncing
every step would stall the model thread on a slow SD card five times a second.

When the file reaches `max_bytes` it is renamed LOG.1 (LOG.1 to LOG.2, ...; `keep` of
them are kept) and a new LOG started; renames are atomic and a record never spans two
files. If a write fails (disk full, USB stick gone) the app keeps running: one warning,
records dropped, a retry each second, and a `gap` record saying how many were lost once
writing works again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from app.errors import AppError

log = logging.getLogger(__name__)

SYNC_INTERVAL_S = 1.0  # how often steps are synced to disk, and the log's path re-checked
RETRY_INTERVAL_S = 1.0  # after a failed write, how often writing is tried again
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class RotatingFile:
    """A text file written one whole record at a time, rotated by size, that survives a full disk."""

    def __init__(
        self,
        path: str | os.PathLike,
        max_bytes: int | None = None,
        keep: int = 5,
        *,
        what: str = "log",
        header: str = "",
        gap_record: Callable[[int], str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self.what = what
        self.header = header.encode()  # written at the top of every new file (CSV column names)
        self.gap_record = gap_record
        self.lost = 0  # dropped while writing failed, in total
        self._dropped = 0  # dropped in the current outage
        self._failing = False
        self._retry_at = 0.0
        self._fd: int | None = None
        self._size = 0
        self._inode = 0
        self._regular = True  # only regular files are rotated (not /dev/stdout or a FIFO)
        self._synced_at = time.monotonic()
        try:
            self._fd = self._open()
        except OSError as exc:
            if exc.errno not in _NO_SPACE:  # a path that can never be written is a usage error
                reason = f"directory {self.path.parent} does not exist" if exc.errno == errno.ENOENT else exc.strerror
                raise AppError(f"cannot write {what} {self.path}: {reason}") from None
            self._fail(exc, self._synced_at)  # a full disk is not: run, and log once there is room

    def write(self, text: str, sync: bool = False) -> None:
        """Append one record (a full line), or count it as lost if writing fails."""
        now = time.monotonic()
        if self._failing and now < self._retry_at:
            self._dropped += 1
            self.lost += 1
            return
        data = text.encode()
        try:
            if self._fd is None:
                self._fd = self._open()
            if self._dropped and self.gap_record is not None:
                data = self.gap_record(self._dropped).encode() + data
            over = self.max_bytes and self._size > len(self.header) and self._size + len(data) > self.max_bytes
            if over and self._regular:
                self._rotate()
            if self._size == 0:
                data = self.header + data
            written = os.write(self._fd, data)
            if written != len(data):
                # The disk filled up mid-record: take the torn part back, so no half line stays
                # (if that fails too, the next open ends the torn line).
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            self._fail(exc, now)
            self._dropped += 1
            self.lost += 1
            return
        self._size += written
        if self._failing:
            log.warning("writing %s %s again; %d record(s) were lost", self.what, self.path, self._dropped)
            self._failing, self._dropped = False, 0
        if sync or now - self._synced_at >= SYNC_INTERVAL_S:
            self._sync(now)

    def close(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # nothing more can be done at exit; the kernel has the data
            os.fdatasync(self._fd)
        os.close(self._fd)
        self._fd = None

    # -- internals ----------------------------------------------------------------------
    def _open(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            info = os.fstat(fd)
            self._size, self._inode, self._regular = info.st_size, info.st_ino, stat.S_ISREG(info.st_mode)
            if self._size and self._regular and os.pread(fd, 1, self._size - 1) != b"\n":
                # The last run was killed mid-record: end that torn line so the next record stays whole.
                self._size += os.write(fd, b"\n")
        except OSError:
            os.close(fd)
            raise
        return fd

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        if self.keep == 0:
            self.path.unlink(missing_ok=True)
        else:
            for index in range(self.keep - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{index}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._fd = self._open()

    def _sync(self, now: float) -> None:
        """Push written records to the disk, and follow the path if someone moved the file."""
        self._synced_at = now
        assert self._fd is not None
        try:
            if self._regular:
                os.fdatasync(self._fd)
            moved = os.stat(self.path).st_ino != self._inode
        except FileNotFoundError:
            moved = True
        except OSError as exc:
            self._fail(exc, now)
            return
        if moved:  # deleted or renamed by hand (or logrotate): start a new file at the path
            os.close(self._fd)
            self._fd = None

    def _fail(self, exc: OSError, now: float) -> None:
        """Stop writing until the retry time; warn at the start of an outage only."""
        if self._fd is not None:
            os.close(self._fd)  # reopened on retry: the file may be gone, or on a remounted disk
            self._fd = None
        self._retry_at = now + RETRY_INTERVAL_S
        if not self._failing:
            self._failing = True
            log.warning(
                "cannot write %s %s: %s; the app keeps running and retries every %g s",
                self.what,
                self.path,
                exc.strerror or exc,
                RETRY_INTERVAL_S,
            )
