"""Properties of the WebSocket frame parser and handshake (wsframes.py), on generated
input: any split of a stream gives the same events, fragments are reassembled, and
every malformed stream ends in ProtocolError with a close code, holding no more than
one message's worth of bytes on the way."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from camera_service.net.wsframes import (
    GUID,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    HandshakeError,
    accept_upgrade,
)
from tests.support.properties import examples
from tests.support.rawws import frame, ref_mask
from tests.support.wsreference import Event, feed, held, reference

# --- generated streams ------------------------------------------------------------------------


@dataclass
class Stream:
    data: bytes
    events: list[Event]  # what a correct parser returns for it
    largest: int  # the largest message, for a max_size that admits them all


def _widths(n: int) -> st.SearchStrategy[int]:
    """Every length encoding that can carry ``n`` (non-minimal ones too)."""
    return st.sampled_from([w for w in (7, 16, 64) if n < (126 if w == 7 else 1 << w)])


@st.composite
def encoded(draw: st.DrawFn, opcode: int, payload: bytes, fin: bool, masked: bool) -> bytes:
    key = draw(st.binary(min_size=4, max_size=4)) if masked else None
    return frame(opcode, payload, fin=fin, key=key, width=draw(_widths(len(payload))))


@st.composite
def streams(draw: st.DrawFn, masked: bool, max_payload: int = 300) -> Stream:
    control = st.tuples(st.sampled_from([OP_PING, OP_PONG, OP_CLOSE]), st.binary(max_size=125))
    parts: list[bytes] = []
    events: list[Event] = []
    largest = 0
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            opcode, payload = draw(control)
            parts.append(draw(encoded(opcode, payload, True, masked)))
            events.append((opcode, payload))
            continue
        opcode = draw(st.sampled_from([OP_TEXT, OP_BINARY]))
        payload = draw(st.binary(max_size=max_payload))
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=4)))
        pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            parts.append(draw(encoded(OP_CONT if i else opcode, piece, last, masked)))
            if not last and draw(st.booleans()):  # control frames may come between fragments
                c_op, c_payload = draw(control)
                parts.append(draw(encoded(c_op, c_payload, True, masked)))
                events.append((c_op, c_payload))
        events.append((opcode, payload))
        largest = max(largest, len(payload))
    return Stream(b"".join(parts), events, largest)


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, inserted, deleted, or its end cut."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = draw(st.integers(0, len(out)))
        if edit == "flip" and at < len(out):
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif edit == "delete":
            del out[at : at + draw(st.integers(1, 8))]
        else:
            del out[at:]
    return bytes(out)


@st.composite
def wild_frames(draw: st.DrawFn, masked: bool) -> bytes:
    """Frames with any header bits: fin, rsv, opcode, mask bit, length encoding."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        payload = draw(st.binary(max_size=140))
        wrong = draw(st.sampled_from([False, False, False, True]))  # the other side's mask
        # a length that lies about the payload, up to the top bit of a 64-bit one
        length = draw(
            st.one_of(
                st.none(),
                st.integers(0, 200),
                st.integers(0, 2**64 - 1),
                st.sampled_from([125, 126, 65535, 65536, 2**63 - 1, 2**63, 2**64 - 1]),
            )
        )
        parts.append(
            frame(
                draw(st.one_of(st.sampled_from([0, 1, 2, 8, 9, 10]), st.integers(0, 15))),
                payload,
                fin=draw(st.booleans()),
                rsv=draw(st.sampled_from([0, 0, 0, 1, 2, 4, 7])),
                key=draw(st.binary(min_size=4, max_size=4)) if masked ^ wrong else None,
                length=length,
                width=draw(_widths(len(payload) if length is None else length)),
            )
        )
    return b"".join(parts)


@st.composite
def chunks(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=12))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


# --- properties -----------------------------------------------------------------------------


@examples(80)
@given(st.data(), st.booleans())
def test_any_split_of_a_valid_stream_gives_its_messages(data: st.DataObject, masked: bool) -> None:
    stream = data.draw(streams(masked))
    parser = FrameParser(stream.largest, masked=masked)
    events, code = feed(parser, data.draw(chunks(stream.data)))
    assert (events, code) == (stream.events, None)
    assert held(parser) == 0
    # and the parser is ready for the next message
    assert parser.feed(frame(OP_PING, b"x", key=b"kkkk" if masked else None)) == [(OP_PING, b"x")]


@examples(60)
@given(st.data(), st.booleans(), st.integers(0, 400))
def test_a_stream_past_max_size_is_refused_from_the_header(
    data: st.DataObject, masked: bool, max_size: int
) -> None:
    stream = data.draw(streams(masked))
    events, code = feed(FrameParser(max_size, masked=masked), data.draw(chunks(stream.data)))
    if stream.largest <= max_size:
        assert (events, code) == (stream.events, None)
    else:
        assert code == 1009
        assert events == stream.events[: len(events)]


def test_a_64_bit_length_with_its_top_bit_set_is_a_protocol_error() -> None:
    for masked in (True, False):
        raw = frame(OP_BINARY, key=b"kkkk" if masked else None, length=1 << 63, width=64)
        assert feed(FrameParser(1 << 64, masked=masked), [raw]) == ([], 1002)
        assert reference(raw, 1 << 64, masked) == ([], 1002)


@examples(120)
@given(st.data(), st.booleans(), st.integers(0, 400))
def test_malformed_streams_end_in_a_close_code(
    data: st.DataObject, masked: bool, max_size: int
) -> None:
    base = data.draw(streams(masked, max_payload=64)).data
    raw = data.draw(st.one_of(mutated(base), wild_frames(masked), st.binary(max_size=200)))
    pieces = data.draw(chunks(raw))
    want_events, want_code = reference(raw, max_size, masked)
    events, code = feed(FrameParser(max_size, masked=masked), pieces)
    assert code == want_code
    if code is None:
        assert events == want_events
    else:  # the events of the feed that failed are dropped with the connection
        assert events == want_events[: len(events)]


@examples(40)
@given(st.data(), st.booleans())
def test_the_reference_agrees_on_valid_streams(data: st.DataObject, masked: bool) -> None:
    stream = data.draw(streams(masked))
    assert reference(stream.data, stream.largest, masked) == (stream.events, None)


@examples(100)
@given(st.binary(max_size=64), st.binary(min_size=4, max_size=4))
def test_unmasking_matches_the_rfc_definition(payload: bytes, key: bytes) -> None:
    parser = FrameParser(64)
    assert parser.feed(frame(OP_BINARY, payload, key=key)) == [(OP_BINARY, payload)]
    assert ref_mask(ref_mask(payload, key), key) == payload


# --- handshake --------------------------------------------------------------------------------

HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40
).map(str.encode)


def _has(value: bytes | None, token: bytes) -> bool:
    return value is not None and any(t.strip().lower() == token for t in value.split(b","))


def _key_ok(key: bytes) -> bool:
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    key = key.strip()
    return len(key) == 24 and key.endswith(b"==") and all(c in alphabet for c in key[:22])


@st.composite
def token_list(draw: st.DrawFn, token: str) -> bytes:
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in token)
    others = draw(st.lists(st.sampled_from(["keep-alive", "close", "h2c", ""]), max_size=2))
    items = [*others, cased]
    items = draw(st.permutations(items))
    pad = draw(st.sampled_from(["", " ", "\t", "  "]))
    return ",".join(pad + i + pad for i in items).encode()


@examples(60)
@given(
    st.binary(min_size=16, max_size=16),
    token_list("websocket"),
    token_list("upgrade"),
    st.dictionaries(st.sampled_from([b"host", b"origin", b"x-extra"]), HEADER_TEXT, max_size=3),
)
def test_a_valid_upgrade_is_accepted_with_the_rfc_accept_value(
    nonce: bytes, upgrade: bytes, connection: bytes, extra: dict[bytes, bytes]
) -> None:
    key = base64.b64encode(nonce)
    headers = {
        **extra,
        b"upgrade": upgrade,
        b"connection": connection,
        b"sec-websocket-version": b"13",
        b"sec-websocket-key": key,
    }
    answer = accept_upgrade(b"GET", headers)
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert b"\r\nSec-WebSocket-Accept: " + accept + b"\r\n" in answer
    assert answer.endswith(b"\r\n\r\n")


@examples(150)
@given(
    st.sampled_from([b"GET", b"POST", b"get", b"HEAD"]),
    st.dictionaries(
        st.sampled_from(
            [b"upgrade", b"connection", b"sec-websocket-version", b"sec-websocket-key"]
        ),
        st.one_of(
            HEADER_TEXT,
            st.sampled_from([b"websocket", b"Upgrade", b"13", b" 13", b"12"]),
            st.binary(min_size=16, max_size=16).map(base64.b64encode),
            st.binary(max_size=30),
        ),
    ),
)
def test_any_upgrade_request_is_accepted_or_refused_with_a_status(
    method: bytes, headers: dict[bytes, bytes]
) -> None:
    ok = (
        method == b"GET"
        and _has(headers.get(b"upgrade"), b"websocket")
        and _has(headers.get(b"connection"), b"upgrade")
        and headers.get(b"sec-websocket-version") == b"13"
        and _key_ok(headers.get(b"sec-websocket-key", b""))
    )
    try:
        answer = accept_upgrade(method, headers)
    except HandshakeError as exc:
        status = exc.status
    else:
        status = 101
        assert answer.startswith(b"HTTP/1.1 101 ")
    assert (status == 101) == ok
    assert status in (101, 400, 405, 426)
