"""Properties of the RTSP wire parsers (rtsp.py, rtsp_reader.py): responses, auth
challenges, SDP and the interleaved stream. A generated message reads back as written;
any bytes or text give a parsed value or the module's own error, never another
exception."""

from __future__ import annotations

import asyncio
import base64
import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camera_service.net.rtsp import (
    MAX_HEADER_BYTES,
    ConnectionClosed,
    RtspError,
    RtspResponse,
    VideoInfo,
    _Authorizer,
    parse_challenges,
    parse_sdp_video,
    read_response,
)
from camera_service.net.rtsp_reader import RtspReader, _session_timeout, media_controls
from tests.support.properties import examples
from tests.support.sps import Sps, sps_params

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


# --- responses ---------------------------------------------------------------------------------

TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_.", min_size=1, max_size=16
)
TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters=CTL),
    max_size=40,
)


@dataclass
class Message:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    cseq: int | None

    def encode(self) -> bytes:
        lines = [f"RTSP/1.0 {self.status} {self.reason}".rstrip(" ")]
        if self.cseq is not None:
            lines.append(f"CSeq: {self.cseq}")
        lines += [f"{k}: {v}" for k, v in self.headers]
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


messages = st.builds(
    Message,
    status=st.integers(100, 999),
    reason=TEXT.filter(lambda r: not r.startswith(" ")),
    headers=st.lists(
        st.tuples(TOKEN.filter(lambda n: n.lower() not in ("content-length", "cseq")), TEXT),
        max_size=5,
    ),
    body=st.binary(max_size=300),
    cseq=st.one_of(st.none(), st.integers(0, 2**32)),
)


@examples(100)
@given(st.data(), messages, st.binary(max_size=40), st.integers(0, 4))
def test_a_response_reads_back_as_written(
    data: st.DataObject, message: Message, after: bytes, first_len: int
) -> None:
    raw = message.encode()
    first_len = min(first_len, raw.index(b"\n"))  # what a caller may have read already
    result, rest = read(data.draw(split(raw[first_len:] + after)), raw[:first_len])
    assert isinstance(result, RtspResponse)
    assert result.status == message.status
    assert result.reason == message.reason.rstrip(" ")[:100]
    assert result.cseq == message.cseq
    assert result.body == message.body
    given_headers = [(k.lower(), v.strip()) for k, v in message.headers]
    assert [h for h in result.headers if h[0] not in ("cseq", "content-length")] == given_headers
    assert rest == after  # not a byte more is read


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(out)))
        edit = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if edit == "flip" and at < len(out):
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "insert":
            out[at:at] = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=6),
                    st.sampled_from([b"\r\n", b"\xb2", b"\xb9", b"9" * 5000, b" ", b":", b"\t"]),
                )
            )
        elif edit == "delete":
            del out[at : at + draw(st.integers(1, 6))]
        else:
            del out[at:]
    return bytes(out)


def check_response(result: RtspResponse | Exception) -> None:
    if isinstance(result, Exception):
        return
    assert 100 <= result.status <= 999
    assert result.cseq is None or result.cseq >= 0  # reading it never raises
    assert all(k == k.lower() and k for k, _ in result.headers)
    assert len(result.body) <= 64 * 1024


@examples(150)
@given(
    st.data(),
    st.one_of(
        st.binary(max_size=200),
        messages.map(Message.encode).flatmap(mutated),
        st.tuples(TEXT, TEXT).map(
            lambda h: f"RTSP/1.0 200 OK\r\n{h[0]}: {h[1]}\r\n\r\n".encode("latin-1")
        ),
    ),
)
def test_any_bytes_give_a_response_or_an_rtsp_error(data: st.DataObject, raw: bytes) -> None:
    result, _rest = read(data.draw(split(raw)))
    check_response(result)


# --- authentication challenges ------------------------------------------------------------------

PARAM_VALUE = st.one_of(
    TOKEN.map(lambda t: (t, t)),
    TEXT.map(lambda t: (t, '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"')),
)


@st.composite
def challenges(draw: st.DrawFn) -> tuple[str, list[tuple[str, dict[str, str]]]]:
    """One header value holding several challenges, and what it says."""
    parts, meant = [], []
    for _ in range(draw(st.integers(1, 3))):
        scheme = draw(st.sampled_from(["Basic", "Digest", "Bearer", "x-Custom"]))
        params = draw(st.dictionaries(TOKEN.map(str.lower), PARAM_VALUE, max_size=4))
        rendered = ", ".join(f"{k}={shown}" for k, (_v, shown) in params.items())
        parts.append(f"{scheme} {rendered}".rstrip())
        meant.append((scheme.lower(), {k: v for k, (v, _shown) in params.items()}))
    return ", ".join(parts), meant


@examples(100)
@given(challenges())
def test_challenges_read_back_as_written(
    value: tuple[str, list[tuple[str, dict[str, str]]]],
) -> None:
    text, meant = value
    assert [(c.scheme, c.params) for c in parse_challenges([text])] == meant


@examples(100)
@given(
    st.lists(st.one_of(TEXT, st.text(max_size=40), challenges().map(lambda c: c[0])), max_size=3)
)
def test_any_challenge_text_gives_a_safe_authorization_or_an_auth_error(values: list[str]) -> None:
    parse_challenges(values)
    try:
        auth = _Authorizer.choose("user", "secret", values, "cam")
    except RtspError as exc:
        assert_kind(exc, "auth")
        return
    header = auth.header("DESCRIBE", "rtsp://cam/stream")
    assert not CTL & set(header)  # nothing a server sent can break our request's lines


# --- SDP -----------------------------------------------------------------------------------------


@dataclass
class Description:
    text: str
    want: VideoInfo


@st.composite
def descriptions(draw: st.DrawFn) -> Description:
    pt = draw(st.sampled_from([96, 97, 127, 26]))
    codec = draw(st.sampled_from(["H264", "H265", "JPEG", "h264"])) if pt != 26 else "JPEG"
    sps: Sps | None = draw(st.one_of(st.none(), sps_params())) if codec.upper() == "H264" else None
    framerate = draw(st.one_of(st.none(), st.sampled_from(["25", "29.97", "0", "1e9", "x"])))
    framesize = draw(st.one_of(st.none(), st.tuples(st.integers(0, 20000), st.integers(0, 20000))))
    lines = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=cam", "t=0 0"]
    if draw(st.booleans()):
        lines += ["m=audio 0 RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=framerate:99"]
    lines.append(f"m=video 0 RTP/AVP {pt}")
    if pt != 26 or draw(st.booleans()):
        lines.append(f"a=rtpmap:{pt} {codec}/90000")
    if sps is not None:
        sprop = base64.b64encode(sps.encode()).decode()
        lines.append(f"a=fmtp:{pt} packetization-mode=1; sprop-parameter-sets={sprop},aOvjyyLA")
    if framerate is not None:
        lines.append(f"a=framerate:{framerate}")
    if framesize is not None:
        lines.append(f"a=framesize:{pt} {framesize[0]}-{framesize[1]}")
    lines += ["a=control:trackID=1", "m=video 0 RTP/AVP 98", "a=rtpmap:98 MP4V-ES/90000"]

    fps = float(framerate) if framerate not in (None, "x") else None
    if fps is not None and not 0 < fps <= 1000:
        fps = None
    width = height = None
    if sps is not None:
        width, height = sps.size()
        sps_fps = sps.fps()
        if fps is None and sps_fps is not None and 0 < sps_fps <= 1000:
            fps = sps_fps
    elif framesize is not None and all(0 < n <= 16384 for n in framesize):
        width, height = framesize
    return Description("\r\n".join(lines) + "\r\n", VideoInfo(codec.upper(), width, height, fps))


@examples(100)
@given(descriptions())
def test_an_sdp_reads_back_as_written(description: Description) -> None:
    assert parse_sdp_video(description.text) == description.want


SDP_LINE = st.one_of(
    st.builds(
        lambda kind, rest: f"{kind}={rest}",
        st.sampled_from(["m", "a", "v", "c", "b"]),
        st.text(max_size=40),
    ),
    st.builds(
        lambda name, rest: f"a={name}:{rest}",
        st.sampled_from(["rtpmap", "fmtp", "framesize", "x-dimensions", "framerate"]),
        st.text(max_size=40),
    ),
    st.builds(
        lambda n: f"m=video 0 RTP/AVP {n}",
        st.one_of(st.text(max_size=8), st.sampled_from(["\u00b2", "\u0663", "1" * 5000])),
    ),
)


def check_video(info: VideoInfo | None) -> None:
    if info is None:
        return
    assert info.codec and info.codec == info.codec.upper()
    assert (info.width is None) == (info.height is None)
    if info.width is not None and info.height is not None:
        assert 0 < info.width <= 16384 and 0 < info.height <= 32768
    assert info.fps is None or (math.isfinite(info.fps) and 0 < info.fps <= 1000)


@examples(150)
@given(st.lists(SDP_LINE, max_size=8).map("\n".join))
def test_any_sdp_text_gives_video_info_or_none(text: str) -> None:
    check_video(parse_sdp_video(text))


# --- the reader's interleaved stream --------------------------------------------------------------


@st.composite
def interleaved(draw: st.DrawFn) -> tuple[bytes, list[Message], int]:
    """Interleaved frames, responses and stray CRLFs: the bytes, the responses, and the
    payload bytes of the frames."""
    parts, answers, payload = [], [], 0
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["frame", "frame", "response", "crlf"]))
        if kind == "frame":
            data = draw(st.binary(max_size=200))
            parts.append(
                b"$" + bytes([draw(st.integers(0, 255))]) + len(data).to_bytes(2, "big") + data
            )
            payload += len(data)
        elif kind == "response":
            message = draw(messages)
            parts.append(message.encode())
            answers.append(message)
        else:
            parts.append(b"\r\n")
    return b"".join(parts), answers, payload


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


@examples(60)
@given(st.data(), interleaved())
def test_the_interleaved_stream_yields_its_responses(
    data: st.DataObject, stream: tuple[bytes, list[Message], int]
) -> None:
    raw, answers, payload = stream
    found, end, rtsp = drain(data.draw(split(raw)))
    assert [(r.status, r.cseq, r.body) for r in found] == [
        (m.status, m.cseq, m.body) for m in answers
    ]
    assert isinstance(end, asyncio.IncompleteReadError)
    assert rtsp.bytes_read == payload


@examples(100)
@given(
    st.data(),
    st.one_of(
        st.binary(max_size=120),
        interleaved().map(lambda s: s[0]).flatmap(mutated),
        st.sampled_from([b"RTSP", b"    ", b"$\0\0\5ab", b"\r\n\r\nRTSP/1.0"]),
    ),
)
def test_any_interleaved_bytes_end_in_the_errors_the_reader_handles(
    data: st.DataObject, raw: bytes
) -> None:
    found, end, _rtsp = drain(data.draw(split(raw)))
    for response in found:
        check_response(response)
    assert end is not None


@examples(150)
@given(st.text(max_size=30))
def test_any_session_parameters_give_a_timeout_or_none(params: str) -> None:
    timeout = _session_timeout(params)
    assert timeout is None or timeout > 0


@examples(100)
@given(
    st.lists(
        st.one_of(
            SDP_LINE,
            st.text(max_size=30).map(lambda t: "a=control:" + t),
            st.sampled_from(["a=control:rtsp://[x", "a=control:*", "a=control:trackID=2"]),
        ),
        max_size=6,
    ).map("\n".join),
    st.sampled_from(["rtsp://127.0.0.1/cam", "rtsp://[::1]:8554/cam/", "rtsp://h/a?b"]),
)
def test_any_sdp_gives_control_urls_or_an_rtsp_error(sdp: str, base: str) -> None:
    try:
        aggregate, controls = media_controls(sdp, base)
    except RtspError as exc:
        assert_kind(exc, "protocol")
        return
    assert isinstance(aggregate, str)
    assert len(controls) == sum(1 for line in sdp.splitlines() if line.strip().startswith("m="))


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
