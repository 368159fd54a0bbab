"""Properties of the HTTP connection (httpserver.HttpProtocol) driven with a fake
transport: bytes in any chunks give answers in order or a close, never an exception;
a split of the bytes does not change the answer; the header and body limits hold."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import quote

import orjson
from hypothesis import given
from hypothesis import strategies as st

from camera_service.net.httpserver import MAX_BODY_BYTES, MAX_HEADER_BYTES
from tests.support.httpdrive import ECHO_METHODS, check_outcome, drive, final_writes
from tests.support.properties import examples

# --- generated requests -----------------------------------------------------------------------

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
    lambda n: (
        n.strip("-") == n
        and n
        not in {"content-length", "transfer-encoding", "connection", "upgrade", "expect", "host"}
    )
)
VALUE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)
SEGMENT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x17F), max_size=12)


@dataclass
class Request:
    method: str
    path: str  # decoded
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    version: str
    connection: str | None
    chunked: bool
    chunk_sizes: list[int]
    expect: str | None

    @property
    def refused_expectation(self) -> bool:
        """HTTP/1.1 expectations other than 100-continue get 417 (RFC 9110 §10.1.1)."""
        return self.version == "1.1" and self.expect not in (None, "100-continue", "100-Continue")

    @property
    def keep_alive(self) -> bool:
        if self.connection == "close":
            return False
        return self.version == "1.1" or self.connection == "keep-alive"

    def encode(self) -> bytes:
        target = quote(self.path, safe="/")
        if self.query:
            target += "?" + "&".join(f"{k}={v}" for k, v in self.query.items())
        lines = [f"{self.method} {target} HTTP/{self.version}", "Host: hub.local"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.connection:
            lines.append(f"Connection: {self.connection}")
        if self.expect:
            lines.append(f"Expect: {self.expect}")
        if self.chunked:
            lines.append("Transfer-Encoding: chunked")
            body = b""
            rest = self.body
            for size in self.chunk_sizes:
                piece, rest = rest[: max(size, 1)], rest[max(size, 1) :]
                if piece:
                    body += b"%x\r\n%s\r\n" % (len(piece), piece)
            if rest:
                body += b"%x\r\n%s\r\n" % (len(rest), rest)
            body += b"0\r\n\r\n"
        else:
            body = self.body
            if body or self.method == "POST":
                lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def expected_status(self) -> int:
        if self.refused_expectation:
            return 417
        if self.path == "/echo":
            return 200 if self.method in ECHO_METHODS else 405
        if self.path.startswith("/files/"):
            return 200 if self.method in ("GET", "HEAD") else 405
        return 426 if self.path == "/ws" else 404


requests = st.builds(
    Request,
    method=st.sampled_from(["GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
    path=st.one_of(
        st.just("/echo"),
        st.just("/ws"),
        SEGMENT.map(lambda s: "/files/" + s),
        SEGMENT.map(lambda s: "/" + s),
    ),
    query=st.dictionaries(
        st.text(alphabet="abcxyz", min_size=1, max_size=4),
        st.text(alphabet="abc0123", min_size=1, max_size=4),  # parse_qsl drops blank values
        max_size=3,
    ),
    headers=st.dictionaries(TOKEN, VALUE, max_size=4),
    body=st.binary(max_size=200),
    version=st.sampled_from(["1.1", "1.1", "1.0"]),
    connection=st.sampled_from([None, None, "close", "keep-alive"]),
    chunked=st.booleans(),
    chunk_sizes=st.lists(st.integers(0, 64), max_size=4),
    expect=st.sampled_from([None, None, None, None, "100-continue", "100-Continue", "bogus"]),
)


@st.composite
def split(draw: st.DrawFn, data: bytes) -> tuple[list[bytes], list[bool]]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=10))))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return pieces, [draw(st.booleans()) for _ in pieces]


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
                    st.binary(min_size=1, max_size=8),
                    st.sampled_from([b"\r\n", b"\r\n\r\n", b":", b" ", b"\0", b"\n"]),
                )
            )
        elif edit == "delete":
            del out[at : at + draw(st.integers(1, 6))]
        else:
            del out[at:]
    return bytes(out)


def pipeline_bytes(pipeline: list[Request]) -> bytes:
    return b"".join(r.encode() for r in pipeline)


# --- properties -----------------------------------------------------------------------------


@examples(60)
@given(st.data(), st.lists(requests, min_size=1, max_size=5))
def test_a_valid_pipeline_is_answered_in_order(
    data: st.DataObject, pipeline: list[Request]
) -> None:
    pieces, pauses = data.draw(split(pipeline_bytes(pipeline)))
    out = drive(pieces, pauses)
    answers = check_outcome(out)
    served = []
    for request in pipeline:
        served.append(request)
        if not request.keep_alive or request.refused_expectation:
            break
    assert len(answers) == len(served)
    for request, answer in zip(served, answers, strict=True):
        assert answer.status == request.expected_status()
        closes = not request.keep_alive or request.refused_expectation
        assert (answer.headers.get("connection") == "close") == closes
        if answer.status == 200 and request.method == "HEAD":
            assert answer.body == b""
        elif answer.status == 200 and request.path == "/echo":
            got = orjson.loads(answer.body)
            assert got["method"] == request.method
            assert got["path"] == request.path
            assert got["query"] == request.query
            assert got["body"] == request.body.decode("latin-1")
            for name, value in request.headers.items():
                assert got["headers"][name] == value
        elif answer.status == 200:
            assert answer.body == request.path.encode()
    assert out.closed == (not served[-1].keep_alive or served[-1].refused_expectation)


@examples(100)
@given(
    st.data(),
    st.one_of(
        st.binary(max_size=300),
        st.lists(requests, min_size=1, max_size=3).map(pipeline_bytes).flatmap(mutated),
        st.sampled_from([b"GET / HTTP/1.1\r\n", b"POST /echo HTTP/1.1\r\n"]).flatmap(
            lambda line: st.binary(max_size=200).map(lambda rest: line + rest)
        ),
    ),
)
def test_any_bytes_get_answers_or_a_close_whatever_the_split(
    data: st.DataObject, raw: bytes
) -> None:
    whole = drive([raw])
    check_outcome(whole)
    pieces, pauses = data.draw(split(raw))
    chunked = drive(pieces, pauses)
    check_outcome(chunked)
    assert (final_writes(chunked), chunked.closed) == (final_writes(whole), whole.closed)


@examples(40)
@given(st.integers(0, MAX_HEADER_BYTES + 200), st.integers(0, MAX_HEADER_BYTES + 200), st.data())
def test_the_request_line_and_header_limits_hold(
    url_len: int, value_len: int, data: st.DataObject
) -> None:
    url = "/echo?q=" + "a" * url_len
    head = f"GET {url} HTTP/1.1\r\nHost: h\r\nX-Big: {'v' * value_len}\r\n\r\n".encode()
    counted = len(url) + len("host") + 1 + len("x-big") + value_len  # names and values
    pieces, pauses = data.draw(split(head))
    out = drive(pieces, pauses)
    answers = check_outcome(out)
    if len(head) <= MAX_HEADER_BYTES:
        assert [a.status for a in answers] == [200]
    elif counted > MAX_HEADER_BYTES:
        assert [a.status for a in answers] == [431] and out.closed
    else:  # over the limit only counting the separators: either answer is right
        assert [a.status for a in answers] in ([200], [431])


@examples(30)
@given(st.integers(64, 20_000), st.integers(0, 20_000))
def test_an_endless_header_line_is_cut_off(size: int, first: int) -> None:
    """A header that never ends is refused once its raw bytes pass the limit, however
    it is split: it never reaches a callback that could count it."""
    pieces = [b"GET /echo HTTP/1.1\r\nX-Endless: " + b"v" * first]
    while sum(map(len, pieces)) <= MAX_HEADER_BYTES:
        pieces.append(b"v" * size)
    out = drive(pieces)
    answers = check_outcome(out)
    assert [a.status for a in answers] == [431] and out.closed


@examples(12)
@given(st.integers(-3, 3), st.booleans())
def test_the_body_limit_holds(delta: int, chunked: bool) -> None:
    body = b"b" * (MAX_BODY_BYTES + delta)
    if chunked:
        framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        head = b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    else:
        framed = body
        head = b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body)
    out = drive([head + framed[: len(framed) // 2], framed[len(framed) // 2 :]])
    answers = check_outcome(out)
    assert [a.status for a in answers] == ([200] if delta <= 0 else [413])


@examples(50)
@given(st.data(), st.binary(max_size=200), st.binary(min_size=16, max_size=16))
def test_an_upgrade_hands_every_later_byte_to_the_websocket(
    data: st.DataObject, after: bytes, nonce: bytes
) -> None:
    request = (
        b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.b64encode(nonce) + b"\r\n\r\n"
    )
    pieces, pauses = data.draw(split(request + after))
    out = drive(pieces, pauses)
    answers = check_outcome(out)
    assert [a.status for a in answers] == [101]
    assert out.upgraded == after


def test_an_unknown_expectation_is_answered_with_its_reason_phrase() -> None:
    """Regression: 417 was missing from REASONS, so it went out as "417 Unknown"."""
    out = drive([b"GET /echo HTTP/1.1\r\nHost: h\r\nExpect: bogus\r\n\r\n"])
    assert out.writes[0].startswith(b"HTTP/1.1 417 Expectation Failed\r\n")
    assert [a.status for a in check_outcome(out)] == [417] and out.closed
