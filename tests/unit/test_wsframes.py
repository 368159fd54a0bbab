"""RFC 6455 as pure functions over bytes (wsframes.py): handshake, frame parser,
close payloads and server frame builders. No sockets."""

from __future__ import annotations

import base64
import hashlib
import random
import tracemalloc

import pytest

from camera_service.net.wsframes import (
    CLOSE_INVALID_DATA,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    GUID,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    HandshakeError,
    ProtocolError,
    accept_upgrade,
    close_frame,
    control_frame,
    is_upgrade,
    parse_close,
    text_frame,
    unmask,
)
from tests.support.rawws import frame, ref_mask

MAX = 1024
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# --- helpers: a client frame encoder written independently of the code under test ------


def feed_bytewise(parser: FrameParser, data: bytes) -> list[tuple[int, bytes]]:
    events: list[tuple[int, bytes]] = []
    for i in range(len(data)):
        events += parser.feed(data[i : i + 1])
    return events


def refused(data: bytes, code: int, max_size: int = MAX) -> ProtocolError:
    with pytest.raises(ProtocolError) as exc:
        FrameParser(max_size).feed(data)
    assert exc.value.code == code, exc.value
    return exc.value


# --- handshake ---------------------------------------------------------------------------


def upgrade_headers(**changes: bytes | None) -> dict[bytes, bytes]:
    headers = {
        b"host": b"127.0.0.1",
        b"upgrade": b"websocket",
        b"connection": b"Upgrade",
        b"sec-websocket-key": KEY,
        b"sec-websocket-version": b"13",
    }
    for name, value in changes.items():
        h = name.replace("_", "-").encode()
        if value is None:
            headers.pop(h, None)
        else:
            headers[h] = value
    return headers


def test_accept_upgrade_rfc_example() -> None:
    response = accept_upgrade(b"GET", upgrade_headers())
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert response.endswith(b"\r\n\r\n")
    lines = response[:-4].split(b"\r\n")[1:]
    headers = {k.lower(): v for k, v in (line.split(b": ", 1) for line in lines)}
    assert headers[b"sec-websocket-accept"] == ACCEPT
    assert headers[b"upgrade"].lower() == b"websocket"
    assert headers[b"connection"].lower() == b"upgrade"


@pytest.mark.parametrize("seed", range(5))
def test_accept_value_matches_sha1_definition(seed: int) -> None:
    key = base64.b64encode(random.Random(seed).randbytes(16))
    response = accept_upgrade(b"GET", upgrade_headers(sec_websocket_key=key))
    expected = base64.b64encode(hashlib.sha1(key + GUID).digest())
    assert b"Sec-WebSocket-Accept: " + expected + b"\r\n" in response


@pytest.mark.parametrize(
    "connection", [b"Upgrade", b"upgrade", b"keep-alive, Upgrade", b"UPGRADE , keep-alive"]
)
def test_connection_header_tokens(connection: bytes) -> None:
    assert accept_upgrade(b"GET", upgrade_headers(connection=connection)).startswith(
        b"HTTP/1.1 101"
    )


@pytest.mark.parametrize(
    ("method", "changes", "status"),
    [
        (b"GET", {"sec_websocket_key": None}, 400),
        (b"GET", {"sec_websocket_key": b""}, 400),
        (b"GET", {"sec_websocket_key": b"not base64!!"}, 400),
        (b"GET", {"sec_websocket_key": base64.b64encode(b"x" * 15)}, 400),  # 15 bytes
        (b"GET", {"sec_websocket_key": base64.b64encode(b"x" * 17)}, 400),
        (b"GET", {"sec_websocket_version": b"8"}, 426),
        (b"GET", {"sec_websocket_version": b"14"}, 426),
        (b"GET", {"sec_websocket_version": None}, 426),
        (b"GET", {"connection": b"keep-alive"}, 400),
        (b"GET", {"connection": None}, 400),
        (b"POST", {}, 405),
        (b"PUT", {}, 405),
    ],
)
def test_handshake_refused(method: bytes, changes: dict[str, bytes | None], status: int) -> None:
    with pytest.raises(HandshakeError) as exc:
        accept_upgrade(method, upgrade_headers(**changes))
    assert exc.value.status == status


@pytest.mark.parametrize("upgrade", [b"h2c", None])
def test_handshake_requires_upgrade_websocket(upgrade: bytes | None) -> None:
    with pytest.raises(HandshakeError) as exc:
        accept_upgrade(b"GET", upgrade_headers(upgrade=upgrade))
    assert exc.value.status == 400


def test_is_upgrade() -> None:
    assert is_upgrade({b"upgrade": b"websocket"})
    assert is_upgrade({b"upgrade": b"WebSocket"})
    assert is_upgrade({b"upgrade": b"h2c, websocket"})
    assert not is_upgrade({b"upgrade": b"h2c"})
    assert not is_upgrade({})


# --- masking -----------------------------------------------------------------------------

_rng = random.Random(6455)
MASK_CASES = [(_rng.randbytes(n), _rng.randbytes(4)) for n in [*range(20), 125, 126, 1000, 65537]]
MASK_CASES += [(b"abc" * 7, b"\0\0\0\0"), (b"\xff" * 9, b"\xff\xff\xff\xff")]


@pytest.mark.parametrize(("data", "key"), MASK_CASES, ids=lambda v: str(len(v)))
def test_unmask_matches_reference(data: bytes, key: bytes) -> None:
    assert unmask(data, key) == ref_mask(data, key)
    assert unmask(unmask(data, key), key) == data


@pytest.mark.parametrize(("data", "key"), MASK_CASES[:24], ids=lambda v: str(len(v)))
def test_parser_unmasks_with_any_key(data: bytes, key: bytes) -> None:
    events = FrameParser(1 << 20).feed(frame(OP_BINARY, data, key=key))
    assert events == [(OP_BINARY, data)]


# --- parsing: splits and batching ------------------------------------------------------------

STREAM_FRAMES = [
    frame(OP_TEXT, b""),
    frame(OP_TEXT, b"hello", key=b"\x01\x02\x03\x04"),
    frame(OP_PING, b"p" * 125),
    frame(OP_TEXT, "żółw €".encode() * 20),  # 16-bit length
    frame(OP_PONG),
    frame(OP_TEXT, b"fr", fin=False),
    frame(OP_PING, b"mid"),
    frame(OP_CONT, b"ag", fin=False, key=b"\0\0\0\0"),
    frame(OP_CONT, b"ment"),
    frame(OP_BINARY, b"\x00\xff" * 3),
    frame(OP_CLOSE, (1000).to_bytes(2, "big") + b"bye"),
]
STREAM_EVENTS = [
    (OP_TEXT, b""),
    (OP_TEXT, b"hello"),
    (OP_PING, b"p" * 125),
    (OP_TEXT, "żółw €".encode() * 20),
    (OP_PONG, b""),
    (OP_PING, b"mid"),
    (OP_TEXT, b"fragment"),
    (OP_BINARY, b"\x00\xff" * 3),
    (OP_CLOSE, b"\x03\xe8bye"),
]
STREAM = b"".join(STREAM_FRAMES)


def test_many_frames_in_one_chunk() -> None:
    assert FrameParser(MAX).feed(STREAM) == STREAM_EVENTS


def test_one_byte_at_a_time() -> None:
    parser = FrameParser(MAX)
    assert feed_bytewise(parser, STREAM) == STREAM_EVENTS
    assert parser.feed(b"") == []


def test_split_at_every_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        parser = FrameParser(MAX)
        events = parser.feed(STREAM[:cut])
        events += parser.feed(STREAM[cut:])
        assert events == STREAM_EVENTS, cut


@pytest.mark.parametrize(
    "index", [i for i, f in enumerate(STREAM_FRAMES) if f[0] & 0x80 and f[0] & 0x0F]
)
def test_split_in_three_around_each_header(index: int) -> None:
    # two cuts anywhere within the first 24 bytes of a frame (its header and mask key)
    f = STREAM_FRAMES[index]
    tail = frame(OP_TEXT, b"!")
    expected = FrameParser(MAX).feed(f + tail)
    assert len(expected) == 2
    for a in range(min(len(f), 24) + 1):
        for b in range(a, min(len(f), 24) + 1):
            parser = FrameParser(MAX)
            got = parser.feed(f[:a]) + parser.feed(f[a:b]) + parser.feed(f[b:] + tail)
            assert got == expected, (a, b)


def test_partial_frame_yields_nothing_until_complete() -> None:
    f = frame(OP_TEXT, b"x" * 200)
    parser = FrameParser(MAX)
    assert parser.feed(f[:-1]) == []
    assert parser.feed(f[-1:]) == [(OP_TEXT, b"x" * 200)]


def test_64_bit_length_split_at_every_header_boundary() -> None:
    payload = b"q" * 65536
    f = frame(OP_TEXT, payload, key=b"\x0f\xf0\x55\xaa")
    for cut in range(16):
        parser = FrameParser(65536)
        assert parser.feed(f[:cut]) + parser.feed(f[cut:]) == [(OP_TEXT, payload)], cut


def test_64_bit_length_large_frame() -> None:
    payload = random.Random(1).randbytes(70_000)
    f = frame(OP_BINARY, payload, key=b"\xa1\xb2\xc3\xd4")
    assert f[1] == 0x80 | 127
    parser = FrameParser(100_000)
    events: list[tuple[int, bytes]] = []
    for i in range(14):  # header and mask one byte at a time, then the payload in pieces
        events += parser.feed(f[i : i + 1])
    assert events == []
    for i in range(14, len(f), 9999):
        events += parser.feed(f[i : i + 9999])
    assert events == [(OP_BINARY, payload)]


def test_a_frame_in_many_reads_is_joined_once() -> None:
    """Issue 14: the partial frame was joined with each read, so a 1 MiB frame sent in
    256-byte reads copied about 2 GB. Now a read that leaves the frame incomplete
    copies nothing of what came before: its allocations stay far below the frame."""
    n = 1 << 20
    f = b"\x81\xff" + n.to_bytes(8, "big") + b"\0\0\0\0" + b"x" * n
    pieces = [f[i : i + 256] for i in range(0, len(f), 256)]
    parser = FrameParser(n)
    for piece in pieces[:-2]:
        assert parser.feed(piece) == []
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        assert parser.feed(pieces[-2]) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < 64 * 1024
    assert parser.feed(pieces[-1]) == [(OP_TEXT, b"x" * n)]


# --- fragmentation ---------------------------------------------------------------------------


def test_fragmented_text_with_ping_between_fragments() -> None:
    text = "héllo wörld".encode()
    data = (
        frame(OP_TEXT, text[:3], fin=False)  # splits a 2-byte character
        + frame(OP_PING, b"keepalive")
        + frame(OP_CONT, text[3:7], fin=False)
        + frame(OP_PONG, b"x")
        + frame(OP_CONT, text[7:])
    )
    assert FrameParser(MAX).feed(data) == [
        (OP_PING, b"keepalive"),
        (OP_PONG, b"x"),
        (OP_TEXT, text),
    ]
    assert feed_bytewise(FrameParser(MAX), data) == FrameParser(MAX).feed(data)


def test_fragmented_binary_and_empty_fragments() -> None:
    data = (
        frame(OP_BINARY, b"", fin=False)
        + frame(OP_CONT, b"ab", fin=False)
        + frame(OP_CONT, b"", fin=False)
        + frame(OP_CONT, b"")
        + frame(OP_TEXT, b"next")
    )
    assert FrameParser(MAX).feed(data) == [(OP_BINARY, b"ab"), (OP_TEXT, b"next")]


def test_parser_state_resets_after_a_fragmented_message() -> None:
    parser = FrameParser(MAX)
    one = frame(OP_TEXT, b"a" * 600, fin=False) + frame(OP_CONT, b"b" * 400)
    assert parser.feed(one) == [(OP_TEXT, b"a" * 600 + b"b" * 400)]
    # the size budget restarts with each message
    assert parser.feed(one) == [(OP_TEXT, b"a" * 600 + b"b" * 400)]
    # and a continuation is again a protocol error
    with pytest.raises(ProtocolError) as exc:
        parser.feed(frame(OP_CONT, b"x"))
    assert exc.value.code == CLOSE_PROTOCOL_ERROR


def test_continuation_without_start() -> None:
    refused(frame(OP_CONT, b"x"), CLOSE_PROTOCOL_ERROR)
    refused(frame(OP_CONT, b"x", fin=False), CLOSE_PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
@pytest.mark.parametrize("fin", [True, False])
def test_new_message_during_fragments(opcode: int, fin: bool) -> None:
    refused(frame(OP_TEXT, b"a", fin=False) + frame(opcode, b"b", fin=fin), CLOSE_PROTOCOL_ERROR)


# --- control frames, reserved bits, opcodes, masking ------------------------------------------


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_control_frame_payload_over_125(opcode: int) -> None:
    assert FrameParser(MAX).feed(frame(opcode, b"x" * 125)) == [(opcode, b"x" * 125)]
    refused(frame(opcode, b"x" * 126), CLOSE_PROTOCOL_ERROR)
    # refused from the header alone: the payload need not arrive
    refused(frame(opcode, b"", length=126)[:4], CLOSE_PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_fragmented_control_frame(opcode: int) -> None:
    refused(frame(opcode, b"x", fin=False), CLOSE_PROTOCOL_ERROR)


@pytest.mark.parametrize("rsv", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_CONT, OP_PING])
def test_reserved_bits(rsv: int, opcode: int) -> None:
    exc = refused(frame(opcode, b"x", rsv=rsv), CLOSE_PROTOCOL_ERROR)
    assert "reserved" in exc.reason


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcode(opcode: int) -> None:
    refused(frame(opcode, b"x"), CLOSE_PROTOCOL_ERROR)
    refused(frame(opcode, b""), CLOSE_PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, OP_PING, OP_CLOSE, OP_CONT])
def test_unmasked_frame(opcode: int) -> None:
    exc = refused(frame(opcode, b"abc", key=None), CLOSE_PROTOCOL_ERROR)
    assert "mask" in exc.reason
    # two bytes are enough to tell
    refused(frame(opcode, b"abc", key=None)[:2], CLOSE_PROTOCOL_ERROR)


def test_error_after_valid_frames_in_the_same_chunk() -> None:
    parser = FrameParser(MAX)
    with pytest.raises(ProtocolError):
        parser.feed(frame(OP_TEXT, b"ok") + frame(OP_TEXT, b"bad", key=None))


# --- size limit --------------------------------------------------------------------------------


@pytest.mark.parametrize("max_size", [125, 1024, 65535, 65536])
def test_exact_max_size_accepted(max_size: int) -> None:
    payload = b"m" * max_size
    assert FrameParser(max_size).feed(frame(OP_TEXT, payload)) == [(OP_TEXT, payload)]


@pytest.mark.parametrize(("max_size", "header_len"), [(125, 4), (1024, 4), (65535, 10)])
def test_max_plus_one_refused_from_the_header_alone(max_size: int, header_len: int) -> None:
    header = frame(OP_TEXT, b"", length=max_size + 1)
    assert len(header) == header_len + 4  # + mask key
    # not even the mask key is needed, let alone the payload
    exc = refused(header[:header_len], CLOSE_TOO_BIG, max_size)
    assert str(max_size) in exc.reason
    parser = FrameParser(max_size)
    assert parser.feed(header[: header_len - 1]) == []  # length not known yet
    with pytest.raises(ProtocolError) as e:
        parser.feed(header[header_len - 1 : header_len])
    assert e.value.code == CLOSE_TOO_BIG


@pytest.mark.parametrize("length", [1 << 32, (1 << 63) - 1])
def test_huge_64_bit_length_refused(length: int) -> None:
    refused(frame(OP_BINARY, b"", length=length, width=64)[:10], CLOSE_TOO_BIG)


@pytest.mark.parametrize("length", [1 << 63, (1 << 64) - 1])
def test_a_64_bit_length_with_its_top_bit_set_is_a_protocol_error(length: int) -> None:
    # RFC 6455 §5.2: "the most significant bit MUST be 0": not a size, a violation.
    refused(frame(OP_BINARY, b"", length=length, width=64)[:10], CLOSE_PROTOCOL_ERROR)


def test_fragmented_message_size_limit() -> None:
    ok = frame(OP_TEXT, b"a" * 1000, fin=False) + frame(OP_PING, b"p" * 125)
    ok += frame(OP_CONT, b"b" * 24)
    assert FrameParser(MAX).feed(ok) == [(OP_PING, b"p" * 125), (OP_TEXT, b"a" * 1000 + b"b" * 24)]
    parser = FrameParser(MAX)
    assert parser.feed(frame(OP_TEXT, b"a" * 1000, fin=False)) == []
    # control frames do not count against the message
    assert parser.feed(frame(OP_PING, b"p" * 125)) == [(OP_PING, b"p" * 125)]
    with pytest.raises(ProtocolError) as exc:  # 1000 + 25 > 1024, refused from the header
        parser.feed(frame(OP_CONT, b"", length=25)[:2])
    assert exc.value.code == CLOSE_TOO_BIG


# --- close payloads ----------------------------------------------------------------------------


def test_parse_close_empty_means_no_code() -> None:
    assert parse_close(b"") == (1005, "")


def test_parse_close_one_byte() -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_close(b"\x03")
    assert exc.value.code == CLOSE_PROTOCOL_ERROR


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 4999]
)
def test_parse_close_valid_codes(code: int) -> None:
    assert parse_close(code.to_bytes(2, "big") + "ok ✓".encode()) == (code, "ok ✓")


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_parse_close_invalid_codes(code: int) -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_close(code.to_bytes(2, "big"))
    assert exc.value.code == CLOSE_PROTOCOL_ERROR


@pytest.mark.parametrize("reason", [b"\xff", b"\xc3", b"ok\xed\xa0\x80", b"\xc0\xaf"])
def test_parse_close_invalid_utf8_reason(reason: bytes) -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_close(b"\x03\xe8" + reason)
    assert exc.value.code == CLOSE_INVALID_DATA


# --- server frames -------------------------------------------------------------------------------


def decode_server_frame(data: bytes) -> tuple[int, bool, bytes, bytes]:
    """(opcode, fin, payload, rest) of an unmasked frame."""
    b0, b1 = data[0], data[1]
    assert not b1 & 0x80, "server frames must not be masked"
    assert not b0 & 0x70
    n, head = b1 & 0x7F, 2
    if n == 126:
        n, head = int.from_bytes(data[2:4], "big"), 4
        assert n >= 126, "non-minimal length"
    elif n == 127:
        n, head = int.from_bytes(data[2:10], "big"), 10
        assert n >= 65536, "non-minimal length"
    return b0 & 0x0F, bool(b0 & 0x80), data[head : head + n], data[head + n :]


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frame_lengths(n: int) -> None:
    payload = bytes(i % 251 for i in range(n))
    opcode, fin, body, rest = decode_server_frame(text_frame(payload))
    assert (opcode, fin, body, rest) == (OP_TEXT, True, payload, b"")


def test_control_and_close_frames() -> None:
    assert decode_server_frame(control_frame(OP_PONG, b"abc")) == (OP_PONG, True, b"abc", b"")
    assert decode_server_frame(control_frame(OP_PING)) == (OP_PING, True, b"", b"")
    opcode, _, body, rest = decode_server_frame(close_frame(1009, "too big"))
    assert opcode == OP_CLOSE and rest == b""
    assert parse_close(body) == (1009, "too big")
    # a long reason is cut to fit a control frame
    opcode, _, body, rest = decode_server_frame(close_frame(1000, "r" * 500))
    assert len(body) == 125 and rest == b"" and parse_close(body) == (1000, "r" * 123)


def test_close_frame_long_non_ascii_reason_stays_valid_utf8() -> None:
    _, _, body, _ = decode_server_frame(close_frame(1000, "é" * 100))
    assert len(body) <= 125
    code, reason = parse_close(body)  # the peer would fail us with 1007 otherwise
    assert code == 1000 and reason == "é" * 61


def test_control_frame_length_byte_matches_payload() -> None:
    f = control_frame(OP_PONG, b"x" * 130)
    opcode, _, body, rest = decode_server_frame(f)
    assert opcode == OP_PONG and len(body) <= 125 and rest == b""
