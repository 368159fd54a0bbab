"""What MediaMTX runs on a recording segment event: report it to the service, fast.

    python -m camera_service.record.hookcmd --event create --url URL --token-file F \\
        --camera "$MTX_PATH" --segment "$MTX_SEGMENT_PATH" [--duration "$MTX_SEGMENT_DURATION"]

One short-lived process per segment event. It imports the standard library only (no
config, no pydantic: those cost ~400 ms, and a duration-limited recording is timed
from the first segment's create event), reads the per-run secret and POSTs the event
as JSON to the service's loopback endpoint over a plain socket. ``at`` in the body is
when this process started (wall clock), so the service can discount how long the
interpreter took to get here. ``camera-service hook`` calls :func:`main` too.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

TOKEN_HEADER = "X-Hook-Token"
TIMEOUT = 5.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--event", required=True, choices=["create", "complete"])
    p.add_argument("--url", required=True, help="the service's hook endpoint (loopback)")
    p.add_argument("--token-file", required=True, help="file holding the per-run secret")
    p.add_argument("--camera", required=True, help="camera id ($MTX_PATH)")
    p.add_argument("--segment", required=True, help="segment file ($MTX_SEGMENT_PATH)")
    p.add_argument("--duration", help="seconds ($MTX_SEGMENT_DURATION), on complete")


def started_at() -> float:
    """Wall-clock time this process started (its age from /proc), else now."""
    now = time.time()
    try:
        with open("/proc/self/stat", "rb") as f:
            # Field 22 (after the parenthesised command name): start time in clock
            # ticks since boot, the same clock as CLOCK_BOOTTIME.
            fields = f.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - age if 0 <= age < 60 else now


def post(url: str, token: str, body: dict[str, object]) -> int:
    """POST ``body`` to ``url`` (plain http); returns the response status."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError("the hook URL must be http://host:port/path")
    payload = json.dumps(body).encode()
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "Content-Type: application/json\r\n"
        f"{TOKEN_HEADER}: {token}\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port or 80), TIMEOUT) as sock:
        sock.sendall(head + payload)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(1024)
            if not chunk:
                break
            reply += chunk
    status_line = reply.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise OSError("no HTTP status in the reply")
    return int(status_line[1])


def report(args: argparse.Namespace, at: float | None = None) -> int:
    """Send the event; 0 when the service accepted it."""
    body: dict[str, object] = {
        "event": args.event,
        "camera": args.camera,
        "segment": args.segment,
        "at": at if at is not None else started_at(),
    }
    if args.duration:
        body["duration"] = args.duration
    try:
        with open(args.token_file) as f:
            token = f.read().strip()
        status = post(args.url, token, body)
    except (OSError, ValueError) as exc:
        print(f"camera-service hook: {exc}", file=sys.stderr)
        return 1
    if status >= 300:
        print(f"camera-service hook: the service answered {status}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    at = started_at()
    parser = argparse.ArgumentParser(
        prog="camera-service hook", description="report a recording segment event"
    )
    add_arguments(parser)
    return report(parser.parse_args(argv), at)


if __name__ == "__main__":
    sys.exit(main())
