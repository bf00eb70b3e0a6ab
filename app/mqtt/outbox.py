"""What waits to be published: bounded, so a broker that is away never grows memory.

Two kinds of message wait here. Events (start and end of an action) are kept in order,
up to `max_events`; only beyond that is the oldest dropped, and counted. State messages
(the current action, the periodic status) only matter as their newest value, so a newer
one replaces the one waiting for the same topic, and the replaced one is counted as
dropped. Events go first: a subscriber sees an action's start before the state that says
it is going on.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

DEFAULT_MAX_EVENTS = 1000  # an hour of an action changing every 4 s, a few hundred kB


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    event: bool = False  # kept in order and never replaced (else: only the newest per topic matters)


class Outbox:
    """Thread-safe: the inference thread puts, the sender thread takes."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.max_events = max_events
        self.dropped_events = 0
        self.dropped_states = 0
        self._events: deque[Message] = deque()
        self._states: OrderedDict[str, Message] = OrderedDict()
        self.changed = threading.Condition()

    def put(self, message: Message) -> None:
        if message.event:
            self._put_event(message)
        else:
            self._put_state(message)

    def _put_event(self, message: Message) -> None:
        with self.changed:
            self._events.append(message)
            if len(self._events) > self.max_events:
                self._events.popleft()
                self.dropped_events += 1
            self.changed.notify_all()

    def _put_state(self, message: Message) -> None:
        with self.changed:
            if self._states.pop(message.topic, None) is not None:
                self.dropped_states += 1
            self._states[message.topic] = message
            self.changed.notify_all()

    def take(self) -> Message | None:
        """The next message to publish, or None if nothing waits."""
        with self.changed:
            if self._events:
                return self._events.popleft()
            if self._states:
                return self._states.popitem(last=False)[1]
            return None

    def put_back(self, message: Message) -> None:
        """A message taken but not handed over (the connection dropped): first in line again."""
        with self.changed:
            if message.event:
                self._events.appendleft(message)
            elif message.topic not in self._states:
                self._states[message.topic] = message
                self._states.move_to_end(message.topic, last=False)
            self.changed.notify_all()

    def __len__(self) -> int:
        with self.changed:
            return len(self._events) + len(self._states)

    @property
    def waiting_events(self) -> int:
        with self.changed:
            return len(self._events)
