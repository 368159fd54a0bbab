"""The HTTP/1.1 + WebSocket transport over real loopback sockets (api.md §1).

Raw ``asyncio.open_connection`` clients misbehave on purpose; aiohttp is the
well-behaved bystander that shows the service keeps serving everyone else.
Nothing sleeps to synchronize: every wait is for a reply, a frame or EOF, with a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from camera_service.api.websocket import CLOSE_TIMEOUT
from camera_service.app import Application
from camera_service.net import httpserver
from tests.conftest import make_settings, make_token
from tests.support.rawws import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WAIT,
    HttpResponse,
    Opener,
    WsClient,
    close_payload,
    frame,
    get,
    read_eof,
    read_handshake,
    read_response,
    rpc,
    text,
    upgrade_request,
)

PROMPT = CLOSE_TIMEOUT / 2  # "promptly": well before the server's own close timer fires


# --- fixtures ------------------------------------------------------------------------------


Factory = Callable[..., Awaitable[Application]]


@pytest.fixture
async def start_service(tmp_path: Path) -> AsyncIterator[Factory]:
    apps: list[Application] = []

    async def _start(**server: Any) -> Application:
        app = Application(make_settings(tmp_path / str(len(apps)), server=server))
        await app.start()
        apps.append(app)
        app.ws.set_rate_limit(100_000)
        return app

    yield _start
    for app in apps:
        await app.stop()


@pytest.fixture
async def app(start_service: Factory) -> Application:
    return await start_service()


async def assert_serving(app: Application) -> None:
    """An independent well-behaved client gets HTTP and WebSocket service."""
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{app.health_port}/health/live") as r:
            assert r.status == 200
        async with s.ws_connect(f"ws://127.0.0.1:{app.ws_port}/ws") as ws:
            await ws.send_str(rpc("ping", 7).decode())
            msg = await ws.receive(timeout=WAIT)
            assert orjson.loads(msg.data) == {"jsonrpc": "2.0", "result": "pong", "id": 7}


# === handshake =============================================================================


@pytest.mark.parametrize("path", ["/ws", "/"])
async def test_handshake_with_a_request_in_the_same_write(
    app: Application, opener: Opener, path: str
) -> None:
    # the frame rides in the same segment as the upgrade request: nothing may be lost
    c = await WsClient.connect(opener, app.ws_port, path, then=text(rpc("ping", 1)))
    assert await c.reply() == {"jsonrpc": "2.0", "result": "pong", "id": 1}


@pytest.mark.parametrize(
    ("changes", "statuses"),
    [
        ({"Sec-WebSocket-Key": None}, {400}),
        ({"Sec-WebSocket-Key": "not-base64!"}, {400}),
        ({"Sec-WebSocket-Key": base64.b64encode(b"short").decode()}, {400}),
        ({"Sec-WebSocket-Version": "8"}, {426}),
        ({"Sec-WebSocket-Version": None}, {426}),
        ({"method": "POST"}, {400, 405}),
    ],
    ids=["no-key", "bad-key", "short-key", "version-8", "no-version", "post"],
)
async def test_handshake_refused(
    app: Application, opener: Opener, changes: dict[str, str | None], statuses: set[int]
) -> None:
    reader, writer = await opener(app.ws_port)
    writer.write(upgrade_request("/ws", **changes))
    response = await read_handshake(reader)
    assert response.status in statuses, response
    if response.status == 426:
        assert response.headers["sec-websocket-version"] == "13"
    assert response.headers["connection"] == "close"
    assert "error" in orjson.loads(response.body)
    assert await read_eof(reader) == b""
    assert not app.ws.connections
    await assert_serving(app)


def _handshake_lines(version: str = "1.1", drop: str = "", extra: tuple[str, ...] = ()) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET /ws HTTP/{version}",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    lines = [line for line in lines if not drop or not line.startswith(drop)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (_handshake_lines(version="1.0"), 400),  # RFC 6455 §4.2.1: HTTP/1.1 or higher
        (_handshake_lines(drop="Host:"), 400),  # §4.2.1 (2); RFC 9112 §3.2
        (_handshake_lines(extra=("Host: 127.0.0.2",)), 400),  # RFC 9112 §3.2
        (  # RFC 6455 §11.3.1: the key MUST NOT appear more than once
            _handshake_lines(extra=(f"Sec-WebSocket-Key: {base64.b64encode(b'x' * 16).decode()}",)),
            400,
        ),
        (_handshake_lines(extra=("Sec-WebSocket-Version: 13",)), 426),  # §11.3.5
    ],
    ids=["http-1.0", "no-host", "two-hosts", "two-keys", "two-versions"],
)
async def test_handshake_refused_per_the_rfcs(
    app: Application, opener: Opener, request_bytes: bytes, status: int
) -> None:
    reader, writer = await opener(app.ws_port)
    writer.write(request_bytes)
    response = await read_handshake(reader)
    assert response.status == status, response
    assert await read_eof(reader) == b""
    assert not app.ws.connections
    await assert_serving(app)


async def test_a_plain_request_without_host_is_400(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(b"GET /health/live HTTP/1.1\r\n\r\n")
    assert (await read_response(reader)).status == 400
    reader, writer = await opener(app.health_port)
    writer.write(b"GET /health/live HTTP/1.0\r\n\r\n")  # HTTP/1.0 needs no Host
    assert (await read_response(reader)).status == 200


async def test_plain_get_on_ws_path_is_426_and_keeps_the_connection(
    app: Application, opener: Opener
) -> None:
    reader, writer = await opener(app.ws_port)
    writer.write(get("/ws") + get("/ws", method="HEAD") + get("/", method="HEAD"))
    first = await read_response(reader)
    assert first.status == 426 and first.headers["upgrade"] == "websocket"
    second = await read_response(reader, head=True)
    assert second.status == 426 and int(second.headers["content-length"]) == len(first.body)
    # "/" is a WebSocket path with a page of its own: a plain request gets the dashboard.
    third = await read_response(reader, head=True)
    assert third.status == 200 and third.headers["content-type"].startswith("text/html")
    # still open: a real upgrade on the same connection works
    key = base64.b64encode(os.urandom(16))
    writer.write(upgrade_request("/ws", key.decode()) + text(rpc("ping", 3)))
    assert (await read_handshake(reader)).status == 101
    assert orjson.loads((await WsClient(reader, writer).recv())[1])["id"] == 3


@pytest.mark.parametrize("path", ["/health/live", "/nope", "/ws/"])
async def test_upgrade_on_a_non_upgrade_path_is_404(
    app: Application, opener: Opener, path: str
) -> None:
    reader, writer = await opener(app.ws_port)
    writer.write(upgrade_request(path))
    response = await read_handshake(reader)
    assert response.status == 404 and response.headers["connection"] == "close"
    assert await read_eof(reader) == b""


async def test_upgrade_on_the_health_port_is_404(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(upgrade_request("/ws"))
    response = await read_handshake(reader)
    assert response.status == 404
    assert await read_eof(reader) == b""


async def test_upgrade_to_another_protocol_refused(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.ws_port)
    writer.write(upgrade_request("/ws", Upgrade="h2c"))
    response = await read_handshake(reader)
    assert response.status == 400


# === frames on the wire ==========================================================================


async def test_request_written_one_byte_at_a_time(app: Application, opener: Opener) -> None:
    c = await WsClient.connect(opener, app.ws_port)
    data = text(rpc("ping", 1)) + frame(OP_PING, b"hi", key=os.urandom(4))
    for i in range(len(data)):
        c.send(data[i : i + 1])
        await c.writer.drain()
    assert await c.reply() == {"jsonrpc": "2.0", "result": "pong", "id": 1}
    assert await c.recv() == (OP_PONG, b"hi")


async def test_many_requests_in_one_write_answered_in_order(
    app: Application, opener: Opener
) -> None:
    c = await WsClient.connect(opener, app.ws_port)
    c.send(text(rpc("ping", 1)) + text(rpc("ping", 2)))
    assert [(await c.reply())["id"] for _ in range(2)] == [1, 2]
    c.send(b"".join(text(rpc("ping", i)) for i in range(3, 203)))
    assert [(await c.reply())["id"] for _ in range(200)] == list(range(3, 203))


async def test_waiting_request_then_ping_in_one_write(app: Application, opener: Opener) -> None:
    """An API-key lookup goes to the DB thread; the ping behind it must wait its turn."""
    c = await WsClient.connect(opener, app.ws_port)
    api_key = "csk_" + "A" * 43
    c.send(text(rpc("authenticate", 1, auth_token=api_key)) + text(rpc("ping", 2)))
    first = await c.reply()
    assert first["id"] == 1 and first["error"]["code"] == -32001
    assert await c.reply() == {"jsonrpc": "2.0", "result": "pong", "id": 2}
    # far more than the inbox holds behind a waiting request: reading pauses and resumes
    burst = text(rpc("authenticate", 3, auth_token=api_key))
    burst += b"".join(text(rpc("ping", i)) for i in range(4, 304))
    c.send(burst)
    ids = [(await c.reply())["id"] for _ in range(301)]
    assert ids == list(range(3, 304))
    c.send(text(rpc("ping", 999)))
    assert (await c.reply())["id"] == 999


async def test_authenticate_applies_before_the_next_request_in_the_same_write(
    app: Application, opener: Opener
) -> None:
    c = await WsClient.connect(opener, app.ws_port)
    c.send(
        text(rpc("authenticate", 1, auth_token=make_token("admin")))
        + text(rpc("get_status", 2))
        + text(rpc("ping", None))  # a notification: no reply
        + text(rpc("ping", 3))
    )
    assert (await c.reply())["result"]["authenticated"] is True
    status = await c.reply()
    assert status["id"] == 2 and "result" in status, status
    assert (await c.reply())["id"] == 3


async def test_fragmented_message_with_ping_between_fragments(
    app: Application, opener: Opener
) -> None:
    c = await WsClient.connect(opener, app.ws_port)
    msg = rpc("ping", 41)
    key = os.urandom(4)
    c.send(frame(OP_TEXT, msg[:5], fin=False, key=key))
    c.send(frame(OP_PING, b"are you there", key=os.urandom(4)))
    c.send(frame(OP_CONT, msg[5:9], fin=False, key=os.urandom(4)))
    c.send(frame(OP_PONG, b"unsolicited", key=os.urandom(4)))  # ignored
    c.send(frame(OP_CONT, msg[9:], key=os.urandom(4)))
    assert await c.recv() == (OP_PONG, b"are you there")
    assert await c.reply() == {"jsonrpc": "2.0", "result": "pong", "id": 41}


@pytest.mark.parametrize("payload", [b"", b"x" * 125, bytes(range(100))])
async def test_ping_answered_with_the_same_payload(
    app: Application, opener: Opener, payload: bytes
) -> None:
    c = await WsClient.connect(opener, app.ws_port)
    c.send(frame(OP_PING, payload, key=os.urandom(4)))
    assert await c.recv() == (OP_PONG, payload)


@pytest.mark.parametrize(("size", "width"), [(126, 16), (65_535, 16), (65_536, 64), (200_000, 64)])
async def test_extended_lengths(app: Application, opener: Opener, size: int, width: int) -> None:
    c = await WsClient.connect(opener, app.ws_port)
    msg = rpc("ping", 5)
    c.send(text(msg + b" " * (size - len(msg)), width=width))
    assert (await c.reply())["id"] == 5


async def test_exact_max_size_accepted_and_one_more_refused_from_the_header(
    start_service: Factory, opener: Opener
) -> None:
    app = await start_service(max_message_bytes=1024)
    c = await WsClient.connect(opener, app.ws_port)
    msg = rpc("ping", 1)
    c.send(text(msg + b" " * (1024 - len(msg))))
    assert (await c.reply())["id"] == 1
    # fragments count together: 1000 + 24 fits
    c.send(text(msg + b" " * (1000 - len(msg)), fin=False) + frame(OP_CONT, b" " * 24))
    assert (await c.reply())["id"] == 1

    d = await WsClient.connect(opener, app.ws_port)
    # only the header of a 1025-byte frame: no mask key, no payload
    d.send(frame(OP_TEXT, b"", length=1025, width=16)[:4])
    assert "1024" in await d.expect_close(1009)
    d.send(frame(OP_CLOSE, close_payload(1009), key=os.urandom(4)))
    await d.expect_eof(allow_reset=True)

    e = await WsClient.connect(opener, app.ws_port)
    e.send(text(msg + b" " * (1000 - len(msg)), fin=False) + frame(OP_CONT, b"", length=25)[:2])
    await e.expect_close(1009)
    await assert_serving(app)


async def test_connection_ends_promptly_after_1009_while_the_payload_still_arrives(
    start_service: Factory, opener: Opener
) -> None:
    app = await start_service(max_message_bytes=1024)
    c = await WsClient.connect(opener, app.ws_port)
    big = text(b"x" * 2000, key=b"\0\0\0\0")  # deterministic bytes after the header
    c.send(big[:8])  # the header and mask key
    await c.expect_close(1009)
    # what a real client does: finish writing its frame, then answer the close
    c.send(big[8:] + frame(OP_CLOSE, close_payload(1009), key=os.urandom(4)))
    await c.expect_eof(allow_reset=True)


# --- protocol violations ------------------------------------------------------------------------

FOLLOWUP = text(rpc("ping", 77))  # sent in the same write: must not be answered

VIOLATIONS = {
    "unmasked": (frame(OP_TEXT, rpc("ping", 1), key=None), 1002),
    "rsv1": (frame(OP_TEXT, rpc("ping", 1), rsv=4, key=os.urandom(4)), 1002),
    "rsv3": (frame(OP_PING, b"", rsv=1, key=os.urandom(4)), 1002),
    "opcode-3": (frame(3, b"x", key=os.urandom(4)), 1002),
    "opcode-0xB": (frame(0xB, b"", key=os.urandom(4)), 1002),
    "ping-126": (frame(OP_PING, b"p" * 126, key=os.urandom(4)), 1002),
    "close-126": (frame(OP_CLOSE, close_payload(1000, b"r" * 124), key=os.urandom(4)), 1002),
    "fragmented-ping": (frame(OP_PING, b"p", fin=False, key=os.urandom(4)), 1002),
    "lone-continuation": (frame(OP_CONT, rpc("ping", 1), key=os.urandom(4)), 1002),
    "new-message-in-fragments": (
        frame(OP_TEXT, b'{"a":', fin=False, key=os.urandom(4)) + text(rpc("ping", 1)),
        1002,
    ),
    "binary": (frame(OP_BINARY, rpc("ping", 1), key=os.urandom(4)), 1003),
    "invalid-utf8": (text(b'{"jsonrpc":"2.0","method":"ping","id":1,"x":"\xff"}'), 1007),
    "surrogate-utf8": (text(b'"\xed\xa0\x80"'), 1007),
    "truncated-utf8": (text(b'"\xc3'), 1007),
    "fragmented-invalid-utf8": (
        frame(OP_TEXT, b'"\xe2\x82', fin=False, key=os.urandom(4))
        + frame(OP_CONT, b'\x28"', key=os.urandom(4)),
        1007,
    ),
}


@pytest.mark.parametrize("name", list(VIOLATIONS))
async def test_protocol_violation_closes_with_code(
    app: Application, opener: Opener, name: str
) -> None:
    bad, code = VIOLATIONS[name]
    c = await WsClient.connect(opener, app.ws_port)
    c.send(text(rpc("ping", 1)))
    assert (await c.reply())["id"] == 1
    c.send(bad + FOLLOWUP)
    await c.expect_close(code)  # and nothing before it: the follow-up is not answered
    c.send(frame(OP_CLOSE, close_payload(code), key=os.urandom(4)))
    await c.expect_eof(allow_reset=True)
    await assert_serving(app)


async def test_valid_utf8_split_across_fragments_accepted(app: Application, opener: Opener) -> None:
    c = await WsClient.connect(opener, app.ws_port)
    msg = '{"jsonrpc":"2.0","method":"ping","id":9,"x":"€"}'.encode()
    cut = msg.index("€".encode()) + 1  # inside the 3-byte character
    c.send(frame(OP_TEXT, msg[:cut], fin=False, key=os.urandom(4)))
    c.send(frame(OP_CONT, msg[cut:], key=os.urandom(4)))
    assert (await c.reply())["id"] == 9


# --- the close handshake ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "echo"),
    [
        (close_payload(1000), 1000),
        (close_payload(1000, "bye ✓".encode()), 1000),
        (close_payload(1001), 1001),
        (close_payload(3000, b"app"), 3000),
        (b"", 1000),  # no code: the server answers 1000
        (b"\x03", 1002),  # 1-byte payload
        (close_payload(1005), 1002),  # reserved, never on the wire
        (close_payload(999), 1002),
        (close_payload(2000), 1002),
        (close_payload(1000, b"\xff\xfe"), 1007),
    ],
    ids=["1000", "1000-reason", "1001", "3000", "empty", "1-byte", "1005", "999", "2000", "utf8"],
)
async def test_client_close(app: Application, opener: Opener, payload: bytes, echo: int) -> None:
    c = await WsClient.connect(opener, app.ws_port)
    c.send(frame(OP_CLOSE, payload, key=os.urandom(4)) + FOLLOWUP)
    await c.expect_close(echo)
    await c.expect_eof()  # the server ends the TCP connection (RFC 6455 §7.1.1)


async def test_server_forgets_closed_connections(app: Application, opener: Opener) -> None:
    c = await WsClient.connect(opener, app.ws_port)
    assert len(app.ws.connections) == 1
    c.send(frame(OP_CLOSE, close_payload(1000), key=os.urandom(4)))
    await c.expect_close(1000)
    await c.expect_eof()
    # the FIN is sent only after connection_lost ran
    assert not app.ws.connections and app.metrics.active_connections == 0


async def test_close_handshake_with_aiohttp(app: Application) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(f"ws://127.0.0.1:{app.ws_port}/ws") as ws,
    ):
        assert await ws.close(code=3001)
        assert ws.close_code == 3001  # the code the server echoed


# === HTTP ===================================================================================


async def test_pipelined_gets_answered_in_order(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(
        get("/health/live")
        + get("/nope")
        + get("/health/live", method="HEAD")
        + get("/health/ready")
        + get("/health/live", method="POST")
    )
    live = await read_response(reader)
    assert live.status == 200
    assert (await read_response(reader)).status == 404
    head = await read_response(reader, head=True)
    assert head.status == 200 and int(head.headers["content-length"]) == len(live.body)
    ready = await read_response(reader)
    assert ready.status == 200 and ready.json()["status"] == "ready"
    assert (await read_response(reader)).status == 405
    # kept alive
    writer.write(get("/health/live"))
    assert (await read_response(reader)).status == 200


async def test_head_has_content_length_and_no_body(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(get("/health/live", method="HEAD", version="1.0"))
    raw = await read_eof(reader)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    assert int(headers[b"Content-Length"]) > 0 and body == b""


async def test_connection_close_closes_after_the_response(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(get("/health/live", "Connection: close"))
    response = await read_response(reader)
    assert response.status == 200 and response.headers["connection"] == "close"
    assert await read_eof(reader) == b""


async def test_http_1_0_closes_after_the_response(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(get("/health/live", version="1.0"))
    response = await read_response(reader)
    assert response.status == 200 and response.headers["connection"] == "close"
    assert await read_eof(reader) == b""


HUGE_HEADERS = {
    "many-headers": get("/health/live", *(f"X-Pad-{i}: {'v' * 100}" for i in range(200))),
    "long-url": get("/health/live?" + "q" * 17_000),
}


@pytest.mark.parametrize("what", list(HUGE_HEADERS))
async def test_huge_headers_refused_and_closed(app: Application, opener: Opener, what: str) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(HUGE_HEADERS[what])
    response = await read_response(reader)
    assert response.status in (400, 431) and response.headers["connection"] == "close"
    assert await read_eof(reader) == b""
    await assert_serving(app)


@pytest.mark.parametrize("what", list(HUGE_HEADERS))
async def test_huge_headers_431(app: Application, opener: Opener, what: str) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(HUGE_HEADERS[what])
    response = await read_response(reader)
    assert response.status == 431


async def test_headers_just_under_the_limit_accepted(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(get("/health/live", *(f"X-Pad-{i}: {'v' * 100}" for i in range(140))))
    assert (await read_response(reader)).status == 200


async def test_one_endless_header_431(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 17 * 1024)
    response = await read_response(reader, timeout=PROMPT)
    assert response.status == 431


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET / FTP/1.1\r\n\r\n",
        b"GET /health/live HTTP/1.1\r\nBad Header\r\n\r\n",
    ],
    ids=["tls-hello", "bad-version", "bad-header"],
)
async def test_garbage_400(app: Application, opener: Opener, garbage: bytes) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(garbage)
    response = await read_response(reader)
    assert response.status == 400 and response.headers["connection"] == "close"
    assert await read_eof(reader) == b""
    await assert_serving(app)


async def test_post_on_a_get_route_405(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(
        b"POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        + get("/health/live")
    )
    response = await read_response(reader)
    assert response.status == 405 and response.headers["allow"] == "GET, HEAD"
    assert (await read_response(reader)).status == 200  # the body was consumed, not parsed


async def test_unknown_path_404(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(get("/no/such/thing") + get("/health/live"))
    missing = await read_response(reader)
    assert missing.status == 404 and missing.json() == {"error": "not found"}
    assert (await read_response(reader)).status == 200  # and the connection survives


async def post_too_large(app: Application, opener: Opener) -> HttpResponse:
    n = httpserver.MAX_BODY_BYTES + 1
    reader, writer = await opener(app.health_port)
    writer.write(f"POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n\r\n".encode())
    writer.write(b"b" * n)
    response = await read_response(reader)
    assert response.headers["connection"] == "close"
    assert await read_eof(reader) == b""
    return response


async def test_body_too_large_refused_and_closed(app: Application, opener: Opener) -> None:
    assert (await post_too_large(app, opener)).status in (400, 413)
    await assert_serving(app)


async def test_body_too_large_413(app: Application, opener: Opener) -> None:
    assert (await post_too_large(app, opener)).status == 413


@pytest.mark.parametrize("tail", ["garbage", "17th", "after-close"])
async def test_error_after_pipelined_requests_keeps_order(
    app: Application, opener: Opener, tail: str
) -> None:
    reader, writer = await opener(app.health_port)
    if tail == "garbage":
        writer.write(get("/health/live") + b"\x00\x01garbage\r\n\r\n")
    elif tail == "17th":
        writer.write(get("/health/live") * (httpserver.MAX_PIPELINED + 1))
    else:  # llhttp: "Data after `Connection: close`"
        writer.write(get("/health/live", "Connection: close") + get("/health/live"))
    assert (await read_response(reader)).status == 200


# --- idle and slow clients ---------------------------------------------------------------------


@pytest.fixture
async def fast_timeout_app(start_service: Factory, monkeypatch: pytest.MonkeyPatch) -> Application:
    monkeypatch.setattr(httpserver, "REQUEST_TIMEOUT", 0.3)
    return await start_service()


@pytest.mark.parametrize("port", ["health", "ws"])
async def test_slowloris_closed_after_the_request_timeout(
    fast_timeout_app: Application, opener: Opener, port: str
) -> None:
    app = fast_timeout_app
    # bystanders connected before: an upgraded WebSocket and a kept-alive HTTP connection
    ws = await WsClient.connect(opener, app.ws_port)
    kept_reader, kept_writer = await opener(app.health_port)
    kept_writer.write(get("/health/live"))
    assert (await read_response(kept_reader)).status == 200

    reader, writer = await opener(app.health_port if port == "health" else app.ws_port)
    path = "/health/live" if port == "health" else "/ws"
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a".encode())
    await writer.drain()
    await assert_serving(app)  # while the slow one hangs on
    # never finished: cut off with nothing sent (the timeout is 0.3 s; allow plenty)
    assert await read_eof(reader, timeout=WAIT) == b""

    # the bystanders outlived the request timeout
    ws.send(text(rpc("ping", 1)))
    assert (await ws.reply())["id"] == 1
    kept_writer.write(get("/health/ready"))
    assert (await read_response(kept_reader)).status == 200
    await assert_serving(app)


async def test_silent_connection_closed_after_the_request_timeout(
    fast_timeout_app: Application, opener: Opener
) -> None:
    reader, _ = await opener(fast_timeout_app.ws_port)
    assert await read_eof(reader, timeout=WAIT) == b""


async def test_slowloris_after_a_kept_alive_request_closed_after_the_request_timeout(
    fast_timeout_app: Application, opener: Opener
) -> None:
    reader, writer = await opener(fast_timeout_app.health_port)
    writer.write(get("/health/live"))
    assert (await read_response(reader)).status == 200
    writer.write(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
    assert await read_eof(reader, timeout=3.0) == b""


# --- Expect: 100-continue (RFC 9110 §10.1.1) ---------------------------------------------------


def post_head(length: int, expect: str = "100-continue") -> bytes:
    return (
        f"POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
        f"Expect: {expect}\r\n\r\n"
    ).encode()


async def test_expect_100_continue_is_answered_before_the_body(
    app: Application, opener: Opener
) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(post_head(2))
    async with asyncio.timeout(PROMPT):  # not the client's own timeout
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"{}" + get("/health/live"))
    assert (await read_response(reader)).status == 405  # the final answer follows
    assert (await read_response(reader)).status == 200


async def test_expect_with_a_body_past_the_limit_gets_413_at_once(
    app: Application, opener: Opener
) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(post_head(httpserver.MAX_BODY_BYTES + 1))
    response = await read_response(reader, timeout=PROMPT)
    assert response.status == 413 and response.headers["connection"] == "close"
    assert await read_eof(reader) == b""


async def test_an_unknown_expectation_gets_417(app: Application, opener: Opener) -> None:
    reader, writer = await opener(app.health_port)
    writer.write(post_head(2, "something-else"))
    assert (await read_response(reader, timeout=PROMPT)).status == 417
