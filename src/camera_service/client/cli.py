"""``camera-service client ...``: the SDK from a shell.

Exit codes: 0 ok, 1 the service answered with an error (message printed), 2 usage,
3 no connection (refused, dropped, timed out).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from camera_service.client.client import CameraClient
from camera_service.client.errors import (
    CallTimeout,
    CameraNotFound,
    ConnectionFailed,
    DownloadError,
    MediaMtxError,
    RpcError,
)

DEFAULT_URL = "ws://127.0.0.1:8002/ws"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CONNECTION = 0, 1, 2, 3
KINDS = ("recordings", "snapshots")

Printer = Callable[[Any], str]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camera-service client",
        description="Talk to a running camera service over its WebSocket JSON-RPC API.",
        epilog="Exit codes: 0 ok, 1 error from the service, 2 usage, 3 no connection.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("CAMERA_SERVICE_URL", DEFAULT_URL),
        help=f"API URL (env CAMERA_SERVICE_URL, default {DEFAULT_URL})",
    )
    cred = parser.add_mutually_exclusive_group()
    cred.add_argument("--token", help="JWT (env CAMERA_SERVICE_TOKEN)")
    cred.add_argument("--api-key", help="API key (env CAMERA_SERVICE_API_KEY)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--timeout", type=_positive, default=35.0, help="seconds per call (default 35)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("ping", help="check the service answers")
    sub.add_parser("cameras", help="list cameras (viewer)")
    status = sub.add_parser("status", help="service status (admin), or one camera's (viewer)")
    status.add_argument("device", nargs="?", help="/dev/videoN or camera id")

    media = sub.add_parser(
        "media-token", help="a short-lived token and stream URLs for one camera (viewer)"
    )
    media.add_argument("camera_id")
    media.add_argument("--ttl", type=_positive, help="seconds (default: the service's, 300)")

    sub.add_parser("system-status", help="starting, partial or ready, and the cameras up (viewer)")
    sub.add_parser("subscriptions", help="notification subscription counts (viewer)")
    sub.add_parser("health", help="each component's health and reason, capacity (viewer)")
    stream = sub.add_parser("stream", help="a camera's stream: URL, status, start, stop")
    stream_sub = stream.add_subparsers(dest="stream_command", required=True, metavar="ACTION")
    for action, text in (
        ("url", "its RTSP URL and readers (viewer)"),
        ("status", "what it is doing, with metrics (viewer)"),
        ("start", "bring it up for the viewing window (operator)"),
        ("stop", "end the viewing window (operator)"),
    ):
        stream_sub.add_parser(action, help=text).add_argument("device")

    snap = sub.add_parser("snapshot", help="take a snapshot (operator)")
    snap.add_argument("device")
    snap.add_argument("--format", choices=("jpg", "png"))
    snap.add_argument("--quality", type=int, help="JPEG quality 1-100")
    snap.add_argument("--filename", help="file name to use (a plain basename)")

    record = sub.add_parser("record", help="start or stop recording (operator)")
    rec_sub = record.add_subparsers(dest="record_command", required=True, metavar="ACTION")
    start = rec_sub.add_parser("start", help="start recording a camera")
    start.add_argument("device")
    start.add_argument("--duration", type=int, help="seconds (default: until stopped)")
    start.add_argument("--format", choices=("mp4", "ts"))
    stop = rec_sub.add_parser("stop", help="stop recording a camera")
    stop.add_argument("device")

    files = sub.add_parser("files", help="list, download or delete media files")
    files_sub = files.add_subparsers(dest="files_command", required=True, metavar="ACTION")
    listing = files_sub.add_parser("list", help="list files, newest first (viewer)")
    listing.add_argument("kind", choices=KINDS)
    listing.add_argument("--limit", type=int)
    listing.add_argument("--offset", type=int)
    listing.add_argument("--device")
    download = files_sub.add_parser("download", help="download a file (viewer)")
    download.add_argument("kind", choices=KINDS)
    download.add_argument("name")
    download.add_argument("-o", "--output", type=Path, help="file or directory (default: .)")
    delete = files_sub.add_parser("delete", help="delete a file (operator)")
    delete.add_argument("kind", choices=KINDS)
    delete.add_argument("name")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    token = args.token
    api_key = args.api_key
    if token is None and api_key is None:
        token = os.environ.get("CAMERA_SERVICE_TOKEN") or None
        api_key = None if token else os.environ.get("CAMERA_SERVICE_API_KEY") or None
    try:
        client = CameraClient(
            args.url, token=token, api_key=api_key, timeout=args.timeout, reconnect=False
        )
    except ValueError as e:
        print(f"camera-service client: {e}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_run(client, args))


async def _run(client: CameraClient, args: argparse.Namespace) -> int:
    try:
        async with client:
            result, printer = await _execute(client, args)
    except RpcError as e:
        print(f"camera-service client: {e}", file=sys.stderr)
        return EXIT_ERROR
    except DownloadError as e:
        print(f"camera-service client: {e.message}", file=sys.stderr)
        return EXIT_ERROR
    except (ConnectionFailed, CallTimeout) as e:
        print(f"camera-service client: {e}", file=sys.stderr)
        return EXIT_CONNECTION
    except OSError as e:  # the download's destination cannot be written
        print(f"camera-service client: {e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() if args.json else None
    print(text if text is not None else printer(result))
    failed = isinstance(result, dict) and result.get("status") == "FAILED"
    if failed:  # a snapshot that could not be taken is a result, not an RPC error
        why = result.get("error") or result.get("message") or "failed"
        print(f"camera-service client: {why}", file=sys.stderr)
    return EXIT_ERROR if failed else EXIT_OK


async def _execute(client: CameraClient, args: argparse.Namespace) -> tuple[Any, Printer]:
    command = args.command
    if command == "ping":
        return await client.ping(), str
    if command == "cameras":
        return await client.get_camera_list(), _cameras
    if command == "status":
        if args.device:
            status = await client.get_camera_status(args.device)
            if status["status"] == "DISCONNECTED" and not await _known(client, args.device):
                raise _not_found(args.device)
            return status, _mapping
        return await client.get_status(), _mapping
    if command == "media-token":
        return await client.create_media_token(args.camera_id, args.ttl), _media_token
    if command == "system-status":
        return await client.get_system_status(), _mapping
    if command == "health":
        return await client.get_health(), _mapping
    if command == "subscriptions":
        return await client.get_subscription_stats(), _mapping
    if command == "stream":
        return await _stream(client, args.stream_command, args.device)
    if command == "snapshot":
        result = await client.take_snapshot(
            args.device, filename=args.filename, format=args.format, quality=args.quality
        )
        return result, _snapshot
    if command == "record":
        if args.record_command == "start":
            started = await client.start_recording(
                args.device, duration_seconds=args.duration, format=args.format
            )
            return started, _started
        try:
            return await client.stop_recording(args.device), _stopped
        except MediaMtxError:
            if not await _known(client, args.device):
                raise _not_found(args.device) from None
            raise
    kind = args.kind
    if args.files_command == "list":
        lister = client.list_recordings if kind == "recordings" else client.list_snapshots
        return await lister(limit=args.limit, offset=args.offset, device=args.device), _files
    if args.files_command == "download":
        path = await client.download(kind, args.name, args.output or Path("."))
        return {"filename": args.name, "path": str(path), "size": path.stat().st_size}, (
            lambda r: f"downloaded {r['filename']} to {r['path']} ({r['size']} bytes)"
        )
    deleter = client.delete_recording if kind == "recordings" else client.delete_snapshot
    return await deleter(args.name), lambda r: f"deleted {r['filename']}"


# The API answers an unknown camera's status as DISCONNECTED and an unknown camera's
# stop_recording as "not recording" (-1003), as the original service did; a person at a
# shell is told it does not exist, as take_snapshot tells them.
async def _known(client: CameraClient, device: str) -> bool:
    node = f"/dev/video{device}" if device.isdigit() else device
    listed = await client.get_camera_list()
    return any(node in (c["device"], c.get("camera_id")) for c in listed["cameras"])


def _not_found(device: str) -> CameraNotFound:
    return CameraNotFound(-1000, f"Camera not found: {device}")


async def _stream(client: CameraClient, action: str, device: str) -> tuple[Any, Printer]:
    if action == "url":
        return await client.get_stream_url(device), _mapping
    if action == "status":
        return await client.get_stream_status(device), _mapping
    if action == "start":
        return await client.start_streaming(device), _streaming_started
    return await client.stop_streaming(device), lambda r: str(r["message"])


# --- readable output --------------------------------------------------------------------


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _cameras(result: Any) -> str:
    rows = [["CAMERA", "DEVICE", "STATUS", "RESOLUTION", "FPS", "REC", "RTSP"]]
    for cam in result["cameras"]:
        rows.append(
            [
                str(cam.get("camera_id", "")),
                str(cam["device"]),
                str(cam["status"]),
                str(cam["resolution"] or "-"),
                str(cam["fps"]),
                "yes" if cam.get("recording") else "no",
                str(cam.get("streams", {}).get("rtsp", "-")),
            ]
        )
    summary = f"{result['connected']} of {result['total']} cameras connected"
    return _table(rows) + "\n" + summary if result["cameras"] else summary


def _mapping(result: Any, indent: str = "") -> str:
    lines = []
    for key, value in result.items():
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{key}:")
            lines.append(_mapping(value, indent + "  "))
        else:
            lines.append(f"{indent}{key}: {_value(value)}")
    return "\n".join(lines)


def _value(value: Any) -> str:
    """A value as a shell user reads it: yes/no, ``-`` for nothing, lists comma-separated
    (``--json`` keeps the machine form)."""
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return str(value)


def _media_token(r: Any) -> str:
    streams = r["streams"]
    lines = [f"token: {r['token']}", f"expires_at: {r['expires_at']}"]
    return "\n".join(lines + [f"{name}: {url}" for name, url in streams.items()])


def _snapshot(r: Any) -> str:
    if r.get("status") == "FAILED":
        return f"snapshot of {r['device']} failed"
    return f"snapshot {r['filename']} ({r['file_size']} bytes, {r.get('source', '?')})"


def _streaming_started(r: Any) -> str:
    if r.get("status") == "FAILED":
        return f"stream of {r['device']} did not start"
    return f"streaming {r['device']} for {r['auto_close_after']}: {r['stream_url']}"


def _started(r: Any) -> str:
    until = f"for {r['duration']:g} s" if r.get("duration") else "until stopped"
    return f"recording {r['device']} {until}: {r['filename']} (session {r['session_id']})"


def _stopped(r: Any) -> str:
    files = ", ".join(r.get("files") or [r["filename"]])
    return f"stopped {r['device']} after {r['duration']:g} s: {files} ({r['file_size']} bytes)"


def _files(result: Any) -> str:
    rows = [["NAME", "SIZE", "MODIFIED", "DURATION"]]
    for f in result["files"]:
        duration = f.get("duration")
        rows.append(
            [
                f["filename"],
                str(f["file_size"]),
                f["modified_time"],
                "-" if duration is None else f"{duration:g}",
            ]
        )
    shown = len(result["files"])
    summary = f"{shown} of {result['total']} files (offset {result['offset']})"
    return _table(rows) + "\n" + summary if shown else summary


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value
