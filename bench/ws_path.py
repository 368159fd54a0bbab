#!/usr/bin/env python3
"""The WebSocket request path in one process, without sockets: CPU per request.

    python bench/ws_path.py                      # ping, 300,000 requests
    python bench/ws_path.py --src ../other-checkout --requests 1000000
    python bench/ws_path.py --method status      # a sync handler with a result dict

A connection is upgraded on a stand-in transport that keeps nothing, then fed one
masked ``ping`` frame per ``data_received`` call, as a closed-loop client's reads
arrive; each reply is framed and "written". The figure is process CPU time per request
over the loop (after a warm-up), which isolates the service's own code on the request
path (frame parsing, dispatch, reply framing, the write call) from the kernel's socket
work, the generator and the machine's other load. ``--src`` runs another checkout's
``src/`` with this environment's packages, for before/after pairs of commands.

``--instructions`` counts instead of timing: the same loop runs twice under
``valgrind --tool=cachegrind`` (``--requests`` and 3x as many), and the difference in
instructions executed, per extra request, is printed. Unlike time it does not move
with the machine's load, so two checkouts compare to well under 1 %.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
import uvloop

HERE = Path(__file__).resolve().parent


class NullTransport:
    """Keeps what is written and never fills up or closes. Its methods are C builtins,
    as a uvloop transport's are, so they cost what the real ones cost to call."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.write = self.written.append
        self.is_closing = False.__bool__
        self.get_write_buffer_size = int  # int() is 0
        noop = {}.clear  # a C callable taking no argument and doing nothing
        self.pause_reading = self.resume_reading = self.close = self.abort = noop
        limits: dict[str, int] = {}
        self.set_write_buffer_limits = limits.update  # takes high=, low=


class Observer:
    """The service's observer without its audit trail: requests go into a real
    ``Metrics``, as the service's own do."""

    def __init__(self, metrics: Any) -> None:
        self.request_done = metrics.request_done

    def security_event(self, event: str, actor: str | None, **detail: Any) -> None:
        pass


def frame(payload: bytes) -> bytes:
    """A client text frame, masked with a zero key (the payload goes as is)."""
    assert len(payload) < 126
    return bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload


STATUS = {"status": "healthy", "uptime": 12.5, "version": "0.1.0", "components": {"a": "ok"}}


def method_table() -> Any:
    """``ping`` and ``status`` in the checkout's method table, or in its method registry
    (checkouts from before issue 13 renamed it), so old and new code compare."""
    try:
        from camera_service.api.context import ApiContext, Components
        from camera_service.api.methodtable import MethodSpec, MethodTable, NoParams
    except ImportError:
        old = importlib.import_module("camera_service.api.registry")
        registry = old.MethodRegistry()
        registry.add(old.MethodSpec("ping", lambda c: "pong", "", None))
        registry.add(old.MethodSpec("status", lambda c: STATUS, "", None))
        return registry
    methods = (
        MethodSpec("ping", lambda c: "pong", "", None, NoParams, str),
        MethodSpec("status", lambda c: STATUS, "", None, NoParams, dict),
    )
    return MethodTable(methods, ApiContext(cast(Components, object())))  # parts unused


async def run(ns: argparse.Namespace) -> float:
    from camera_service.api.dispatch import Dispatcher
    from camera_service.api.websocket import WebSocketServer
    from camera_service.auth.authenticator import Authenticator
    from camera_service.auth.jwt import JwtAuthenticator
    from camera_service.config import ServerConfig
    from camera_service.net.httpserver import HttpRequest, Response
    from camera_service.observability.metrics import Metrics

    auth = Authenticator(JwtAuthenticator("x" * 32), None)
    metrics = Metrics()
    dispatcher = Dispatcher(method_table(), auth, Observer(metrics), 30.0)
    server = WebSocketServer(ServerConfig(), dispatcher, metrics)
    server.requests_per_minute = 1_000_000_000
    headers = {
        b"host": b"127.0.0.1",
        b"upgrade": b"websocket",
        b"connection": b"Upgrade",
        b"sec-websocket-version": b"13",
        b"sec-websocket-key": base64.b64encode(os.urandom(16)),
    }
    request = HttpRequest("GET", "/ws", "/ws", {}, headers, b"", "127.0.0.1", True, True)
    transport = NullTransport()

    def connect() -> Callable[[bytes], None]:
        conn = server.upgrade(request, cast(asyncio.Transport, transport))
        if isinstance(conn, Response):
            raise SystemExit(f"upgrade refused: {conn.status}")
        return conn.data_received

    feeds = [connect() for _ in range(ns.connections)]
    frames = [
        frame(orjson.dumps({"jsonrpc": "2.0", "method": ns.method, "id": i}))
        for i in range(ns.connections)
    ]
    pairs = list(zip(feeds, frames, strict=True))
    written = transport.written

    async def rounds(n: int) -> None:
        """``n`` requests: one on each connection a round, and a round ends when every
        reply is out (replies that wait for a task need the loop to run)."""
        for _ in range(n // len(pairs)):
            for feed, data in pairs:
                feed(data)
            while len(written) < len(pairs):  # noqa: ASYNC110 - a closed loop's next read
                await asyncio.sleep(0)
            written.clear()

    await rounds(ns.warmup)
    t0 = time.process_time()
    await rounds(ns.requests)
    spent = time.process_time() - t0
    return float(spent * 1e9 / ns.requests)


def instructions(ns: argparse.Namespace) -> float:
    """Instructions per request: two runs under cachegrind, the difference per request."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind")
    counts: list[int] = []
    requests: int = ns.requests
    for n in (requests, 3 * requests):
        cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
        cmd += [sys.executable, __file__, "--src", str(ns.src), "--method", ns.method]
        cmd += [
            "--requests",
            str(n),
            "--warmup",
            str(ns.warmup),
            "--connections",
            str(ns.connections),
        ]
        env = dict(os.environ, PYTHONHASHSEED="0")  # the same dict layouts in every run
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stderr
        match = re.search(r"I\s+refs:\s+([\d,]+)", out)
        if match is None:
            raise SystemExit(f"no instruction count in valgrind's output:\n{out[-2000:]}")
        counts.append(int(match.group(1).replace(",", "")))
    return (counts[1] - counts[0]) / (2 * requests)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", type=Path, default=HERE.parent, help="checkout whose src/ runs")
    p.add_argument("--method", default="ping", choices=["ping", "status"])
    p.add_argument("--requests", type=int, default=300_000)
    p.add_argument("--connections", type=int, default=100, help="fed in turn, one request each")
    p.add_argument("--warmup", type=int, default=20_000)
    p.add_argument("--instructions", action="store_true", help="count them under valgrind")
    ns = p.parse_args()
    if ns.instructions:
        per_request = instructions(ns)
        print(f"{ns.method} {per_request:,.0f} instructions/request ({ns.src})")
        return
    sys.path.insert(0, str(ns.src.resolve() / "src"))
    ns_per_request = uvloop.run(run(ns))  # the service's loop
    print(f"{ns.method} {ns_per_request:.0f} ns/request ({ns.requests} requests, {ns.src})")


if __name__ == "__main__":
    main()
