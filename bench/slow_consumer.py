#!/usr/bin/env python3
"""What a client that stops reading for a while receives (api.md, slow consumers).

    uv run python bench/slow_consumer.py --pause 0.5,3,5
    uv run python bench/slow_consumer.py --src ../other-checkout --requests 400

Per pause, a fresh service (``bench/server.py``, default ``server.send_buffer_bytes``
of 1 MiB) gets ``--requests`` ``rpc.discover`` calls (about 32 KB of reply each) on one
connection that reads nothing for the pause, then reads everything. Printed: the
replies and bytes received, and how the stream ended: the 1013 close frame, or the end
of the TCP stream without one (what a client sees after the service gave up on it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from hostile_message import client_frame, connect, read_frame
from server import REPO, ServiceProcess

DISCOVER = client_frame(b'{"jsonrpc":"2.0","method":"rpc.discover","id":1}')


async def slow_client(srv: ServiceProcess, requests: int, pause: float) -> str:
    reader, writer = await connect(srv.host, srv.port)
    writer.write(DISCOVER * requests)
    await writer.drain()
    await asyncio.sleep(pause)  # the client's slowness under measurement
    replies = received = 0
    started = time.monotonic()
    try:
        async with asyncio.timeout(90):
            while True:
                opcode, payload = await read_frame(reader)
                if opcode == 0x8:
                    code = int.from_bytes(payload[:2], "big")
                    end = f"close {code} {payload[2:].decode()!r}"
                    break
                replies += 1
                received += len(payload)
    except asyncio.IncompleteReadError:
        end = "end of stream without a close frame"
    except ConnectionResetError:
        end = "connection reset"
    except TimeoutError:
        end = "nothing more for 90 s"
    writer.close()
    took = time.monotonic() - started
    return f"{replies} replies ({received:,} B), then {end}, after {took:.2f} s of reading"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--src", type=Path, default=REPO, help="checkout whose src/ runs")
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--pause", default="0.5,3,5", help="comma-separated seconds")
    ns = p.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, src = {ns.src.resolve()}")
    for pause in (float(x) for x in ns.pause.split(",")):
        with ServiceProcess(source=ns.src) as srv:
            outcome = asyncio.run(slow_client(srv, ns.requests, pause))
        print(f"pause {pause:g} s: {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
