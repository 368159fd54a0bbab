"""Slow consumers and keepalive, with raw loopback sockets that misbehave on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from camera_service.app import Application
from camera_service.cameras.events import CameraAdded
from camera_service.cameras.model import Camera, SourceType
from tests.conftest import make_settings, make_token
from tests.support.rawws import OP_CLOSE, Opener, WsClient, read_eof, rpc, text


@pytest.fixture
async def small_buffer_service(tmp_path: Path) -> AsyncIterator[Application]:
    app = Application(
        make_settings(
            tmp_path, server={"send_buffer_bytes": 65536, "ping_interval": 0.2, "ping_timeout": 0.6}
        )
    )
    await app.start()
    yield app
    await app.stop()


async def test_slow_consumer_closed_with_bounded_memory(
    small_buffer_service: Application, opener: Opener
) -> None:
    app = small_buffer_service
    slow = await WsClient.connect(opener, app.ws_port)  # reads only when told to
    slow.send(text(rpc("authenticate", 1, auth_token=make_token("viewer"))))
    assert (await slow.reply())["result"]["authenticated"] is True
    [conn] = [c for c in app.ws.connections if c.session.identity is not None]

    blob = "x" * 256 * 1024
    peak = 0
    for i in range(80):  # 20 MiB: far more than the kernel's socket buffers hold
        app.events.publish(CameraAdded(Camera(f"pad{i}", SourceType.TEST, blob)))
        peak = max(peak, conn.transport.get_write_buffer_size())
        if conn.closing:
            break
    assert conn.closing, "the slow consumer was never closed"
    assert app.metrics.slow_consumers_closed == 1
    assert app.metrics.notifications_dropped >= 1
    # bounded: the limit plus at most one frame (and the close frame) ever queued
    assert peak <= 65536 + len(blob) + 1024
    # the service is unaffected for others
    async with aiohttp.ClientSession() as s, s.ws_connect(f"ws://127.0.0.1:{app.ws_port}/ws") as ws:
        await ws.send_str('{"jsonrpc":"2.0","method":"ping","id":1}')
        assert orjson.loads((await ws.receive()).data)["result"] == "pong"
    # reading what was queued ends in the 1013 close frame (or a reset once aborted)
    code: int | str | None = None
    try:
        while True:
            opcode, body = await slow.recv(timeout=10)
            if opcode == OP_CLOSE:
                code = int.from_bytes(body[:2], "big")
                break
    except (asyncio.IncompleteReadError, ConnectionResetError):
        code = "reset"
    assert code in (1013, "reset")


async def test_unresponsive_client_dropped_responsive_idle_client_kept(
    small_buffer_service: Application, opener: Opener
) -> None:
    app = small_buffer_service
    dead = await WsClient.connect(opener, app.ws_port)  # never answers pings
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(f"ws://127.0.0.1:{app.ws_port}/ws", autoping=False) as alive,
    ):
        started = time.monotonic()
        pings = 0
        while pings < 6:  # 6 pings at 0.2 s: well past the 0.6 s timeout
            msg = await asyncio.wait_for(alive.receive(), 5)
            assert msg.type is aiohttp.WSMsgType.PING, msg
            await alive.pong(msg.data)
            pings += 1
        assert time.monotonic() - started > 0.6
        # the dead one was cut off; reading it hits EOF after its queued pings
        with contextlib.suppress(ConnectionResetError):  # dropped: an abort may reset
            await read_eof(dead.reader)  # its queued pings, then the end
        assert len(app.ws.connections) == 1
        await alive.send_str('{"jsonrpc":"2.0","method":"ping","id":1}')
        msg = await asyncio.wait_for(alive.receive(), 5)
        while msg.type is aiohttp.WSMsgType.PING:
            msg = await asyncio.wait_for(alive.receive(), 5)
        assert orjson.loads(msg.data)["result"] == "pong"
