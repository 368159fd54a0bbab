#!/usr/bin/env python3
"""What one hostile WebSocket message costs the service, and what it does to others.

    uv run python bench/hostile_message.py
    uv run python bench/hostile_message.py --src ../other-checkout --rounds 5 --only invalid

Each run starts a fresh service (``bench/server.py``, the default rate limit of 120
requests a minute), calls ``rpc.discover`` once (it builds its document on the first
call), and starts a prober in its own process that pings on another connection every
millisecond, one ping in flight, timing each. An unauthenticated client then sends one
message of ``server.max_message_bytes`` (1 MiB), reads whatever comes back, and pings
on its own connection: its pong (or the connection's end) marks the end of the
message's work, since a connection answers in order.

Messages (``--only`` picks some):

``invalid``  a batch of 524,287 invalid elements, ``[1,1,...]`` (issue 14, item 1)
``nested``   a batch of 95,325 elements ``[[[[[]]]]]``: five lists each, the most
             objects a megabyte can make the JSON parser build
``pings``    a batch of 25,574 valid ``ping`` requests with ids
``params``   one request whose params hold 349,000 empty lists
``string``   one request whose params hold a 1 MiB string: the most bytes, few values
``discover`` a batch of 100 ``rpc.discover`` (the most reply, ~32 KB each, for the
             least request that a batch of the default cap can ask unauthenticated)

Figures per message, the median of ``--rounds`` runs: the service's CPU seconds from
send to end (``/proc/PID/stat``), its peak RSS growth (VmHWM at the end less VmRSS
before), the reply bytes the client received, and the prober's worst and median ping
latency while the message was being handled (pings sent between send and end), beside
its median and worst in the half second before the message (the machine's noise).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from camera_service.client import frames
from result_file import write_result
from server import REPO, ServiceProcess, read_cpu_seconds, read_proc_kb, read_rss_kb

MAX = 1_048_576  # server.max_message_bytes, the default


def batch_of(unit: bytes, head: bytes = b"[", tail: bytes = b"]") -> bytes:
    """As many ``unit`` elements as fit in one maximal frame."""
    k = (MAX - len(head) - len(tail) + 1) // (len(unit) + 1)
    return head + b",".join([unit] * k) + tail


def params_blob() -> bytes:
    head = b'{"jsonrpc":"2.0","method":"ping","id":1,"params":{"x":['
    return batch_of(b"[]", head, b"]}}")


def string_blob() -> bytes:
    head = b'{"jsonrpc":"2.0","method":"ping","id":1,"params":{"x":"'
    tail = b'"}}'
    return head + b"x" * (MAX - len(head) - len(tail)) + tail


def discover_batch() -> bytes:
    return b"[" + b",".join([b'{"jsonrpc":"2.0","method":"rpc.discover","id":1}'] * 100) + b"]"


MESSAGES: dict[str, Callable[[], bytes]] = {
    "invalid": lambda: batch_of(b"1"),
    "nested": lambda: batch_of(b"[[[[[]]]]]"),
    "pings": lambda: batch_of(b'{"jsonrpc":"2.0","method":"ping","id":1}'),
    "params": params_blob,
    "string": string_blob,
    "discover": discover_batch,
}


# --- a raw client: masked frames with a zero key (the payload goes as is) ----------------

ZERO_KEY = b"\0\0\0\0"


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    return frames.client_frame(opcode, payload, ZERO_KEY)


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return b0 & 0x0F, await reader.readexactly(n)


async def connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


PING = client_frame(b'{"jsonrpc":"2.0","method":"ping","id":"p"}')


# --- the prober: its own process, so the attacker's reading does not delay its clock ---


async def probe(host: str, port: int) -> list[tuple[float, float]]:
    reader, writer = await connect(host, port)
    samples: list[tuple[float, float]] = []  # (sent, latency), time.monotonic()
    print("ready", flush=True)
    stop = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    while not stop.done():
        sent = time.monotonic()
        writer.write(PING)
        while (await read_frame(reader))[0] != 0x1:
            pass
        samples.append((sent, time.monotonic() - sent))
        await asyncio.sleep(0.001)
    writer.close()
    return samples


# --- one run ------------------------------------------------------------------------------


async def warm_up(srv: ServiceProcess) -> None:
    """rpc.discover builds its document on the first call (~40 ms, once): not a cost of
    the message under measurement."""
    reader, writer = await connect(srv.host, srv.port)
    writer.write(client_frame(b'{"jsonrpc":"2.0","method":"rpc.discover","id":0}'))
    await read_frame(reader)
    writer.close()


async def attack(srv: ServiceProcess, message: bytes) -> dict[str, Any]:
    reader, writer = await connect(srv.host, srv.port)
    rss0 = read_rss_kb(srv.pid) or 0
    cpu0 = read_cpu_seconds(srv.pid) or 0.0
    t0 = time.monotonic()
    writer.write(client_frame(message))
    received = 0
    outcome = "reply"
    try:
        async with asyncio.timeout(120):
            while True:
                opcode, payload = await read_frame(reader)
                received += len(payload)
                if opcode == 0x8:
                    outcome = f"close {int.from_bytes(payload[:2], 'big')}"
                    break
                if opcode == 0x1:
                    break
            if outcome == "reply":
                writer.write(PING)
                while True:
                    opcode, payload = await read_frame(reader)
                    if opcode == 0x1 and b'"p"' in payload:
                        break
    except (asyncio.IncompleteReadError, ConnectionError):
        outcome = "connection ended"
    t1 = time.monotonic()
    cpu1 = read_cpu_seconds(srv.pid) or 0.0
    hwm = read_proc_kb(srv.pid, "status", "VmHWM:") or 0
    writer.close()
    return {
        "t0": t0,
        "t1": t1,
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "rss_before_mb": round(rss0 / 1024, 1),
        "rss_peak_delta_mb": round((hwm - rss0) / 1024, 1),
        "reply_bytes": received,
        "outcome": outcome,
    }


def run_one(name: str, source: Path) -> dict[str, Any]:
    message = MESSAGES[name]()
    assert len(message) <= MAX
    with ServiceProcess(source=source, requests_per_minute=120) as srv:
        asyncio.run(warm_up(srv))
        out = Path(srv._tmp.name if srv._tmp else ".") / "probe.json"
        prober = subprocess.Popen(
            [sys.executable, __file__, "--probe", srv.host, str(srv.port), str(out)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert prober.stdout is not None and prober.stdin is not None
            if prober.stdout.readline().strip() != "ready":
                raise RuntimeError("prober failed")
            time.sleep(0.5)  # a baseline of pings before the message, not synchronization
            row = asyncio.run(attack(srv, message))
            time.sleep(0.2)
            prober.stdin.write("\n")
            prober.stdin.flush()
            prober.wait(30)
        finally:
            if prober.poll() is None:
                prober.kill()
                prober.wait()
        samples: list[list[float]] = orjson.loads(out.read_bytes())
    t0, t1 = row.pop("t0"), row.pop("t1")
    before = [lat for sent, lat in samples if sent < t0]
    # every ping in flight at some point while the message was handled
    during = [lat for sent, lat in samples if sent + lat >= t0 and sent <= t1]
    row["elapsed_s"] = round(t1 - t0, 3)
    row["ping_before_p50_ms"] = round(statistics.median(before) * 1e3, 2)
    row["ping_before_max_ms"] = round(max(before) * 1e3, 2)  # the machine's noise
    row["ping_during_max_ms"] = round(max(during) * 1e3, 2) if during else None
    row["ping_during_p50_ms"] = round(statistics.median(during) * 1e3, 2) if during else None
    row["pings_during"] = len(during)
    return row


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--probe":
        samples = asyncio.run(probe(sys.argv[2], int(sys.argv[3])))
        Path(sys.argv[4]).write_bytes(orjson.dumps(samples))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--src", type=Path, default=REPO, help="checkout whose src/ runs")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", default=",".join(MESSAGES), help="comma-separated messages")
    ns = p.parse_args()
    names = [n for n in ns.only.split(",") if n]
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs")
    print(f"# src = {ns.src.resolve()}, {ns.rounds} rounds, median")
    results: dict[str, Any] = {}
    for name in names:
        rows = []
        for r in range(ns.rounds):
            row = run_one(name, ns.src)
            print(f"  {name} round {r + 1}: {row}", flush=True)
            rows.append(row)
        summary: dict[str, Any] = {}
        for key, value in rows[0].items():
            values = [x[key] for x in rows]
            if isinstance(value, int | float) and None not in values:
                summary[key] = statistics.median(values)
            else:
                summary[key] = values
        print(f"{name}: {summary}", flush=True)
        results[name] = {"median": summary, "runs": rows}
    print(f"# written to {write_result('hostile_message', {'results': results})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
