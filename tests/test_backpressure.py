"""Slow consumers and keepalive, with raw loopback sockets that misbehave on purpose."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from camera_service.app import Application
from tests.conftest import make_settings, make_token


class RawClient:
    """A WebSocket client that reads only when told to: a slow or dead peer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send(self, obj: object) -> None:
        payload = orjson.dumps(obj)
        n = len(payload)
        head = bytes((0x81, 0x80 | n)) if n < 126 else b"\x81\xfe" + n.to_bytes(2, "big")
        # all-zero mask: legal, and leaves the payload as is
        self.writer.write(head + b"\0\0\0\0" + payload)

    async def frame(self) -> tuple[int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        return b0 & 0x0F, await self.reader.readexactly(n)

    async def read_until_eof(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while True:
                await self.frame()

    def close(self) -> None:
        self.writer.transport.abort()


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
    small_buffer_service: Application,
) -> None:
    app = small_buffer_service
    slow = await RawClient.connect(app.ws_port)
    slow.send(
        {
            "jsonrpc": "2.0",
            "method": "authenticate",
            "id": 1,
            "params": {"auth_token": make_token("viewer")},
        }
    )
    opcode, body = await slow.frame()
    assert orjson.loads(body)["result"]["authenticated"] is True
    [conn] = [c for c in app.ws.connections if c.session.identity is not None]

    blob = "x" * 256 * 1024
    peak = 0
    for i in range(80):  # 20 MiB: far more than the kernel's socket buffers hold
        app.events.publish("camera_status_update", {"n": i, "pad": blob})
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
        async with asyncio.timeout(10):
            while True:
                opcode, body = await slow.frame()
                if opcode == 0x8:
                    code = int.from_bytes(body[:2], "big")
                    break
    except (asyncio.IncompleteReadError, ConnectionResetError):
        code = "reset"
    assert code in (1013, "reset")
    slow.close()


async def test_unresponsive_client_dropped_responsive_idle_client_kept(
    small_buffer_service: Application,
) -> None:
    app = small_buffer_service
    dead = await RawClient.connect(app.ws_port)  # never answers pings
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
        with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
            await dead.read_until_eof()
        assert len(app.ws.connections) == 1
        await alive.send_str('{"jsonrpc":"2.0","method":"ping","id":1}')
        msg = await asyncio.wait_for(alive.receive(), 5)
        while msg.type is aiohttp.WSMsgType.PING:
            msg = await asyncio.wait_for(alive.receive(), 5)
        assert orjson.loads(msg.data)["result"] == "pong"
    dead.close()
