"""``FrameParser.single_text``, the shortcut for a read that holds exactly one small text
frame: whatever it takes, ``feed`` would have returned as that one event, and whatever
it leaves (None) is left to ``feed``, which alone refuses a bad frame."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from camera_service.net.wsframes import OP_BINARY, OP_TEXT, FrameParser, ProtocolError
from tests.support.rawws import frame

MAX = 100


def _feed(data: bytes, max_size: int = MAX) -> list[tuple[int, bytes]] | ProtocolError:
    try:
        return FrameParser(max_size).feed(data)
    except ProtocolError as exc:
        return exc


frames = st.builds(
    frame,
    st.sampled_from([OP_TEXT, OP_BINARY, 0x0, 0x9]),
    st.binary(max_size=140),
    fin=st.booleans(),
    rsv=st.sampled_from([0, 0, 0, 1, 4]),
    key=st.one_of(st.none(), st.just(b"\0\0\0\0"), st.binary(min_size=4, max_size=4)),
)


@given(frames, st.binary(max_size=8))
def test_a_payload_it_takes_is_the_one_event_feed_returns(data: bytes, tail: bytes) -> None:
    for chunk in (data, data + tail, data[:-1]):
        payload = FrameParser(MAX).single_text(chunk)
        if payload is not None:
            assert _feed(chunk) == [(OP_TEXT, payload)]


@given(st.binary(max_size=125), st.binary(min_size=4, max_size=4))
def test_one_whole_small_masked_text_frame_is_taken(payload: bytes, key: bytes) -> None:
    assert FrameParser(MAX + 25).single_text(frame(OP_TEXT, payload, key=key)) == payload


def test_what_it_leaves_goes_to_feed() -> None:
    ping = frame(OP_TEXT, b'{"jsonrpc":"2.0","method":"ping","id":1}')
    assert FrameParser(MAX).single_text(ping + ping) is None  # two frames in one read
    assert FrameParser(MAX).single_text(ping[:-1]) is None  # a part of one
    assert FrameParser(MAX).single_text(frame(OP_TEXT, b"x" * 126)) is None  # 16-bit length
    assert FrameParser(MAX).single_text(frame(OP_TEXT, b"x", key=None)) is None  # unmasked
    assert FrameParser(MAX).single_text(frame(OP_TEXT, b"x", fin=False)) is None
    assert FrameParser(MAX).single_text(frame(OP_TEXT, b"x", rsv=1)) is None
    assert FrameParser(10).single_text(frame(OP_TEXT, b"x" * 11)) is None  # too big: feed says
    assert isinstance(_feed(frame(OP_TEXT, b"x" * 11), 10), ProtocolError)
    held = FrameParser(MAX)
    assert held.feed(ping[:3]) == []
    assert held.single_text(ping) is None  # bytes of an earlier read come first
    server = FrameParser(MAX, masked=False)
    assert server.single_text(frame(OP_TEXT, b"x")) is None
