"""An async etcd v3 client over etcd's JSON gateway (``/v3/...``), on our small HTTP client.

The gateway speaks gRPC's messages as JSON: keys and values are base64, int64s (lease
ids, revisions, TTLs) are strings. Several endpoints may be given; a request goes to the
one that answered last and fails over to the next when it cannot be reached (or says it
has no leader). Every failure is an :class:`EtcdError` whose message names the
endpoint (host:port, never credentials) and etcd's reason.

``watch`` holds its own connection: the gateway streams one JSON object per line in a
chunked response for as long as the watch lives, which the request/response client
does not do; :class:`_WatchStream` reads it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools
import orjson

from camera_service.net.httpclient import HttpClient, HttpError, HttpResponse
from camera_service.retry import RetrySchedule

__all__ = ["EtcdClient", "EtcdError", "LeaseNotFound", "prefix_end"]

log = logging.getLogger(__name__)

GRPC_NOT_FOUND = 5
GRPC_UNAVAILABLE = 14  # no leader, member stopping: another member may answer
MAX_MESSAGE = 4 * 1024 * 1024  # etcd refuses requests over 1.5 MiB; a margin for base64
_READ_CHUNK = 64 * 1024
# A quiet watch carries no bytes at all, so a dead peer (power cut, partition) is only
# noticed by TCP keepalive: probes after 10 s idle, every 5 s, 3 lost -> ~25 s.
_KEEPALIVE = (10, 5, 3)


class EtcdError(Exception):
    """etcd could not be reached or refused the request. The message names the endpoint
    and etcd's reason, never credentials."""


class LeaseNotFound(EtcdError):
    """etcd does not know the lease (expired or revoked)."""


def _b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or a str that is not even ASCII
        raise EtcdError("etcd sent a value that is not base64") from None


def prefix_end(prefix: bytes) -> bytes:
    """The range end that selects every key starting with ``prefix`` (etcd's rule)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key


def _reason(answer: Any) -> tuple[int, str]:
    """gRPC code and message of an error answer (unary: flat; streams: under "error")."""
    if isinstance(answer, dict):
        err = answer.get("error")
        if isinstance(err, dict):
            answer = err
        code = answer.get("code", answer.get("grpc_code", 0))
        message = answer.get("message") or answer.get("error") or "unknown error"
        return (code if isinstance(code, int) else 0), str(message)[:200]
    return 0, "unknown error"


@dataclass(frozen=True, slots=True)
class _Endpoint:
    host: str
    port: int
    prefix: str
    where: str  # host:port, for messages

    @classmethod
    def parse(cls, url: str) -> _Endpoint:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("etcd endpoints must be http://host:port URLs")
        host, port = parts.hostname, parts.port or 2379
        bracketed = f"[{host}]" if ":" in host else host
        return cls(host, port, parts.path.rstrip("/"), f"{bracketed}:{port}")


class EtcdClient:
    def __init__(self, endpoints: list[str], timeout: float = 5.0) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self.timeout = timeout
        self._endpoints = [_Endpoint.parse(url) for url in endpoints]
        self._http = [
            HttpClient(f"http://{e.where}{e.prefix}", timeout, user_agent="camera-service-etcd")
            for e in self._endpoints
        ]
        self._current = 0  # the endpoint that answered last
        self._streams: set[_WatchStream] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"EtcdClient({', '.join(e.where for e in self._endpoints)})"

    # -- leases ------------------------------------------------------------------------

    async def grant(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds; its id."""
        answer = await self._call("/v3/lease/grant", {"TTL": ttl}, retry_stale=False)
        try:
            return int(answer["ID"])
        except (KeyError, TypeError, ValueError):
            raise EtcdError("etcd granted no lease id") from None

    async def keepalive(self, lease: int) -> int:
        """Renew ``lease``; its remaining TTL in seconds, 0 when etcd no longer has it."""
        answer = await self._call("/v3/lease/keepalive", {"ID": str(lease)})
        result = answer.get("result", answer)  # a stream of one: {"result": {...}}
        try:
            return max(0, int(result.get("TTL", 0)))
        except (TypeError, ValueError):
            raise EtcdError("etcd sent a malformed keepalive answer") from None

    async def revoke(self, lease: int) -> None:
        """Revoke ``lease`` (deleting its keys); a lease already gone is fine."""
        with contextlib.suppress(LeaseNotFound):
            await self._call("/v3/lease/revoke", {"ID": str(lease)})

    # -- keys --------------------------------------------------------------------------

    async def put(self, key: str, value: bytes, lease: int | None = None) -> None:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease is not None:
            body["lease"] = str(lease)
        await self._call("/v3/kv/put", body)

    async def get(self, key: str) -> bytes | None:
        return (await self._get(key))[0]

    async def get_prefix(self, prefix: str) -> dict[str, bytes]:
        """Every key starting with ``prefix`` and its value."""
        raw = prefix.encode()
        answer = await self._call(
            "/v3/kv/range", {"key": _b64(raw), "range_end": _b64(prefix_end(raw))}
        )
        return {
            _unb64(kv.get("key")).decode("utf-8", "replace"): _unb64(kv.get("value"))
            for kv in answer.get("kvs") or []
        }

    async def delete(self, key: str) -> int:
        """Delete ``key``; how many keys were deleted (0 or 1)."""
        answer = await self._call("/v3/kv/deleterange", {"key": _b64(key)})
        return int(answer.get("deleted", 0))

    async def _get(self, key: str) -> tuple[bytes | None, int]:
        """The value of ``key`` (None: absent) and the store's revision it was read at."""
        answer = await self._call("/v3/kv/range", {"key": _b64(key)})
        try:
            revision = int(answer["header"]["revision"])
        except (KeyError, TypeError, ValueError):
            raise EtcdError("etcd sent no revision") from None
        kvs = answer.get("kvs") or []
        return (_unb64(kvs[0].get("value")) if kvs else None), revision

    # -- watch -------------------------------------------------------------------------

    async def watch(self, key: str, retry_max: float = 10.0) -> AsyncIterator[bytes | None]:
        """The value of ``key`` now, then every change (None: absent or deleted).

        Never ends while the client is open: a lost stream (etcd restarted, endpoint
        down) is re-opened with backoff, after reading the value again and watching from
        the revision read, so the last value is never missed. A value equal to the one
        yielded last is not repeated after a reconnect.
        """
        schedule = RetrySchedule(retry_max, retry_max, initial_backoff=0.25)
        last: bytes | None = None
        first = True
        while not self._closed:
            stream: _WatchStream | None = None
            try:
                value, revision = await self._get(key)
                if first or value != last:
                    first, last = False, value
                    yield value
                stream = await self._open_watch(key, revision + 1)
                if schedule.failures:
                    log.info("etcd watch re-established", extra={"key": key})
                schedule.next_delay(True)
                while True:
                    for value in await stream.events():
                        last = value
                        yield value
            except EtcdError as exc:
                if self._closed:
                    return
                delay = schedule.next_delay(False)
                log.warning(
                    "etcd watch lost; retrying",
                    extra={"key": key, "error": str(exc), "retry_in": round(delay, 2)},
                )
                await asyncio.sleep(delay)
            finally:
                if stream is not None:
                    self._streams.discard(stream)
                    stream.close()

    async def _open_watch(self, key: str, start_revision: int) -> _WatchStream:
        request = orjson.dumps(
            {"create_request": {"key": _b64(key), "start_revision": str(start_revision)}}
        )
        failures: list[str] = []
        if self._closed:
            raise EtcdError("etcd client is closed")
        for index in self._order():
            endpoint = self._endpoints[index]
            try:
                async with asyncio.timeout(self.timeout):
                    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
            except (OSError, TimeoutError) as exc:
                failures.append(f"{endpoint.where}: {_connect_reason(exc)}")
                continue
            stream = _WatchStream(reader, writer, endpoint.where)
            if self._closed:  # closed while connecting
                stream.close()
                break
            self._streams.add(stream)
            try:
                async with asyncio.timeout(self.timeout):
                    await stream.create(endpoint, request)
            except BaseException as exc:
                self._streams.discard(stream)
                stream.close()
                if isinstance(exc, TimeoutError):
                    raise EtcdError(
                        f"etcd {endpoint.where}: no watch within {self.timeout:g} s"
                    ) from None
                raise
            self._current = index
            return stream
        if self._closed:
            raise EtcdError("etcd client is closed")
        raise EtcdError("etcd unreachable: " + "; ".join(failures))

    # -- plumbing ----------------------------------------------------------------------

    async def close(self) -> None:
        """Close every connection; a running watch ends. Idempotent."""
        self._closed = True
        for stream in list(self._streams):
            stream.close()
        self._streams.clear()
        for http in self._http:
            await http.close()

    def _order(self) -> list[int]:
        n = len(self._endpoints)
        return [(self._current + i) % n for i in range(n)]

    async def _call(
        self, path: str, body: dict[str, Any], *, retry_stale: bool = True
    ) -> dict[str, Any]:
        """POST ``body`` to the first endpoint that answers; its JSON answer."""
        if self._closed:
            raise EtcdError("etcd client is closed")
        failures: list[str] = []
        for index in self._order():
            where = self._endpoints[index].where
            try:
                # A stale pooled connection means etcd closed it unread: safe to resend,
                # except a grant, which would leave an extra lease behind.
                response = await self._http[index].request(
                    "POST", path, json=body, idempotent=retry_stale
                )
            except HttpError as exc:
                if exc.request_sent:
                    raise EtcdError(f"etcd: {exc}") from None
                failures.append(str(exc))
                continue
            answer = _answer(response)
            if response.status != 200 or "error" in answer:
                code, message = _reason(answer)
                if code == GRPC_UNAVAILABLE:
                    failures.append(f"{where}: {message}")
                    continue
                if code == GRPC_NOT_FOUND and "lease not found" in message:
                    raise LeaseNotFound(f"etcd {where}: {message}")
                raise EtcdError(f"etcd {where}: {message} (HTTP {response.status})")
            self._current = index
            return answer
        raise EtcdError("etcd unreachable: " + "; ".join(failures))


def _answer(response: HttpResponse) -> dict[str, Any]:
    # A streaming RPC answered once (keepalive) may end its object with a newline.
    try:
        answer = orjson.loads(response.body.split(b"\n", 1)[0] or b"{}")
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise EtcdError(f"etcd sent a non-JSON answer (HTTP {response.status})")
    return answer


def _connect_reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "connect timed out"
    return (exc.strerror if isinstance(exc, OSError) else None) or type(exc).__name__


class _WatchStream:
    """One ``/v3/watch`` exchange: the request, then the chunked stream of JSON lines."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.where = where
        self.status = 0
        self.ended = False
        self._buffer = bytearray()
        self._pending: list[dict[str, Any]] = []  # messages read with the confirmation
        self._parser = httptools.HttpResponseParser(self)
        sock = writer.get_extra_info("socket")
        if sock is not None and hasattr(socket, "TCP_KEEPIDLE"):
            idle, interval, count = _KEEPALIVE
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)

    async def create(self, endpoint: _Endpoint, request: bytes) -> None:
        """Send the create request and read until etcd confirms the watch."""
        head = (
            f"POST {endpoint.prefix}/v3/watch HTTP/1.1\r\n"
            f"Host: {endpoint.where}\r\n"
            "User-Agent: camera-service-etcd\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(request)}\r\n\r\n"
        )
        self.writer.write(head.encode("latin-1") + request)
        await self.writer.drain()
        while True:
            messages = await self._messages()
            for i, message in enumerate(messages):
                if message.get("created"):
                    # Changes since the start revision may share its read: they are events.
                    self._pending = messages[i + 1 :]
                    return
                self._check(message)

    async def events(self) -> list[bytes | None]:
        """The changes of the next message(s) etcd sends; waits for as long as it takes."""
        changes: list[bytes | None] = []
        messages, self._pending = self._pending or await self._messages(), []
        for message in messages:
            self._check(message)
            events = message.get("events") or []
            if not isinstance(events, list):
                raise EtcdError(f"etcd {self.where}: malformed watch message")
            for event in events:
                kv = (event.get("kv") or {}) if isinstance(event, dict) else None
                if not isinstance(kv, dict):
                    raise EtcdError(f"etcd {self.where}: malformed watch event")
                deleted = event.get("type") == "DELETE"
                changes.append(None if deleted else _unb64(kv.get("value")))
        return changes

    def close(self) -> None:
        if not self.writer.transport.is_closing():
            self.writer.transport.abort()

    def _check(self, message: dict[str, Any]) -> None:
        if message.get("canceled"):  # e.g. the start revision was compacted away
            reason = str(message.get("cancel_reason") or "canceled by etcd")[:200]
            raise EtcdError(f"etcd {self.where}: watch {reason}")

    async def _messages(self) -> list[dict[str, Any]]:
        """The next complete JSON lines (at least one), each message's ``result``."""
        while True:
            lines = self._lines()
            if lines:
                return lines
            if self.ended:
                raise EtcdError(f"etcd {self.where}: watch stream ended")
            try:
                data = await self.reader.read(_READ_CHUNK)
            except OSError as exc:
                raise EtcdError(
                    f"etcd {self.where}: watch connection lost: {_connect_reason(exc)}"
                ) from None
            if not data:
                raise EtcdError(f"etcd {self.where}: watch connection closed")
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserError as exc:
                if isinstance(exc.__context__, EtcdError):  # raised by on_body
                    raise exc.__context__ from None
                raise EtcdError(f"etcd {self.where}: malformed watch response: {exc}") from None
            if self.status and self.status != 200:
                raise EtcdError(f"etcd {self.where}: watch refused (HTTP {self.status})")

    def _lines(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end]).strip()
            del self._buffer[: end + 1]
            if not line:
                continue
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise EtcdError(f"etcd {self.where}: malformed watch message") from None
            if not isinstance(message, dict):
                raise EtcdError(f"etcd {self.where}: malformed watch message")
            if "error" in message:
                code, reason = _reason(message)
                raise EtcdError(f"etcd {self.where}: watch failed: {reason} (code {code})")
            result = message.get("result")
            messages.append(result if isinstance(result, dict) else {})
        return messages

    # httptools callbacks

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()

    def on_body(self, data: bytes) -> None:
        if len(self._buffer) + len(data) > MAX_MESSAGE:
            raise EtcdError(f"etcd {self.where}: watch message too large")
        self._buffer += data

    def on_message_complete(self) -> None:
        self.ended = True
