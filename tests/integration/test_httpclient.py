"""The lean HTTP/1.1 client against small raw asyncio servers on loopback, which can
misbehave on purpose (close idle connections, hang, send too much, send garbage)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import orjson
import pytest

from camera_service.net.httpclient import (
    HttpClient,
    HttpConnectError,
    HttpError,
    HttpProtocolError,
    HttpTimeout,
    quote_segment,
)


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    conn: int  # index of the server-side connection it arrived on


@dataclass
class Conn:
    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server: RawServer
    served: int = 0  # requests read on this connection

    async def read_request(self) -> Request | None:
        """The next request, or None when the client closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        req = Request(method, target, headers, body, self.index)
        self.served += 1
        self.server.requests.append(req)
        return req

    async def send(
        self, status: int = 200, body: bytes = b"{}", headers: dict[str, str] | None = None
    ) -> None:
        hdrs = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        hdrs.update(headers or {})
        head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        await self.writer.drain()


Handler = Callable[[Conn], Awaitable[None]]


@dataclass
class RawServer:
    handler: Handler
    port: int = 0
    conns: list[Conn] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)  # a client closed on us
    release: asyncio.Event = field(default_factory=asyncio.Event)  # frees hanging handlers
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_conn, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(len(self.conns), reader, writer, self)
        self.conns.append(conn)
        try:
            await self.handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)

    async def stop(self) -> None:
        self.release.set()
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


Serve = Callable[[Handler], Awaitable[RawServer]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[RawServer] = []

    async def _serve(handler: Handler) -> RawServer:
        server = RawServer(handler)
        await server.start()
        servers.append(server)
        return server

    yield _serve
    for server in servers:
        await server.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[HttpClient]]:
    """Clients to close at the end (before the servers: fixtures unwind in reverse)."""
    made: list[HttpClient] = []
    yield made
    for c in made:
        await c.close()


@pytest.fixture
def client_for(clients: list[HttpClient]) -> Callable[..., HttpClient]:
    def _make(url: str, timeout: float = 5.0, **kw: int | float) -> HttpClient:
        c = HttpClient(url, timeout, **kw)  # type: ignore[arg-type]
        clients.append(c)
        return c

    return _make


async def echo_forever(conn: Conn) -> None:
    """Keep-alive server answering every request with what it received."""
    while (req := await conn.read_request()) is not None:
        await conn.send(body=orjson.dumps({"target": req.target, "n": len(conn.server.requests)}))
    conn.server.closed.set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there now: connecting is refused


# --- framing and keep-alive ----------------------------------------------------------


async def test_keep_alive_reuses_one_connection(serve: Serve, client_for) -> None:
    server = await serve(echo_forever)
    client = client_for(server.url)
    for i in range(1, 4):
        resp = await client.request("GET", "/v3/info")
        assert resp.status == 200 and resp.json() == {"target": "/v3/info", "n": i}
        assert resp.headers["content-type"] == "application/json"
    assert len(server.conns) == 1 and len(server.requests) == 3
    assert client.idle_connections == 1


async def test_chunked_body_across_writes(serve: Serve, client_for) -> None:
    payload = orjson.dumps({"items": [{"name": f"cam{i}"} for i in range(200)]})

    async def chunked(conn: Conn) -> None:
        while await conn.read_request() is not None:
            conn.writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(payload), 1000):
                part = payload[i : i + 1000]
                conn.writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                await conn.writer.drain()
            conn.writer.write(b"0\r\n\r\n")
            await conn.writer.drain()

    server = await serve(chunked)
    client = client_for(server.url)
    for _ in range(2):
        resp = await client.request("GET", "/v3/paths/list")
        assert resp.body == payload and len(resp.json()["items"]) == 200
    assert len(server.conns) == 1  # the chunked framing left the connection reusable


async def test_no_content_and_content_length_keep_the_connection(serve: Serve, client_for):
    async def mixed(conn: Conn) -> None:
        while (req := await conn.read_request()) is not None:
            if req.method == "DELETE":
                conn.writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                await conn.send(body=b'{"status":"ok"}')

    server = await serve(mixed)
    client = client_for(server.url)
    assert (await client.request("DELETE", "/x")).status == 204
    assert (await client.request("GET", "/x")).json() == {"status": "ok"}
    assert (await client.request("DELETE", "/x")).body == b""
    assert len(server.conns) == 1


async def test_body_until_close_and_connection_close(serve: Serve, client_for) -> None:
    async def close_delimited(conn: Conn) -> None:
        if await conn.read_request() is not None:
            conn.writer.write(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"a": 1}')
            await conn.writer.drain()

    server = await serve(close_delimited)
    client = client_for(server.url)
    assert (await client.request("GET", "/a")).json() == {"a": 1}
    assert client.idle_connections == 0  # Connection: close is honoured
    assert (await client.request("GET", "/b")).json() == {"a": 1}
    assert len(server.conns) == 2


async def test_json_body_query_and_encoded_segments(serve: Serve, client_for) -> None:
    server = await serve(echo_forever)
    client = client_for(server.url + "/api/")
    conf = {"source": "rtsp://10.0.0.5/stream", "record": True}
    path = f"/v3/config/paths/add/{quote_segment('cams/front door')}"
    await client.request("POST", path, json=conf, query={"start": "2024-01-01T00:00:00+01:00"})
    req = server.requests[0]
    assert req.method == "POST"
    assert req.target == (
        "/api/v3/config/paths/add/cams%2Ffront%20door?start=2024-01-01T00%3A00%3A00%2B01%3A00"
    )
    assert orjson.loads(req.body) == conf
    assert req.headers["content-type"] == "application/json"
    assert req.headers["content-length"] == str(len(req.body))
    assert req.headers["host"] == f"127.0.0.1:{server.port}"
    with pytest.raises(ValueError, match="percent-encoded"):
        await client.request("GET", "/v3/paths/get/a b\r\nX-Injected: 1")


async def test_max_connections_bounds_the_pool(serve: Serve, client_for) -> None:
    both_waiting = asyncio.Event()
    waiting = 0

    async def gated(conn: Conn) -> None:
        nonlocal waiting
        while (req := await conn.read_request()) is not None:
            waiting += 1
            if waiting >= 2:
                both_waiting.set()
            await both_waiting.wait()  # answers only once two requests are in flight
            await conn.send(body=orjson.dumps(req.target))

    server = await serve(gated)
    client = client_for(server.url, max_connections=2)
    results = await asyncio.gather(*(client.request("GET", f"/{i}") for i in range(6)))
    assert [r.json() for r in results] == [f"/{i}" for i in range(6)]
    assert len(server.conns) == 2  # six requests, never more than two connections
    assert client.idle_connections == 2


# --- stale connections ---------------------------------------------------------------


async def drop_second_request(conn: Conn) -> None:
    """Answers the first request of a connection, then reads the next one and hangs up on
    it, as a server that timed the idle connection out at that very moment would."""
    while (req := await conn.read_request()) is not None:
        if conn.served == 2:
            return
        await conn.send(body=orjson.dumps({"conn": req.conn}))


async def test_stale_pooled_connection_is_retried_for_get(serve: Serve, client_for) -> None:
    server = await serve(drop_second_request)
    client = client_for(server.url)
    assert (await client.request("GET", "/a")).json() == {"conn": 0}
    assert (await client.request("GET", "/b")).json() == {"conn": 1}
    # the second GET reached the dead connection first, then went out again on a new one
    assert [(r.target, r.conn) for r in server.requests] == [("/a", 0), ("/b", 0), ("/b", 1)]


async def test_stale_pooled_connection_is_not_retried_for_post(serve: Serve, client_for):
    server = await serve(drop_second_request)
    client = client_for(server.url)
    await client.request("GET", "/a")
    with pytest.raises(HttpProtocolError, match="closed the connection") as exc:
        await client.request("POST", "/add", json={"x": 1})
    assert exc.value.request_sent is True
    assert len(server.requests) == 2
    # ...unless the caller vouches that repeating it is harmless
    assert (await client.request("GET", "/c")).json() == {"conn": 1}
    resp = await client.request("PATCH", "/p", json={}, idempotent=True)
    assert resp.json() == {"conn": 2}
    assert [(r.target, r.conn) for r in server.requests[2:]] == [("/c", 1), ("/p", 1), ("/p", 2)]


async def test_server_closing_an_idle_connection_is_transparent(serve: Serve, client_for):
    async def one_per_conn(conn: Conn) -> None:
        if (req := await conn.read_request()) is not None:
            await conn.send(body=orjson.dumps({"conn": req.conn}))

    server = await serve(one_per_conn)
    client = client_for(server.url)
    for i in range(3):
        assert (await client.request("GET", "/x")).json() == {"conn": i}
    assert len(server.conns) == 3


async def test_idle_timeout_retires_pooled_connections(serve: Serve, client_for) -> None:
    server = await serve(echo_forever)
    client = client_for(server.url, idle_timeout=0.0)
    await client.request("GET", "/a")
    await client.request("GET", "/b")
    assert len(server.conns) == 2


# --- failures ------------------------------------------------------------------------


async def test_timeout_covers_the_whole_exchange(serve: Serve, client_for) -> None:
    async def hang(conn: Conn) -> None:
        await conn.read_request()
        await conn.server.release.wait()

    server = await serve(hang)
    client = client_for(server.url, timeout=0.2)
    with pytest.raises(HttpTimeout, match=r"no response from 127\.0\.0\.1:\d+ within 0\.2 s") as e:
        await client.request("GET", "/slow")
    assert e.value.request_sent is True
    assert client.idle_connections == 0  # a connection in an unknown state is not reused


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_body_is_refused(serve: Serve, client_for, chunked: bool) -> None:
    async def big(conn: Conn) -> None:
        await conn.read_request()
        body = b"x" * 4096
        if chunked:
            conn.writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            conn.writer.write(b"1000\r\n" + body + b"\r\n0\r\n\r\n")
        else:
            conn.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + body)
        await conn.writer.drain()
        await conn.server.release.wait()

    server = await serve(big)
    client = client_for(server.url, max_body=1024)
    with pytest.raises(HttpProtocolError, match="larger than 1024 bytes"):
        await client.request("GET", "/big")
    assert client.idle_connections == 0


async def test_truncated_and_malformed_responses(serve: Serve, client_for) -> None:
    async def broken(conn: Conn) -> None:
        req = await conn.read_request()
        assert req is not None
        if req.target == "/short":
            conn.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}")
        else:
            conn.writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await conn.writer.drain()

    server = await serve(broken)
    client = client_for(server.url)
    with pytest.raises(HttpProtocolError, match="before the response was complete"):
        await client.request("GET", "/short")
    with pytest.raises(HttpProtocolError, match="malformed response"):
        await client.request("GET", "/garbage")


async def test_refused_connection(client_for) -> None:
    client = client_for(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(HttpConnectError, match="connection refused") as e:
        await client.request("POST", "/v3/config/paths/add/x", json={"a": 1})
    assert e.value.request_sent is False


def test_only_plain_http() -> None:
    with pytest.raises(ValueError, match="plain http only"):
        HttpClient("https://127.0.0.1:9997", 1.0)


async def test_basic_auth_from_url_never_shown(serve: Serve, client_for) -> None:
    server = await serve(echo_forever)
    client = client_for(f"http://api%40user:s3cr%3At@127.0.0.1:{server.port}")
    await client.request("GET", "/v3/info")
    token = base64.b64encode(b"api@user:s3cr:t").decode()
    assert server.requests[0].headers["authorization"] == f"Basic {token}"
    assert "s3cr" not in repr(client)
    refused = client_for(f"http://u:s3cret@127.0.0.1:{free_port()}")
    with pytest.raises(HttpConnectError) as e:
        await refused.request("GET", "/v3/info")
    assert "s3cret" not in str(e.value) and "s3cret" not in repr(refused)


async def test_close_closes_pooled_connections(serve: Serve, client_for) -> None:
    server = await serve(echo_forever)
    client = client_for(server.url)
    await client.request("GET", "/a")
    assert client.idle_connections == 1
    await client.close()
    await asyncio.wait_for(server.closed.wait(), 5)  # the server saw our side close
    assert client.idle_connections == 0
    with pytest.raises(HttpError, match="closed") as e:
        await client.request("GET", "/b")
    assert e.value.request_sent is False
