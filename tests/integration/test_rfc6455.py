"""RFC 6455 conformance table: each server-side MUST the service can be held to on the raw
frame level, one row each, with the section it comes from (issue 14).

The Autobahn testsuite from PyPI does not run on Python 3 here, so this is our own
table. Rows that send something wrong expect a close code and then the end of TCP;
rows that send something right expect the answer the RFC gives. Every frame the server
sends is checked by ``WsClient.recv`` to be final, unmasked and free of reserved bits
(§5.1, §5.2), whatever the row. The handshake rows run against the API port.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from camera_service.app import Application
from tests.conftest import make_settings
from tests.support.rawws import (
    GUID,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Opener,
    WsClient,
    close_payload,
    frame,
    read_eof,
    read_handshake,
    rpc,
    text,
)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    service = Application(make_settings(tmp_path))
    await service.start()
    service.ws.set_rate_limit(100_000)
    try:
        yield service
    finally:
        await service.stop()


def key() -> bytes:
    return os.urandom(4)


# --- framing: a violation fails the connection with a code ------------------------------------


@dataclass(frozen=True)
class Violation:
    section: str
    rule: str
    sent: bytes
    code: int


VIOLATIONS = [
    Violation(
        "5.1", "a client frame must be masked", frame(OP_TEXT, rpc("ping", 1), key=None), 1002
    ),
    Violation(
        "5.2", "RSV1 must be 0 without an extension", frame(OP_TEXT, b"{}", rsv=4, key=key()), 1002
    ),
    Violation(
        "5.2", "RSV2 must be 0 without an extension", frame(OP_TEXT, b"{}", rsv=2, key=key()), 1002
    ),
    Violation(
        "5.2", "RSV3 must be 0 without an extension", frame(OP_PING, b"", rsv=1, key=key()), 1002
    ),
    Violation("5.2", "opcodes 0x3-0x7 are reserved", frame(0x3, b"x", key=key()), 1002),
    Violation("5.2", "opcode 0x7 is reserved", frame(0x7, b"x", key=key()), 1002),
    Violation("5.2", "opcodes 0xB-0xF are reserved", frame(0xB, b"", key=key()), 1002),
    Violation("5.2", "opcode 0xF is reserved", frame(0xF, b"", key=key()), 1002),
    Violation(
        "5.2",
        "a 64-bit length must have its most significant bit 0",
        bytes((0x81, 0xFF)) + (1 << 63 | 5).to_bytes(8, "big") + key() + b"12345",
        1002,
    ),
    Violation(
        "5.4",
        "a control frame must not be fragmented",
        frame(OP_PING, b"p", fin=False, key=key()),
        1002,
    ),
    Violation(
        "5.4", "a continuation needs a message to continue", frame(OP_CONT, b"{}", key=key()), 1002
    ),
    Violation(
        "5.4",
        "a new data frame must not start inside a fragmented message",
        frame(OP_TEXT, b'{"a":', fin=False, key=key()) + text(rpc("ping", 1)),
        1002,
    ),
    Violation(
        "5.5",
        "a control frame carries at most 125 bytes",
        frame(OP_PING, b"p" * 126, key=key()),
        1002,
    ),
    Violation(
        "5.5.1", "a close payload of 1 byte is invalid", frame(OP_CLOSE, b"\x03", key=key()), 1002
    ),
    Violation(
        "7.4.1",
        "close code 1005 is never sent",
        frame(OP_CLOSE, close_payload(1005), key=key()),
        1002,
    ),
    Violation(
        "7.4.1",
        "close code 1006 is never sent",
        frame(OP_CLOSE, close_payload(1006), key=key()),
        1002,
    ),
    Violation(
        "7.4.1",
        "close code 1015 is never sent",
        frame(OP_CLOSE, close_payload(1015), key=key()),
        1002,
    ),
    Violation(
        "7.4.2",
        "close codes below 1000 are not used",
        frame(OP_CLOSE, close_payload(999), key=key()),
        1002,
    ),
    Violation(
        "5.5.1",
        "a close reason must be UTF-8",
        frame(OP_CLOSE, close_payload(1000, b"\xff"), key=key()),
        1007,
    ),
    Violation("8.1", "a text message must be UTF-8", text(b'"\xff"'), 1007),
    Violation("8.1", "a surrogate is not UTF-8", text(b'"\xed\xa0\x80"'), 1007),
    Violation(
        "8.1",
        "UTF-8 is checked across fragments",
        frame(OP_TEXT, b'"\xe2\x82', fin=False, key=key()) + frame(OP_CONT, b'\x28"', key=key()),
        1007,
    ),
    Violation(
        "5.6", "a data type we do not accept is refused", frame(OP_BINARY, b"\x00", key=key()), 1003
    ),
]


@pytest.mark.parametrize("row", VIOLATIONS, ids=[f"§{v.section} {v.rule}" for v in VIOLATIONS])
async def test_a_violation_fails_the_connection(
    app: Application, opener: Opener, row: Violation
) -> None:
    c = await WsClient.connect(opener, app.ws_port)
    c.send(row.sent + text(rpc("ping", 77)))  # the request behind it is never answered
    await c.expect_close(row.code)
    c.send(frame(OP_CLOSE, close_payload(row.code), key=key()))
    await c.expect_eof(allow_reset=True)  # §7.1.7: the server may stop reading at once


# --- framing: what the RFC requires of an answer -------------------------------------------------


Scenario = Callable[[WsClient], Awaitable[None]]


async def pong_echoes_the_ping(c: WsClient) -> None:
    c.send(frame(OP_PING, b"payload-123", key=key()))
    assert await c.recv() == (OP_PONG, b"payload-123")


async def control_frames_inside_a_fragmented_message(c: WsClient) -> None:
    msg = rpc("ping", 5)
    c.send(frame(OP_TEXT, msg[:4], fin=False, key=key()) + frame(OP_PING, b"mid", key=key()))
    assert await c.recv() == (OP_PONG, b"mid")
    c.send(frame(OP_CONT, msg[4:], key=key()))
    assert (await c.reply())["id"] == 5


async def an_unsolicited_pong_gets_no_answer(c: WsClient) -> None:
    c.send(frame(OP_PONG, b"unasked", key=key()) + text(rpc("ping", 6)))
    assert (await c.reply())["id"] == 6  # the next frame is the reply, nothing before


async def close_is_echoed_then_tcp_ends(c: WsClient) -> None:
    c.send(frame(OP_CLOSE, close_payload(1000, b"bye"), key=key()))
    assert await c.expect_close(1000) == ""
    await c.expect_eof()  # §7.1.1: the server closes the TCP connection first


async def an_empty_close_is_answered_with_1000(c: WsClient) -> None:
    c.send(frame(OP_CLOSE, b"", key=key()))
    await c.expect_close(1000)
    await c.expect_eof()


async def no_data_frame_after_the_close(c: WsClient) -> None:
    c.send(frame(OP_CLOSE, close_payload(1001), key=key()) + text(rpc("ping", 8)))
    await c.expect_close(1001)  # and not the reply to the ping behind it
    await c.expect_eof()


async def every_length_encoding_is_read(c: WsClient) -> None:
    for size, width in ((125, 7), (126, 16), (65_535, 16), (65_536, 64)):
        msg = rpc("ping", size)
        c.send(text(msg + b" " * (size - len(msg)), width=width))
        assert (await c.reply())["id"] == size


SCENARIOS: dict[str, Scenario] = {
    "§5.5.2 a pong carries the ping's payload": pong_echoes_the_ping,
    "§5.4 control frames may sit between fragments": control_frames_inside_a_fragmented_message,
    "§5.5.3 an unsolicited pong is not answered": an_unsolicited_pong_gets_no_answer,
    "§5.5.1 a close is echoed, then the server ends TCP": close_is_echoed_then_tcp_ends,
    "§7.4.1 a close without a code is answered with 1000": an_empty_close_is_answered_with_1000,
    "§5.5.1 no data frame follows a close": no_data_frame_after_the_close,
    "§5.2 7-, 16- and 64-bit lengths are all read": every_length_encoding_is_read,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_an_answer_the_rfc_requires(app: Application, opener: Opener, name: str) -> None:
    await SCENARIOS[name](await WsClient.connect(opener, app.ws_port))


# --- the opening handshake ------------------------------------------------------------------


def handshake(
    *,
    method: str = "GET",
    version: str = "1.1",
    drop: tuple[str, ...] = (),
    add: tuple[str, ...] = (),
) -> tuple[bytes, bytes]:
    """An upgrade request (and its key) with headers left out or added."""
    ws_key = base64.b64encode(os.urandom(16))
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": ws_key.decode(),
        "Sec-WebSocket-Version": "13",
    }
    lines = [f"{method} /ws HTTP/{version}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k not in drop]
    lines += list(add)
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), ws_key


SIXTEEN = base64.b64encode(b"k" * 16).decode()
HANDSHAKES: dict[str, tuple[tuple[bytes, bytes], int | set[int]]] = {
    "§4.2.1 (1) the method must be GET": (handshake(method="POST"), 405),
    "§4.2.1 (1) HTTP/1.1 or higher": (handshake(version="1.0"), 400),
    "§4.2.1 (2) a Host header is required": (handshake(drop=("Host",)), 400),
    "§4.2.1 (3) Upgrade must be websocket": (
        handshake(drop=("Upgrade",), add=("Upgrade: h2c",)),
        400,
    ),
    # Without "Connection: Upgrade" it is no upgrade at all: a plain GET on the
    # WebSocket path, answered 426 with "Upgrade: websocket" (the RFC: "such as 400").
    "§4.2.1 (4) Connection must include Upgrade": (
        handshake(drop=("Connection",), add=("Connection: keep-alive",)),
        {400, 426},
    ),
    "§4.2.1 (5) a key is required": (handshake(drop=("Sec-WebSocket-Key",)), 400),
    "§4.2.1 (5) the key must be 16 bytes in base64": (
        handshake(drop=("Sec-WebSocket-Key",), add=("Sec-WebSocket-Key: c2hvcnQ=",)),
        400,
    ),
    "§11.3.1 the key must not appear twice": (
        handshake(add=(f"Sec-WebSocket-Key: {SIXTEEN}",)),
        400,
    ),
    "§4.2.1 (6) / §4.4 version 13, else 426 naming it": (
        handshake(drop=("Sec-WebSocket-Version",), add=("Sec-WebSocket-Version: 8",)),
        426,
    ),
}


@pytest.mark.parametrize("name", list(HANDSHAKES))
async def test_a_handshake_the_rfc_refuses(app: Application, opener: Opener, name: str) -> None:
    (request, _), expected = HANDSHAKES[name]
    statuses = expected if isinstance(expected, set) else {expected}
    reader, writer = await opener(app.ws_port)
    writer.write(request)
    response = await read_handshake(reader)
    assert response.status in statuses, response
    if response.status == 426 and b"Upgrade" in request.split(b"Connection:")[1][:40]:
        assert response.headers["sec-websocket-version"] == "13"  # §4.4
    if response.headers.get("connection") == "close":
        assert await read_eof(reader) == b""
    assert not app.ws.connections


async def test_the_accept_header_is_the_keyed_hash(app: Application, opener: Opener) -> None:
    """§4.2.2 (5.4): Sec-WebSocket-Accept = base64(SHA-1(key + GUID)); 101 with Upgrade and
    Connection; a Connection header listing other tokens too is accepted (§4.2.1 (4))."""
    request, ws_key = handshake()
    reader, writer = await opener(app.ws_port)
    writer.write(request)
    response = await read_handshake(reader)
    assert response.status == 101
    assert response.headers["sec-websocket-accept"] == (
        base64.b64encode(hashlib.sha1(ws_key + GUID).digest()).decode()
    )
    assert response.headers["upgrade"].lower() == "websocket"
    assert "upgrade" in response.headers["connection"].lower()
    writer.write(text(rpc("ping", 1)))
    c = WsClient(reader, writer)
    assert (await c.reply())["id"] == 1
