"""Where a fan-out's time goes: the service's own notifier and WebSocket server in this
process, no service process and no hot-plug.

    python bench/fanout_parts.py [--clients 1000] [--events 200] [--spawn fork|vfork]

N connections, each a real :class:`Connection` of a :class:`WebSocketServer` with an
authenticated viewer session, hear ``camera_status_update`` about a camera that is
plugged and unplugged (``CameraAdded`` / ``CameraRemoved`` published on the event bus,
the :class:`Notifier` subscribed as in the service). Each publish is timed (wall clock
and this thread's CPU time), with the connections' transports three ways:

* ``stub``: a transport whose ``write`` keeps nothing: the Python part alone (the
  notifier, the audience, ``broadcast``, ``notify``, ``write``).
* ``raw``: no service code at all: the frame ``socket.send`` to each accepted TCP
  loopback socket in a Python loop, the floor the kernel sets.
* ``transport``: no service code either: the frame ``transport.write`` to the uvloop
  transport of each accepted socket, what uvloop adds to ``raw``.
* ``loopback``: uvloop transports of accepted TCP loopback sockets, the clients' ends
  read only between events: the above plus the kernel's ``send`` of each frame.
* ``loopback-read``: the same with a child process reading every client socket as
  frames arrive (as bench/fanout.py's receivers do): the above plus sharing the CPUs
  with a reader that the writes wake.

The first ``WARMUP`` events of each mode are not counted (see there). uvloop, as the
service runs. ``--spawn fork`` starts and reaps ``true`` before each event as
``asyncio.create_subprocess_exec`` does under uvloop (a fork), to show what a fork
leaves behind: every page of the process is write-protected for copy-on-write, and
the fan-out's first write to each page it touches takes a page fault (``minflt``);
``--spawn vfork`` starts it with ``subprocess`` (vfork), as the V4L2 prober does.
``--profile`` runs cProfile over the ``loopback`` events.

``--gap SECONDS`` is how long the loop idles before each event (5 ms by default):
past the retransmission timeout (200 ms on loopback) each client's end is back in
quick-ACK mode when the event's frame comes, and acknowledges it at once, inside the
sender's ``send`` on loopback. ``--hold-acks`` turns ``TCP_QUICKACK`` off on the
clients' ends before each event, which keeps them delaying their ACKs: it shows what
those quick-ACKs cost, and is nothing a service can do about its clients' kernels.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import pstats
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any, cast

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from camera_service.api.dispatch import Dispatcher  # noqa: E402
from camera_service.api.notifications import Notifier  # noqa: E402
from camera_service.api.websocket import Connection, WebSocketServer  # noqa: E402
from camera_service.auth.identity import Identity, Role  # noqa: E402
from camera_service.cameras.events import CameraAdded, CameraRemoved  # noqa: E402
from camera_service.cameras.model import Camera, CameraStatus, SourceType  # noqa: E402
from camera_service.config import MediaMtxConfig, ServerConfig  # noqa: E402
from camera_service.events import EventBus  # noqa: E402
from camera_service.observability.metrics import Metrics  # noqa: E402
from fanout import summary  # noqa: E402

VIEWER = Identity("bench", Role.VIEWER, "jwt", None)
# Events not counted: a fresh TCP connection's receiver acknowledges its first 16
# segments one by one (Linux's quick-ACK mode), which on loopback the sender pays for.
WARMUP = 20
PLUGGED = Camera("camera0", SourceType.USB, "HD Pro Webcam C920", CameraStatus.CONNECTED)


class StubTransport:
    """Takes every frame and keeps none."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class _Bare(asyncio.Protocol):
    """A transport's protocol that does nothing."""


class _Accepted(asyncio.Protocol):
    """Hands the accepted socket's transport to the WebSocket server as a connection."""

    def __init__(self, server: WebSocketServer) -> None:
        self.server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        t = cast(asyncio.Transport, transport)
        conn = Connection(self.server, t, "127.0.0.1")
        conn.session.authenticate(VIEWER)
        self.server.connections.add(conn)
        t.set_protocol(conn)


def _read_all(socks: list[socket.socket], stop: Pipe) -> None:
    """The child of ``loopback-read``: reads every socket as data comes, until told."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    sel.register(stop, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is stop:
                return
            cast(socket.socket, key.fileobj).recv(1 << 16)


async def _connect(
    server: WebSocketServer,
    n: int,
    raw: list[socket.socket] | None = None,
    bare: list[asyncio.Transport] | None = None,
) -> list[socket.socket]:
    """``n`` loopback connections: the clients' ends; the server's become connections
    of ``server``, or are put in ``raw`` as they are, or their bare transports in
    ``bare``."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=n)
    port = listener.getsockname()[1]
    clients = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        s, _ = listener.accept()
        if bare is not None:
            transport, _ = await loop.connect_accepted_socket(_Bare, s)
            bare.append(transport)
        elif raw is None:
            await loop.connect_accepted_socket(lambda: _Accepted(server), s)
        else:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as uvloop's
            raw.append(s)
        clients.append(c)
    listener.close()
    return clients


def _drain(socks: list[socket.socket]) -> None:
    for s in socks:
        s.setblocking(False)
        try:
            while s.recv(1 << 16):
                pass
        except BlockingIOError:
            pass


async def run(
    mode: str,
    n: int,
    events: int,
    spawn: str,
    profile: bool,
    gap: float = 0.005,
    hold_acks: bool = False,
) -> dict[str, Any]:
    metrics = Metrics()
    server = WebSocketServer(ServerConfig(), cast(Dispatcher, None), metrics)
    bus = EventBus()
    Notifier(server, metrics, MediaMtxConfig).attach(bus)
    clients: list[socket.socket] = []
    raw: list[socket.socket] = []
    bare: list[asyncio.Transport] = []
    reader: multiprocessing.Process | None = None
    stop: Pipe | None = None
    if mode == "stub":
        for _ in range(n):
            conn = Connection(server, cast(asyncio.Transport, StubTransport()), "127.0.0.1")
            conn.session.authenticate(VIEWER)
            server.connections.add(conn)
    elif mode == "raw":
        clients = await _connect(server, n, raw)
        data = _frame_of(CameraAdded(PLUGGED))

        def send_raw(event: object) -> None:
            for s in raw:
                s.send(data)

        bus = _bus_calling(send_raw)
    elif mode == "transport":
        clients = await _connect(server, n, bare=bare)
        frame = _frame_of(CameraAdded(PLUGGED))

        def write_bare(event: object) -> None:
            for transport in bare:
                transport.write(frame)

        bus = _bus_calling(write_bare)
    else:
        clients = await _connect(server, n)
        if mode == "loopback-read":
            stop, stop_child = multiprocessing.Pipe()
            reader = multiprocessing.Process(target=_read_all, args=(clients, stop_child))
            reader.start()
    server.audiences.changed()
    wall: list[float] = []
    cpu: list[float] = []
    faults: list[float] = []
    profiler = cProfile.Profile() if profile else None
    try:
        for i in range(events + WARMUP):
            event: object = CameraAdded(PLUGGED) if i % 2 == 0 else CameraRemoved(PLUGGED)
            await asyncio.sleep(gap)  # the loop idle between events, as between plugs
            if mode in ("loopback", "raw", "transport"):
                _drain(clients)
            if hold_acks:
                for c in clients:
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
            if spawn == "fork":
                child = await asyncio.create_subprocess_exec("true")
                await child.wait()
            elif spawn == "vfork":
                subprocess.run(["true"], check=True)  # noqa: ASYNC221
            if profiler is not None and i >= WARMUP:
                profiler.enable()
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0, c0 = time.perf_counter(), time.thread_time()
            bus.publish(event)
            t1, c1 = time.perf_counter(), time.thread_time()
            f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            if profiler is not None:
                profiler.disable()
            if i >= WARMUP:
                wall.append((t1 - t0) * 1000)
                cpu.append((c1 - c0) * 1000)
                faults.append(f1 - f0)
    finally:
        if stop is not None and reader is not None:
            stop.send(b"stop")
            reader.join(10)
        for c in clients + raw:
            c.close()
        for conn in list(server.connections):
            conn.transport.close()
        for transport in bare:
            transport.close()
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    if mode not in ("raw", "transport"):
        sent = metrics.notifications_sent
        assert sent == n * (events + WARMUP), f"{sent} frames queued, not {n * (events + WARMUP)}"
    return {
        "mode": mode,
        "clients": n,
        "events": events,
        "spawn": spawn,
        "gap_s": gap,
        "hold_acks": hold_acks,
        "wall_ms": summary(wall),
        "cpu_ms": summary(cpu),
        "page_faults_p50": statistics.median(faults),
    }


def _bus_calling(handler: Callable[[object], None]) -> EventBus:
    """A bus on which the plug and unplug events call ``handler`` and nothing else."""
    bus = EventBus()
    for t in (CameraAdded, CameraRemoved):
        bus.subscribe(t, handler)
    return bus


def _frame_of(event: CameraAdded) -> bytes:
    """The frame the notifier builds for ``event``, as a client of 127.0.0.1 gets it."""
    out: list[bytes] = []

    class Keep:
        def broadcast(
            self, topic: str, frame: Any, camera_id: str | None = None
        ) -> tuple[int, int]:
            out.append(frame if isinstance(frame, bytes) else frame("127.0.0.1"))
            return 1, 0

    bus = EventBus()
    Notifier(Keep(), Metrics(), MediaMtxConfig).attach(bus)
    bus.publish(event)
    return out[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--modes", default="stub,raw,transport,loopback,loopback-read")
    parser.add_argument(
        "--spawn",
        choices=("fork", "vfork"),
        help="start a child before each event: with uvloop's subprocess or subprocess.Popen",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the loopback events")
    parser.add_argument(
        "--gap", type=float, default=0.005, help="seconds the loop idles before each event"
    )
    parser.add_argument(
        "--hold-acks", action="store_true", help="TCP_QUICKACK off on the clients' ends"
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * args.clients + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * args.clients + 1000), hard))
    spawned = f", a child started before each ({args.spawn})" if args.spawn else ""
    held = ", clients' quick-ACKs held off" if args.hold_acks else ""
    print(
        f"   {os.cpu_count()} CPUs, {args.clients} connections, {args.events} events a mode"
        f" {args.gap:g} s apart{spawned}{held}; event -> frame handed to every connection's"
        " transport:"
    )
    for mode in args.modes.split(","):
        profile = args.profile and mode == "loopback"
        res = uvloop.run(
            run(mode, args.clients, args.events, args.spawn, profile, args.gap, args.hold_acks)
        )
        w, c = res["wall_ms"], res["cpu_ms"]
        print(
            f"   {mode:>13}: p50 {w['p50']:.2f} p99 {w['p99']:.2f} max {w['max']:.2f} ms; "
            f"CPU p50 {c['p50']:.2f} p99 {c['p99']:.2f} ms; "
            f"{1000 * c['p50'] / args.clients:.2f} CPU-us a connection; "
            f"{res['page_faults_p50']:g} page faults",
            flush=True,
        )


if __name__ == "__main__":
    main()
