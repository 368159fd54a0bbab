"""WebSocket connections: frames in, dispatcher, frames out.

Outgoing frames are built once and written straight to the transport, so a
notification is serialized and framed once for all clients. Once the transport holds
``WRITE_HIGH_WATER`` bytes the kernel would not take, it pauses writing and further
frames wait in the connection's own backlog, which the transport takes up again as it
drains. A client that lets transport and backlog together grow past
``server.send_buffer_bytes`` is a slow consumer: its backlog is dropped and the 1013
close frame written at once, behind at most ``WRITE_HIGH_WATER`` bytes and one frame
(bytes given to a transport cannot be taken back), so a client that reads again
receives it.
A close frame that is out gives the peer ``CLOSE_TIMEOUT`` to answer; one that a peer
does not read within ``server.ping_timeout`` ends the connection.

Requests of one connection are answered in order: while one waits (an async
handler), later frames queue in a bounded inbox and reading pauses when it is full.
A ``concurrent`` method's pending reply runs in a task of its own instead, and the
requests behind it go on. A reply is written before the notifications its request
caused: those about the camera a request names wait in the session
(:meth:`Session.keep`) until its reply is out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from camera_service.api.audience import Audiences
from camera_service.api.dispatch import Dispatcher
from camera_service.api.session import Session
from camera_service.auth.ratelimit import RateLimit
from camera_service.config import ServerConfig
from camera_service.net.httpserver import HttpRequest, Response, json_response
from camera_service.net.wsframes import (
    CLOSE_GOING_AWAY,
    CLOSE_INVALID_DATA,
    CLOSE_NORMAL,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNSUPPORTED_DATA,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    PING_FRAME,
    FrameParser,
    HandshakeError,
    ProtocolError,
    accept_upgrade,
    close_frame,
    control_frame,
    parse_close,
    text_frame,
)
from camera_service.observability.metrics import Metrics

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0  # seconds a peer gets to answer our close frame
INBOX_LIMIT = 64  # frames queued behind a waiting request before reading pauses
WRITE_HIGH_WATER = 65536  # transport bytes before frames wait in the backlog (asyncio's)


class Connection(asyncio.Protocol):
    """The transport's protocol once the HTTP upgrade is done."""

    __slots__ = (
        "__weakref__",  # the transport drops its protocol when closed: tests check it is freed
        "_backlog",
        "_backlog_bytes",
        "_close_timer",
        "_close_unsent",
        "_inbox",
        "_paused",
        "_worker",
        "closing",
        "last_seen",
        "loop",
        "parser",
        "server",
        "session",
        "transport",
    )

    def __init__(
        self, server: WebSocketServer, transport: asyncio.Transport, host: str, peer: str = ""
    ) -> None:
        self.server = server
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        self.parser: FrameParser | None = FrameParser(server.cfg.max_message_bytes)
        self.session = Session(server.rate, host, peer)
        self.last_seen = self.loop.time()
        self.closing = False
        self._inbox: deque[bytes] = deque()
        self._worker: asyncio.Task[None] | None = None
        # None while the transport takes frames; a deque from pause_writing until drained.
        self._backlog: deque[bytes] | None = None
        self._backlog_bytes = 0
        self._paused = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._close_unsent = False  # our close frame is still in transport or backlog
        high = min(WRITE_HIGH_WATER, server.cfg.send_buffer_bytes // 2)
        transport.set_write_buffer_limits(high=high, low=high // 4)

    # --- outgoing ---------------------------------------------------------------------

    def write(self, frame: bytes) -> bool:
        """Send one frame; False if closing or just closed as a slow consumer."""
        t = self.transport
        if self.closing or t.is_closing():
            return False
        if self._backlog is None:
            t.write(frame)
            return True
        queued = self._backlog_bytes + t.get_write_buffer_size()
        if queued > self.server.cfg.send_buffer_bytes:
            self._slow_consumer(queued)
            return False
        self._backlog.append(frame)
        self._backlog_bytes += len(frame)
        return True

    def _slow_consumer(self, queued: int) -> None:
        self.server.metrics.slow_consumers_closed += 1
        log.warning("closing slow consumer", extra={"conn": self.session.conn_id, "queued": queued})
        self._drop_backlog()  # so the close frame is next
        self.close(CLOSE_TRY_AGAIN_LATER, "send queue overflow")

    def _drop_backlog(self) -> None:
        if self._backlog is not None:
            self._backlog.clear()
            self._backlog_bytes = 0

    # --- flow control (the transport's) -------------------------------------------------

    def pause_writing(self) -> None:
        self._paused = True
        if self._backlog is None:
            self._backlog = deque()

    def resume_writing(self) -> None:
        self._paused = False
        backlog = self._backlog
        if backlog is None:
            return
        while backlog and not self._paused:  # a write may pause the transport again
            frame = backlog.popleft()
            self._backlog_bytes -= len(frame)
            self.transport.write(frame)
        if not backlog and not self._paused:
            self._backlog = None
        if self._close_unsent:
            self._wait_for_close_answer()

    # --- closing -------------------------------------------------------------------------

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake: the close frame goes after what is queued."""
        if self.closing:
            return
        self.closing = True
        if self.transport.is_closing():
            return
        frame = close_frame(code, reason)
        if self._backlog:
            self._backlog.append(frame)
            self._backlog_bytes += len(frame)
        else:
            self.transport.write(frame)
        self._close_unsent = True
        # A peer that reads nothing more is as gone as one that answers no ping.
        self._close_timer = self.loop.call_later(self.server.cfg.ping_timeout, self._abort)
        self._wait_for_close_answer()

    def _wait_for_close_answer(self) -> None:
        """Once the close frame has left our buffers, the peer has CLOSE_TIMEOUT to
        answer; until then the transport reports (resume_writing) when it is empty."""
        if self._backlog or self.transport.get_write_buffer_size():
            self.transport.set_write_buffer_limits(high=0)  # resume_writing once empty
            return
        self._close_unsent = False
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._close_timer = self.loop.call_later(CLOSE_TIMEOUT, self._abort)

    def _abort(self) -> None:
        self._close_timer = None
        self.transport.abort()

    # --- incoming (the transport's protocol after the upgrade) -------------------------------

    def data_received(self, data: bytes) -> None:
        self.last_seen = self.loop.time()
        parser = self.parser
        if parser is None:
            return  # failed: the stream can no longer be parsed
        payload = parser.single_text(data)
        if payload is not None:  # one request in this read: no event list to build
            if self.closing:
                return
            if self._worker is None:
                self._handle(payload)
            else:
                self._queue(payload)
            return
        try:
            events = parser.feed(data)
        except ProtocolError as exc:
            self._fail(exc.code, exc.reason)
            return
        for opcode, payload in events:
            if self.closing and opcode != OP_CLOSE:
                continue
            if opcode == OP_TEXT:
                if self._worker is None:
                    self._handle(payload)
                else:
                    self._queue(payload)
            elif opcode == OP_PING:
                self.write(control_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._closed_by_peer(payload)
                return
            elif opcode == OP_BINARY:
                self.close(CLOSE_UNSUPPORTED_DATA, "binary frames not supported")
            # OP_PONG: receiving it already refreshed last_seen

    def _queue(self, payload: bytes) -> None:
        """Behind a request that waits; reading pauses once the inbox is full."""
        self._inbox.append(payload)
        if len(self._inbox) >= INBOX_LIMIT:
            self.transport.pause_reading()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7): send the close frame, then end TCP
        without waiting, since the peer's next bytes can no longer be parsed."""
        self.parser = None
        if not self.closing:
            self.closing = True
            self._drop_backlog()
            self.transport.write(close_frame(code, reason))
        self.transport.close()

    def _closed_by_peer(self, payload: bytes) -> None:
        try:
            code, _ = parse_close(payload)
        except ProtocolError as exc:
            self._fail(exc.code, exc.reason)
            return
        if not self.closing:
            self.closing = True
            self._drop_backlog()  # answer "as soon as practical" (RFC 6455 §5.5.1)
            echo = CLOSE_NORMAL if code == 1005 else code
            self.transport.write(close_frame(echo))
        self.transport.close()  # the server ends the TCP connection (RFC 6455 §7.1.1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self._drop_backlog()
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self._worker is not None:
            self._worker.cancel()
        self.server.forget(self)

    # --- requests ---------------------------------------------------------------------

    def _handle(self, payload: bytes) -> None:
        # The dispatcher reads the bytes as they are once they are known to be UTF-8
        # (ASCII, the usual case, is checked far faster than decoded).
        if not payload.isascii():
            try:
                payload.decode()
            except UnicodeDecodeError:
                self.close(CLOSE_INVALID_DATA, "text frame is not valid UTF-8")
                return
        outcome = self.server.dispatcher.handle(self.session, payload)
        if outcome is None:
            return
        if isinstance(outcome, bytes):
            frame = text_frame(outcome)
            t = self.transport
            if self._backlog is None and not self.closing and not t.is_closing():
                t.write(frame)  # write()'s common case, without the call
            else:
                self.write(frame)
        elif outcome.concurrent:
            self.server.run_beside(self._reply_later(outcome.reply))
        else:  # it has to wait: finish it, then what queued behind it, in order
            self._worker = self.loop.create_task(self._work(outcome.reply))

    async def _reply_later(self, pending: Coroutine[Any, Any, bytes | None]) -> None:
        reply = await pending
        if reply is not None:
            self.write(text_frame(reply))  # dropped if the connection closed meanwhile
        for frame in self.session.due():  # notifications the request caused: after it
            self.write(frame)

    def notify(self, frame: bytes, camera_id: str | None) -> bool:
        """Send a notification, or keep it until the reply to a request about its camera
        is written (:meth:`Session.keep`); False if dropped."""
        if self.session.keep(camera_id, frame):
            return not self.closing
        return self.write(frame)

    async def _work(self, pending: Coroutine[Any, Any, bytes | None]) -> None:
        """Finish a waiting request, then the frames that queued behind it, in order."""
        try:
            await self._reply_later(pending)
        finally:
            self._worker = None
            if not self.closing and not self.transport.is_closing():
                self.transport.resume_reading()
                while self._inbox and self._worker is None and not self.closing:
                    self._handle(self._inbox.popleft())


class WebSocketServer:
    def __init__(self, cfg: ServerConfig, dispatcher: Dispatcher, metrics: Metrics) -> None:
        self.cfg = cfg
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.connections: set[Connection] = set()
        self.audiences: Audiences[Connection] = Audiences(lambda: self.connections)
        self.accepting = True
        self.rate: RateLimit = RateLimit(120)  # every connection's: one change applies to all
        self._keepalive: asyncio.Task[None] | None = None
        self._all_gone = asyncio.Event()
        # Concurrent requests run here, not owned by their connection: one that closes
        # does not cut a started recording short (the reply is dropped).
        self._beside: set[asyncio.Task[None]] = set()

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._keepalive = asyncio.get_running_loop().create_task(self._keepalive_loop())

    async def close_all(
        self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutdown"
    ) -> None:
        """Stop accepting and close every connection with ``code``."""
        self.accepting = False
        if self._keepalive is not None:
            self._keepalive.cancel()
        if not self.connections:
            return
        self._all_gone.clear()
        for c in list(self.connections):
            c.close(code, reason)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT + 0.5):
                await self._all_gone.wait()
        except TimeoutError:
            for c in list(self.connections):
                c.transport.abort()

    @property
    def requests_per_minute(self) -> int:
        return self.rate.requests_per_minute

    @requests_per_minute.setter
    def requests_per_minute(self, value: int) -> None:
        self.set_rate_limit(value)

    def set_rate_limit(self, requests_per_minute: int) -> None:
        """SIGHUP: new budget for new and existing connections; what each has left
        stays (up to the new burst)."""
        old = self.rate.requests_per_minute
        self.rate.set_rate(requests_per_minute)
        now = time.perf_counter()
        for c in self.connections:
            c.session.tat = self.rate.carried(c.session.tat, now, old)

    # --- the upgrade ------------------------------------------------------------------

    def upgrade(self, request: HttpRequest, transport: asyncio.Transport) -> Connection | Response:
        if not self.accepting:
            return json_response({"error": "shutting down"}, 503)
        if len(self.connections) >= self.cfg.max_connections:
            self.metrics.connections_rejected += 1
            return json_response(
                {"error": "connection limit reached", "limit": self.cfg.max_connections},
                503,
                {"Retry-After": "5"},
            )
        try:
            handshake = accept_upgrade(request.method.encode(), request.headers)
        except HandshakeError as exc:
            extra = {"Sec-WebSocket-Version": "13"} if exc.status == 426 else {}
            return json_response({"error": str(exc)}, exc.status, extra)
        transport.write(handshake)
        conn = Connection(self, transport, request.host, request.peer)
        self.connections.add(conn)
        self.audiences.changed()
        self.metrics.active_connections += 1
        self.metrics.connections_total += 1
        return conn

    def run_beside(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._beside.add(task)
        task.add_done_callback(self._beside.discard)

    def forget(self, conn: Connection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            self.audiences.changed()
            self.metrics.active_connections -= 1
            if not self.connections:
                self._all_gone.set()

    # --- fan-out ----------------------------------------------------------------------

    def broadcast(
        self, topic: str, frame: bytes | Callable[[str], bytes], camera_id: str | None = None
    ) -> tuple[int, int]:
        """Write a pre-built frame to every subscribed session that may see
        ``camera_id`` (None: it is about no camera); (sent, dropped).

        ``frame`` may depend on the host a client connected to (stream URLs do); it is
        then built once per distinct host, never once per client."""
        queued = dropped = 0
        for host, members in self.audiences.of(topic, camera_id):
            data = frame if isinstance(frame, bytes) else frame(host)
            queued += len(members)
            for c in members:
                if not c.notify(data, camera_id):
                    dropped += 1
        return queued - dropped, dropped

    async def _keepalive_loop(self) -> None:
        """One timer for all connections: ping each, drop those silent too long."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.cfg.ping_interval)
            now = loop.time()
            for c in list(self.connections):
                if now - c.last_seen > self.cfg.ping_timeout:
                    log.info("dropping unresponsive client", extra={"conn": c.session.conn_id})
                    c.closing = True
                    c.transport.abort()
                else:
                    c.write(PING_FRAME)
