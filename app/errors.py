"""The one exception type the CLI turns into a one-line error and a non-zero exit."""

from __future__ import annotations

import os
import pwd


class AppError(Exception):
    """A problem the user can fix (bad model, bad file, bad option): no traceback."""


class OptionError(AppError):
    """A bad value of one option, named as the user gave it: the flag, or the config key.

    `problem` reads after the option's name ("must be below 1, got 2"); `fix` is a value
    that would do. The CLI shows `--preview drm is ...: use --preview window`, or for a
    value from a config file `kiosk.toml:4: preview drm is ...: set preview = "window"`.
    """

    def __init__(self, dest: str, problem: str, fix: str | None = None) -> None:
        self.dest = dest
        self.problem = problem
        self.fix = fix
        flag = "--" + dest.replace("_", "-")
        super().__init__(f"{flag} {problem}" + (f": use {flag} {fix}" if fix is not None else ""))

    def in_config(self, where: str) -> str:
        """The message for a value set in a config file; `where` is `FILE:LINE: key`."""
        return f"{where} {self.problem}" + (f': set {self.dest} = "{self.fix}"' if self.fix is not None else "")


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
