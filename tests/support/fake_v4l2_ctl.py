#!/usr/bin/env python3
"""A stand-in for ``v4l2-ctl`` that prints recorded outputs.

Implements ``--device D`` / ``-d D`` with ``--info`` (``-D``) and
``--list-formats-ext``, reading which fixture to print for D from the JSON map named by
``FAKE_V4L2_MAP`` (written by ``tests.support.v4l2tree.FakeV4l2Tree``). Behaves like
the real tool where it matters to callers: a missing node gives v4l2-ctl's own
``Cannot open device D, exiting.`` and status 1.

Per-device knobs in the map: ``fail_times`` (the first N runs fail as a flaky device
would) and ``delay`` (the run holds the node open until it disappears or the delay
passes, so a test can unplug during a probe). Each run appends its pid to
``<state_dir>/<videoN>.calls``; a run that starts holding writes to the FIFO
``<state_dir>/<videoN>.started`` when a test listens on it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _parse(argv: list[str]) -> tuple[str, list[str]]:
    device = "/dev/video0"  # v4l2-ctl's default
    actions: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("-d", "--device"):
            device = next(args, device)
        elif arg.startswith("--device="):
            device = arg.split("=", 1)[1]
        elif arg.startswith("-d") and len(arg) > 2:
            device = arg[2:]
        elif arg in ("-D", "--info"):
            actions.append("info")
        elif arg == "--list-formats-ext":
            actions.append("formats")
        else:
            print(f"fake v4l2-ctl: unsupported argument {arg}", file=sys.stderr)
            sys.exit(1)
    if device.isdigit():  # v4l2-ctl -d 0 means /dev/video0
        device = os.path.join(os.environ.get("FAKE_V4L2_DEVICE_ROOT", "/dev"), "video" + device)
    return device, actions


def _signal_started(fifo: Path) -> None:
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # absent, or nobody listening: nothing to tell
        return
    try:
        os.write(fd, b"started\n")
    finally:
        os.close(fd)


def _hold(device: str, delay: float) -> bool:
    """Keep "the device open" up to delay seconds; False if it vanished meanwhile."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if not os.path.exists(device):
            return False
        time.sleep(0.005)  # this process stands in for a blocked ioctl
    return os.path.exists(device)


def main(argv: list[str]) -> int:
    device, actions = _parse(argv)
    with open(os.environ["FAKE_V4L2_MAP"], encoding="utf-8") as f:
        config: dict[str, Any] = json.load(f)
    state_dir = Path(config["state_dir"])
    if not os.path.exists(device):
        print(f"Cannot open device {device}, exiting.", file=sys.stderr)
        return 1
    entry: dict[str, Any] | None = config["devices"].get(device)
    if entry is None:
        print(f"{device}: not a v4l2 node", file=sys.stderr)
        return 1
    calls = state_dir / f"{Path(device).name}.calls"
    with open(calls, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    with open(calls, encoding="utf-8") as f:
        run = len(f.read().split())
    if run <= int(entry.get("fail_times", 0)):
        print(f"{device}: not a v4l2 node", file=sys.stderr)  # QUERYCAP failed (EIO)
        return 1
    delay = float(entry.get("delay", 0))
    if delay > 0:
        _signal_started(state_dir / f"{Path(device).name}.started")
        if not _hold(device, delay):
            # Unplugged while open: QUERYCAP fails for --info; the format enumeration
            # just ends, so the real tool prints the bare header and exits 0.
            if "info" in actions:
                print(f"{device}: not a v4l2 node", file=sys.stderr)
                return 1
            sys.stdout.write("ioctl: VIDIOC_ENUM_FMT\n")
            return 0
    for action in actions:
        with open(entry[action], encoding="utf-8") as f:
            sys.stdout.write(f.read())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
