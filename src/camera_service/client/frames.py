"""RFC 6455 for a client, as plain functions over bytes: the upgrade request and the
check of its answer, masked client frames, and an incremental parser of server frames.
No sockets. The server side lives in ``camera_service.api.wsframes``; the opcodes and
the close-frame rules are shared with it."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Final

from camera_service.api.wsframes import (
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    GUID,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PONG,
    OP_TEXT,
    Event,
    ProtocolError,
    parse_close,
)

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_TEXT",
    "Event",
    "HandshakeFailed",
    "ProtocolError",
    "ServerFrameParser",
    "check_upgrade_response",
    "client_frame",
    "new_key",
    "parse_close",
    "upgrade_request",
]

MAX_HEAD_BYTES: Final = 16 * 1024


class HandshakeFailed(Exception):
    """The server did not switch protocols; ``status`` is its HTTP status (0: garbage)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def new_key() -> bytes:
    return base64.b64encode(os.urandom(16))


def upgrade_request(host: str, path: str, key: bytes) -> bytes:
    return (
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "User-Agent: camera-service-client\r\n"
        ).encode("latin-1")
        + b"Sec-WebSocket-Key: "
        + key
        + b"\r\n\r\n"
    )


def check_upgrade_response(head: bytes, key: bytes) -> None:
    """Validate the server's answer head (up to the blank line); raise HandshakeFailed."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise HandshakeFailed(0, "the server did not answer with HTTP")
    status = int(parts[1])
    if status != 101:
        reason = parts[2].decode("latin-1", "replace") if len(parts) > 2 else ""
        raise HandshakeFailed(status, f"WebSocket upgrade refused: HTTP {status} {reason}".strip())
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1(key + GUID).digest())
    if headers.get(b"sec-websocket-accept") != expected:
        raise HandshakeFailed(101, "WebSocket upgrade answered with a wrong Sec-WebSocket-Accept")


def client_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final frame, masked as every client frame must be (§5.3)."""
    key = os.urandom(4) if mask is None else mask
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    mask_int = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    body = (int.from_bytes(payload, "little") ^ mask_int).to_bytes(n, "little")
    return head + key + body


class ServerFrameParser:
    """Incremental parser of server frames (never masked). ``feed`` returns whole
    messages (fragments joined) and control frames in order; a violation raises
    ``ProtocolError``."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = b""
        self._frags: list[bytes] = []
        self._frag_op = 0
        self._frag_size = 0

    def feed(self, data: bytes) -> list[Event]:
        buf = self._buf + data if self._buf else data
        events: list[Event] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            head = pos + 2
            if n == 126:
                if end - pos < 4:
                    break
                n = int.from_bytes(buf[head : head + 2], "big")
                head += 2
            elif n == 127:
                if end - pos < 10:
                    break
                n = int.from_bytes(buf[head : head + 8], "big")
                head += 8
            opcode = b0 & 0x0F
            self._check(b0, b1, opcode, n)
            if end - head < n:
                break
            payload = buf[head : head + n]
            pos = head + n
            if opcode >= OP_CLOSE:
                events.append((opcode, payload))
            else:
                self._fragment(b0 & 0x80, opcode, payload, events)
        self._buf = buf[pos:]
        return events

    def _check(self, b0: int, b1: int, opcode: int, n: int) -> None:
        if b0 & 0x70:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
        if b1 & 0x80:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "server frames must not be masked")
        if opcode >= OP_CLOSE:
            if opcode > OP_PONG or not b0 & 0x80 or n > 125:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "invalid control frame")
        elif opcode > OP_BINARY:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
        elif n + self._frag_size > self.max_size:
            raise ProtocolError(CLOSE_TOO_BIG, f"message larger than {self.max_size} bytes")

    def _fragment(self, fin: int, opcode: int, payload: bytes, events: list[Event]) -> None:
        if opcode == OP_CONT:
            if not self._frags:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation without a message")
        elif self._frags:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
        else:
            self._frag_op = opcode
        if fin and not self._frags:
            events.append((opcode, payload))
            return
        self._frags.append(payload)
        self._frag_size += len(payload)
        if fin:
            events.append((self._frag_op, b"".join(self._frags)))
            self._frags = []
            self._frag_size = 0
