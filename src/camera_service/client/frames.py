"""RFC 6455 for a client, as plain functions over bytes: the upgrade request and the
check of its answer, masked client frames, and an incremental parser of server frames.
No sockets. The server side lives in ``camera_service.net.wsframes``; the opcodes and
the close-frame rules are shared with it."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Final

from camera_service.net.wsframes import (
    GUID,
    OP_BINARY,
    OP_CLOSE,
    OP_TEXT,
    Event,
    FrameParser,
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


class ServerFrameParser(FrameParser):
    """The server's frames, as the client reads them: the server's own incremental
    parser, for frames that are never masked (RFC 6455 §5.1)."""

    __slots__ = ()

    def __init__(self, max_size: int) -> None:
        super().__init__(max_size, masked=False)
