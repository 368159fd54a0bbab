"""A raw WebSocket/HTTP client for tests that must misbehave on purpose: frames built
by hand (any mask, length encoding or reserved bit), replies read frame by frame."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WAIT = 5.0  # generous bound for anything that should happen at once


def ref_mask(data: bytes, key: bytes) -> bytes:
    """The RFC's definition, one byte at a time (§5.3)."""
    out = bytearray(len(data))
    for i, b in enumerate(data):
        out[i] = b ^ key[i % 4]
    return bytes(out)


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    key: bytes | None = b"\x37\xfa\x21\x3d",
    length: int | None = None,
    width: int | None = None,
) -> bytes:
    """A client frame. ``key=None`` leaves it unmasked; ``length`` lies about the size;
    ``width`` forces the length encoding (7, 16 or 64 bits)."""
    n = len(payload) if length is None else length
    if width is None:
        width = 7 if n < 126 else 16 if n < 65536 else 64
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if key is not None else 0
    if width == 7:
        head = bytes((b0, mbit | n))
    elif width == 16:
        head = bytes((b0, mbit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, mbit | 127)) + n.to_bytes(8, "big")
    if key is None:
        return head + payload
    return head + key + ref_mask(payload, key)


def rpc(method: str, rid: int | None, **params: Any) -> bytes:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if rid is not None:
        msg["id"] = rid
    if params:
        msg["params"] = params
    return orjson.dumps(msg)


def text(payload: bytes, **kw: Any) -> bytes:
    """A masked client text frame with a fresh random mask."""
    kw.setdefault("key", os.urandom(4))
    return frame(OP_TEXT, payload, **kw)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Opener = Callable[[int], Awaitable[Streams]]


async def read_eof(reader: asyncio.StreamReader, timeout: float = WAIT) -> bytes:
    """Everything until the server closes (a clean FIN: a reset fails the test)."""
    async with asyncio.timeout(timeout):
        return await reader.read()


# --- HTTP --------------------------------------------------------------------------


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def read_response(
    reader: asyncio.StreamReader, head: bool = False, timeout: float = WAIT
) -> HttpResponse:
    async with asyncio.timeout(timeout):
        raw = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw[:-4].decode("latin-1").split("\r\n")
        version, status, _ = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers: dict[str, str] = {}
        for line in lines:
            name, value = line.split(":", 1)
            assert name.lower() not in headers, f"duplicate header {name}"
            headers[name.lower()] = value.strip()
        length = int(headers["content-length"])
        body = b"" if head else await reader.readexactly(length)
    return HttpResponse(int(status), headers, body)


def get(path: str, *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- WebSocket ---------------------------------------------------------------------


def upgrade_request(path: str = "/ws", key: str | None = None, **changes: str | None) -> bytes:
    headers: dict[str, str | None] = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key or base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    for name, value in changes.items():
        headers[name.replace("_", "-")] = value
    lines = [f"{changes.get('method') or 'GET'} {path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers.items() if v is not None and k != "method"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class WsClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(
        cls, opener: Opener, port: int, path: str = "/ws", then: bytes = b""
    ) -> WsClient:
        reader, writer = await opener(port)
        key = base64.b64encode(os.urandom(16))
        writer.write(upgrade_request(path, key.decode()) + then)
        response = await read_handshake(reader)
        assert response.status == 101, response
        expected = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        assert response.headers["sec-websocket-accept"] == expected
        assert response.headers["upgrade"].lower() == "websocket"
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def recv(self, timeout: float = WAIT) -> tuple[int, bytes]:
        """One server frame: unmasked, final, no reserved bits."""
        async with asyncio.timeout(timeout):
            b0, b1 = await self.reader.readexactly(2)
            assert b0 & 0xF0 == 0x80, f"fin/rsv bits {b0:#x}"
            assert not b1 & 0x80, "server frames are never masked"
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await self.reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await self.reader.readexactly(8), "big")
            return b0 & 0x0F, await self.reader.readexactly(n)

    async def reply(self) -> Any:
        opcode, payload = await self.recv()
        assert opcode == OP_TEXT, (opcode, payload)
        return orjson.loads(payload)

    async def expect_close(self, code: int) -> str:
        """The next frame is a close with ``code``; returns its reason."""
        opcode, payload = await self.recv()
        assert opcode == OP_CLOSE, (opcode, payload)
        assert int.from_bytes(payload[:2], "big") == code, payload
        return payload[2:].decode()

    async def expect_eof(self, timeout: float = WAIT / 10, allow_reset: bool = False) -> None:
        """The server ends the TCP connection promptly. ``allow_reset``: we wrote after
        its close frame, and a server may stop reading at once (RFC 6455 §7.1.7), so our
        late bytes can draw a reset."""
        try:
            assert await read_eof(self.reader, timeout) == b""
        except ConnectionResetError:
            if not allow_reset:
                raise


async def read_handshake(reader: asyncio.StreamReader) -> HttpResponse:
    async with asyncio.timeout(WAIT):
        raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = raw[:-4].decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    status = int(status_line.split(" ")[1])
    body = b""
    if status != 101:
        body = await reader.readexactly(int(headers["content-length"]))
    return HttpResponse(status, headers, body)
