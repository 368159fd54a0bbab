#!/usr/bin/env python3
"""The service with picows as its WebSocket edge: would the library be cheaper?

    python bench/picows_edge.py                         # ping, 100 and 1,000 connections
    python bench/picows_edge.py --rounds 5 --connections 1000

Issue 20 asks whether a maintained WebSocket library would come closer to the echo
ceiling than the service's own framing (``net/wsframes.py`` behind ``api/websocket.py``).
This runs three targets in rotated order every round, each driven exactly as
``bench/run.py ceiling`` drives them (same generator, pinning, 8 test cameras):

- ``service``: the service as it is;
- ``edge``: the same service process, whose API port is served by picows instead:
  picows parses the upgrade and the frames, each text frame goes to the service's own
  ``Dispatcher`` with a ``Session`` per connection, and the reply goes out with
  ``WSTransport.send``; it is the service minus its framing and ``Connection``, plus
  picows (no keepalive, backlog or notification fan-out: the least the edge would cost);
- ``echo``: the picows echo ceiling (``bench/echo_ceiling.py``).

It prints each figure's median CPU-µs per request and the ratios to the ceiling.
``serve`` (internal) is the ``edge`` process: the service's CLI with the API port's
``HttpServer.start`` replaced, before anything starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from ceiling import Bench, Row
from server import REPO, ServiceProcess

HERE = Path(__file__).resolve()


class EdgeProcess(ServiceProcess):
    def command(self) -> list[str]:
        cmd = super().command()
        i = cmd.index("-m")
        return [*cmd[:i], str(HERE), "serve"]


class EdgeBench(Bench):
    def process(self, target: str, source: Path = REPO, connections: int = 1000) -> ServiceProcess:
        if target != "edge":
            return super().process(target, source, connections)
        return EdgeProcess(
            max_connections=connections + 100,
            overrides=self.service_overrides(),
            cpu_list=self.server_cpus,
            source=source,
        )


def serve() -> int:
    """Run the service with its API port's WebSocket served by picows."""
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    from camera_service import cli
    from camera_service.api.session import Session
    from camera_service.net import httpserver

    plain_start = httpserver.HttpServer.start

    async def start(self: Any, host: str, port: int, tls: Any = None) -> int:
        ws = self.upgrader
        if ws is None:  # the health port stays the service's own
            return await plain_start(self, host, port, tls)
        handle = ws.dispatcher.handle

        class Edge(WSListener):
            session: Session

            def on_ws_connected(self, transport: WSTransport) -> None:
                self.session = Session(ws.rate, host)

            def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
                if frame.msg_type == WSMsgType.TEXT:
                    outcome = handle(self.session, frame.get_payload_as_bytes())
                    if type(outcome) is bytes:
                        transport.send(WSMsgType.TEXT, outcome)
                    elif outcome is not None:
                        asyncio.get_running_loop().create_task(later(transport, outcome.reply))
                elif frame.msg_type == WSMsgType.CLOSE:
                    transport.send_close(frame.get_close_code())
                    transport.disconnect()

        async def later(transport: WSTransport, pending: Any) -> None:
            reply = await pending
            if reply is not None:
                transport.send(WSMsgType.TEXT, reply)

        self._server = await ws_create_server(
            lambda _request: Edge(),
            sock=httpserver.listening_socket(host, port),
            max_frame_size=ws.cfg.max_message_bytes,
            enable_auto_pong=True,
        )
        return int(self._server.sockets[0].getsockname()[1])

    httpserver.HttpServer.start = start  # type: ignore[method-assign]
    return cli.main(["run"])


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        return serve()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", default="100,1000")
    p.add_argument("--duration", type=float, default=5.0)
    ns = p.parse_args()
    bench = EdgeBench(duration=ns.duration)
    conns = [int(c) for c in ns.connections.split(",")]
    cpu: dict[tuple[int, str], list[float]] = {}
    targets = ["service", "edge", "echo"]
    for r in range(ns.rounds):
        for c in conns:
            for target in targets[r % 3 :] + targets[: r % 3]:
                m = bench.measure(Row("ping", c), target)
                cpu.setdefault((c, target), []).append(m["cpu_us"])
    print(f"\n{bench.note}; load average {os.getloadavg()[0]:.2f}; {ns.rounds} rounds")
    print("| conns | service CPU-µs/req | edge | echo | echo/service | echo/edge |")
    print("|---|---|---|---|---|---|")
    for c in conns:
        s, e, x = (statistics.median(cpu[(c, t)]) for t in targets)
        print(f"| {c:,} | {s:.2f} | {e:.2f} | {x:.2f} | {x / s:.2f} | {x / e:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
