"""``camera-service hook``: what MediaMTX runs on a segment event.

A short-lived process (one per segment, so once every few minutes at most): it reads
the per-run secret and POSTs the event to the service on loopback with the standard
library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from camera_service.config import Settings
from camera_service.record.hooks import TOKEN_HEADER


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("hook", help="report a recording segment event (run by MediaMTX)")
    p.add_argument("--event", required=True, choices=["create", "complete"])
    p.add_argument("--url", required=True, help="the service's hook endpoint (loopback)")
    p.add_argument("--token-file", required=True, type=Path)
    p.add_argument("--camera", required=True, help="camera id ($MTX_PATH)")
    p.add_argument("--segment", required=True, help="segment file ($MTX_SEGMENT_PATH)")
    p.add_argument("--duration", help="seconds ($MTX_SEGMENT_DURATION), on complete")
    p.set_defaults(func=hook)


def hook(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: only this short-lived process needs an HTTP client, not the service.
    import urllib.error
    import urllib.request

    body: dict[str, object] = {"event": args.event, "camera": args.camera, "segment": args.segment}
    if args.duration:
        body["duration"] = args.duration
    try:
        token = args.token_file.read_text().strip()
        request = urllib.request.Request(
            args.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", TOKEN_HEADER.decode(): token},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return 0 if response.status < 300 else 1
    except (OSError, urllib.error.URLError) as exc:
        print(f"camera-service hook: {exc}", file=sys.stderr)
        return 1
