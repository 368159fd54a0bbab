"""An independent reading of RFC 6455 §5.2 for checking the frame parser
(net.wsframes.FrameParser), and a feeder that checks its memory bound as it goes. Used
by the property tests and the fuzz harness."""

from __future__ import annotations

from camera_service.net.wsframes import OP_CONT, FrameParser, ProtocolError

Event = tuple[int, bytes]
HEADER_MAX = 14  # 2 + 8 (64-bit length) + 4 (mask key)


def reference(data: bytes, max_size: int, masked: bool) -> tuple[list[Event], int | None]:
    """The events of ``data`` and the close code it ends in (None: no violation; an
    unfinished frame at the end is no violation). A header is judged once its length
    field is complete, before its payload arrives, as a streaming server must."""
    events: list[Event] = []
    fragments: list[bytes] | None = None
    message_op = 0
    pos = 0
    while len(data) - pos >= 2:
        fin, rsv, opcode = data[pos] >> 7, (data[pos] >> 4) & 7, data[pos] & 0x0F
        has_mask, length = data[pos + 1] >> 7, data[pos + 1] & 0x7F
        at = pos + 2
        if length >= 126:
            width = 2 if length == 126 else 8
            if len(data) - at < width:
                break
            length = int.from_bytes(data[at : at + width], "big")
            if length >> 63:
                return events, 1002  # the top bit of a 64-bit length MUST be 0
            at += width
        control = opcode >= 8
        held = sum(len(f) for f in fragments) if fragments is not None else 0
        if rsv or has_mask != masked or opcode not in (0, 1, 2, 8, 9, 10):
            return events, 1002
        if control and (not fin or length > 125):
            return events, 1002
        if not control and held + length > max_size:
            return events, 1009
        key = data[at : at + 4] if masked else b"\0\0\0\0"
        at += 4 if masked else 0
        if len(data) - at < length:
            break
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[at : at + length]))
        pos = at + length
        if control:
            events.append((opcode, payload))
            continue
        if opcode == OP_CONT:
            if fragments is None:
                return events, 1002
        elif fragments is not None:
            return events, 1002
        else:
            fragments, message_op = [], opcode
        fragments.append(payload)
        if fin:
            events.append((message_op, b"".join(fragments)))
            fragments = None
    return events, None


def held(parser: FrameParser) -> int:
    """Bytes the parser keeps between feeds: the unfinished frame and the fragments."""
    return len(parser._buf) + sum(len(f) for f in parser._frags)


def feed(parser: FrameParser, pieces: list[bytes]) -> tuple[list[Event], int | None]:
    """Feed ``pieces`` one by one; the events and the close code, checking the memory
    bound after every feed."""
    bound = max(parser.max_size, 125) + HEADER_MAX
    events: list[Event] = []
    for piece in pieces:
        try:
            events += parser.feed(piece)
        except ProtocolError as exc:
            error = exc
            break
        assert held(parser) <= bound
    else:
        return events, None
    assert error.code in (1002, 1007, 1009) and error.reason
    return events, error.code
