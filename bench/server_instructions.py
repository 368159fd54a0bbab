#!/usr/bin/env python3
"""Instructions the service executes per request, over real loopback sockets.

    uv run python bench/server_instructions.py --method ping --connections 100
    uv run python bench/server_instructions.py --src ../other-checkout --method get_status
    uv run python bench/server_instructions.py --method get_camera_status \
        --params '{"device": "cam00"}' --cameras 8

The service runs under ``valgrind --tool=cachegrind`` (started by ``bench/server.py``,
``--src`` picks the checkout whose ``src/`` runs) and is driven closed loop, one request
in flight per connection, by a small client in this process. It runs twice, with
``--requests`` and 3x as many; the difference in the service's instruction count
(user space: Python, uvloop, orjson, libc; not the kernel), per extra request, is the
figure. Startup and shutdown cancel out. Unlike CPU time it does not move with the load
of a shared machine (PYTHONHASHSEED is fixed), so two checkouts compare to about 1 %;
what it leaves out is the kernel's share of each socket read and write.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import sys
from pathlib import Path
from typing import Any

import orjson

from ceiling import test_sources
from server import REPO, ServiceProcess

# The periodic work (MediaMTX checks, rescans) runs by the clock, and the longer run
# lasts longer: put it out of the way, or it would count as work per request.
QUIET = {
    "mediamtx.check_interval": 3600,
    "mediamtx.reconcile_interval": 3600,
    "cameras.poll_interval": 3600,
    "cameras.assignments_poll": 3600,
    "cameras.hotplug": False,
    "storage.check_interval": 3600,
    "server.ping_interval": 3600,
}


class ValgrindService(ServiceProcess):
    """The service under cachegrind; ``instructions`` is read from its log at exit."""

    def __init__(
        self, source: Path, max_connections: int, cameras: int = 0, target: str = "service"
    ) -> None:
        overrides: dict[str, Any] = dict(QUIET)
        if cameras:
            overrides["cameras.sources"] = test_sources(cameras)
        super().__init__(
            source=source,
            max_connections=max_connections,
            overrides=overrides,
            target=target,
            ready_timeout=600,
            stop_timeout=300,
        )
        self.instructions: int | None = None

    def command(self) -> list[str]:
        vg = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
        return vg + super().command()

    def environment(self) -> dict[str, str]:
        return dict(super().environment(), PYTHONHASHSEED="0")

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(15)
            self.proc.wait(self.stop_timeout)
        if self.log_path is not None and self.log_path.exists():
            found = re.findall(r"I\s+refs:\s+([\d,]+)", self.log_path.read_text(errors="replace"))
            if found:
                self.instructions = int(found[-1].replace(",", ""))
        return super().stop()


def client_frame(payload: bytes) -> bytes:
    """A masked client text frame with a zero key (the payload goes as is)."""
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else b"\x81\xfe" + n.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    payload = await reader.readexactly(n)
    return payload if b0 & 0x0F == 0x1 else await read_frame(reader)  # skip pings


async def read_reply(reader: asyncio.StreamReader) -> dict[str, object]:
    """The next reply, past any notification."""
    while True:
        msg: dict[str, object] = orjson.loads(await read_frame(reader))
        if "id" in msg:
            return msg


async def drive(
    srv: ServiceProcess, method: str, params: Any, connections: int, requests: int
) -> None:
    """``requests`` in all, one in flight per connection, after a warm-up of 10 each."""
    token = srv.mint_token()
    conns = []
    for _ in range(connections):
        reader, writer = await asyncio.open_connection(srv.host, srv.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: {srv.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await reader.readuntil(b"\r\n\r\n")
        auth = {"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": token}}
        writer.write(client_frame(orjson.dumps({**auth, "id": 0})))
        # and no notifications: their number would depend on the run's length
        writer.write(client_frame(b'{"jsonrpc":"2.0","method":"unsubscribe_events","id":0}'))
        for _ in range(2):
            if "result" not in await read_reply(reader):
                raise SystemExit("authenticate or unsubscribe_events failed")
        conns.append((reader, writer))
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        body["params"] = params
    request = client_frame(orjson.dumps(body))

    async def loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        for _ in range(n):
            writer.write(request)
            reply = await read_reply(reader)
            if "result" not in reply:
                raise SystemExit(f"error reply: {reply}")

    await asyncio.gather(*(loop(r, w, 10) for r, w in conns))
    share, extra = divmod(requests, connections)
    await asyncio.gather(*(loop(r, w, share + (i < extra)) for i, (r, w) in enumerate(conns)))
    for _, writer in conns:
        writer.close()


def count(ns: argparse.Namespace, requests: int) -> int:
    srv = ValgrindService(ns.src, ns.connections + 10, ns.cameras, ns.target)
    with srv:
        asyncio.run(drive(srv, ns.method, ns.params, ns.connections, requests))
    if srv.instructions is None:
        raise SystemExit(f"no instruction count in the service's log:\n{srv.log_tail()}")
    return srv.instructions


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", type=Path, default=REPO, help="checkout whose src/ runs")
    p.add_argument("--method", default="ping", help="ping, get_status, get_camera_status")
    p.add_argument("--params", type=orjson.loads, default=None, help="JSON object sent as params")
    p.add_argument("--cameras", type=int, default=0, help="test-pattern cameras configured")
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--target", choices=["service", "echo"], default="service")
    p.add_argument("--requests", type=int, default=4000)
    ns = p.parse_args()
    low = count(ns, ns.requests)
    high = count(ns, 3 * ns.requests)
    per_request = (high - low) / (2 * ns.requests)
    print(f"{ns.method} x{ns.connections}: {per_request:,.0f} instructions/request ({ns.src})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
