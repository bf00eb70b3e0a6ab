"""Xlib's process-ending error handlers, replaced for the Tk window's display.

By default Xlib ends the process with exit() when the X server goes away ("XIO: fatal
IO error") or when a request fails (a window destroyed by another program: "BadWindow").
exit() runs C++ destructors while the model and capture threads are still at work, so
OpenCV aborts (SIGABRT) and nothing is finished: no stop record in the log, an event left
open, a --record MP4 without its index (unplayable).

Here a failed request calls `on_error` and returns, so Tk carries on and the app can stop
as after SIGTERM. A lost connection allows no return (Xlib would exit when the handler
returns), so `on_lost` must finish the run there and then; the process then ends with
os._exit(EXIT_DISPLAY_LOST), skipping the destructors that would abort.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

EXIT_DISPLAY_LOST = 1
LIBX11 = "libX11.so.6"  # the one Tk is linked with: its handlers are process-wide


class _XErrorEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("resourceid", ctypes.c_ulong),
        ("serial", ctypes.c_ulong),
        ("error_code", ctypes.c_ubyte),
        ("request_code", ctypes.c_ubyte),
        ("minor_code", ctypes.c_ubyte),
    ]


_ErrorHandler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_XErrorEvent))
_IOErrorHandler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_installed: list[object] = []  # Xlib keeps only the C pointers: the callbacks must stay alive


def guard_display(display: str, on_error: Callable[[str], None], on_lost: Callable[[str], None]) -> bool:
    """Install the handlers (before Tk opens the display, so Tk's own handler passes on to
    ours the errors it does not expect). False if libX11 cannot be loaded."""
    try:
        libx11 = ctypes.CDLL(LIBX11)
    except OSError:
        return False

    def failed_request(_display: int, event: ctypes._Pointer) -> int:
        error = event.contents
        with contextlib.suppress(Exception):  # an exception must not cross back into C
            on_error(
                f"the X server refused a request on display {display} "
                f"(error {error.error_code}, request {error.request_code}, resource {error.resourceid:#x})"
            )
        return 0

    def connection_lost(_display: int) -> int:
        try:
            on_lost(f"lost the display {display}: the X server closed the connection")
        except BaseException:  # whatever happened, the process must end here
            log.exception("shutting down after losing the display failed")
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(EXIT_DISPLAY_LOST)
        return 0  # never reached

    error_handler = _ErrorHandler(failed_request)
    io_handler = _IOErrorHandler(connection_lost)
    libx11.XSetErrorHandler.argtypes = [_ErrorHandler]
    libx11.XSetErrorHandler.restype = ctypes.c_void_p
    libx11.XSetIOErrorHandler.argtypes = [_IOErrorHandler]
    libx11.XSetIOErrorHandler.restype = ctypes.c_void_p
    libx11.XSetErrorHandler(error_handler)
    libx11.XSetIOErrorHandler(io_handler)
    _installed[:] = [libx11, error_handler, io_handler]
    return True
