"""``camera-service hook``: the CLI face of :mod:`camera_service.record.hookcmd`.

MediaMTX itself runs ``python -m camera_service.record.hookcmd`` (no config loading,
so it is quick); this subcommand does the same for people and old configs.
"""

from __future__ import annotations

import argparse

from camera_service.config import Settings
from camera_service.record import hookcmd


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("hook", help="report a recording segment event (run by MediaMTX)")
    hookcmd.add_arguments(p)
    p.set_defaults(func=hook)


def hook(args: argparse.Namespace, settings: Settings) -> int:
    return hookcmd.report(args)
