"""The SDK's WebSocket framing (camera_service.client.frames), sans-I/O: its frames
read by the service's own parser, the service's frames read by it."""

from __future__ import annotations

import base64
import hashlib

import pytest

from camera_service.client.frames import (
    HandshakeFailed,
    ProtocolError,
    ServerFrameParser,
    check_upgrade_response,
    client_frame,
    new_key,
    upgrade_request,
)
from camera_service.net import wsframes


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 200_000])
def test_client_frames_are_masked_and_read_by_the_server_parser(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    frame = client_frame(wsframes.OP_TEXT, payload)
    assert frame[1] & 0x80  # masked
    assert wsframes.FrameParser(1 << 20).feed(frame) == [(wsframes.OP_TEXT, payload)]


@pytest.mark.parametrize("size", [0, 125, 126, 65536, 200_000])
def test_server_frames_parse_in_any_chunking(size: int) -> None:
    payload = bytes(i % 13 for i in range(size))
    data = wsframes.text_frame(payload) + wsframes.PING_FRAME + wsframes.close_frame(1001)
    parser = ServerFrameParser(1 << 20)
    events = []
    for i in range(0, len(data), 7_001):
        events += parser.feed(data[i : i + 7_001])
    assert events == [
        (wsframes.OP_TEXT, payload),
        (wsframes.OP_PING, b""),
        (wsframes.OP_CLOSE, (1001).to_bytes(2, "big")),
    ]


def test_fragments_are_joined_and_violations_refused() -> None:
    parser = ServerFrameParser(1 << 20)
    first = bytes((wsframes.OP_TEXT, 3)) + b"abc"  # FIN clear
    last = bytes((0x80 | wsframes.OP_CONT, 2)) + b"de"
    assert parser.feed(first + wsframes.PING_FRAME + last) == [
        (wsframes.OP_PING, b""),
        (wsframes.OP_TEXT, b"abcde"),
    ]
    with pytest.raises(ProtocolError, match="must not be masked"):
        ServerFrameParser(100).feed(client_frame(wsframes.OP_TEXT, b"x"))
    with pytest.raises(ProtocolError) as big:
        ServerFrameParser(100).feed(wsframes.text_frame(b"x" * 101))
    assert big.value.code == wsframes.CLOSE_TOO_BIG


def test_the_upgrade_is_accepted_by_the_server_and_its_answer_checked() -> None:
    key = new_key()
    request = upgrade_request("127.0.0.1:8002", "/ws", key)
    head, _, _ = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"GET /ws HTTP/1.1"
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
    answer = wsframes.accept_upgrade(b"GET", headers)
    check_upgrade_response(answer, key)
    with pytest.raises(HandshakeFailed, match="Sec-WebSocket-Accept"):
        check_upgrade_response(answer, new_key())
    with pytest.raises(HandshakeFailed) as refused:
        check_upgrade_response(b"HTTP/1.1 503 Service Unavailable\r\n\r\n", key)
    assert refused.value.status == 503
    accept = base64.b64encode(hashlib.sha1(key + wsframes.GUID).digest())
    assert accept in answer
