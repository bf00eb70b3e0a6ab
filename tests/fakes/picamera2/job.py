"""Stand-in for picamera2/job.py: a list of functions the event loop runs, with a Future for the result."""

from __future__ import annotations

from concurrent.futures import CancelledError, Future
from typing import Any


class Job:
    """job.py: Job. A list of functions run by the event loop, with a Future for the result."""

    def __init__(self, functions: list[Any]) -> None:
        self._functions = list(functions)
        self._future: Future = Future()
        self._future.set_running_or_notify_cancel()
        self._result: Any = None

    def execute(self) -> bool:
        try:
            while self._functions:
                done, result = self._functions[0]()
                if not done:
                    break
                self._functions.pop(0)
            if not self._functions:
                self._result = result
        except Exception as exc:
            self._future.set_exception(exc)
            self._functions = []
        return not self._functions

    def signal(self) -> None:
        if not self._future.done():
            self._future.set_result(self._result)

    def get_result(self, timeout: float | None = None) -> Any:
        return self._future.result(timeout=timeout)

    def cancel(self) -> None:
        self._future.set_exception(CancelledError())
