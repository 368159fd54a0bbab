"""The WebSocket connection over a fake transport: how it runs what the dispatcher
returns (a reply now, or a pending reply in order or beside the others). No sockets."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from typing import Any, cast

import orjson

from camera_service.api.context import ApiContext, Components
from camera_service.api.dispatch import Dispatcher
from camera_service.api.methodtable import Call, MethodSpec, MethodTable, NoParams
from camera_service.api.websocket import INBOX_LIMIT, Connection, WebSocketServer
from camera_service.auth.authenticator import Authenticator
from camera_service.auth.jwt import JwtAuthenticator
from camera_service.config import ServerConfig
from camera_service.net.httpserver import HttpRequest
from camera_service.net.wsframes import OP_CLOSE, OP_TEXT, FrameParser, text_frame
from camera_service.observability.metrics import Metrics
from tests.conftest import SECRET
from tests.support.rawws import rpc, text


class Observer:
    def request_done(self, method: str, code: int, seconds: float) -> None:
        pass

    def security_event(self, event: str, actor: str | None, **detail: Any) -> None:
        pass


class FakeTransport:
    """What the connection writes, and whether it paused reading or closed."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False
        self.paused = False
        self.buffered = 0  # what get_write_buffer_size reports: bytes the peer left unread

    def write(self, data: bytes) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def close(self) -> None:
        self.closed = True

    abort = close

    def replies(self) -> list[Any]:
        """The JSON-RPC replies written after the handshake, in order."""
        frames = FrameParser(1 << 20, masked=False).feed(bytes(self.out).partition(b"\r\n\r\n")[2])
        return [orjson.loads(payload) for opcode, payload in frames if opcode == OP_TEXT]

    def ids(self) -> list[Any]:
        return [r["id"] for r in self.replies()]

    def frames(self) -> list[tuple[int, bytes]]:
        return FrameParser(1 << 24, masked=False).feed(bytes(self.out).partition(b"\r\n\r\n")[2])


class Stack:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.finished: list[str] = []
        methods = (
            MethodSpec("ping", lambda c: "pong", "", None, NoParams, str),
            MethodSpec("held", self._held, "", None, NoParams, str),
            MethodSpec("held_beside", self._held, "", None, NoParams, str, concurrent=True),
        )
        table = MethodTable(methods, ApiContext(cast(Components, object())))  # parts unused
        auth = Authenticator(JwtAuthenticator(SECRET), None)
        self.dispatcher = Dispatcher(table, auth, Observer(), 5.0)
        self.server = WebSocketServer(ServerConfig(), self.dispatcher, Metrics())
        self.server.requests_per_minute = 1_000_000

    async def _held(self, call: Call[NoParams]) -> str:
        await self.release.wait()
        self.finished.append("held")
        return "released"

    def connect(self) -> tuple[Connection, FakeTransport]:
        key = base64.b64encode(os.urandom(16))
        headers = {
            b"host": b"127.0.0.1",
            b"upgrade": b"websocket",
            b"connection": b"Upgrade",
            b"sec-websocket-version": b"13",
            b"sec-websocket-key": key,
        }
        request = HttpRequest("GET", "/ws", "/ws", {}, headers, b"", "127.0.0.1", True, True)
        transport = FakeTransport()
        conn = self.server.upgrade(request, transport)  # type: ignore[arg-type]
        assert isinstance(conn, Connection)
        return conn, transport


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the loop run the connection's tasks until ``condition`` holds (bounded)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - a poll of plain state, no event to wait on
            await asyncio.sleep(0)


async def test_a_reply_that_needs_no_waiting_is_written_at_once() -> None:
    conn, transport = Stack().connect()
    conn.data_received(text(rpc("ping", 1)) + text(rpc("ping", 2)))
    assert transport.ids() == [1, 2]


async def test_a_waiting_request_holds_the_ones_behind_it() -> None:
    stack = Stack()
    conn, transport = stack.connect()
    conn.data_received(text(rpc("held", 1)) + text(rpc("ping", 2)))
    conn.data_received(text(rpc("ping", 3)))
    assert transport.ids() == []
    stack.release.set()
    await until(lambda: len(transport.ids()) == 3)
    assert transport.ids() == [1, 2, 3]


async def test_a_concurrent_request_does_not_hold_the_ones_behind_it() -> None:
    stack = Stack()
    conn, transport = stack.connect()
    conn.data_received(text(rpc("held_beside", 1)) + text(rpc("ping", 2)))
    conn.data_received(text(rpc("held", 3)) + text(rpc("ping", 4)))
    assert transport.ids() == [2]
    stack.release.set()
    await until(lambda: len(transport.ids()) == 4)
    assert transport.ids()[0] == 2 and transport.ids().index(3) < transport.ids().index(4)


async def test_a_concurrent_request_outlives_its_connection() -> None:
    stack = Stack()
    conn, transport = stack.connect()
    conn.data_received(text(rpc("held_beside", 1)) + text(rpc("held", 2)))
    await until(lambda: stack.dispatcher.busy == 2)  # both started
    conn.connection_lost(None)
    stack.release.set()
    await until(lambda: stack.finished == ["held"])  # the ordered one was cancelled
    await until(lambda: not stack.dispatcher.busy)
    assert transport.ids() == []  # nowhere to send the reply


async def test_reading_pauses_while_the_inbox_is_full_and_resumes() -> None:
    stack = Stack()
    conn, transport = stack.connect()
    conn.data_received(text(rpc("held", 0)))
    for i in range(1, INBOX_LIMIT + 1):
        conn.data_received(text(rpc("ping", i)))
    assert transport.paused
    stack.release.set()
    await until(lambda: len(transport.ids()) == INBOX_LIMIT + 1)
    assert transport.ids() == list(range(INBOX_LIMIT + 1)) and not transport.paused


async def test_frames_past_a_full_transport_wait_and_go_in_order() -> None:
    conn, transport = Stack().connect()
    transport.buffered = 70_000
    conn.pause_writing()  # the transport passed its high-water mark
    conn.data_received(text(rpc("ping", 1)) + text(rpc("ping", 2)))
    assert transport.ids() == []
    transport.buffered = 0
    conn.resume_writing()
    conn.data_received(text(rpc("ping", 3)))
    assert transport.ids() == [1, 2, 3]


async def test_a_slow_consumer_loses_its_backlog_and_gets_the_close_frame_next() -> None:
    """Issue 14, item 13: the 1013 close frame does not queue behind unsent data."""
    stack = Stack()
    conn, transport = stack.connect()
    limit = stack.server.cfg.send_buffer_bytes
    transport.buffered = 70_000
    conn.pause_writing()
    big = text_frame(b"x" * (limit // 2))
    assert conn.write(big) and conn.write(big)  # within the limit: they wait
    assert not conn.write(big)  # past it: closed
    assert conn.closing and stack.server.metrics.slow_consumers_closed == 1
    assert transport.frames() == [(OP_CLOSE, b"\x03\xf5send queue overflow")]
    transport.buffered = 0
    conn.resume_writing()  # the transport drains: nothing dropped comes back
    assert transport.frames() == [(OP_CLOSE, b"\x03\xf5send queue overflow")]
