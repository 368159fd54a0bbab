"""RTSP probe against GStreamer's real RTSP server on loopback, and against raw asyncio
servers for the failure modes a real server will not produce on demand."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

import pytest

from camera_service.net import rtsp
from camera_service.net.rtsp import (
    RtspError,
    RtspProbe,
    VideoInfo,
    parse_challenges,
    probe,
)
from tests.support.rtsp_server import RtspCamera

USER = "camuser-7f3a"
PASSWORD = "pa55-Zq9!x"
BASIC_TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (USER, PASSWORD, BASIC_TOKEN)


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"credential leaked into {text!r}"


# --- against GStreamer's RTSP server -------------------------------------------------


@pytest.fixture
async def camera() -> AsyncIterator[RtspCamera]:
    async with RtspCamera(640, 360, 15) as cam:
        yield cam


async def test_options_describe_reads_codec_size_and_rate(camera: RtspCamera) -> None:
    started = time.perf_counter()
    result = await probe(camera.url, None, None, 5.0)
    elapsed = time.perf_counter() - started
    assert result.ok and result.status == 200
    assert result.server == "GStreamer RTSP server"
    assert "m=video" in result.sdp and "sprop-parameter-sets=" in result.sdp
    assert result.video == VideoInfo("H264", 640, 360, 15.0)
    assert elapsed < 2.0  # ~10 ms on loopback; generous for loaded CI


async def test_repeated_probes_all_succeed(camera: RtspCamera) -> None:
    results = [await probe(camera.url, None, None, 5.0) for _ in range(3)]
    results += await asyncio.gather(*(probe(camera.url, None, None, 5.0) for _ in range(3)))
    assert all(r.ok for r in results)


@pytest.mark.parametrize(("width", "height", "fps"), [(1280, 720, 30), (1920, 1080, 25)])
async def test_size_comes_from_the_sps(width: int, height: int, fps: int) -> None:
    async with RtspCamera(width, height, fps) as cam:
        result = await probe(cam.url, None, None, 10.0)
    # GStreamer states a=framerate but no size attribute: the size is the SPS's, and
    # 1080 lines are coded as 1088 with cropping.
    assert "x-dimensions" not in result.sdp and "framesize" not in result.sdp
    assert result.video == VideoInfo("H264", width, height, float(fps))


async def test_stopped_camera_is_unreachable_and_comes_back_on_same_port(
    camera: RtspCamera,
) -> None:
    url, port = camera.url, camera.port
    assert (await probe(url, None, None, 5.0)).ok
    await camera.stop()
    with pytest.raises(RtspError) as info:
        await probe(url, None, None, 5.0)
    assert info.value.kind == "unreachable"
    assert f"127.0.0.1:{port}" in str(info.value)
    await camera.restart()
    assert camera.port == port and camera.url == url
    assert (await probe(url, None, None, 5.0)).ok


async def test_wrong_path_is_not_found(camera: RtspCamera) -> None:
    with pytest.raises(RtspError) as info:
        await probe(f"rtsp://127.0.0.1:{camera.port}/no-such-stream", None, None, 5.0)
    assert info.value.kind == "not_found"
    assert "404" in str(info.value)


@pytest.mark.parametrize("scheme", ["basic", "digest"])
async def test_auth_against_real_server(
    scheme: Literal["basic", "digest"], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with RtspCamera(640, 360, 15, user=USER, password=PASSWORD, auth=scheme) as cam:
        good = await probe(cam.url, USER, PASSWORD, 5.0)
        assert good.ok and good.video == VideoInfo("H264", 640, 360, 15.0)
        failures = []
        for user, password in [(USER, "wrong-" + PASSWORD), ("other", PASSWORD), (None, None)]:
            with pytest.raises(RtspError) as info:
                await probe(cam.url, user, password, 5.0)
            assert info.value.kind == "auth"
            failures.append(info.value)
    assert "rejected" in str(failures[0]) and "none are configured" in str(failures[2])
    assert_no_secrets(
        repr(good),
        str(good),
        *(str(e) for e in failures),
        *(repr(e) for e in failures),
        *(repr(e.args) for e in failures),
        caplog.text,
        *(repr(r.args) for r in caplog.records),
    )


# --- raw servers for the rest ------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A loopback TCP server; yields an rtsp:// URL for it. Handlers end at client EOF."""
    connections: list[asyncio.Task[None]] = []

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.append(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # client gone, or the test is over; ending normally keeps asyncio quiet
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"rtsp://127.0.0.1:{port}/stream"
    finally:
        server.close()
        # Handlers end at the client's EOF; give them a moment, then cancel stragglers.
        _, pending = await asyncio.wait(connections, timeout=2.0) if connections else ((), ())
        for task in pending:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    line, *rest = head.decode().split("\r\n")
    headers = {}
    for h in rest:
        if h:
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
    return line, headers


def answer(status: str, cseq: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"RTSP/1.0 {status}", f"CSeq: {cseq}", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n"
    b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    b"a=fmtp:96 packetization-mode=1;sprop-parameter-sets="
    b"Z2QAKKzZQHgCJ+XARAAAAwAEAAADAMg8YMZY,aOvjyyLA\r\n"
)


async def until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(4096):
        pass


async def test_silent_server_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await until_eof(reader)  # accept, read, never answer

    async with raw_server(silent) as url:
        started = time.perf_counter()
        with pytest.raises(RtspError) as info:
            await probe(url, USER, PASSWORD, 0.3)
        elapsed = time.perf_counter() - started
    assert info.value.kind == "timeout"
    assert "0.3s" in str(info.value) and "OPTIONS" in str(info.value)
    assert 0.3 <= elapsed < 2.0


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "did not answer with RTSP"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "did not answer with RTSP"),
        (b"RTSP/1.0 200 OK\r\nCSeq 1\r\n\r\n", "malformed header"),
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: -5\r\n\r\n", "Content-Length"),
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 10\r\n\r\nabc", "mid-body"),
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServ", "mid-response"),
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n", "16384"),
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n" + b"X: aaaa\r\n" * 2000 + b"\r\n", "16384"),
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 70000\r\n\r\n", "65536"),
    ],
    ids=["http", "tls", "no-colon", "neg-length", "short-body", "cut", "long-line", "many", "big"],
)
async def test_garbage_is_a_protocol_error(reply: bytes, match: str) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        if b"Content-Length: 10\r\n" in reply or reply.endswith(b"Serv"):
            writer.close()  # truncation: hang up after the partial answer
            return
        await until_eof(reader)

    async with raw_server(garbage) as url:
        with pytest.raises(RtspError) as info:
            await probe(url, None, None, 2.0)
    assert info.value.kind == "protocol"
    assert match in str(info.value)


async def test_describe_without_sdp_is_a_protocol_error() -> None:
    async def no_sdp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, h = await read_request(reader)
            writer.write(answer("200 OK", h["cseq"], body=b"<html>camera</html>"))

    async with raw_server(no_sdp) as url:
        with pytest.raises(RtspError, match="without an SDP") as info:
            await probe(url, None, None, 2.0)
    assert info.value.kind == "protocol"


async def test_hang_up_without_answer_is_unreachable() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(hang_up) as url:
        with pytest.raises(RtspError, match="closed the connection") as info:
            await probe(url, None, None, 2.0)
    assert info.value.kind == "unreachable"


async def test_unresolvable_and_bad_urls() -> None:
    cases = {
        "rtsps://127.0.0.1:1/x": "rtsps:// (RTSP over TLS) is not supported",
        "http://127.0.0.1/x": "not an rtsp:// URL",
        f"rtsp://{USER}:{PASSWORD}@127.0.0.1/x": "must not contain credentials",
        "rtsp://127.0.0.1:99999/x": "invalid port",
        "rtsp://127.0.0.1/a b": "spaces",
        "rtsp://127.0.0.1/a\r\nX: y": "control characters",
    }
    for url, message in cases.items():
        with pytest.raises(RtspError) as info:
            await probe(url, None, None, 1.0)
        assert info.value.kind == "protocol" and message in str(info.value)
        assert_no_secrets(str(info.value), repr(info.value))


async def test_status_other_than_auth_and_404_is_not_ok() -> None:
    async def busy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line, h = await read_request(reader)
            if line.startswith("OPTIONS"):
                writer.write(answer("200 OK", h["cseq"], "Server: FakeCam/1.0"))
            else:
                writer.write(answer("503 Service Unavailable", h["cseq"]))

    async with raw_server(busy) as url:
        result = await probe(url, None, None, 2.0)
    assert result == RtspProbe(ok=False, status=503, server="FakeCam/1.0", sdp="", video=None)


async def test_forbidden_is_auth() -> None:
    async def forbidden(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, h = await read_request(reader)
            writer.write(answer("403 Forbidden", h["cseq"]))

    async with raw_server(forbidden) as url:
        with pytest.raises(RtspError, match="403") as info:
            await probe(url, None, None, 2.0)
    assert info.value.kind == "auth"


def expected_digest(h: dict[str, str], method: str, password: str, algorithm: str) -> str:
    """Independent RFC 7616 computation from the header the client sent."""
    fields = re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', h["authorization"][7:])
    p = {k: quoted or bare for k, quoted, bare in fields}
    name = "sha256" if algorithm.upper().startswith("SHA-256") else "md5"

    def hh(s: str) -> str:
        return hashlib.new(name, s.encode()).hexdigest()

    ha1 = hh(f"{p['username']}:{p['realm']}:{password}")
    if algorithm.lower().endswith("-sess"):
        ha1 = hh(f"{ha1}:{p['nonce']}:{p['cnonce']}")
    ha2 = hh(f"{method}:{p['uri']}")
    if "qop" in p:
        return hh(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}")
    return hh(f"{ha1}:{p['nonce']}:{ha2}")


@pytest.mark.parametrize(
    ("challenge", "algorithm"),
    [
        ('Digest realm="cam", nonce="abc123", qop="auth,auth-int", opaque="op"', "MD5"),
        ('Digest realm="cam", nonce="abc123", algorithm=MD5', "MD5"),  # RFC 2069, no qop
        ('Digest realm="cam", nonce="abc123", qop="auth", algorithm=MD5-sess', "MD5-sess"),
        ('Digest realm="cam", nonce="n2", qop="auth", algorithm=SHA-256', "SHA-256"),
        # Basic listed first: Digest still wins; an unknown algorithm is skipped.
        (
            'Basic realm="cam", Digest realm="cam", nonce="x", algorithm=SHA-512-256, '
            'Digest realm="cam", nonce="y", qop="auth"',
            "MD5",
        ),
    ],
    ids=["md5-qop", "md5-no-qop", "md5-sess", "sha256", "choose"],
)
async def test_digest_variants(challenge: str, algorithm: str) -> None:
    seen: list[dict[str, str]] = []

    async def digest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line, h = await read_request(reader)
            method = line.split()[0]
            auth = h.get("authorization", "")
            if auth.startswith("Digest ") and re.search(
                rf'response="{expected_digest(h, method, PASSWORD, algorithm)}"', auth
            ):
                seen.append(h)
                body = SDP if method == "DESCRIBE" else b""
                writer.write(answer("200 OK", h["cseq"], body=body))
            else:
                writer.write(
                    answer("401 Unauthorized", h["cseq"], f"WWW-Authenticate: {challenge}")
                )

    async with raw_server(digest) as url:
        result = await probe(url, USER, PASSWORD, 2.0)
    assert result.ok and result.video == VideoInfo("H264", 1920, 1080, 25.0)
    assert [h["cseq"] for h in seen] == ["2", "3"]  # OPTIONS retried once, DESCRIBE direct
    if "qop" in challenge:
        assert "nc=00000001" in seen[0]["authorization"]
        assert "nc=00000002" in seen[1]["authorization"]
    if "opaque" in challenge:
        assert 'opaque="op"' in seen[0]["authorization"]


def test_digest_rfc_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 2617 §3.5 and RFC 7616 §3.9.1 examples (with method GET, as the RFCs use).
    cases = [
        (
            "Mufasa",
            "Circle Of Life",
            'Digest realm="testrealm@host.com", qop="auth,auth-int", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
            'opaque="5ccc069c403ebaf9f0171e9517f40e41"',
            "0a4f113b",
            "6629fae49393a05397450978507c4ef1",
        ),
        (
            "Mufasa",
            "Circle of Life",
            'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
            'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
            'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
        (
            "Mufasa",
            "Circle of Life",
            'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, '
            'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
            'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            "8ca523f5e9506fed4657c9700eebdbec",
        ),
    ]
    for user, password, challenge, cnonce, response in cases:
        monkeypatch.setattr(secrets, "token_hex", lambda _n, c=cnonce: c)
        authorizer = rtsp._Authorizer.choose(user, password, [challenge], "test")
        header = authorizer.header("GET", "/dir/index.html")
        assert f'response="{response}"' in header
        assert 'qop=auth, nc=00000001, cnonce="' + cnonce + '"' in header
        assert password not in header and password not in repr(authorizer)


def test_parse_challenges() -> None:
    parsed = parse_challenges(
        [
            'Digest realm="a, \\"b\\"", nonce=xyz, qop="auth", Basic realm="r"',
            "Negotiate, NTLM",
        ]
    )
    assert [(c.scheme, c.params) for c in parsed] == [
        ("digest", {"realm": 'a, "b"', "nonce": "xyz", "qop": "auth"}),
        ("basic", {"realm": "r"}),
        ("negotiate", {}),
        ("ntlm", {}),
    ]


async def test_unsupported_auth_scheme() -> None:
    async def ntlm(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, h = await read_request(reader)
            writer.write(answer("401 Unauthorized", h["cseq"], "WWW-Authenticate: NTLM"))

    async with raw_server(ntlm) as url:
        with pytest.raises(RtspError, match=r"no supported authentication \(offered: ntlm\)"):
            await probe(url, USER, PASSWORD, 2.0)


async def test_dropped_keepalive_connection_is_reopened_once() -> None:
    connections = 0

    async def one_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal connections
        connections += 1
        line, h = await read_request(reader)
        body = SDP if line.startswith("DESCRIBE") else b""
        # A stale answer (earlier CSeq) first: the client must skip it.
        writer.write(answer("200 OK", "0") + answer("200 OK", h["cseq"], body=body))
        await writer.drain()  # then hang up without "Connection: close"

    async with raw_server(one_per_connection) as url:
        result = await probe(url, None, None, 2.0)
    assert result.ok and connections == 2


async def test_hostile_server_echoing_credentials_leaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that reflects our Authorization header and credentials back into the
    status line, headers and SDP: none of it may surface."""
    caplog.set_level(logging.DEBUG)
    reflected = f"{BASIC_TOKEN} {USER}:{PASSWORD}"

    def make(mode: str) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                _, h = await read_request(reader)
                if "authorization" not in h:
                    writer.write(
                        answer("401 Unauthorized", h["cseq"], 'WWW-Authenticate: Basic realm="x"')
                    )
                elif mode == "status":
                    writer.write(f"RTSP/1.0 {reflected}\r\n\r\n".encode())
                elif mode == "realm":
                    writer.write(
                        answer("401 Unauthorized", h["cseq"], f"WWW-Authenticate: {reflected}")
                    )
                else:
                    body = SDP + f"a=x-echo:{reflected} {h['authorization']}\r\n".encode()
                    server = f"Server: {reflected}"
                    writer.write(answer("200 OK", h["cseq"], server, body=body))

        return handler

    texts: list[str] = []
    for mode in ("status", "realm", "ok"):
        async with raw_server(make(mode)) as url:
            try:
                result = await probe(url, USER, PASSWORD, 2.0)
            except RtspError as exc:
                texts += [str(exc), repr(exc), repr(exc.args)]
            else:
                assert result.ok
                texts += [repr(result), result.sdp, result.server or ""]
    assert len(texts) == 9
    assert "***" in texts[0]  # the status line snippet was scrubbed, not dropped
    assert_no_secrets(*texts, caplog.text, *(repr(r.args) for r in caplog.records))


async def test_credentials_without_control_characters_only() -> None:
    with pytest.raises(RtspError, match="control characters") as info:
        await probe("rtsp://127.0.0.1:1/x", "bad\r\nuser", PASSWORD, 1.0)
    assert info.value.kind == "auth"
    assert_no_secrets(str(info.value))
    with pytest.raises(RtspError, match="together"):
        await probe("rtsp://127.0.0.1:1/x", USER, None, 1.0)
