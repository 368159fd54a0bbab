"""Properties of the RTSP wire parsers (rtsp.py, rtsp_reader.py): responses, auth
challenges, SDP and the interleaved stream. A generated message reads back as written;
any bytes or text give a parsed value or the module's own error, never another
exception."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import strategies as st

from camera_service.net.rtsp import (
    MAX_HEADER_BYTES,
    ConnectionClosed,
    RtspError,
    RtspResponse,
    VideoInfo,
    parse_sdp_video,
    read_response,
)
from camera_service.net.rtsp_reader import RtspReader, _session_timeout, media_controls

CTL = {chr(c) for c in range(0x20)} | {"\x7f"}


def no_scrub(text: str) -> str:
    return text


def assert_kind(exc: RtspError, kind: str) -> None:
    assert exc.kind == kind, exc


async def _feed(reader: asyncio.StreamReader, pieces: list[bytes]) -> None:
    for piece in pieces:
        reader.feed_data(piece)
        await asyncio.sleep(0)
    reader.feed_eof()


def read(pieces: list[bytes], first: bytes = b"") -> tuple[RtspResponse | Exception, bytes]:
    """read_response over ``pieces`` as they arrive; its result (or the exception it
    raised) and the bytes it left unread."""

    async def run() -> tuple[RtspResponse | Exception, bytes]:
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)  # as RtspSession opens it
        feeding = asyncio.create_task(_feed(reader, pieces))
        try:
            result: RtspResponse | Exception = await read_response(reader, "cam", no_scrub, first)
        except (RtspError, ConnectionClosed) as exc:
            result = exc
        await feeding
        return result, await reader.read()

    return asyncio.run(run())


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=8))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def drain(pieces: list[bytes]) -> tuple[list[RtspResponse], BaseException | None, RtspReader]:
    """Responses ``_next_response`` finds in the stream, and how the stream ended."""

    async def run() -> tuple[list[RtspResponse], BaseException | None, RtspReader]:
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)
        feeding = asyncio.create_task(_feed(reader, pieces))
        rtsp = RtspReader("rtsp://127.0.0.1/cam")
        found: list[RtspResponse] = []
        end: BaseException | None = None
        try:
            while True:
                found.append(await rtsp._next_response(reader))
        except (asyncio.IncompleteReadError, RtspError) as exc:
            end = exc  # what _drain and _teardown expect
        await feeding
        return found, end, rtsp

    return asyncio.run(run())


# --- regressions these properties found ---------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "cseq"),
    [
        ("CSeq: \xb2", None),
        ("CSeq: \xb9\xb3", None),
        ("CSeq: " + "1" * 5000, 1 << 63),
        ("CSeq: 7", 7),
    ],
)
def test_a_cseq_is_read_as_ascii_digits(header: str, cseq: int | None) -> None:
    """str.isdigit() takes latin-1's superscripts, which int() refuses: a camera sending
    one made the probe raise ValueError instead of RtspError."""
    result, _ = read([f"RTSP/1.0 200 OK\r\n{header}\r\n\r\n".encode("latin-1")])
    assert isinstance(result, RtspResponse) and result.cseq == cseq


@pytest.mark.parametrize("length", ["\xb2", "\xb9", "1" * 5000, "-1", "+1"])
def test_a_content_length_not_of_ascii_digits_is_a_protocol_error(length: str) -> None:
    result, _ = read([f"RTSP/1.0 200 OK\r\nContent-Length: {length}\r\n\r\n".encode("latin-1")])
    assert isinstance(result, RtspError) and result.kind == "protocol"


@pytest.mark.parametrize(
    "text",
    [
        "v=0\nm=video 0 RTP/AVP \u00b2\n",
        "v=0\nm=video 0 RTP/AVP " + "1" * 5000,
        "m=video 0 RTP/AVP 96\na=rtpmap:\u00b9 H264/90000",
        "m=video 0 RTP/AVP 96\na=x-dimensions:\u00b2,3",
        "m=video 0 RTP/AVP 96\na=framesize:96 \u00b2-3",
    ],
)
def test_sdp_numbers_are_read_as_ascii_digits(text: str) -> None:
    assert parse_sdp_video(text) == VideoInfo("UNKNOWN", None, None, None)


def test_bytes_the_caller_read_already_are_part_of_the_response() -> None:
    """The reader reads 4 bytes to tell a response from a "$" frame; a close after them
    is a close mid-response, not ConnectionClosed (which nothing past PLAY handles)."""
    result, _ = read([], first=b"RTSP")
    assert isinstance(result, RtspError) and result.kind == "protocol"
    found, end, _rtsp = drain([b"\0\0\0\0"])
    assert found == [] and isinstance(end, RtspError)


def test_session_timeout_digits_are_ascii() -> None:
    assert _session_timeout("timeout=\u00b2") is None
    assert _session_timeout(" timeout = 60 ") == 60.0


def test_an_unparseable_control_url_is_an_rtsp_error() -> None:
    with pytest.raises(RtspError, match="invalid control URL"):
        media_controls("m=video 0 RTP/AVP 96\na=control:rtsp://[x\n", "rtsp://h/p")
