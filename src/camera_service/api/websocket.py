"""WebSocket transport (aiohttp): frames in, dispatcher, frames out.

Outgoing frames are built here and written straight to the transport, so one
notification is framed once and the same bytes go to every client. The transport's
write buffer is the per-connection send queue; a client that lets it grow past
``server.send_buffer_bytes`` is a slow consumer and is closed with 1013.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web

from camera_service.api.dispatch import Dispatcher
from camera_service.api.session import Session
from camera_service.config import ServerConfig
from camera_service.observability.metrics import Metrics

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_TRY_AGAIN_LATER = 1013
PING_FRAME = b"\x89\x00"
SLOW_CONSUMER_GRACE = 2.0  # seconds a closed slow consumer gets to read its close frame


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (server frames are never masked, RFC 6455 §5.1)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


def close_frame(code: int, reason: str) -> bytes:
    payload = code.to_bytes(2, "big") + reason.encode()[:123]
    return bytes((0x88, len(payload))) + payload


class Connection:
    __slots__ = ("closing", "last_seen", "server", "session", "transport", "ws")

    def __init__(self, server: WebSocketServer, ws: web.WebSocketResponse, transport: Any) -> None:
        self.server = server
        self.ws = ws
        self.transport: asyncio.WriteTransport = transport
        self.session: Session = None  # type: ignore[assignment]  # set right after
        self.last_seen = asyncio.get_running_loop().time()
        self.closing = False

    def write(self, frame: bytes) -> bool:
        """Queue one frame; False if the connection is closing or was just closed as slow."""
        t = self.transport
        if self.closing or t.is_closing():
            return False
        if t.get_write_buffer_size() > self.server.cfg.send_buffer_bytes:
            self.server.close_slow_consumer(self)
            return False
        t.write(frame)
        return True

    def send_payload(self, payload: bytes) -> bool:
        return self.write(text_frame(payload))


class WebSocketServer:
    def __init__(self, cfg: ServerConfig, dispatcher: Dispatcher, metrics: Metrics) -> None:
        self.cfg = cfg
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.connections: set[Connection] = set()
        self.accepting = True
        self.requests_per_minute = 120
        self._keepalive: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._keepalive = asyncio.get_running_loop().create_task(self._keepalive_loop())

    async def close_all(
        self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutdown"
    ) -> None:
        """Stop accepting and close every connection with ``code``."""
        self.accepting = False
        if self._keepalive is not None:
            self._keepalive.cancel()
        conns = list(self.connections)
        if conns:
            await asyncio.gather(
                *(c.ws.close(code=code, message=reason.encode()) for c in conns),
                return_exceptions=True,
            )
        for c in conns:
            if not c.transport.is_closing():
                c.transport.abort()

    def set_rate_limit(self, requests_per_minute: int) -> None:
        """SIGHUP: new budget for new and existing connections."""
        self.requests_per_minute = requests_per_minute
        for c in self.connections:
            c.session.bucket.set_rate(requests_per_minute)

    # --- fan-out -----------------------------------------------------------------------

    def broadcast(self, topic: str, frame: bytes) -> tuple[int, int]:
        """Write one pre-built frame to every subscribed session; (sent, dropped)."""
        sent = dropped = 0
        for c in self.connections:
            if c.session.wants(topic):
                if c.write(frame):
                    sent += 1
                else:
                    dropped += 1
        return sent, dropped

    def close_slow_consumer(self, conn: Connection) -> None:
        if conn.closing:
            return
        conn.closing = True
        self.metrics.slow_consumers_closed += 1
        log.warning(
            "closing slow consumer",
            extra={"conn": conn.session.conn_id, "queued": conn.transport.get_write_buffer_size()},
        )
        conn.transport.write(close_frame(CLOSE_TRY_AGAIN_LATER, "send queue overflow"))
        asyncio.get_running_loop().call_later(SLOW_CONSUMER_GRACE, conn.transport.abort)

    # --- the connection handler -----------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.accepting:
            return web.json_response({"error": "shutting down"}, status=503)
        if len(self.connections) >= self.cfg.max_connections:
            self.metrics.connections_rejected += 1
            return web.json_response(
                {"error": "connection limit reached", "limit": self.cfg.max_connections},
                status=503,
                headers={"Retry-After": "5"},
            )
        ws = web.WebSocketResponse(
            autoping=False,  # pongs are ours to see: they prove a client is alive
            max_msg_size=self.cfg.max_message_bytes,
            compress=False,  # frames are pre-built; per-message deflate would break that
            timeout=5.0,
        )
        if not ws.can_prepare(request).ok:
            return web.json_response(
                {"error": "WebSocket upgrade required"},
                status=426,
                headers={"Upgrade": "websocket"},
            )
        await ws.prepare(request)
        conn = Connection(self, ws, request.transport)
        session = Session(self.requests_per_minute, conn.send_payload, request.url.host or "")
        conn.session = session
        self.connections.add(conn)
        self.metrics.active_connections += 1
        self.metrics.connections_total += 1
        try:
            await self._serve(conn, ws, session)
        finally:
            self.connections.discard(conn)
            self.metrics.active_connections -= 1
        return ws

    async def _serve(self, conn: Connection, ws: web.WebSocketResponse, session: Session) -> None:
        loop = asyncio.get_running_loop()
        dispatch = self.dispatcher.handle
        while True:
            msg = await ws.receive()
            conn.last_seen = loop.time()
            kind = msg.type
            if kind is WSMsgType.TEXT:
                reply = await dispatch(session, msg.data)
                if reply is not None:
                    conn.write(text_frame(reply))
            elif kind is WSMsgType.PING:
                conn.write(b"\x8a" + bytes((len(msg.data),)) + msg.data)
            elif kind is WSMsgType.PONG:
                continue
            elif kind is WSMsgType.BINARY:
                await ws.close(code=CLOSE_UNSUPPORTED_DATA, message=b"binary frames not supported")
                return
            else:  # CLOSE, CLOSING, CLOSED, ERROR (aiohttp already answered, e.g. 1009)
                return

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
