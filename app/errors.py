"""The one exception type the CLI turns into a one-line error and a non-zero exit."""

from __future__ import annotations

import os
import pwd


class AppError(Exception):
    """A problem the user can fix (bad model, bad file, bad option): no traceback."""


def permission_denied(path: str | os.PathLike) -> AppError:
    """`permission denied: PATH`; under systemd also the user the service runs as, who needs the access."""
    message = f"permission denied: {path}"
    if os.environ.get("INVOCATION_ID"):  # set by systemd for every unit it starts
        uid = os.geteuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:  # a DynamicUser= or a uid with no passwd entry
            user = f"uid {uid}"
        message += f" (the service runs as user {user}, who must be able to read it)"
    return AppError(message)


def check_readable(path: str | os.PathLike) -> None:
    """AppError `permission denied: PATH` if this process may not read the file.

    Called before handing a path to a native library (OpenCV, a TFLite runtime), which
    would report an unreadable file as a damaged one. Any other problem (missing, a
    folder) is left to the caller's own message.
    """
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise permission_denied(path) from None
    except OSError:
        pass
