#!/usr/bin/env python3
"""Tiny aiohttp JSON-RPC "echo" server: a stand-in target to check the load generator.

Answers every request with ``{"jsonrpc":"2.0","result":"pong","id":ID}`` and
``authenticate`` with ``{"authenticated": true, ...}`` (the token is verified with
PyJWT when ``CAMERA_SERVICE_JWT_SECRET`` is set, else any non-empty token passes).
Serves ``GET /health/ready`` and reads the same YAML keys as the real service
(``server.host/port``, ``health.host/port``), so ``bench/server.py`` can drive it.

    python bench/_echo_server.py --port 8002 --health-port 8003
    python bench/_echo_server.py --config /tmp/bench.yaml
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

import jwt
import orjson
import uvloop
import yaml
from aiohttp import WSMsgType, web

TEXT = WSMsgType.TEXT


def _reply(req: Any, secret: str | None) -> bytes | None:
    if not isinstance(req, dict) or not isinstance(req.get("method"), str):
        return orjson.dumps(
            {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}
        )
    rid = req.get("id")
    if req["method"] == "authenticate":
        params = req.get("params") or {}
        token = (
            (params.get("auth_token") or params.get("token")) if isinstance(params, dict) else None
        )
        ok = isinstance(token, str) and bool(token)
        if ok and secret and isinstance(token, str):
            try:
                jwt.decode(token, secret, algorithms=["HS256"])
            except jwt.PyJWTError:
                ok = False
        if not ok:
            body: dict[str, Any] = {
                "jsonrpc": "2.0",
                "error": {
                    "code": -32001,
                    "message": "Authentication failed: invalid token",
                    "data": {"reason": "invalid_token"},
                },
                "id": rid,
            }
        else:
            body = {
                "jsonrpc": "2.0",
                "result": {"authenticated": True, "role": "admin"},
                "id": rid,
            }
    else:
        body = {"jsonrpc": "2.0", "result": "pong", "id": rid}
    return None if "id" not in req else orjson.dumps(body)


async def ws_handler(request: web.Request) -> web.WebSocketResponse:
    secret: str | None = request.app["secret"]
    ws = web.WebSocketResponse(max_msg_size=1 << 20)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == TEXT:
            try:
                req = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                out: bytes | None = orjson.dumps(
                    {
                        "jsonrpc": "2.0",
                        "error": {"code": -32700, "message": "Parse error"},
                        "id": None,
                    }
                )
            else:
                out = _reply(req, secret)
            if out is not None:
                await ws.send_frame(out, TEXT)
        elif msg.type == WSMsgType.BINARY:
            await ws.close(code=1003)
    return ws


async def ready(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


async def serve(host: str, port: int, health_host: str, health_port: int) -> None:
    app = web.Application()
    app["secret"] = os.environ.get("CAMERA_SERVICE_JWT_SECRET") or None
    app.router.add_get("/ws", ws_handler)
    app.router.add_get("/", ws_handler)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/health/live", ready)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sites = [web.TCPSite(runner, host, port, backlog=4096, shutdown_timeout=1.0)]
    if health_port != port:
        sites.append(web.TCPSite(runner, health_host, health_port, shutdown_timeout=1.0))
    for site in sites:
        await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description="JSON-RPC echo server for the load generator")
    p.add_argument("--config", default=None, help="YAML with server.* and health.* keys")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8002)
    p.add_argument("--health-port", type=int, default=8003)
    args = p.parse_args()
    host, port, hhost, hport = args.host, args.port, args.host, args.health_port
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
        server = cfg.get("server", {})
        health = cfg.get("health", {})
        host, port = server.get("host", host), int(server.get("port", port))
        hhost, hport = health.get("host", hhost), int(health.get("port", hport))
    uvloop.run(serve(host, port, hhost, hport))


if __name__ == "__main__":
    main()
