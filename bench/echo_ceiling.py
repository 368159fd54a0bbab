#!/usr/bin/env python3
"""The echo ceiling: a raw picows JSON-RPC server, the floor of CPU per request.

What any Python WebSocket JSON-RPC service on uvloop must spend at least: picows
(Cython framing) on uvloop, every text frame parsed with ``orjson.loads`` and answered
with ``orjson.dumps`` of a reply of the service's shape (``{"jsonrpc": "2.0",
"result": "pong", "id": N}``), ``authenticate`` accepted (the JWT verified with PyJWT
when ``CAMERA_SERVICE_JWT_SECRET`` is set). Nothing else: no routing table, no
permission check, no metrics. ``bench/run.py ceiling`` runs it beside the service with
the same generator and pinning; the ratio ceiling/service is the figure to report.

It is the fan-out ceiling too (``bench/fanout.py --ceiling``): ``GET /fanout/STATUS`` on
the health port sends every authenticated connection one ``camera_status_update`` frame
of the service's shape with that status, built once, and answers with the seconds that
took, from the request to the frame handed to the last connection's transport (what the
service's ``camera_service_notification_fanout_seconds`` measures from its event).

It reads the same YAML keys as the service (``server.host/port``, ``health.host/port``)
and answers ``GET /health/ready`` on the health port, so ``bench/server.py`` drives it
as ``target="echo"``.

    python bench/echo_ceiling.py --port 8002 --health-port 8003
    python bench/echo_ceiling.py --config /tmp/bench.yaml
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal
import time
from typing import Any

import jwt
import orjson
import uvloop
import yaml
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

PARSE_ERROR = orjson.dumps(
    {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
)
AUTHENTICATED = b'{"jsonrpc":"2.0","result":{"authenticated":true'
INVALID = orjson.dumps(
    {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}
)


def reply(req: Any, secret: str | None) -> bytes | None:
    """The reply to one decoded request (None for a notification)."""
    if not isinstance(req, dict) or not isinstance(req.get("method"), str):
        return INVALID
    if "id" not in req:
        return None
    rid = req["id"]
    if req["method"] != "authenticate":
        return orjson.dumps({"jsonrpc": "2.0", "result": "pong", "id": rid})
    params = req.get("params")
    token = (params.get("auth_token") or params.get("token")) if isinstance(params, dict) else None
    ok = isinstance(token, str) and bool(token)
    if ok and secret and isinstance(token, str):
        try:
            jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            ok = False
    if ok:
        body: dict[str, Any] = {"authenticated": True, "role": "admin"}
        return orjson.dumps({"jsonrpc": "2.0", "result": body, "id": rid})
    error = {
        "code": -32001,
        "message": "Authentication failed: invalid token",
        "data": {"reason": "invalid_token"},
    }
    return orjson.dumps({"jsonrpc": "2.0", "error": error, "id": rid})


# The authenticated connections, which hear /fanout's frames.
AUDIENCE: set[WSTransport] = set()


def status_frame(status: str, host: str) -> bytes:
    """A ``camera_status_update`` as the service sends on a hot-plug."""
    connected = status == "CONNECTED"
    streams = (
        {
            "rtsp": f"rtsp://{host}:8554/camera0",
            "webrtc": f"http://{host}:8889/camera0/",
            "hls": f"http://{host}:8888/camera0/",
        }
        if connected
        else {}
    )
    params = {
        "device": "/dev/video0",
        "status": status,
        "name": "HD Pro Webcam C920",
        "resolution": "",
        "fps": 0,
        "streams": streams,
        "camera_id": "camera0",
        "device_path": "/dev/video0",
        "stream_url": streams.get("rtsp"),
    }
    return orjson.dumps({"jsonrpc": "2.0", "method": "camera_status_update", "params": params})


def fan_out(status: str, host: str) -> float:
    """Send every authenticated connection the frame; the seconds it took."""
    t0 = time.perf_counter()
    frame = status_frame(status, host)
    for transport in AUDIENCE:
        transport.send(WSMsgType.TEXT, frame)
    return time.perf_counter() - t0


class Echo(WSListener):
    def __init__(self, secret: str | None) -> None:
        self.secret = secret

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        AUDIENCE.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            try:
                req = orjson.loads(frame.get_payload_as_memoryview())
            except orjson.JSONDecodeError:
                out: bytes | None = PARSE_ERROR
            else:
                out = reply(req, self.secret)
                if out is not None and out.startswith(AUTHENTICATED):
                    AUDIENCE.add(transport)
            if out is not None:
                transport.send(WSMsgType.TEXT, out)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.BINARY:
            transport.send_close(WSCloseCode.UNSUPPORTED_DATA)
            transport.disconnect()


def health(ws_host: str, request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    """The health port: 200 for ``/health/*`` and ``/fanout/STATUS`` (see above; the
    frame's stream URLs name ``ws_host``), 404 otherwise, never an upgrade."""
    if request.path.startswith(b"/health/"):
        response = WSUpgradeResponse.create_ok_response(b'{"status":"ready"}')
    elif request.path.startswith(b"/fanout/"):
        status = request.path.removeprefix(b"/fanout/").decode()
        seconds = fan_out(status, ws_host)
        response = WSUpgradeResponse.create_ok_response(orjson.dumps({"seconds": seconds}))
    else:
        response = WSUpgradeResponse.create_error_response(404)
    return WSUpgradeResponseWithListener(response, None)


async def serve(host: str, port: int, health_host: str, health_port: int) -> None:
    secret = os.environ.get("CAMERA_SERVICE_JWT_SECRET") or None
    ws = await ws_create_server(lambda _request: Echo(secret), host, port, backlog=4096)
    hs = await ws_create_server(functools.partial(health, host), health_host, health_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in (ws, hs):
        server.close()


def main() -> None:
    p = argparse.ArgumentParser(description="picows JSON-RPC echo ceiling")
    p.add_argument("--config", default=None, help="YAML with server.* and health.* keys")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8002)
    p.add_argument("--health-port", type=int, default=8003)
    args = p.parse_args()
    host, port, hhost, hport = args.host, args.port, args.host, args.health_port
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
        server, health_cfg = cfg.get("server", {}), cfg.get("health", {})
        host, port = server.get("host", host), int(server.get("port", port))
        hhost, hport = health_cfg.get("host", hhost), int(health_cfg.get("port", hport))
    uvloop.run(serve(host, port, hhost, hport))


if __name__ == "__main__":
    main()
