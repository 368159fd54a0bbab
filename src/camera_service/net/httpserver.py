"""A small HTTP/1.1 server on asyncio (httptools parses), with WebSocket upgrades.

Each connection speaks HTTP until a request to an upgrade route arrives; from then
on the WebSocket layer is the transport's protocol (``set_protocol``), so its bytes
reach it with no HTTP hop in between. Requests on one connection are answered in
order; headers, bodies and idle time are bounded so a slow or hostile client holds
little.

A response may carry a file (:class:`FileBody`) instead of bytes: the kernel copies it
to the socket with ``sendfile(2)``, never through Python memory.

Why a worker thread: uvloop (the production loop) has no native ``loop.sendfile``
(asyncio's fallback reads the file into Python buffers), and sendfile called on the
loop would block it on disk reads, which on a hub's SD card or eMMC take milliseconds
per call for a file not in the page cache. So once the transport's write buffer is
empty, a thread of a small pool runs ``sendfile`` on a *duplicate* of the socket's
descriptor, polling it for room when the socket is full. The thread owns that
duplicate and the file descriptor and closes both itself, so a descriptor number can
never be reused under it; the connection's task stops it (a flag checked at least
every ``POLL_SECONDS``) when the connection is lost or the server stops, and a client
that accepts nothing for ``SENDFILE_STALL_TIMEOUT`` is dropped. Measured against
sendfile on the loop with ``add_writer`` (bench/downloads.py, docs/benchmarks.md):
both saturate loopback from the page cache; only the thread keeps the loop free.
TLS cannot sendfile: files then go in bounded chunks (``TLS_CHUNK``) read in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, unquote

import httptools
import orjson

if TYPE_CHECKING:
    import ssl
    from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
MAX_PIPELINED = 16  # requests parsed ahead of their responses
REQUEST_TIMEOUT = 15.0  # from connection (or last response) to a complete request
KEEPALIVE_TIMEOUT = 75.0
SENDFILE_THREADS = 32  # files sent at once; more wait for a thread
SENDFILE_CHUNK = 16 * 1024 * 1024  # per sendfile call: the stop flag is seen between calls
SENDFILE_STALL_TIMEOUT = 60.0  # a client that takes no byte for this long is dropped
POLL_SECONDS = 0.2
TLS_CHUNK = 64 * 1024
BACKLOG = 2048  # connections the kernel queues before accept: room for a reconnect storm

REASONS = {
    200: "OK",
    204: "No Content",
    206: "Partial Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str  # percent-decoded
    raw_path: str  # as sent, for code that must see encoded separators
    query: dict[str, str]
    headers: dict[bytes, bytes]  # lower-case names
    body: bytes
    peer: str
    keep_alive: bool = True
    upgrade: bool = False
    version: str = "1.1"  # "1.0" or "1.1"

    @property
    def host(self) -> str:
        """The Host header without its port (the host the client connected to)."""
        host = self.headers.get(b"host", b"").decode("latin-1")
        if host.startswith("["):
            return host[1 : host.find("]")] if "]" in host else host
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(slots=True)
class FileBody:
    """``count`` bytes of the open file ``fd`` from ``offset``. The server owns ``fd``
    from the moment a handler returns it and closes it when the response is done."""

    fd: int
    offset: int
    count: int

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    file: FileBody | None = None  # sent instead of ``body``

    @property
    def length(self) -> int:
        return self.file.count if self.file is not None else len(self.body)

    def head(self, keep_alive: bool, length: int | None = None) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Unknown')}",
            f"Content-Type: {self.content_type}",
        ]
        if self.status != 304:  # a 304 must not announce a length other than the 200's
            lines.append(f"Content-Length: {self.length if length is None else length}")
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(obj), headers=headers or {})


Handler = Callable[[HttpRequest], Awaitable[Response]]


class Upgrader(Protocol):
    """The WebSocket side: accepts an upgrade (returning the protocol the transport
    switches to) or refuses it with a response."""

    def upgrade(
        self, request: HttpRequest, transport: asyncio.Transport
    ) -> asyncio.Protocol | Response: ...


READ_ONLY = ("GET", "HEAD")


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    methods: tuple[str, ...]


class Router:
    def __init__(self) -> None:
        self._exact: dict[str, Route] = {}
        self._prefix: list[tuple[str, Route]] = []
        self.upgrade_paths: set[str] = set()

    def add(self, path: str, handler: Handler, methods: tuple[str, ...] = READ_ONLY) -> None:
        self._exact[path] = Route(handler, methods)

    def add_prefix(
        self, prefix: str, handler: Handler, methods: tuple[str, ...] = READ_ONLY
    ) -> None:
        self._prefix.append((prefix, Route(handler, methods)))

    def resolve(self, path: str) -> Route | None:
        route = self._exact.get(path)
        if route is not None:
            return route
        for prefix, r in self._prefix:
            if path.startswith(prefix):
                return r
        return None


class HttpServer:
    """Listens on one port; owns its connections so shutdown can close them."""

    def __init__(self, router: Router, upgrader: Upgrader | None = None) -> None:
        self.router = router
        self.upgrader = upgrader
        self.connections: set[HttpProtocol] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        loop = asyncio.get_running_loop()

        def protocol() -> HttpProtocol:
            return HttpProtocol(self)

        sock = listening_socket(host, port)
        if sock is not None:
            try:
                self._server = await loop.create_server(
                    protocol, sock=sock, ssl=tls, backlog=BACKLOG
                )
            except BaseException:
                sock.close()
                raise
        else:
            self._server = await loop.create_server(
                protocol, host, port, ssl=tls, backlog=BACKLOG, reuse_address=True
            )
        return int(self._server.sockets[0].getsockname()[1])

    def stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()

    def close_idle(self) -> None:
        """Close HTTP connections (upgraded ones belong to the WebSocket layer)."""
        for conn in list(self.connections):
            conn.close()


def listening_socket(host: str, port: int) -> socket.socket | None:
    """A socket listening on a numeric address, or None for a name (or ``""``, every
    interface), which the loop resolves. Binding here skips the loop's getaddrinfo: uvloop
    runs it in a thread pool and first loads the IDNA codec with ``unicodedata``, 0.2 MB
    of an idle service (issue 20)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.inet_pton(family, host)
    except OSError:
        return None
    # As the loop binds: SO_REUSEADDR, and an IPv6 socket for IPv6 only.
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    sock.setblocking(False)
    return sock


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._ready: list[HttpRequest | Response] = []  # a Response: an error owed in order
        self._busy = False
        self._in_message = False  # a request has begun and is not complete yet
        self._in_headers = False
        self._raw_header_bytes = 0
        self._error: _Refused | None = None  # raised inside a parser callback
        self._broken = False  # the stream cannot be parsed further: ignore the rest
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._peer = ""
        self._write_paused = False
        self._writable: asyncio.Future[None] | None = None

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else ""
        self.server.connections.add(self)
        self._arm(REQUEST_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
        self._release()

    def _release(self) -> None:
        """Break the reference cycle (the parser calls our bound methods): a closed
        connection is then freed at once by reference counting, not left for a full
        collection, which walks every live object and showed as pauses with thousands
        of clients."""
        self.__dict__.pop("parser", None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade(data[exc.args[0] :] if exc.args else b"")
            return
        except httptools.HttpParserError:
            # httptools wraps what a callback raised; our own limits come back here too.
            error, self._error = self._error, None
            if error is not None:
                self._fail(error.status, str(error))
            elif self._ready and not self._ready[-1].keep_alive:  # type: ignore[union-attr]
                self._broken = True  # bytes after "Connection: close": answer, then close
            else:
                self._fail(400, "malformed HTTP request")
        else:
            # httptools holds a header until it ends, so one endless header value never
            # reaches on_header: bound the raw bytes of an unfinished header block too
            # (a chunk that also held earlier pipelined requests counts whole: harmless).
            if self._in_headers:
                self._raw_header_bytes += len(data)
                if self._raw_header_bytes > MAX_HEADER_BYTES:
                    self._fail(431, "request headers too large")
        self._serve_soon()

    def _serve_soon(self) -> None:
        if self._ready and not self._busy:
            self._busy = True
            self._task = asyncio.get_running_loop().create_task(self._serve_requests())

    # --- parsing ------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = self._in_headers = True
        self._raw_header_bytes = 0
        self._arm(REQUEST_TIMEOUT)  # a started request must finish in time, kept-alive or not
        self._url = b""
        self._headers = {}
        self._header_bytes = 0
        self._body = []
        self._body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._raise(431, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._raise(431, "request headers too large")
        name = name.lower()
        seen = self._headers.get(name)
        if seen is None:
            self._headers[name] = value
        elif name == b"host":
            self._raise(400, "more than one Host header")  # RFC 9112 §3.2
        else:
            # Repeated lines are one comma-separated list (RFC 9110 §5.3): a repeated
            # single-value field (Sec-WebSocket-Key, RFC 6455 §11.3.1) then reads as
            # invalid instead of one copy silently winning.
            self._headers[name] = seen + b", " + value

    def on_headers_complete(self) -> None:
        self._in_headers = False
        version = self.parser.get_http_version()
        if version != "1.0" and b"host" not in self._headers:
            self._raise(400, "Host header required")  # RFC 9112 §3.2
        expect = self._headers.get(b"expect")
        if expect is not None and version != "1.0":
            self._expectation(expect)

    def _expectation(self, expect: bytes) -> None:
        """A client that sent ``Expect: 100-continue`` waits for an interim 100 before it
        sends the body (RFC 9110 §10.1.1): say 100 now, or give the final status at once
        (413 for a body past the limit, 417 for an expectation we do not know) rather
        than leave it to its timeout. HTTP/1.0 requests' expectations are ignored, as the
        RFC asks. Behind responses still owed (pipelining) no 100 is sent, so answers stay
        in order; the client sends the body after its own short wait (curl: 1 s)."""
        if expect.strip().lower() != b"100-continue":
            self._raise(417, "unsupported expectation")
        length = self._headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            self._raise(413, "request body too large")
        if not self._ready and not self._busy:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > MAX_BODY_BYTES:
            self._raise(413, "request body too large")
        self._body.append(body)

    def _raise(self, status: int, message: str) -> None:
        self._error = _Refused(status, message)
        raise self._error

    def on_message_complete(self) -> None:
        url = httptools.parse_url(self._url)
        raw_path = (url.path or b"/").decode("latin-1")
        query = url.query.decode("latin-1") if url.query else ""
        self._in_message = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if len(self._ready) >= MAX_PIPELINED:
            self.transport.pause_reading()  # let the client wait; resumed as we answer
        self._ready.append(
            HttpRequest(
                method=self.parser.get_method().decode("latin-1"),
                path=unquote(raw_path),
                raw_path=raw_path,
                query=dict(parse_qsl(query)),
                headers=self._headers,
                body=b"".join(self._body),
                peer=self._peer,
                keep_alive=self.parser.should_keep_alive(),
                upgrade=self.parser.should_upgrade(),
                version=self.parser.get_http_version(),
            )
        )

    # --- upgrade and responses -------------------------------------------------------------------

    def _upgrade(self, rest: bytes) -> None:
        """The last parsed request asked for an upgrade; ``rest`` are bytes after it."""
        last = self._ready.pop() if self._ready else None
        upgrader = self.server.upgrader
        if not isinstance(last, HttpRequest) or self._busy or self._ready:
            self._fail(400, "upgrade must not be pipelined")
            return
        request = last
        if request.version != "1.1":
            self._fail(400, "upgrade requires HTTP/1.1")  # RFC 9110 §7.8, RFC 6455 §4.2.1
            return
        if upgrader is None or request.path not in self.server.router.upgrade_paths:
            self._fail(404, "not found")
            return
        result = upgrader.upgrade(request, self.transport)
        if isinstance(result, Response):
            self.transport.write(result.head(False) + result.body)
            self.transport.close()
            return
        # A WebSocket now: the transport hands its bytes, flow control and end to the
        # WebSocket connection directly, and this object is done with.
        self._broken = True  # the rest of this chunk is the WebSocket's, not HTTP
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.server.connections.discard(self)
        self._release()
        self.transport.set_protocol(result)
        if rest:
            result.data_received(rest)

    async def _serve_requests(self) -> None:
        while self._ready:
            item = self._ready.pop(0)
            if isinstance(item, Response):  # an error owed after the earlier answers
                self.transport.write(item.head(False) + item.body)
                self.transport.close()
                return
            response = await self._respond(item)
            if self.transport.is_closing():
                if response.file is not None:
                    response.file.close()
                return
            if response.file is not None and item.method != "HEAD":
                if not await self._send_file(response, item.keep_alive):
                    self.transport.close()  # fewer bytes than announced: end the stream
                    return
            else:
                if response.file is not None:
                    response.file.close()
                body = b"" if item.method == "HEAD" else response.body
                self.transport.write(response.head(item.keep_alive) + body)
            if not item.keep_alive:
                self.transport.close()
                return
            if len(self._ready) < MAX_PIPELINED:
                self.transport.resume_reading()
        self._busy = False
        self._task = None
        if not self._in_message:
            self._arm(KEEPALIVE_TIMEOUT)

    # --- file bodies ----------------------------------------------------------------------

    async def _send_file(self, response: Response, keep_alive: bool) -> bool:
        """Head and file of ``response``; False if the file could not be sent whole."""
        body = response.file
        assert body is not None
        head = response.head(keep_alive)
        sock = self.transport.get_extra_info("socket")
        try:
            if sock is None or self.transport.get_extra_info("ssl_object") is not None:
                return await self._copy_file(head, body)
            await self._drain()
            if self.transport.is_closing():
                body.close()
                return False
            sock_fd = os.dup(sock.fileno())
        except BaseException:
            body.close()
            raise
        return await _sendfile_in_thread(sock_fd, head, body)

    async def _drain(self) -> None:
        """Until the transport has written everything it holds: the file must follow it."""
        if not self.transport.get_write_buffer_size():
            return
        self.transport.set_write_buffer_limits(high=0)  # pause_writing now, resume at empty
        try:
            await self._wait_writable()
        finally:
            if not self.transport.is_closing():
                self.transport.set_write_buffer_limits()

    async def _wait_writable(self) -> None:
        if self._write_paused:
            self._writable = asyncio.get_running_loop().create_future()
            try:
                await self._writable
            finally:
                self._writable = None

    async def _copy_file(self, head: bytes, body: FileBody) -> bool:
        """TLS (or no socket to hand): bounded chunks through the transport."""
        loop = asyncio.get_running_loop()
        try:
            self.transport.write(head)
            offset, left = body.offset, body.count
            while left > 0:
                chunk = await loop.run_in_executor(
                    None, os.pread, body.fd, min(left, TLS_CHUNK), offset
                )
                if not chunk or self.transport.is_closing():
                    return False  # the file shrank under us, or the client left
                self.transport.write(chunk)
                offset += len(chunk)
                left -= len(chunk)
                await self._wait_writable()
            return True
        finally:
            body.close()

    async def _respond(self, request: HttpRequest) -> Response:
        route = self.server.router.resolve(request.path)
        # An upgrade path with a route of its own (the dashboard at "/") serves plain
        # requests; one without asks for the upgrade.
        if request.path in self.server.router.upgrade_paths and route is None:
            response = json_response(
                {"error": "WebSocket upgrade required"}, 426, {"Upgrade": "websocket"}
            )
        elif route is None:
            response = json_response({"error": "not found"}, 404)
        elif request.method not in route.methods:
            allow = ", ".join(route.methods)
            response = json_response({"error": "method not allowed"}, 405, {"Allow": allow})
        else:
            try:
                response = await route.handler(request)
            except Exception:
                log.exception("HTTP handler failed", extra={"path": request.path})
                response = json_response({"error": "internal error"}, 500)
        return response

    def _fail(self, status: int, message: str) -> None:
        """Answer ``status`` after the responses still owed, then close; read no more."""
        self._broken = True
        self._ready.append(json_response({"error": message}, status))
        self._serve_soon()

    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self._busy:  # answering a request: look again once that is done
            self._arm(1.0)
        else:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


_pool: ThreadPoolExecutor | None = None


def _sendfile_pool() -> ThreadPoolExecutor:
    """Threads are made on first use (most processes never send a file)."""
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(SENDFILE_THREADS, thread_name_prefix="sendfile")
    return _pool


async def _sendfile_in_thread(sock_fd: int, head: bytes, body: FileBody) -> bool:
    """Runs :func:`_sendfile_blocking`, which owns (and closes) both descriptors."""
    stop = threading.Event()
    try:
        done = _sendfile_pool().submit(_sendfile_blocking, sock_fd, head, body, stop)
    except BaseException:  # the pool is shut down: nothing else will close them
        os.close(sock_fd)
        body.close()
        raise
    try:
        # Shielded: cancelling must not un-queue the job, which closes the descriptors.
        return await asyncio.shield(asyncio.wrap_future(done))
    except asyncio.CancelledError:
        stop.set()
        raise


def _sendfile_blocking(sock_fd: int, head: bytes, body: FileBody, stop: threading.Event) -> bool:
    """In a worker thread: ``head`` then the file's bytes to the (non-blocking) socket.

    True once all was handed to the kernel; False if the client left or stalled, the
    file shrank or the server stopped us."""
    sock: socket.socket | None = None
    try:
        sock = socket.socket(fileno=sock_fd)  # closes the duplicate with it
        poller = select.poll()
        poller.register(sock_fd, select.POLLOUT)
        pending = memoryview(head)
        offset, left = body.offset, body.count
        progress = time.monotonic()
        while not stop.is_set():
            try:
                if pending:
                    # MSG_MORE: the head goes out in one segment with the first file bytes.
                    more = socket.MSG_MORE if left else 0
                    pending = pending[sock.send(pending, more | socket.MSG_NOSIGNAL) :]
                elif left:
                    sent = os.sendfile(sock_fd, body.fd, offset, min(left, SENDFILE_CHUNK))
                    if sent == 0:
                        return False  # the file is shorter than announced
                    offset += sent
                    left -= sent
                else:
                    return True
                progress = time.monotonic()
                continue
            except (BlockingIOError, InterruptedError):
                pass
            idle = not poller.poll(POLL_SECONDS * 1000)
            if idle and time.monotonic() - progress > SENDFILE_STALL_TIMEOUT:
                return False
        return False
    except OSError:
        return False  # the peer reset or closed, or the file could not be read
    finally:
        if sock is not None:
            sock.close()
        else:
            os.close(sock_fd)
        body.close()


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
