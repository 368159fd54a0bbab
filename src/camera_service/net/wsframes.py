"""RFC 6455 for a server, as plain functions over bytes: the upgrade handshake, an
incremental parser for client frames, and builders for server frames. No sockets.

No extension or subprotocol is negotiated, so RSV bits must be zero and every
message is a text or binary payload as sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Final

GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_UNSUPPORTED_DATA: Final = 1003
CLOSE_INVALID_DATA: Final = 1007
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN_LATER: Final = 1013

PING_FRAME: Final = b"\x89\x00"
_ZERO_MASK: Final = b"\0\0\0\0"


class HandshakeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ProtocolError(Exception):
    """The peer broke the protocol; close the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# --- handshake -----------------------------------------------------------------------


def _has_token(value: bytes | None, token: bytes) -> bool:
    return value is not None and token in (v.strip().lower() for v in value.split(b","))


def is_upgrade(headers: Mapping[bytes, bytes]) -> bool:
    return _has_token(headers.get(b"upgrade"), b"websocket")


def accept_upgrade(method: bytes, headers: Mapping[bytes, bytes]) -> bytes:
    """Validate an upgrade request (lower-cased header names); return the 101 response."""
    if method != b"GET":
        raise HandshakeError(405, "WebSocket upgrade must use GET")
    if not is_upgrade(headers):
        raise HandshakeError(400, "Upgrade header must be websocket")
    if not _has_token(headers.get(b"connection"), b"upgrade"):
        raise HandshakeError(400, "Connection header must contain Upgrade")
    if headers.get(b"sec-websocket-version") != b"13":
        raise HandshakeError(426, "unsupported WebSocket version (13 required)")
    key = headers.get(b"sec-websocket-key", b"").strip()
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except (binascii.Error, ValueError):
        raise HandshakeError(400, "invalid Sec-WebSocket-Key") from None
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


# --- server frames -----------------------------------------------------------------------


# The two header bytes of every final text frame with a 7-bit length (§5.2), made once.
_SHORT_TEXT: Final = tuple(bytes((0x81, n)) for n in range(126))


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (server frames are never masked, §5.1)."""
    n = len(payload)
    if n < 126:
        return _SHORT_TEXT[n] + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    payload = payload[:125]  # control frames carry at most 125 bytes (§5.5)
    return bytes((0x80 | opcode, len(payload))) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    # Cut the reason on a character boundary: a split UTF-8 sequence is a 1007 for the peer.
    text = reason.encode()[:123].decode(errors="ignore").encode()
    return control_frame(OP_CLOSE, code.to_bytes(2, "big") + text)


# --- client frames -------------------------------------------------------------------------


def unmask(data: bytes, key: bytes) -> bytes:
    if key == _ZERO_MASK:
        return data
    n = len(data)
    # XOR as one big integer: C speed without a per-byte Python loop.
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ mask).to_bytes(n, "little")


def parse_close(payload: bytes) -> tuple[int, str]:
    """Code and reason of a received close frame (1005 = no code given)."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not (
        code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013)
        or 3000 <= code < 5000
    ):
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        return code, payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolError(CLOSE_INVALID_DATA, "close reason is not UTF-8") from None


Event = tuple[int, bytes]  # (opcode, payload): whole messages, or single control frames


class FrameParser:
    """Incremental parser of a peer's frames: a client's (masked, what the server reads)
    or, with ``masked=False``, a server's (what the SDK's client reads). ``feed`` returns
    complete messages (fragments reassembled) and control frames, in order; a violation
    raises ``ProtocolError`` with the close code to send.

    A frame that arrives in many reads is gathered as a list of chunks and joined once,
    when its header says it is complete: joining the buffer on every read would copy
    it once per read (a 1 MiB frame in 200-byte reads: 2.7 GB copied)."""

    __slots__ = (
        "_buf",
        "_frag_op",
        "_frag_size",
        "_frags",
        "_have",
        "_need",
        "_parts",
        "masked",
        "max_size",
    )

    def __init__(self, max_size: int, masked: bool = True) -> None:
        self.max_size = max_size
        self.masked = masked
        self._buf = b""
        self._frags: list[bytes] = []
        self._frag_op = 0
        self._frag_size = 0
        self._parts: list[bytes] = []  # a frame's chunks so far, while it is incomplete
        self._have = 0
        self._need = 0  # bytes the frame in _parts needs in all (0: no frame waiting)

    def single_text(self, data: bytes) -> bytes | None:
        """The payload when ``data`` is exactly one whole, final, masked text frame of at
        most 125 bytes and nothing is held from earlier reads (a request per read, the
        usual case), taken without building events; None for anything else, which
        ``feed`` then parses (and refuses, if it must)."""
        if self._need or self._buf or self._frags or not self.masked:
            return None
        if len(data) < 6 or data[0] != 0x81:
            return None
        n = data[1] ^ 0x80  # > 125 unless the mask bit is set and the length is 7-bit
        if n > 125 or len(data) != n + 6 or n > self.max_size:
            return None
        key = data[2:6]
        return data[6:] if key == _ZERO_MASK else unmask(data[6:], key)

    def feed(self, data: bytes) -> list[Event]:
        if self._need:
            self._parts.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []
            buf = b"".join(self._parts)
            self._parts = []
            self._need = 0
        else:
            buf = self._buf + data if self._buf else data
        events: list[Event] = []
        pos, end = 0, len(buf)
        key_len = 4 if self.masked else 0
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
                if n >> 63:  # §5.2: the most significant bit of a 64-bit length MUST be 0
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "invalid 64-bit frame length")
                head += 8
            opcode = b0 & 0x0F
            self._check_header(b0, b1, opcode, n)
            if end - head < key_len + n:
                self._need = head + key_len + n - pos  # the whole frame, from its start
                break
            pos = head + key_len + n
            payload = buf[head + key_len : pos]
            if key_len:
                payload = unmask(payload, buf[head : head + 4])
            if opcode >= OP_CLOSE:
                events.append((opcode, payload))
            elif b0 & 0x80 and opcode and not self._frags:
                events.append((opcode, payload))  # the common case: one unfragmented frame
            else:
                self._fragment(b0 & 0x80, opcode, payload, events)
        self._buf = buf[pos:] if pos < end else b""
        if self._need:
            self._parts = [self._buf]
            self._have = len(self._buf)
            self._buf = b""
        return events

    def _check_header(self, b0: int, b1: int, opcode: int, n: int) -> None:
        if b0 & 0x70:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
        if bool(b1 & 0x80) != self.masked:
            who = "client frames must be" if self.masked else "server frames must not be"
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"{who} masked")
        if opcode >= OP_CLOSE:
            if opcode > OP_PONG:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
            if not b0 & 0x80 or n > 125:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "invalid control frame")
        elif opcode > OP_BINARY:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
        elif n + self._frag_size > self.max_size:
            # Refused from the header alone: the payload is never buffered.
            raise ProtocolError(CLOSE_TOO_BIG, f"message larger than {self.max_size} bytes")

    def _fragment(self, fin: int, opcode: int, payload: bytes, events: list[Event]) -> None:
        if opcode == OP_CONT:
            if not self._frags:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation without a message")
        elif self._frags:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
        else:
            self._frag_op = opcode
        self._frags.append(payload)
        self._frag_size += len(payload)
        if fin:
            events.append((self._frag_op, b"".join(self._frags)))
            self._frags = []
            self._frag_size = 0
