"""`python -m app.service install|uninstall NAME`: its flags, read here and handed on as plain values."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import app.service.install
from app.errors import AppError
from app.service.install import install, uninstall
from app.service.units import PROJECT_ROOT, SERVICES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.service", description=(app.service.install.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("action", choices=("install", "uninstall"))
    parser.add_argument("name", choices=SERVICES, metavar="kiosk|logger")
    parser.add_argument("--root", type=Path, default=Path("/"), help="install into this folder instead of / (tests)")
    parser.add_argument("--prefix", type=Path, default=PROJECT_ROOT, help="the project checkout (default: this one)")
    parser.add_argument("--no-systemctl", action="store_true", help="only write files: no enable, start or stop")
    display = parser.add_mutually_exclusive_group()
    display.add_argument("--console", action="store_true", help="kiosk: draw on the screen via DRM (no desktop)")
    display.add_argument("--desktop-user", metavar="USER", help="kiosk: show in this user's desktop session")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = args.root.resolve()
    try:
        if root == Path("/") and os.geteuid() != 0:
            raise AppError("installing a service changes the system: run it with sudo (setup.sh does)")
        if args.action == "install":
            if args.name == "logger" and (args.console or args.desktop_user):
                raise AppError("--console and --desktop-user are for the kiosk")
            install(args.name, root, args.prefix.resolve(), args.console, args.desktop_user, not args.no_systemctl)
        else:
            uninstall(args.name, root, not args.no_systemctl)
    except AppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
