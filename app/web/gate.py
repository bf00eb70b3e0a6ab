"""Admission to the web view: request heads are read by one thread, handlers run only for whole heads.

A thread per connection from the first byte lets a few dozen clients that trickle their
headers (slow-loris) hold every thread, and then nobody, not even a token holder or a
health check, gets in. Here one thread accepts every connection and reads request heads
without blocking (a selector), so an idle or slow connection costs a socket and a small
buffer, not a thread. Only a complete head is handed on (`Admit`), and:

* a head must arrive within `deadline` seconds of connecting, else the connection is closed;
* one address may hold `per_address` connections at once (heads being read and requests
  being served); a new one past that takes the place of the address's oldest head still
  being read, so slow connections from a shared address (the owner's own, a NAT's) cannot
  keep a real client from it out; with none being read, the new one is closed at once;
* at most `pending` heads are read at once; when full, the oldest is dropped to make room,
  so a flood of slow connections cannot keep a real client (whose head comes in one
  packet) from being read.

Which handler may serve a complete head is the server's decision (see WebServer.admit).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

HEAD_ENDS = (b"\n\r\n", b"\n\n")  # a blank line ends the head (http.server also takes bare LF)
RECV_BYTES = 4096
# A head that has had this long to arrive gives its place first: a real client's head comes
# in its first packet, and slow connections renewed as soon as they are dropped would
# otherwise push out each other and, within milliseconds, the owner's before it is read.
SETTLED_S = 0.05
BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class GateLimits:
    head_bytes: int  # request line and headers together; beyond this the head is handed on cut short
    deadline: float  # seconds to send the whole head
    per_address: int  # connections one client address may hold
    pending: int  # heads being read at once


@dataclass
class Arrival:
    """A connection whose head has arrived (or was cut short at `GateLimits.head_bytes`)."""

    sock: socket.socket
    address: tuple[Any, ...]
    head: bytes
    exhausted: bool  # the head went past the byte limit


@dataclass
class _Pending:
    sock: socket.socket
    address: tuple[Any, ...]
    deadline: float
    head: bytearray = field(default_factory=bytearray)


# The server's answer to a complete head: True if a handler took it (and will call
# `Gate.done(arrival)` when finished), False to have the gate answer 503.
Admit = Callable[[Arrival], bool]


class Gate:
    """Accepts connections on `listener` and reads their heads until `close()`."""

    def __init__(self, listener: socket.socket, limits: GateLimits, admit: Admit) -> None:
        self.listener = listener
        self.limits = limits
        self.admit = admit
        self._selector = selectors.DefaultSelector()
        self._pending: dict[socket.socket, _Pending] = {}  # in arrival order, hence deadline order
        self._open: Counter[str] = Counter()  # connections per address, pending or being served
        self._lock = threading.Lock()  # _open is also updated by handler threads (done)
        self._wake_read, self._wake_write = socket.socketpair()
        self._closing = False
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ)
        self._selector.register(self._wake_read, selectors.EVENT_READ)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def serve_forever(self) -> None:
        try:
            while not self._closing:
                timeout = None
                if self._pending:
                    first = next(iter(self._pending.values()))
                    timeout = max(0.0, first.deadline - time.monotonic())
                for key, _ in self._selector.select(timeout):
                    if key.fileobj is self.listener:
                        self._accept()
                    elif (pending := self._pending.get(key.fileobj)) is not None:  # type: ignore[arg-type]
                        self._read(pending)  # (not dropped earlier in this round)
                self._expire()
        finally:
            for pending in list(self._pending.values()):
                self._drop(pending)
            self._selector.close()
            self._wake_read.close()
            self._wake_write.close()

    def close(self) -> None:
        """Stop serving (from any thread); the loop closes every head still being read."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")

    def done(self, arrival: Arrival) -> None:
        """A handler has finished with an admitted connection (any thread)."""
        with self._lock:
            self._forget(arrival.address)

    # -- the loop's work ----------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                sock, address = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE) and self._pending:
                    self._drop(next(iter(self._pending.values())))  # out of descriptors: shed the oldest
                    continue
                log.debug("accept failed: %s", exc)
                return
            with self._lock:
                crowded = self._open[address[0]] >= self.limits.per_address
            if crowded and (slowest := self._idle_head_from(address[0])) is not None:
                self._drop(slowest)  # the address's slowest head makes room: a real head comes at once
                crowded = False
            if crowded:
                sock.close()  # every place is serving a request: hang up at once rather than queue
                continue
            with self._lock:
                self._open[address[0]] += 1
            if len(self._pending) >= self.limits.pending:
                self._drop(next(iter(self._pending.values())))  # the oldest makes room
            sock.setblocking(False)
            pending = _Pending(sock, address, time.monotonic() + self.limits.deadline)
            self._pending[sock] = pending
            self._selector.register(sock, selectors.EVENT_READ)

    def _idle_head_from(self, host: str) -> _Pending | None:
        """The address's oldest head still being read with nothing unread, settled ones first.

        A head whose bytes wait unread (the gate is behind, on a busy machine) is a client
        that sent it at once: it never makes room.
        """
        idle = [p for p in self._pending.values() if p.address[0] == host and not _has_unread_bytes(p.sock)]
        settled_deadline = time.monotonic() - SETTLED_S + self.limits.deadline
        return next((p for p in idle if p.deadline <= settled_deadline), idle[0] if idle else None)

    def _read(self, pending: _Pending) -> None:
        try:
            chunk = pending.sock.recv(RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client hung up (or reset) before finishing its head
            if pending.head:
                self._hand_on(pending, exhausted=False)  # answer what there is (a 400, usually)
            else:
                self._drop(pending)
            return
        searched_from = max(0, len(pending.head) - 2)
        pending.head += chunk
        ends = [at + len(end) for end in HEAD_ENDS if (at := pending.head.find(end, searched_from)) >= 0]
        if ends and min(ends) <= self.limits.head_bytes:
            self._hand_on(pending, exhausted=False)
        elif len(pending.head) > self.limits.head_bytes:
            self._hand_on(pending, exhausted=True)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._pending:
            first = next(iter(self._pending.values()))
            if first.deadline > now:
                return
            log.debug("web client %s took too long to send a request", first.address[0])
            self._drop(first)

    def _hand_on(self, pending: _Pending, exhausted: bool) -> None:
        self._unregister(pending)
        arrival = Arrival(pending.sock, pending.address, bytes(pending.head[: self.limits.head_bytes + 1]), exhausted)
        if self.admit(arrival):
            return
        with contextlib.suppress(OSError):
            pending.sock.send(BUSY)  # non-blocking: a client that cannot take 90 bytes gets nothing
        self._close(pending.sock, pending.address)

    def _drop(self, pending: _Pending) -> None:
        self._unregister(pending)
        self._close(pending.sock, pending.address)

    def _unregister(self, pending: _Pending) -> None:
        del self._pending[pending.sock]
        self._selector.unregister(pending.sock)

    def _close(self, sock: socket.socket, address: tuple[Any, ...]) -> None:
        sock.close()
        with self._lock:
            self._forget(address)

    def _forget(self, address: tuple[Any, ...]) -> None:
        self._open[address[0]] -= 1
        if self._open[address[0]] <= 0:
            del self._open[address[0]]


def _has_unread_bytes(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))  # b"": the peer hung up
    except OSError:  # BlockingIOError: nothing waiting; any other: a broken connection
        return False
