"""MediaMTX's segment hooks call back here, so the service learns real file names at once.

MediaMTX runs ``runOnRecordSegmentCreate`` / ``runOnRecordSegmentComplete`` as commands;
ours is ``python -m camera_service.record.hookcmd`` (see ``hook_command``), which POSTs
to this endpoint on the health port. The endpoint answers loopback peers only and wants
a per-run secret, kept in a 0600 file the hook command reads, so no other local process
can fake a segment. Accepted events are published on the bus as
:class:`storage.events.SegmentCreated` or :class:`storage.events.SegmentCompleted`.
"""

from __future__ import annotations

import hmac
import os
import secrets
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from camera_service.cameras.model import CAMERA_ID
from camera_service.events import EventBus
from camera_service.net.addresses import is_loopback
from camera_service.net.httpserver import HttpRequest, Response, json_response
from camera_service.record import hookcmd
from camera_service.storage.events import SegmentCompleted, SegmentCreated, SegmentEvent

HOOK_PATH = "/hooks/recording"
TOKEN_HEADER = hookcmd.TOKEN_HEADER.lower().encode()
AT_TOLERANCE = 60.0  # seconds between the hook's clock reading and ours


def new_token(path: Path) -> str:
    """A fresh secret for this run, written where only the service user can read it."""
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.chmod(path, 0o600)
    return token


def hook_command(event: str, url: str, token_file: Path) -> str:
    """The command MediaMTX runs for a segment event (it expands the $MTX_ variables)."""
    argv = [
        sys.executable,
        "-m",
        "camera_service.record.hookcmd",
        "--event",
        event,
        "--url",
        url,
        "--token-file",
        str(token_file),
        "--camera",
        "$MTX_PATH",
        "--segment",
        "$MTX_SEGMENT_PATH",
    ]
    if event == "complete":
        argv += ["--duration", "$MTX_SEGMENT_DURATION"]
    return " ".join(shlex.quote(a) for a in argv)


def _time(value: Any) -> float | None:
    """The hook's start time; a clock far off ours is ignored rather than trusted."""
    if value is None:
        return None
    at = float(value)  # TypeError/ValueError: a 400
    return at if abs(at - time.time()) < AT_TOLERANCE else None


class HookReceiver:
    def __init__(self, token: str, recordings: Path, events: EventBus) -> None:
        self.token = token.encode()
        self.recordings = recordings.resolve()
        self.events = events

    async def handle(self, request: HttpRequest) -> Response:
        if not is_loopback(request.peer):
            return json_response({"error": "hooks are accepted from loopback only"}, 403)
        given = request.headers.get(TOKEN_HEADER, b"")
        if not hmac.compare_digest(given, self.token):
            return json_response({"error": "invalid hook token"}, 401)
        try:
            event = self.parse(orjson.loads(request.body))
        except (orjson.JSONDecodeError, ValueError, TypeError, KeyError) as exc:
            return json_response({"error": f"invalid hook event: {exc}"}, 400)
        self.events.publish(event)
        return Response(204)

    def parse(self, body: Any) -> SegmentEvent:
        kind = body["event"]
        if kind not in ("create", "complete"):
            raise ValueError("event must be create or complete")
        camera_id = body["camera"]
        if not isinstance(camera_id, str) or not CAMERA_ID.fullmatch(camera_id):
            raise ValueError("camera is not a camera id")
        try:
            segment = Path(str(body["segment"])).resolve()
        except RuntimeError:  # a symlink loop (Python < 3.13 raises it, not OSError)
            raise ValueError("segment path is a symlink loop") from None
        # MediaMTX writes where we told it: anything else is not ours to index.
        if segment.parent != self.recordings:
            raise ValueError("segment is outside the recordings directory")
        duration = body.get("duration")
        if duration is not None:
            duration = float(duration)
            if not 0 <= duration < 7 * 86400:
                raise ValueError("duration out of range")
        at = _time(body.get("at"))
        if kind == "create":
            return SegmentCreated(camera_id, segment, at)
        return SegmentCompleted(camera_id, segment, duration, at)
