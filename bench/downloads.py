"""Download benchmarks: ``GET /files/recordings/<name>`` throughput and Range latency.

    python bench/downloads.py service [--size-mb 1024] [--runs 5] [--ranges 2000]
                                      [--port api|health] [--client raw|curl]
    python bench/downloads.py design [--size-mb 1024] [--runs 3]

``service`` runs the real service as its own process (``bench/server.py``, uvloop,
JWT auth on) with a ``--size-mb`` file in its recordings dir, read once so the page
cache is warm, then downloads it ``--runs`` times over loopback with a client that
discards the bytes (``raw``: a blocking socket reading into one reused 1 MiB buffer,
in this process; ``curl``: ``curl -o /dev/null``), and reports MB/s (10^6 bytes/s) per
run and the median. Then ``--ranges`` 64 KiB Range requests at random offsets, one at a
time on one keep-alive connection, time from send to the last byte: p50/p99. The
service's RSS before and after shows that the file never passes through its memory.

``design`` compares, in this process under uvloop, the two ways the server could run
sendfile (api/httpserver.py): in a worker thread (the one used) and on the event loop
with ``add_writer``, each with a warm page cache and with the file evicted from it
(``posix_fadvise(DONTNEED)``, no root needed). The client is ``curl`` in its own
process; a 1 ms ticker on the loop records the worst loop stall during each download.

Figures are printed and written as JSON into ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from result_file import write_result  # noqa: E402
from server import ServiceProcess, read_rss_kb  # noqa: E402

NAME = "bench_2025-01-15_14-30-00.mp4"
RANGE_BYTES = 64 * 1024
LOOP_CHUNK = 1024 * 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def make_file(path: Path, size_mb: int) -> int:
    """``size_mb`` MiB of varied bytes (not sparse: the disk and page cache hold them)."""
    block = os.urandom(8 * 1024 * 1024)
    with open(path, "wb") as f:
        for i in range(size_mb // 8):
            f.write(i.to_bytes(8, "big") + block[8:])
        f.write(block[: (size_mb % 8) * 1024 * 1024])
    return path.stat().st_size


def warm(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(8 * 1024 * 1024)
        while f.readinto(buf):
            pass


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# --- a client that discards ------------------------------------------------------------------


class RawClient:
    """One keep-alive HTTP/1.1 connection; bodies are read into a reused buffer."""

    def __init__(self, port: int, token: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.token = token
        self.buf = bytearray(1024 * 1024)
        self.view = memoryview(self.buf)
        self.extra = b""

    def get(self, target: str, headers: dict[str, str] | None = None) -> tuple[int, int]:
        """(status, body bytes) of one GET; the body is discarded."""
        lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1"]
        lines.append(f"Authorization: Bearer {self.token}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self.extra
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the head")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        left = length - len(rest)
        self.extra = rest[length:] if left < 0 else b""
        while left > 0:
            n = self.sock.recv_into(self.view, min(left, len(self.buf)))
            if not n:
                raise ConnectionError("closed mid-body")
            left -= n
        return status, length

    def close(self) -> None:
        self.sock.close()


def curl_download(url: str, token: str) -> tuple[int, float]:
    out = subprocess.run(
        [
            *("curl", "-s", "-o", "/dev/null", "-H", f"Authorization: Bearer {token}"),
            *("-w", "%{http_code} %{size_download} %{time_total}", url),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if out[0] != "200":
        raise RuntimeError(f"curl got HTTP {out[0]}")
    return int(out[1]), float(out[2])


# --- service: the real process ----------------------------------------------------------------


def bench_service(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="camera-dl-") as tmp:
        media = Path(tmp)
        (media / "recordings").mkdir()
        (media / "snapshots").mkdir()
        path = media / "recordings" / NAME
        size = make_file(path, args.size_mb)
        warm(path)
        srv = ServiceProcess(
            overrides={
                "storage.recordings_path": str(media / "recordings"),
                "storage.snapshots_path": str(media / "snapshots"),
                "mediamtx.api_url": "http://127.0.0.1:1",
            }
        )
        with srv:
            token = srv.mint_token("viewer")
            port = srv.port if args.port == "api" else srv.health_port
            target = f"/files/recordings/{NAME}"
            rss_before = read_rss_kb(srv.pid)
            runs: list[float] = []
            for _ in range(args.runs):
                if args.client == "curl":
                    got, seconds = curl_download(f"http://127.0.0.1:{port}{target}", token)
                else:
                    client = RawClient(port, token)
                    t0 = time.perf_counter()
                    status, got = client.get(target)
                    seconds = time.perf_counter() - t0
                    client.close()
                    assert status == 200
                assert got == size, (got, size)
                runs.append(size / seconds / 1e6)
                print(f"  {size / 1e6:.0f} MB in {seconds:.3f} s = {runs[-1]:.0f} MB/s")
            rss_after = read_rss_kb(srv.pid)

            client = RawClient(port, token)
            rng = random.Random(5)
            latencies: list[float] = []
            for _ in range(args.ranges):
                start = rng.randrange(0, size - RANGE_BYTES)
                header = {"Range": f"bytes={start}-{start + RANGE_BYTES - 1}"}
                t0 = time.perf_counter()
                status, got = client.get(target, header)
                latencies.append((time.perf_counter() - t0) * 1000)
                assert status == 206 and got == RANGE_BYTES
            client.close()
            rss_end = read_rss_kb(srv.pid)
    result = {
        "scenario": "downloads-service",
        "size_bytes": size,
        "port": args.port,
        "client": args.client,
        "mb_per_s_runs": [round(r) for r in runs],
        "mb_per_s_median": round(statistics.median(runs)),
        "range_requests": args.ranges,
        "range_bytes": RANGE_BYTES,
        "range_ms_p50": round(percentile(latencies, 0.50), 3),
        "range_ms_p99": round(percentile(latencies, 0.99), 3),
        "service_rss_kb": {"before": rss_before, "after": rss_after, "end": rss_end},
    }
    print(
        f"median {result['mb_per_s_median']} MB/s; 64 KiB ranges p50 "
        f"{result['range_ms_p50']} ms, p99 {result['range_ms_p99']} ms; "
        f"service RSS {rss_before} -> {rss_after} -> {rss_end} KiB"
    )
    return result


# --- design: thread vs loop, in this process -------------------------------------------------


async def sendfile_on_loop(sock_fd: int, head: bytes, body: Any) -> bool:
    """The alternative: non-blocking sendfile on the loop, add_writer when full. Each
    call is capped at ``LOOP_CHUNK`` and followed by a yield: uncapped, one call to a
    fast reader on loopback sends hundreds of MB while the loop waits."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(fileno=sock_fd)

    async def writable() -> None:
        fut = loop.create_future()
        loop.add_writer(sock_fd, fut.set_result, None)
        try:
            await fut
        finally:
            loop.remove_writer(sock_fd)

    try:
        pending = memoryview(head)
        while pending:
            try:
                pending = pending[sock.send(pending, socket.MSG_MORE) :]
            except BlockingIOError:
                await writable()
        offset, left = body.offset, body.count
        while left:
            try:
                sent = os.sendfile(sock_fd, body.fd, offset, min(left, LOOP_CHUNK))
            except BlockingIOError:
                await writable()
                continue
            if sent == 0:
                return False
            offset += sent
            left -= sent
            await asyncio.sleep(0)
        return True
    except OSError:
        return False
    finally:
        sock.close()
        body.close()


@contextmanager
def design(name: str) -> Iterator[None]:
    from camera_service.net import httpserver

    original = httpserver._sendfile_in_thread
    if name == "loop":
        httpserver._sendfile_in_thread = sendfile_on_loop
    try:
        yield
    finally:
        httpserver._sendfile_in_thread = original


async def ticker(stalls: list[float], stop: asyncio.Event) -> None:
    """The worst delay of a 1 ms timer: how long the loop could not run anything."""
    while not stop.is_set():  # perf_counter: uvloop's loop.time() has 1 ms steps
        t0 = time.perf_counter()
        await asyncio.sleep(0.001)
        stalls.append((time.perf_counter() - t0 - 0.001) * 1000)


async def bench_design_async(
    args: argparse.Namespace, path: Path, size: int
) -> list[dict[str, Any]]:
    from camera_service.api.files import add_file_routes
    from camera_service.net.httpserver import HttpServer, Router

    class NoAuth:
        async def authenticate(self, token: str, auth_type: str = "auto") -> Any:
            raise AssertionError("auth is off in this bench")

    router = Router()
    add_file_routes(router, {"recordings": path.parent}, NoAuth(), lambda: False)
    server = HttpServer(router)
    port = await server.start("127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/files/recordings/{path.name}"
    rows = []
    try:
        for name in ("thread", "loop"):
            for cache in ("warm", "cold"):
                speeds, worst = [], []
                for _ in range(args.runs):
                    if cache == "warm":
                        warm(path)
                    else:
                        evict(path)
                    stalls: list[float] = []
                    stop = asyncio.Event()
                    tick = asyncio.create_task(ticker(stalls, stop))
                    with design(name):
                        got, seconds = await asyncio.to_thread(curl_download, url, "none")
                    stop.set()
                    await tick
                    assert got == size
                    speeds.append(size / seconds / 1e6)
                    worst.append(max(stalls))
                row = {
                    "design": name,
                    "page_cache": cache,
                    "mb_per_s_median": round(statistics.median(speeds)),
                    "mb_per_s_runs": [round(s) for s in speeds],
                    "worst_loop_stall_ms_median": round(statistics.median(worst), 2),
                }
                print(row)
                rows.append(row)
    finally:
        server.stop_listening()
        server.close_idle()
    return rows


def bench_design(args: argparse.Namespace) -> dict[str, Any]:
    import uvloop

    if shutil.which("curl") is None:
        raise SystemExit("design needs curl")
    with tempfile.TemporaryDirectory(prefix="camera-dl-") as tmp:
        path = Path(tmp) / NAME
        size = make_file(path, args.size_mb)
        rows = uvloop.run(bench_design_async(args, path, size))
    return {"scenario": "downloads-design", "size_mb": args.size_mb, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("service", help="the real service: MB/s and Range latency")
    s.add_argument("--size-mb", type=int, default=1024)
    s.add_argument("--runs", type=int, default=5)
    s.add_argument("--ranges", type=int, default=2000)
    s.add_argument("--port", choices=("api", "health"), default="api")
    s.add_argument("--client", choices=("raw", "curl"), default="raw")
    d = sub.add_parser("design", help="sendfile in a thread vs on the loop")
    d.add_argument("--size-mb", type=int, default=1024)
    d.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    result = bench_service(args) if args.command == "service" else bench_design(args)
    out = write_result(result["scenario"], result)
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
