"""A minimal asyncio WebSocket client on :mod:`camera_service.client.frames`: connect
(``ws://`` or ``wss://``), send text, receive text, answer pings, close."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from camera_service.client.frames import (
    MAX_HEAD_BYTES,
    OP_BINARY,
    OP_CLOSE,
    OP_TEXT,
    HandshakeFailed,
    ProtocolError,
    ServerFrameParser,
    check_upgrade_response,
    client_frame,
    new_key,
    parse_close,
    upgrade_request,
)

if TYPE_CHECKING:
    import ssl as ssl_module

OP_PING = 0x9
OP_PONG = 0xA
_READ_CHUNK = 64 * 1024


class WebSocketClosed(Exception):
    """The connection ended: ``code`` is the close code received (1006: none, the
    socket just dropped)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"WebSocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


def split_ws_url(url: str) -> tuple[bool, str, int, str]:
    """(tls, host, port, path with query) of a ``ws://`` / ``wss://`` URL; ValueError
    names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"URL must start with ws:// or wss://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"URL has no host: {url!r}")
    tls = parts.scheme == "wss"
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError:
        raise ValueError(f"URL has an invalid port: {url!r}") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return tls, parts.hostname, port, path


class WebSocket:
    """One client connection. ``receive`` must be called by a single task."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_size: int
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = ServerFrameParser(max_size)
        self._pending: list[tuple[int, bytes]] = []
        self._send_lock = asyncio.Lock()
        self.close_code: int | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        timeout: float,
        max_size: int = 16 * 1024 * 1024,
        ssl: ssl_module.SSLContext | None = None,
    ) -> WebSocket:
        """Open and upgrade; raises OSError, TimeoutError or HandshakeFailed."""
        tls, host, port, path = split_ws_url(url)
        context: ssl_module.SSLContext | None = None
        if tls:
            import ssl as ssl_module  # only wss:// clients pay for it

            context = ssl or ssl_module.create_default_context()
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context, limit=MAX_HEAD_BYTES
            )
            try:
                key = new_key()
                default_port = 443 if tls else 80
                bracketed = f"[{host}]" if ":" in host else host
                host_header = bracketed if port == default_port else f"{bracketed}:{port}"
                writer.write(upgrade_request(host_header, path, key))
                await writer.drain()
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    raise HandshakeFailed(0, "WebSocket upgrade answer too large") from None
                except asyncio.IncompleteReadError:
                    raise HandshakeFailed(0, "the server closed during the upgrade") from None
                check_upgrade_response(head, key)
            except BaseException:
                writer.transport.abort()
                raise
        return cls(reader, writer, max_size)

    async def send_text(self, text: str) -> None:
        await self._send(OP_TEXT, text.encode())

    async def receive(self) -> str:
        """The next text message; pings are answered on the way. Raises WebSocketClosed."""
        while True:
            while self._pending:
                opcode, payload = self._pending.pop(0)
                if opcode == OP_TEXT:
                    try:
                        return payload.decode()
                    except UnicodeDecodeError:
                        await self._fail(1007, "text message is not UTF-8")
                elif opcode == OP_PING:
                    with contextlib.suppress(OSError, WebSocketClosed):
                        await self._send(OP_PONG, payload)
                elif opcode == OP_CLOSE:
                    await self._closed_by_peer(payload)
                elif opcode == OP_BINARY:
                    await self._fail(1003, "binary messages are not used by this API")
            if self.close_code is not None:
                raise WebSocketClosed(self.close_code)
            try:
                data = await self._reader.read(_READ_CHUNK)
            except OSError:
                data = b""
            if not data:
                self._abort(1006)
                raise WebSocketClosed(1006, "connection dropped")
            try:
                self._pending.extend(self._parser.feed(data))
            except ProtocolError as e:
                await self._fail(e.code, e.reason)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (when still open) and drop the socket; never raises."""
        if self.close_code is None:
            self.close_code = code
            with contextlib.suppress(OSError, WebSocketClosed, TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._send(
                        OP_CLOSE, code.to_bytes(2, "big") + reason.encode()[:123], force=True
                    )
        self._abort(code)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):  # not wait_for: on 3.11 it can lose a cancel
                await self._writer.wait_closed()

    # -- internals ---------------------------------------------------------------

    async def _send(self, opcode: int, payload: bytes, *, force: bool = False) -> None:
        if self.close_code is not None and not force:
            raise WebSocketClosed(self.close_code)
        async with self._send_lock:
            if self._writer.is_closing():
                raise WebSocketClosed(self.close_code or 1006, "connection dropped")
            self._writer.write(client_frame(opcode, payload))
            await self._writer.drain()

    async def _closed_by_peer(self, payload: bytes) -> None:
        try:
            code, reason = parse_close(payload)
        except ProtocolError as e:
            code, reason = e.code, e.reason
        if self.close_code is None:
            # Echo the close (§5.5.1), then the server ends the TCP connection.
            echo = b"" if code == 1005 else code.to_bytes(2, "big")
            with contextlib.suppress(OSError, WebSocketClosed):
                await self._send(OP_CLOSE, echo)
        self._abort(code)
        raise WebSocketClosed(code, reason)

    async def _fail(self, code: int, reason: str) -> None:
        await self.close(code, reason)
        raise WebSocketClosed(code, reason)

    def _abort(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
        transport = self._writer.transport
        if not transport.is_closing():
            transport.abort()
