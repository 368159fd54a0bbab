"""Notification fan-out: one camera event -> the frame at every one of N clients.

    python bench/fanout.py [--clients 1000] [--cycles 20] [--runs 3] [--procs 2]

The service runs in its own process (``bench/server.py``) on the tests' fake V4L2 tree
with the shell stand-in for ``v4l2-ctl`` (``bench/cameras.py``). N authenticated
WebSocket connections (viewer role) are held by ``--procs`` receiver processes (uvloop,
a bare ``asyncio.Protocol`` per connection: no per-message task, frames are only scanned
for the status). Each cycle plugs a camera, and every client stamps the moment its
``camera_status_update`` CONNECTED frame arrives (``time.perf_counter``: the system's
monotonic clock, the same in every process); then the camera is unplugged and every
client must see DISCONNECTED before the next cycle.

Three figures:

* ``event_to_frame``: from the plug (the file appearing in the tree) to the frame read
  by a client, over all clients and cycles. It includes inotify, identifying the node
  (one ``v4l2-ctl`` start) and the hot-plug path, which ``bench/cameras.py hotplug``
  measures for one client, and the receivers reading their sockets one after the other
  on the CPUs the service also uses: an upper bound.
* ``fanout``: from the first client's frame to each client's frame in the same cycle.
* ``server_fanout``: api.md's budget as the service measures it, from the domain event
  to its frame queued on every subscribed connection, read from the service's
  ``camera_service_notification_fanout_seconds`` histogram (every notification of the
  run: a p99 is the bucket bound it falls under).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.v4l2tree import FakeV4l2Tree  # noqa: E402

from cameras import camera_overrides, percentile, plug  # noqa: E402
from result_file import write_result  # noqa: E402
from server import ServiceProcess  # noqa: E402

_perf = time.perf_counter
ZERO_MASK = b"\x00\x00\x00\x00"
UPDATE = b"camera_status_update"


def client_text_frame(payload: bytes) -> bytes:
    """A masked client text frame with an all-zero key (payload goes out as-is)."""
    n = len(payload)
    assert n < 65536, "auth frames are small"
    length = bytes((0x80 | n,)) if n < 126 else bytes((0x80 | 126,)) + n.to_bytes(2, "big")
    return b"\x81" + length + ZERO_MASK + payload


class Client(asyncio.Protocol):
    """One authenticated connection; records when the awaited status frame arrives."""

    def __init__(self, host: str, port: int, token: str, ready: asyncio.Future[None]) -> None:
        self.host, self.port, self.token = host, port, token
        self.ready = ready
        self.buf = bytearray()
        self.upgraded = False
        self.authenticated = False
        self.transport: asyncio.Transport | None = None
        self.waiting_for: bytes | None = None  # b'"CONNECTED"' or b'"DISCONNECTED"'
        self.seen_at: float | None = None
        self.on_seen: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before authenticated"))

    def data_received(self, data: bytes) -> None:
        now = _perf()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(bytes(buf[:64]).decode(errors="replace")))
                return
            del buf[: end + 4]
            self.upgraded = True
            auth = {
                "jsonrpc": "2.0",
                "method": "authenticate",
                "id": 1,
                "params": {"auth_token": self.token},
            }
            assert self.transport is not None
            self.transport.write(client_text_frame(orjson.dumps(auth)))
        while len(buf) >= 2:  # server frames are unmasked
            n = buf[1] & 0x7F
            start = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, start = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + n:
                return
            self.frame(buf[0] & 0x0F, bytes(buf[start : start + n]), now)
            del buf[: start + n]

    def frame(self, opcode: int, payload: bytes, now: float) -> None:
        if opcode == 0x9 and self.transport is not None:  # ping -> pong
            self.transport.write(bytes((0x8A, 0x80 | len(payload))) + ZERO_MASK + payload)
            return
        if opcode != 0x1:
            return
        if not self.authenticated:
            if b'"id":1' in payload:
                if b'"error"' in payload:
                    self.ready.set_exception(ConnectionError(payload.decode(errors="replace")))
                else:
                    self.authenticated = True
                    self.ready.set_result(None)
            return
        want = self.waiting_for
        if want is not None and UPDATE in payload and want in payload:
            self.waiting_for = None
            self.seen_at = now
            if self.on_seen is not None:
                self.on_seen()


async def connect_all(host: str, port: int, token: str, n: int) -> list[Client]:
    loop = asyncio.get_running_loop()
    clients: list[Client] = []
    for first in range(0, n, 200):  # batches: no SYN flood on the listen backlog
        batch = []
        for _ in range(first, min(n, first + 200)):
            ready: asyncio.Future[None] = loop.create_future()
            client = Client(host, port, token, ready)
            await loop.create_connection(lambda c=client: c, host, port)  # type: ignore[misc]
            batch.append(client)
        await asyncio.wait_for(asyncio.gather(*(c.ready for c in batch)), 60)
        clients.extend(batch)
    return clients


def arm(clients: list[Client], status: bytes) -> asyncio.Event:
    """Arm every client for ``status``; the event is set once all have seen it."""
    done = asyncio.Event()
    remaining = len(clients)

    def seen() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            done.set()

    for c in clients:
        c.seen_at = None
        c.on_seen = seen
        c.waiting_for = status
    return done


# --- a receiver process -------------------------------------------------------------------


async def receive(host: str, port: int, token: str, n: int) -> None:
    """Hold ``n`` clients; per line read on stdin (a status), arm them, answer
    ``armed``, then write the JSON list of their stamps once all have seen it."""
    clients = await connect_all(host, port, token, n)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    while status := (await stdin.readline()).strip():
        done = arm(clients, status)
        out.write(b"armed\n")
        out.flush()
        await asyncio.wait_for(done.wait(), 30)
        out.write(orjson.dumps([c.seen_at for c in clients]) + b"\n")
        out.flush()
    for c in clients:
        if c.transport is not None:
            c.transport.close()


# --- the driver -----------------------------------------------------------------------------


class Receivers:
    """The receiver processes, driven in step."""

    def __init__(self, procs: list[subprocess.Popen[bytes]]) -> None:
        self.procs = procs

    @classmethod
    def start(cls, srv: ServiceProcess, n: int, count: int) -> Receivers:
        token = srv.mint_token("viewer")
        shares = [n // count + (1 if i < n % count else 0) for i in range(count)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--receive",
                    str(share),
                    "--host",
                    srv.host,
                    "--port",
                    str(srv.port),
                    "--token",
                    token,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for share in shares
            if share
        ]
        receivers = cls(procs)
        receivers.expect(b"ready")
        return receivers

    def expect(self, word: bytes) -> None:
        for p in self.procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            if line != word:
                raise RuntimeError(f"receiver said {line!r}, not {word!r}")

    def arm(self, status: bytes) -> None:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(status + b"\n")
            p.stdin.flush()
        self.expect(b"armed")

    def stamps(self) -> list[float]:
        """Blocks until every receiver's clients have all seen the awaited frame."""
        out: list[float] = []
        for p in self.procs:
            assert p.stdout is not None
            out += orjson.loads(p.stdout.readline())
        return out

    def stop(self) -> None:
        for p in self.procs:
            if p.stdin is not None:
                p.stdin.close()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def fanout_buckets(srv: ServiceProcess) -> dict[str, int]:
    """The cumulative buckets of the service's fan-out histogram, by ``le``."""
    url = f"http://{srv.host}:{srv.health_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    prefix = 'camera_service_notification_fanout_seconds_bucket{le="'
    return {
        line[len(prefix) :].split('"', 1)[0]: int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


def bucket_quantile(before: dict[str, int], after: dict[str, int], q: float) -> float:
    """The smallest bucket bound (ms) under which a fraction ``q`` of the new samples
    fall."""
    total = after["+Inf"] - before["+Inf"]
    for le, n in after.items():
        if le != "+Inf" and n - before[le] >= q * total:
            return float(le) * 1000
    return float("inf")


def one_run(n: int, cycles: int, procs: int) -> dict[str, Any]:
    event_ms: list[float] = []
    fanout_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = FakeV4l2Tree(Path(tmp) / "v4l2")
        with ServiceProcess(overrides=camera_overrides(tree), max_connections=n + 100) as srv:
            receivers = Receivers.start(srv, n, procs)
            try:
                rss_kb = srv.rss_kb()
                before = fanout_buckets(srv)
                for _ in range(cycles):
                    receivers.arm(b'"CONNECTED"')
                    t0 = _perf()
                    plug(tree, 0)
                    stamps = receivers.stamps()
                    first = min(stamps)
                    event_ms += [(t - t0) * 1000 for t in stamps]
                    fanout_ms += [(t - first) * 1000 for t in stamps]
                    receivers.arm(b'"DISCONNECTED"')
                    tree.remove(0)
                    tree.remove(1)
                    receivers.stamps()
                after = fanout_buckets(srv)
            finally:
                receivers.stop()
    return {
        "clients": n,
        "cycles": cycles,
        "receiver_processes": procs,
        "service_rss_kb_with_clients": rss_kb,
        "event_to_frame_ms": summary(event_ms),
        "fanout_ms": summary(fanout_ms),
        "server_fanout_ms": {
            "notifications": after["+Inf"] - before["+Inf"],
            "p50_at_most": bucket_quantile(before, after, 0.50),
            "p99_at_most": bucket_quantile(before, after, 0.99),
        },
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3),
        "p99": round(percentile(values, 0.99), 3),
        "max": round(max(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--procs", type=int, default=2, help="receiver processes")
    # A receiver process (started by the driver).
    parser.add_argument("--receive", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.clients + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.clients + 1000), hard))
    if args.receive is not None:
        uvloop.run(receive(args.host, args.port, args.token, args.receive))
        return
    runs = []
    for i in range(args.runs):
        res = one_run(args.clients, args.cycles, args.procs)
        e, f, s = res["event_to_frame_ms"], res["fanout_ms"], res["server_fanout_ms"]
        print(
            f"   run {i + 1}: event -> frame at {args.clients} clients p50 {e['p50']:.1f} "
            f"p99 {e['p99']:.1f} max {e['max']:.1f} ms; first -> each client p50 "
            f"{f['p50']:.1f} p99 {f['p99']:.1f} ms; in the service: p50 <= "
            f"{s['p50_at_most']:g}, p99 <= {s['p99_at_most']:g} ms "
            f"({s['notifications']} notifications)",
            flush=True,
        )
        runs.append(res)
    result = {
        "clients": args.clients,
        "receiver_processes": args.procs,
        "event_to_frame_p99_ms_median": statistics.median(
            r["event_to_frame_ms"]["p99"] for r in runs
        ),
        "event_to_frame_p50_ms_median": statistics.median(
            r["event_to_frame_ms"]["p50"] for r in runs
        ),
        "fanout_p99_ms_median": statistics.median(r["fanout_ms"]["p99"] for r in runs),
        "server_fanout_p99_at_most_ms_median": statistics.median(
            r["server_fanout_ms"]["p99_at_most"] for r in runs
        ),
        "runs": runs,
    }
    print(
        f"-> notification to {args.clients} clients: event -> frame p99 "
        f"{result['event_to_frame_p99_ms_median']:.1f} ms (p50 "
        f"{result['event_to_frame_p50_ms_median']:.1f}), first -> last client p99 "
        f"{result['fanout_p99_ms_median']:.1f} ms, in the service p99 <= "
        f"{result['server_fanout_p99_at_most_ms_median']:g} ms (medians of {args.runs} runs)"
    )
    out = write_result("fanout", result)
    print(f"   written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
