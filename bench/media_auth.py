"""MediaMTX authorization latency: ``POST /mediamtx/auth`` on the running service.

    python bench/media_auth.py [--rate 500] [--seconds 10] [--rounds 3] [--connections 8]

Runs the real service as its own process (``bench/server.py``, uvloop) and asks it
``--rate`` decisions per second, open loop (each request has a scheduled send time and
its latency counts from then, so a stall is not hidden), over up to ``--connections``
keep-alive loopback connections, as MediaMTX's auth requests would. Per round, three
scenarios, each ``--seconds`` long:

- ``ceiling``: ``GET /health/live`` on the same port at the same rate: the HTTP path,
  the client and the shared cores, with no decision;
- ``cached``: one viewer JWT over and over (read of ``lab`` over HLS): after the first,
  every decision is a cache hit (re-checking the token's expiry);
- ``uncached``: a different viewer JWT every request (pre-minted): every decision
  verifies an HS256 signature and fills a cache entry.

Besides the client's figures (from the scheduled send to the answer), each decision
scenario reports the service's own time to decide: the bound of the
``camera_service_media_auth_duration_seconds`` bucket (``cache="hit"`` / ``"miss"``)
holding its 99th percentile, read from ``/metrics`` before and after.

Prints p50/p99/max per scenario and round and the median over rounds; writes JSON into
``bench/results/``. Client and service share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import orjson  # noqa: E402

from result_file import write_result  # noqa: E402
from server import ServiceProcess  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def auth_body(token: str) -> bytes:
    return orjson.dumps(
        {
            "user": "",
            "password": "",
            "token": token,
            "ip": "192.0.2.20",
            "action": "read",
            "path": "lab",
            "protocol": "hls",
            "id": None,
            "query": "",
        }
    )


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, head: bytes, body: bytes) -> int:
        self.writer.write(head + body)
        line = await self.reader.readline()
        status = int(line.split(b" ", 2)[1])
        length = 0
        while (header := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status


class Pool:
    def __init__(self, port: int, size: int) -> None:
        self.port, self.size = port, size
        self.idle: list[Connection] = []
        self.opened = 0
        self.freed = asyncio.Condition()

    async def take(self) -> Connection:
        async with self.freed:
            while not self.idle:
                if self.opened < self.size:
                    self.opened += 1
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    return Connection(reader, writer)
                await self.freed.wait()
            return self.idle.pop()

    async def give(self, conn: Connection) -> None:
        async with self.freed:
            self.idle.append(conn)
            self.freed.notify()

    def close(self) -> None:
        for conn in self.idle:
            conn.writer.close()


async def scenario(
    port: int, rate: float, seconds: float, connections: int, make: Any, want: int
) -> dict[str, float]:
    """Open loop: request i is due at start + i / rate; its latency counts from then."""
    pool = Pool(port, connections)
    warm = [await pool.take() for _ in range(connections)]  # connect before the clock runs
    for conn in warm:
        await pool.give(conn)
    latencies: list[float] = []
    bad = 0
    n = int(rate * seconds)
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, due: float) -> None:
        nonlocal bad
        conn = await pool.take()
        head, body = make(i)
        status = await conn.request(head, body)
        latencies.append((time.perf_counter() - due) * 1000)
        if status != want:
            bad += 1
        await pool.give(conn)

    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*tasks)
    pool.close()
    if bad:
        raise RuntimeError(f"{bad} of {n} answers were not {want}")
    return {
        "requests": n,
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
    }


def post(body: bytes) -> tuple[bytes, bytes]:
    head = (
        "POST /mediamtx/auth HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode(), body


LIVE = (b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"")


Runs = dict[str, list[dict[str, float]]]
Request = tuple[bytes, bytes]
HISTOGRAM = "camera_service_media_auth_duration_seconds_bucket"


async def server_buckets(port: int, cache: str) -> list[tuple[float, int]]:
    """The service's own decision-time histogram for ``cache`` (hit, miss): cumulative
    (upper bound in seconds, count) pairs from /metrics."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    text = (await reader.read()).decode()
    writer.close()
    out = []
    for line in text.splitlines():
        if line.startswith(HISTOGRAM + "{") and f'cache="{cache}"' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out.append((float("inf") if le == "+Inf" else float(le), int(line.rsplit(" ", 1)[1])))
    return out


def bucket_p99(before: list[tuple[float, int]], after: list[tuple[float, int]]) -> float:
    """The upper bound (ms) of the bucket holding the 99th percentile of what was added."""
    old = dict(before)
    added = [(bound, n - old.get(bound, 0)) for bound, n in after]
    total = added[-1][1] if added else 0
    for bound, n in added:
        if total and n >= 0.99 * total:
            return bound * 1000
    return float("nan")


async def rounds(srv: ServiceProcess, args: argparse.Namespace) -> Runs:
    port = srv.health_port
    cached = post(auth_body(srv.mint_token("viewer")))
    n = int(args.rate * args.seconds)
    out: Runs = {"ceiling": [], "cached": [], "uncached": []}
    for r in range(args.rounds):
        fresh = [post(auth_body(srv.mint_token("viewer", user_id=f"v{r}-{i}"))) for i in range(n)]

        def ceiling(i: int) -> Request:
            return LIVE

        def same(i: int) -> Request:
            return cached

        def different(i: int, fresh: list[Request] = fresh) -> Request:
            return fresh[i]

        plan = {"ceiling": (ceiling, ""), "cached": (same, "hit"), "uncached": (different, "miss")}
        for name, (make, cache) in plan.items():
            before = await server_buckets(port, cache) if cache else []
            got = await scenario(port, args.rate, args.seconds, args.connections, make, 200)
            if cache:
                got["server_p99_bucket_ms"] = bucket_p99(before, await server_buckets(port, cache))
            out[name].append(got)
            server = got.get("server_p99_bucket_ms")
            print(
                f"round {r + 1} {name:9} p50 {got['p50_ms']:.3f} ms  p99 {got['p99_ms']:.3f} ms"
                f"  max {got['max_ms']:.3f} ms"
                + (f"  (service: p99 <= {server:g} ms)" if server is not None else "")
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    srv = ServiceProcess(overrides={"mediamtx.api_url": "http://127.0.0.1:1"})
    with srv:
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        results = runner(rounds(srv, args))
    summary = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    for name, fig in summary.items():
        server = fig.get("server_p99_bucket_ms")
        print(
            f"median   {name:9} p50 {fig['p50_ms']:.3f} ms  p99 {fig['p99_ms']:.3f} ms"
            + (f"  (service: p99 <= {server:g} ms)" if server is not None else "")
        )
    path = write_result(
        "media-auth",
        {
            "scenario": "media-auth",
            "rate": args.rate,
            "seconds": args.seconds,
            "rounds": results,
            "median": summary,
        },
    )
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
