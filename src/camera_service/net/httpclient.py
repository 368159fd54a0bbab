"""A small async HTTP/1.1 client for JSON APIs on loopback (MediaMTX's Control API).

aiohttp and httpx cost more memory than the whole idle service may use, so this speaks
just enough HTTP/1.1 over ``asyncio.open_connection`` with ``httptools`` parsing the
responses: a keep-alive pool, Content-Length, chunked and read-until-close bodies,
bounded headers and bodies, one deadline per request, and one transparent retry when
a pooled connection turns out to have been closed by the server.

Plain ``http``; ``https`` (the system's trust store) only for a client made with
``https=True`` (webhooks leave the machine; the Control API is meant to stay on
loopback). Credentials in the base URL
(``http://user:pass@host:9997``) are sent as Basic auth and never appear in an error
message or repr; neither do request bodies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import httptools
import orjson

__all__ = [
    "MAX_BODY_BYTES",
    "HttpClient",
    "HttpConnectError",
    "HttpError",
    "HttpProtocolError",
    "HttpResponse",
    "HttpTimeout",
    "quote_segment",
]

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
IDLE_TIMEOUT = 5.0  # below MediaMTX's default readTimeout (10 s), which also ends idle conns
_READ_CHUNK = 64 * 1024
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_QueryValue = str | int | float | bool
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)


class HttpError(Exception):
    """The exchange failed. ``request_sent`` is False only when nothing reached the server."""

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.request_sent = request_sent

    def __str__(self) -> str:
        return self.message


class HttpConnectError(HttpError):
    """No connection could be made (refused, unreachable); the request was not sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, request_sent=False)


class HttpTimeout(HttpError):
    """The request's deadline passed (pool wait, connect, send and receive together)."""


class HttpProtocolError(HttpError):
    """The server's answer was malformed, too large, or cut off."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def quote_segment(value: str) -> str:
    """Percent-encode ``value`` as one path segment, ``/`` included (MediaMTX path names
    may contain slashes; its router decodes ``%2F`` back before matching)."""
    return quote(value, safe="")


@dataclass(slots=True, eq=False)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float, idle_timeout: float) -> bool:
        # A server that closed an idle connection has usually been heard already (EOF).
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and now - self.idle_since < idle_timeout
        )

    def abort(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


class _Stale(Exception):
    """A reused connection ended before any byte of the response: the server closed it."""


class _Parser:
    """httptools callbacks for one response; a new parser per exchange."""

    __slots__ = (
        "body",
        "done",
        "framed",
        "head_only",
        "header_bytes",
        "headers",
        "headers_done",
        "keep_alive",
        "max_body",
        "parser",
        "status",
        "trailing",
    )

    def __init__(self, head_only: bool, max_body: int) -> None:
        self.head_only = head_only
        self.max_body = max_body
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.header_bytes = 0
        self.headers_done = False
        self.framed = False  # Content-Length or chunked: the end is known without EOF
        self.done = False
        self.keep_alive = False
        self.trailing = False  # bytes after the response: do not reuse the connection
        self.parser = httptools.HttpResponseParser(self)

    def feed(self, data: bytes) -> None:
        if not self.headers_done:
            # one read may carry the head and the start of the body, hence the slack
            self.header_bytes += len(data)
            if self.header_bytes > MAX_HEADER_BYTES + _READ_CHUNK:
                raise HttpProtocolError("response headers too large")
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            if isinstance(e.__context__, HttpError):
                raise e.__context__ from None
            raise HttpProtocolError(f"malformed response: {e}") from None
        except httptools.HttpParserError as e:
            raise HttpProtocolError(f"malformed response: {e}") from None

    def feed_eof(self) -> None:
        if self.headers_done and not self.framed and not self.done:
            # No Content-Length and not chunked: the body runs until the server closes.
            self.done = True
            self.keep_alive = False
            return
        raise HttpProtocolError("connection closed before the response was complete")

    def on_message_begin(self) -> None:
        if self.done:
            self.trailing = True
            return
        self.headers = {}
        self.body = bytearray()

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self.headers.get(key)
        self.headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if 100 <= self.status < 200:
            return  # interim response; the real one follows
        self.headers_done = True
        self.framed = (
            "content-length" in self.headers
            or "chunked" in self.headers.get("transfer-encoding", "").lower()
            or self.status in (204, 304)
        )
        if self.head_only:
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        if self.done:
            return
        if len(self.body) + len(data) > self.max_body:
            raise HttpProtocolError(f"response body larger than {self.max_body} bytes")
        self.body += data

    def on_message_complete(self) -> None:
        if self.done or 100 <= self.status < 200:
            return
        self.done = True
        self.keep_alive = self.parser.should_keep_alive()


class HttpClient:
    """Keep-alive HTTP/1.1 client bound to one ``http://host:port[/prefix]`` base URL."""

    def __init__(
        self,
        base_url: str,
        timeout: float,
        max_connections: int = 4,
        *,
        max_body: int = MAX_BODY_BYTES,
        idle_timeout: float = IDLE_TIMEOUT,
        user_agent: str = "camera-service",
        headers: Mapping[str, str] | None = None,
        https: bool = False,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in (("http", "https") if https else ("http",)):
            raise ValueError(
                f"unsupported URL scheme {parts.scheme!r}: this client speaks plain http only"
                " (the MediaMTX Control API is meant to stay on loopback)"
            )
        if not parts.hostname:
            raise ValueError("base URL has no host")
        if timeout <= 0 or max_connections < 1:
            raise ValueError("timeout must be > 0 and max_connections >= 1")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.timeout = timeout
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self._prefix = parts.path.rstrip("/")
        bracketed = f"[{self.host}]" if ":" in self.host else self.host
        self._where = f"{bracketed}:{self.port}"  # for messages: never the userinfo
        default_port = 443 if parts.scheme == "https" else 80
        host_header = bracketed if parts.port in (None, default_port) else self._where
        fixed = [
            f"Host: {host_header}",
            f"User-Agent: {user_agent}",
            "Accept: application/json",
        ]
        if parts.username is not None:
            # userinfo is percent-encoded in a URL; Basic auth wants it raw
            cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            fixed.append(f"Authorization: Basic {base64.b64encode(cred.encode()).decode()}")
        fixed_lines = "".join(f"{h}\r\n" for h in fixed).encode("latin-1")
        # Sent on every request; may hold a credential.
        self._fixed_headers = fixed_lines + _header_lines(headers or {})
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Conn] = []
        self._all: set[_Conn] = set()
        self._closed = False

    def __repr__(self) -> str:
        scheme = "http" if self._tls is None else "https"
        return f"HttpClient({scheme}://{self._where}{self._prefix})"

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        query: Mapping[str, _QueryValue] | None = None,
        *,
        idempotent: bool | None = None,
        timeout: float | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send one request and read the whole response; any status is returned.

        ``body``: JSON already serialized (instead of ``json``), sent byte for byte (a
        signature covers it); ``headers``: extra headers of this request only.
        ``path`` must already be encoded (use :func:`quote_segment` for names). A pooled
        connection found closed is replaced once, transparently, when the request is
        idempotent (by method, or as the caller says with ``idempotent``).
        """
        if self._closed:
            raise HttpError("HTTP client is closed", request_sent=False)
        method = method.upper()
        target = self._target(path, query)
        is_json = json is not None or body is not None
        if body is None:
            body = b"" if json is None else orjson.dumps(json)
        head = self._head(method, target, body, is_json, _header_lines(headers or {}))
        retry_stale = method in _IDEMPOTENT if idempotent is None else idempotent
        sent = [False]  # set once a byte may have reached the server
        deadline = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(deadline), self._slots:
                return await self._exchange(method, head + body, retry_stale, sent)
        except TimeoutError:
            raise HttpTimeout(
                f"no response from {self._where} within {deadline:g} s",
                request_sent=sent[0],
            ) from None

    async def close(self) -> None:
        """Close every connection, pooled or in use; later requests fail at once."""
        self._closed = True
        conns = list(self._all)
        self._idle.clear()
        self._all.clear()
        for conn in conns:
            conn.writer.close()
        for conn in conns:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):  # not wait_for: it can lose a cancel
                    await conn.writer.wait_closed()

    # -- internals ---------------------------------------------------------------

    def _target(self, path: str, query: Mapping[str, _QueryValue] | None) -> str:
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        # Anything outside visible ASCII would be a header-injection vector.
        if any(c <= " " or c > "~" for c in path):
            raise ValueError("path must be percent-encoded (see quote_segment)")
        target = self._prefix + path
        if query:
            pairs = {k: _query_text(v) for k, v in query.items()}
            target += "?" + urlencode(pairs, safe="", quote_via=quote)
        return target

    def _head(
        self, method: str, target: str, body: bytes, is_json: bool, extra: bytes = b""
    ) -> bytes:
        lines = f"{method} {target} HTTP/1.1\r\n".encode("latin-1") + self._fixed_headers + extra
        if is_json:
            lines += b"Content-Type: application/json\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            lines += f"Content-Length: {len(body)}\r\n".encode()
        return lines + b"\r\n"

    async def _exchange(
        self, method: str, data: bytes, retry_stale: bool, sent: list[bool]
    ) -> HttpResponse:
        conn = self._take_idle()
        reused = conn is not None
        while True:
            if conn is None:
                conn = await self._connect()
            try:
                response, reusable = await self._roundtrip(conn, method, data, sent, reused)
            except _Stale:
                self._drop(conn)
                if not retry_stale:
                    raise HttpProtocolError(
                        f"{self._where} closed the connection without answering"
                    ) from None
                # Only a fresh connection is retried, and only once.
                conn, reused, retry_stale = None, False, False
                continue
            except BaseException:
                self._drop(conn)
                raise
            if reusable and not self._closed:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                self._drop(conn)
            return response

    def _take_idle(self) -> _Conn | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()  # most recently used first: least likely to be stale
            if conn.usable(now, self.idle_timeout):
                return conn
            self._drop(conn)
        return None

    def _drop(self, conn: _Conn) -> None:
        self._all.discard(conn)
        conn.abort()

    async def _connect(self) -> _Conn:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self._tls)
        except OSError as e:
            reason = e.strerror or type(e).__name__
            if isinstance(e, ConnectionRefusedError):
                reason = "connection refused"
            raise HttpConnectError(f"cannot connect to {self._where}: {reason}") from None
        conn = _Conn(reader, writer)
        if self._closed:
            conn.abort()
            raise HttpError("HTTP client is closed", request_sent=False)
        self._all.add(conn)
        return conn

    async def _roundtrip(
        self, conn: _Conn, method: str, data: bytes, sent: list[bool], reused: bool
    ) -> tuple[HttpResponse, bool]:
        parser = _Parser(method == "HEAD", self.max_body)
        got_any = False
        try:
            sent[0] = True
            conn.writer.write(data)
            await conn.writer.drain()
            while not parser.done:
                chunk = await conn.reader.read(_READ_CHUNK)
                if not chunk:
                    if reused and not got_any:
                        raise _Stale
                    parser.feed_eof()
                    break
                got_any = True
                parser.feed(chunk)
        except (ConnectionError, OSError) as e:
            if reused and not got_any:
                raise _Stale from None
            raise HttpProtocolError(
                f"connection to {self._where} lost: {e.strerror or type(e).__name__}"
            ) from None
        response = HttpResponse(parser.status, parser.headers, bytes(parser.body))
        return response, parser.keep_alive and not parser.trailing


def _header_lines(headers: Mapping[str, str]) -> bytes:
    """Header lines; a value may hold a credential, so an error names no value."""
    out = []
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or any(c < " " or c > "~" for c in value):
            raise ValueError(f"header {name!r}: name or value not allowed in HTTP/1.1")
        out.append(f"{name}: {value}\r\n")
    return "".join(out).encode("latin-1")


def _query_text(value: _QueryValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
