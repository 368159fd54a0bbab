"""Notification fan-out: one camera event -> the frame at every one of N clients.

    python bench/fanout.py [--clients 1000] [--cycles 20] [--runs 3] [--procs 2] [--warmup 0]
                           [--gap 0] [--net loopback|veth] [--no-pin]

The service runs in its own process (``bench/server.py``) on the tests' fake V4L2 tree
with the shell stand-in for ``v4l2-ctl`` (``bench/cameras.py``). N authenticated
WebSocket connections (viewer role) are held by ``--procs`` receiver processes (uvloop,
a bare ``asyncio.Protocol`` per connection: no per-message task, frames are only scanned
for the status). Each cycle plugs a camera, and every client stamps the moment its
``camera_status_update`` CONNECTED frame arrives (``time.perf_counter``: the system's
monotonic clock, the same in every process); then the camera is unplugged and every
client must see DISCONNECTED before the next cycle.

Figures, over all clients and cycles:

* ``unplug_to_frame``: from the unplug (the node removed from the tree) to the
  DISCONNECTED frame read by a client: inotify, a sysfs scan, the event, the fan-out,
  and the receivers reading their sockets one after the other on the CPUs the
  service also uses. The headline figure.
* ``plug_to_frame``: the same for the plug and CONNECTED, which adds identifying the
  node: the test tree's nodes are plain files, so the ioctl fails and the service
  starts the ``v4l2-ctl`` shell stand-in, 5-25 ms for a process with 1,000 sockets
  open (on hardware the ioctl answers in microseconds).
* ``fanout``: from the first client's CONNECTED frame to each client's, same cycle.
* ``server_fanout``: api.md's budget as the service measures it, from the domain event
  to its frame queued on every subscribed connection, read from the service's
  ``camera_service_notification_fanout_seconds`` histogram (every notification of the
  run), printed twice: interpolated linearly inside the bucket the quantile falls in (as
  Prometheus' ``histogram_quantile``) and as that bucket's bound (an upper bound).

``--warmup N`` runs N cycles first and counts none of them: each client's connection is
new, and Linux acknowledges the first 16 segments a connection receives one by one
(quick-ACK mode); on loopback the sender's ``send`` runs that, which adds about 2 ms to
each of the first 8 cycles' fan-outs to 1,000 clients (``bench/fanout_parts.py``).
With ``--warmup 10`` the figures are those of connections that have been open a while
and hear events less than 200 ms apart (``--gap`` below).

``--gap SECONDS`` pauses that long before each counted cycle: pacing, so that events
come seconds apart as hot-plugs do (nothing waits on it; each cycle still waits for
every client's frame). Linux also puts a receiver back in quick-ACK mode when data
comes after an idle gap longer than the retransmission timeout (200 ms minimum,
loopback's), so with any gap past that each event's first frames are acknowledged
one by one again, as on fresh connections. Each run also prints the share of the
clients' sockets left in quick-ACK mode after a counted cycle (``/proc/net/tcp``), and
the CPU time of the service's event loop thread (``/proc/PID/schedstat``) per counted
cycle, pauses not included: a plug, an unplug and their notifications.

Hot-plug events seconds apart are modelled by ``--warmup 10 --gap 2``, not by
``--warmup 10`` alone; docs/benchmarks.md has the figures of both.

``--ceiling`` runs the same cycles against the echo ceiling too, in every round (which
of the two goes first alternates): ``bench/echo_ceiling.py``, asked on its health port,
sends a ``camera_status_update`` of the service's shape to every authenticated
connection and answers with the time that took, the floor of the in-service figure.
It prints that time's p50 and p99 beside the service's and their ratio
ceiling/service, the median of each round's own.

``--net veth`` (root, ``ip`` from iproute2) puts the receivers in a network namespace
of their own, joined to the service's by a veth pair (both the bench's own, removed
after the run), and steers the clients' end's receive processing (RPS) to the
receivers' CPU: the clients' half of TCP (taking in each frame, waking the reader, the
quick-ACKs after a pause) runs there, as it would on the clients' own machines, and the
service's ``send`` only transmits. The ACKs the clients send are then taken in on
their CPU too, where on a hub the NIC's interrupt would bring them to one of its own.
On loopback (the default) the sender's ``send`` runs the receiver's half of TCP inline:
the clients' work is charged to the service's fan-out.

Pinned like ``bench/run.py ceiling`` (``--no-pin`` to leave it to the scheduler): the
service on CPU 0, the receivers and this driver on CPU 1. Unpinned, on two CPUs, the
receivers woken by the fan-out's first writes take the service's core from it while it
still writes to the others, and the in-service figure measures the scheduler.

The Control API of MediaMTX is the tests' double, in this process: without one the
service's failing checks would broadcast health changes in the middle of cycles.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ipaddress
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.mediamtx.double import MediaMtxDouble  # noqa: E402
from tests.support.v4l2tree import FakeV4l2Tree  # noqa: E402

from cameras import camera_overrides, percentile, plug  # noqa: E402
from result_file import write_result  # noqa: E402
from server import ServiceProcess  # noqa: E402

_perf = time.perf_counter
ZERO_MASK = b"\x00\x00\x00\x00"
UPDATE = b"camera_status_update"


# As bench/run.py ceiling pins: the service on CPU 0, the receivers (and this driver,
# see main) on CPU 1, so the clients never take the service's core from it while it
# writes the fan-out. With one CPU nothing is pinned.
PINNING: tuple[str | None, str | None] = ("0", "1") if (os.cpu_count() or 1) >= 2 else (None, None)


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


# --- clients behind a veth pair (--net veth) ----------------------------------------------


@dataclass(frozen=True)
class ClientNet:
    """Where the receivers run: ``prefix`` starts a command there, and the service
    listens on ``service_host``, which the clients connect to."""

    service_host: str
    prefix: tuple[str, ...] = ()


LOOPBACK = ClientNet("127.0.0.1")
# RFC 2544's benchmarking range: never a real network's. One /30 per driver process.
BENCH_NET = ipaddress.IPv4Network("198.18.0.0/15")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, stdout=subprocess.DEVNULL)


def rps_cpus(device: str, cpu: str | None, netns: str) -> None:
    """Steer ``device``'s receive processing to ``cpu`` (Receive Packet Steering)."""
    if cpu is None:
        return
    mask = format(1 << int(cpu), "x")
    path = f"/sys/class/net/{device}/queues/rx-0/rps_cpus"
    # The namespace's own sysfs: ``ip netns exec`` mounts it for the command it runs.
    subprocess.run(["ip", "netns", "exec", netns, "sh", "-c", f"echo {mask} > {path}"], check=True)


@contextlib.contextmanager
def veth_clients(client_cpu: str | None) -> Iterator[ClientNet]:
    """A network namespace for the receivers, joined to this one by a veth pair whose
    clients' end processes what it receives on ``client_cpu``; removed on exit (the pair
    goes with the namespace)."""
    if os.geteuid() != 0:
        raise SystemExit("--net veth needs root (it creates a network namespace)")
    pid = os.getpid()
    name, host_end, client_end = f"camera-fanout-{pid}", f"cfo{pid}h", f"cfo{pid}c"
    first = BENCH_NET.network_address + 4 * (pid % (BENCH_NET.num_addresses // 4))
    service_addr, client_addr = str(first + 1), str(first + 2)
    ip("netns", "add", name)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", client_end, "netns", name)
        ip("addr", "add", f"{service_addr}/30", "dev", host_end)
        ip("link", "set", host_end, "up")
        ip("-n", name, "addr", "add", f"{client_addr}/30", "dev", client_end)
        ip("-n", name, "link", "set", client_end, "up")
        ip("-n", name, "link", "set", "lo", "up")
        # Only the clients' end: steering the service's end to its own CPU as well
        # costs that CPU an interrupt per ACK on a VM (docs/benchmarks.md).
        rps_cpus(client_end, client_cpu, netns=name)
        yield ClientNet(service_addr, ("ip", "netns", "exec", name))
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
        subprocess.run(["ip", "link", "del", host_end], check=False, stderr=subprocess.DEVNULL)


# --- the driver -----------------------------------------------------------------------------


class Receivers:
    """The receiver processes, driven in step."""

    def __init__(self, procs: list[asyncio.subprocess.Process]) -> None:
        self.procs = procs

    @classmethod
    async def start(
        cls,
        srv: ServiceProcess,
        n: int,
        count: int,
        cpus: str | None = None,
        net: ClientNet = LOOPBACK,
    ) -> Receivers:
        token = srv.mint_token("viewer")
        shares = [n // count + (1 if i < n % count else 0) for i in range(count)]
        pin = ["taskset", "-c", cpus] if cpus else []
        procs = [
            # ip netns exec and taskset exec: the PID is the receiver's.
            await asyncio.create_subprocess_exec(
                *net.prefix,
                *pin,
                sys.executable,
                __file__,
                "--receive",
                str(share),
                "--host",
                net.service_host,
                "--port",
                str(srv.port),
                "--token",
                token,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for share in shares
            if share
        ]
        receivers = cls(procs)
        await receivers.expect(b"ready")
        return receivers

    async def expect(self, word: bytes) -> None:
        for p in self.procs:
            assert p.stdout is not None
            line = (await asyncio.wait_for(p.stdout.readline(), 120)).strip()
            if line != word:
                raise RuntimeError(f"receiver said {line!r}, not {word!r}")

    async def arm(self, status: bytes) -> None:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(status + b"\n")
        await self.expect(b"armed")

    async def stamps(self) -> list[float]:
        """Once every receiver's clients have all seen the awaited frame."""
        out: list[float] = []
        for p in self.procs:
            assert p.stdout is not None
            out += orjson.loads(await asyncio.wait_for(p.stdout.readline(), 60))
        return out

    async def stop(self) -> None:
        for p in self.procs:
            if p.stdin is not None:
                p.stdin.close()
        for p in self.procs:
            try:
                await asyncio.wait_for(p.wait(), 30)
            except TimeoutError:
                p.kill()
                await p.wait()


def quick_ack_share(port: int, pid: int) -> float:
    """Of the established IPv4 sockets connected to ``port`` (the clients' ends) in the
    network namespace of process ``pid``, the share in quick-ACK mode:
    ``/proc/PID/net/tcp``'s column after ``ato`` is the socket's quick-ACKs left
    (``icsk_ack.quick``) shifted left by one, or'ed with its pingpong (interactive)
    flag, which the kernel lets override them."""
    peer = f":{port:04X}"
    clients = quick = 0
    with open(f"/proc/{pid}/net/tcp", encoding="ascii") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "01" and fields[2].endswith(peer):
                clients += 1
                state = int(fields[14])
                quick += state > 1 and not state & 1
    return quick / clients if clients else float("nan")


def main_thread_cpu_ns(pid: int) -> int:
    """CPU time the process' main thread (its event loop) has run, in ns."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


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


def bucket_quantile(before: dict[str, int], after: dict[str, int], q: float) -> tuple[float, float]:
    """Of the samples between two scrapes, the quantile ``q`` in ms two ways: the bound
    of the bucket it falls in, and interpolated linearly inside that bucket, as
    Prometheus' ``histogram_quantile`` does (the last finite bound if in ``+Inf``)."""
    total = after["+Inf"] - before["+Inf"]
    rank = q * total
    lower, below = 0.0, 0
    for le, n in after.items():
        seen = n - before[le]
        if seen >= rank and total:
            if le == "+Inf":
                return float("inf"), lower * 1000
            bound = float(le)
            inside = seen - below
            at = lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            return bound * 1000, at * 1000
        if le != "+Inf":
            lower, below = float(le), seen
    return float("inf"), float("inf")


@dataclass(frozen=True)
class Shape:
    """What the service's run and the ceiling's of one round share."""

    clients: int
    cycles: int
    procs: int
    warmup: int = 0
    pin: bool = True
    gap: float = 0.0
    net: str = "loopback"


def client_net(stack: contextlib.ExitStack, shape: Shape, receiver_cpus: str | None) -> ClientNet:
    """Where this run's receivers are (a veth pair lives as long as ``stack``)."""
    return stack.enter_context(veth_clients(receiver_cpus)) if shape.net == "veth" else LOOPBACK


async def paced(
    shape: Shape,
    pid: int,
    cycle: Callable[[bool], Awaitable[None]],
    after_each: Callable[[], None] = lambda: None,
) -> int:
    """The counted cycles, each after ``shape.gap`` seconds; the CPU time of process
    ``pid``'s event loop over them (the pauses not included), in ns."""
    cpu_ns = 0
    for _ in range(shape.cycles):
        if shape.gap:
            await asyncio.sleep(shape.gap)  # pacing (see above), not a wait
        cpu0 = main_thread_cpu_ns(pid)
        await cycle(True)
        cpu_ns += main_thread_cpu_ns(pid) - cpu0
        after_each()
    return cpu_ns


async def one_run(shape: Shape) -> dict[str, Any]:
    n, cycles = shape.clients, shape.cycles
    event_ms: list[float] = []
    unplug_ms: list[float] = []
    fanout_ms: list[float] = []
    per_cycle: list[tuple[float, float]] = []  # (first, last) client, ms after the plug
    with tempfile.TemporaryDirectory() as tmp:
        tree = FakeV4l2Tree(Path(tmp) / "v4l2")

        async def cycle(counted: bool) -> None:
            await receivers.arm(b'"CONNECTED"')
            t0 = _perf()
            plug(tree, 0)
            stamps = await receivers.stamps()
            if counted:
                first, last = min(stamps), max(stamps)
                per_cycle.append((round((first - t0) * 1e3, 2), round((last - t0) * 1e3, 2)))
                event_ms.extend((t - t0) * 1000 for t in stamps)
                fanout_ms.extend((t - first) * 1000 for t in stamps)
            await receivers.arm(b'"DISCONNECTED"')
            t0 = _perf()
            tree.remove(0)
            tree.remove(1)
            stamps = await receivers.stamps()
            if counted:
                unplug_ms.extend((t - t0) * 1000 for t in stamps)

        # MediaMTX's Control API (the tests' double) answers, as on a hub: without it
        # the service's failing checks broadcast health changes in the middle of cycles.
        async with MediaMtxDouble(work_dir=tmp) as mtx:
            overrides = {**camera_overrides(tree), "mediamtx.api_url": mtx.api_url}
            service_cpu, receiver_cpus = PINNING if shape.pin else (None, None)
            with contextlib.ExitStack() as stack:
                clients = client_net(stack, shape, receiver_cpus)
                overrides["server.host"] = clients.service_host
                srv = stack.enter_context(
                    ServiceProcess(
                        overrides=overrides, max_connections=n + 100, cpu_list=service_cpu
                    )
                )
                receivers = await Receivers.start(srv, n, shape.procs, receiver_cpus, clients)
                quick: list[float] = []
                try:
                    rss_kb = srv.rss_kb()
                    for _ in range(shape.warmup):
                        await cycle(False)
                    before = await asyncio.to_thread(fanout_buckets, srv)
                    cpu_ns = await paced(
                        shape,
                        srv.pid,
                        cycle,
                        lambda: quick.append(quick_ack_share(srv.port, receivers.procs[0].pid)),
                    )
                    after = await asyncio.to_thread(fanout_buckets, srv)
                finally:
                    await receivers.stop()
            if mtx.violations:
                raise RuntimeError(f"MediaMTX contract violations: {mtx.violations}")
    return {
        "clients": n,
        "cycles": cycles,
        "warmup_cycles": shape.warmup,
        "gap_s": shape.gap,
        "net": shape.net,
        "receiver_processes": shape.procs,
        "pinned": shape.pin,
        "service_rss_kb_with_clients": rss_kb,
        "clients_in_quick_ack_mode_after_a_cycle": round(statistics.mean(quick), 3),
        "service_cpu_ms_per_cycle": round(cpu_ns / 1e6 / cycles, 2),
        "plug_to_frame_ms": summary(event_ms),
        "unplug_to_frame_ms": summary(unplug_ms),
        "fanout_ms": summary(fanout_ms),
        "first_and_last_client_ms_per_cycle": per_cycle,
        "server_fanout_ms": server_fanout(before, after),
    }


def trigger_fanout(srv: ServiceProcess, status: str) -> float:
    """Have the echo ceiling fan ``status`` out; the ms it took in the ceiling."""
    url = f"http://{srv.host}:{srv.health_port}/fanout/{status}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return float(orjson.loads(r.read())["seconds"]) * 1000


async def ceiling_run(shape: Shape) -> dict[str, Any]:
    """The same cycles against the echo ceiling, which sends the frames itself when
    asked (``bench/echo_ceiling.py``): the floor of a fan-out to these clients."""
    inside_ms: list[float] = []
    frame_ms: list[float] = []
    service_cpu, receiver_cpus = PINNING if shape.pin else (None, None)
    with contextlib.ExitStack() as stack:
        clients = client_net(stack, shape, receiver_cpus)
        srv = stack.enter_context(
            ServiceProcess(
                target="echo",
                overrides={"server.host": clients.service_host},
                max_connections=shape.clients + 100,
                cpu_list=service_cpu,
            )
        )
        receivers = await Receivers.start(srv, shape.clients, shape.procs, receiver_cpus, clients)

        async def cycle(counted: bool) -> None:
            for status in ("CONNECTED", "DISCONNECTED"):
                await receivers.arm(f'"{status}"'.encode())
                t0 = _perf()
                took = await asyncio.to_thread(trigger_fanout, srv, status)
                stamps = await receivers.stamps()
                if counted:
                    inside_ms.append(took)
                    frame_ms.extend((t - t0) * 1000 for t in stamps)

        try:
            for _ in range(shape.warmup):
                await cycle(False)
            cpu_ns = await paced(shape, srv.pid, cycle)
        finally:
            await receivers.stop()
    return {
        "clients": shape.clients,
        "cycles": shape.cycles,
        "gap_s": shape.gap,
        "net": shape.net,
        "ceiling_cpu_ms_per_cycle": round(cpu_ns / 1e6 / shape.cycles, 2),
        "ceiling_fanout_ms": summary(inside_ms),
        "request_to_frame_ms": summary(frame_ms),
    }


def server_fanout(before: dict[str, int], after: dict[str, int]) -> dict[str, Any]:
    (p50_bound, p50), (p99_bound, p99) = (bucket_quantile(before, after, q) for q in (0.5, 0.99))
    return {
        "notifications": after["+Inf"] - before["+Inf"],
        "p50_at_most": p50_bound,
        "p99_at_most": p99_bound,
        "p50_interpolated": round(p50, 3),
        "p99_interpolated": round(p99, 3),
        "buckets": {le: n - before[le] for le, n in after.items()},
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3),
        "p99": round(percentile(values, 0.99), 3),
        "max": round(max(values), 3),
    }


def print_run(i: int, clients: int, res: dict[str, Any]) -> None:
    u, e, s = res["unplug_to_frame_ms"], res["plug_to_frame_ms"], res["server_fanout_ms"]
    print(
        f"   run {i + 1}: {clients} clients: unplug -> frame p50 {u['p50']:.1f} p99 "
        f"{u['p99']:.1f} max {u['max']:.1f} ms; plug -> frame p50 {e['p50']:.1f} p99 "
        f"{e['p99']:.1f} ms; in the service p50 {s['p50_interpolated']:.1f} (<= "
        f"{s['p50_at_most']:g}), p99 {s['p99_interpolated']:.1f} (<= {s['p99_at_most']:g}) "
        f"ms interpolated (bucket bound) ({s['notifications']} notifications); "
        f"service CPU {res['service_cpu_ms_per_cycle']:.1f} ms a cycle; clients in "
        f"quick-ACK mode after a cycle {res['clients_in_quick_ack_mode_after_a_cycle']:.0%}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--procs", type=int, default=2, help="receiver processes")
    parser.add_argument(
        "--warmup", type=int, default=0, help="cycles run first and not counted (see above)"
    )
    parser.add_argument(
        "--gap", type=float, default=0.0, help="seconds paused before each counted cycle"
    )
    parser.add_argument(
        "--net",
        choices=("loopback", "veth"),
        default="loopback",
        help="where the clients are: loopback, or a namespace behind a veth pair (see above)",
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="run the echo ceiling's fan-out too, in every round (see above)",
    )
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not taskset (see above)"
    )
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
    if args.pin and PINNING[1] is not None:
        os.sched_setaffinity(0, {int(PINNING[1])})  # the driver and the MediaMTX double
    runs: list[dict[str, Any]] = []
    ceilings: list[dict[str, Any]] = []
    shape = Shape(args.clients, args.cycles, args.procs, args.warmup, args.pin, args.gap, args.net)
    for i in range(args.runs):
        # The ceiling first in every other round: neither always has the warmer machine.
        for which in ("ceiling", "service")[:: -1 if i % 2 == 0 else 1]:
            if which == "ceiling" and args.ceiling:
                c = uvloop.run(ceiling_run(shape))
                ceilings.append(c)
                f, r = c["ceiling_fanout_ms"], c["request_to_frame_ms"]
                print(
                    f"   run {i + 1}, echo ceiling: fan-out p50 {f['p50']:.1f} p99 {f['p99']:.1f}"
                    f" ms; request -> frame p50 {r['p50']:.1f} p99 {r['p99']:.1f} ms; CPU "
                    f"{c['ceiling_cpu_ms_per_cycle']:.1f} ms a cycle",
                    flush=True,
                )
            if which == "service":
                res = uvloop.run(one_run(shape))
                runs.append(res)
                print_run(i, args.clients, res)

    def median(figure: str, key: str) -> float:
        return float(statistics.median(r[figure][key] for r in runs))

    result = {
        "clients": args.clients,
        "warmup_cycles": args.warmup,
        "gap_s": args.gap,
        "net": args.net,
        "pinned": args.pin,
        "receiver_processes": args.procs,
        "unplug_to_frame_p50_ms_median": median("unplug_to_frame_ms", "p50"),
        "unplug_to_frame_p99_ms_median": median("unplug_to_frame_ms", "p99"),
        "plug_to_frame_p50_ms_median": median("plug_to_frame_ms", "p50"),
        "plug_to_frame_p99_ms_median": median("plug_to_frame_ms", "p99"),
        "fanout_p99_ms_median": median("fanout_ms", "p99"),
        "server_fanout_p99_at_most_ms_median": median("server_fanout_ms", "p99_at_most"),
        "server_fanout_p99_interpolated_ms_median": median("server_fanout_ms", "p99_interpolated"),
        "runs": runs,
    }
    if ceilings:
        # Each round's own ratio, then their median: steadier than a ratio of medians
        # when the machine drifts between rounds.
        for q in ("p50", "p99"):
            result[f"ceiling_fanout_{q}_ms_median"] = float(
                statistics.median(c["ceiling_fanout_ms"][q] for c in ceilings)
            )
            result[f"ceiling_over_service_fanout_{q}"] = round(
                statistics.median(
                    c["ceiling_fanout_ms"][q] / r["server_fanout_ms"][f"{q}_interpolated"]
                    for c, r in zip(ceilings, runs, strict=True)
                ),
                2,
            )
        result["ceilings"] = ceilings
    print(
        f"-> notification to {args.clients} clients (medians of {args.runs} runs): unplug -> "
        f"frame p99 {result['unplug_to_frame_p99_ms_median']:.1f} ms (p50 "
        f"{result['unplug_to_frame_p50_ms_median']:.1f}); plug -> frame p99 "
        f"{result['plug_to_frame_p99_ms_median']:.1f} ms; first -> last client p99 "
        f"{result['fanout_p99_ms_median']:.1f} ms; in the service p99 "
        f"{result['server_fanout_p99_interpolated_ms_median']:.1f} ms interpolated in its "
        f"bucket (<= {result['server_fanout_p99_at_most_ms_median']:g} ms, the bucket bound)"
    )
    if ceilings:
        print(
            f"-> echo ceiling's fan-out (medians of {args.runs} runs): p50 "
            f"{result['ceiling_fanout_p50_ms_median']:.1f} p99 "
            f"{result['ceiling_fanout_p99_ms_median']:.1f} ms; ceiling/service in the service "
            f"p50 {result['ceiling_over_service_fanout_p50']:.2f}, p99 "
            f"{result['ceiling_over_service_fanout_p99']:.2f} (median of each round's ratio)"
        )
    out = write_result("fanout", result)
    print(f"   written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
