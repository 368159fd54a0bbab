"""Streaming file downloads over HTTP/1.1 (``GET /files/<kind>/<name>``): the body goes
to disk chunk by chunk, never whole into memory, and a short body is an error."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httptools
import orjson

from camera_service.client.errors import ConnectionFailed, DownloadError

if TYPE_CHECKING:
    import ssl as ssl_module

_READ_CHUNK = 256 * 1024
_MAX_ERROR_BODY = 4096


def file_url(base_url: str, kind: str, name: str) -> str:
    """``<base>/files/<kind>/<name>`` with the name percent-encoded as one segment."""
    return f"{base_url.rstrip('/')}/files/{kind}/{quote(name, safe='')}"


def http_base_from_ws(url: str) -> str:
    """The HTTP origin of a ``ws://``/``wss://`` API URL: files are served on the API
    port too."""
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


class _Response:
    """httptools callbacks: status and headers, then the body into ``sink``."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.file = sink
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.headers_done = False
        self.done = False
        self.sink: IO[bytes] | None = None
        self.error_body = bytearray()
        self.received = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code()
        if self.status == 200:  # only a success body goes to the file
            self.sink = self.file

    def on_body(self, data: bytes) -> None:
        self.received += len(data)
        if self.sink is not None:
            self.sink.write(data)
        elif len(self.error_body) < _MAX_ERROR_BODY:
            self.error_body += data[: _MAX_ERROR_BODY - len(self.error_body)]

    def on_message_complete(self) -> None:
        self.done = True


async def download(
    url: str,
    dest: Path,
    *,
    headers: Mapping[str, str],
    timeout: float,
    ssl: ssl_module.SSLContext | None = None,
) -> int:
    """GET ``url`` into ``dest`` (written as ``dest.part`` and renamed when complete);
    returns the byte count. ``timeout`` bounds the connect and every wait for data.
    Raises DownloadError (HTTP status, short body) or ConnectionFailed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"download URL must be http(s)://host[:port]/..., got {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    context: Any = None
    if tls:
        import ssl as ssl_module

        context = ssl or ssl_module.create_default_context()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context)
    except (OSError, TimeoutError) as e:
        raise ConnectionFailed(f"cannot connect to {parts.netloc}: {_why(e)}") from None
    part = dest.with_name(dest.name + ".part")
    complete = False
    try:
        writer.write(request)
        with open(part, "wb") as sink:  # noqa: ASYNC230 - a client writing its own file
            response = _Response(sink)
            while not response.done:
                async with asyncio.timeout(timeout):
                    data = await reader.read(_READ_CHUNK)
                if not data:
                    break
                response.parser.feed_data(data)
        if not response.headers_done:
            raise DownloadError("the server closed the connection without an answer")
        if response.status != 200:
            raise DownloadError(_error_text(response), response.status)
        expected = response.headers.get("content-length")
        if not response.done or (expected is not None and int(expected) != response.received):
            raise DownloadError(
                f"download incomplete: {response.received} of {expected or '?'} bytes",
                response.status,
            )
        os.replace(part, dest)
        complete = True
        return response.received
    except TimeoutError:
        raise DownloadError(f"no data from {parts.netloc} within {timeout:g} s") from None
    except httptools.HttpParserError as e:
        raise DownloadError(f"malformed HTTP response: {e}") from None
    except OSError as e:
        if isinstance(e, ConnectionError):
            raise DownloadError(f"connection to {parts.netloc} lost: {_why(e)}") from None
        raise
    finally:
        writer.transport.abort()
        if not complete:
            with contextlib.suppress(OSError):
                part.unlink()


def _error_text(response: _Response) -> str:
    detail = ""
    with contextlib.suppress(ValueError, TypeError):
        body = orjson.loads(bytes(response.error_body))
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            detail = f": {body['error']}"
    return f"download failed: HTTP {response.status}{detail}"


def _why(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    return getattr(e, "strerror", None) or type(e).__name__
