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

from camera_service.api import websocket
from camera_service.app import Application
from camera_service.cameras.events import CameraAdded
from camera_service.cameras.model import Camera, SourceType
from tests.conftest import make_settings, make_token
from tests.support.rawws import (
    OP_CLOSE,
    OP_TEXT,
    Opener,
    WsClient,
    close_payload,
    frame,
    read_eof,
    rpc,
    text,
)


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


async def test_a_slow_consumer_that_reads_again_receives_the_1013_close(
    tmp_path: Path, opener: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14, item 13. The client stops reading until well past the time it has to
    answer a close frame, then reads: whole frames, then close 1013, then the end."""
    monkeypatch.setattr(websocket, "CLOSE_TIMEOUT", 0.2)
    app = Application(make_settings(tmp_path, server={"send_buffer_bytes": 65536}))
    await app.start()
    try:
        slow = await WsClient.connect(opener, app.ws_port)
        slow.send(text(rpc("authenticate", 1, auth_token=make_token("viewer"))))
        assert (await slow.reply())["result"]["authenticated"] is True
        [conn] = [c for c in app.ws.connections if c.session.identity is not None]
        blob = "x" * 256 * 1024
        published = 0
        while not conn.closing:  # 256 KiB a frame: the socket buffers fill, then the queue
            assert published < 400, "the slow consumer was never closed"
            app.events.publish(CameraAdded(Camera(f"pad{published}", SourceType.TEST, blob)))
            published += 1
        assert app.metrics.slow_consumers_closed == 1
        # The client's slowness under test (not synchronization): it reads nothing for
        # longer than the CLOSE_TIMEOUT a peer has to answer a close frame it was sent.
        await asyncio.sleep(5 * websocket.CLOSE_TIMEOUT)
        frames = 0
        while True:
            opcode, body = await slow.recv()
            if opcode == OP_CLOSE:
                break
            assert opcode == OP_TEXT
            assert orjson.loads(body)["method"] == "camera_status_update"  # whole frames
            frames += 1
        assert int.from_bytes(body[:2], "big") == 1013
        assert body[2:] == b"send queue overflow"
        assert 0 < frames < published  # what was queued past the transport was dropped
        slow.send(frame(OP_CLOSE, close_payload(1013)))
        assert await read_eof(slow.reader) == b""
    finally:
        await app.stop()
