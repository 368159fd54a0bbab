"""MediaMTX Control API v3 client: retries, version-tolerant reads.

Connection errors, timeouts and 5xx are retried with exponential backoff and jitter;
4xx never are, and a path ``add`` (not idempotent) only when nothing was sent
(connection refused), i.e. MediaMTX cannot have seen it. Every call tries MediaMTX
afresh: whether it is up is the controller's health check's to say
(:mod:`camera_service.media.controller`), and callers ask that rather than a second
state kept here.

Errors carry a message fit for ``-1003 "MediaMTX operation failed: <cause>"``. They
never include request bodies (a path's ``source`` may hold RTSP credentials), and
URL credentials in MediaMTX's own error texts are masked.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from camera_service.media.mediamtx.models import Info, PathState, Recording
from camera_service.net.httpclient import (
    HttpClient,
    HttpError,
    HttpResponse,
    quote_segment,
)
from camera_service.observability.metrics import Histogram

__all__ = [
    "MediaMtxClient",
    "MediaMtxError",
    "MediaMtxNotFound",
    "MediaMtxUnavailable",
]

log = logging.getLogger(__name__)

_MAX_PAGES = 10_000  # a server whose pageCount keeps growing must not loop us forever
_MAX_MESSAGE = 300
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s'\"]*@")
_SECRET_KEY = re.compile(r"(?i)pass|secret|token|user|key")


class MediaMtxError(Exception):
    """A Control API call failed. ``status`` is MediaMTX's HTTP status, if it answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


class MediaMtxNotFound(MediaMtxError):
    """404: no such path (or configuration, or recording segment)."""


class MediaMtxUnavailable(MediaMtxError):
    """MediaMTX could not be reached, timed out or failed (5xx), after the retries."""


def _sensitive(body: Any, key: str = "") -> list[str]:
    """String values of a request body that may hold credentials: anything with an ``@``
    (``user:pass@host``) and anything under a password-, token- or user-like key."""
    if isinstance(body, Mapping):
        return [v for k, item in body.items() for v in _sensitive(item, str(k))]
    if isinstance(body, list):
        return [v for item in body for v in _sensitive(item, key)]
    if isinstance(body, str) and body and ("@" in body or _SECRET_KEY.search(key)):
        return [body]
    return []


def _scrub(text: str, body: Any = None) -> str:
    """MediaMTX's error texts may quote what we sent; mask what could be a credential."""
    text = _URL_USERINFO.sub(r"\1***@", text)
    for value in sorted(_sensitive(body), key=len, reverse=True):
        text = text.replace(value, "<redacted>")
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _error_from(response: HttpResponse, what: str, sent: Any = None) -> MediaMtxError:
    detail = ""
    try:
        body = response.json()
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        detail = body["error"]
    if not detail:
        detail = f"HTTP {response.status}"
    message = f"{what}: {_scrub(detail, sent)}"
    if response.status == 404:
        return MediaMtxNotFound(message, 404)
    if response.status >= 500:
        return MediaMtxUnavailable(message, response.status)
    return MediaMtxError(message, response.status)


class MediaMtxClient:
    def __init__(
        self,
        api_url: str,
        timeout: float = 5.0,
        retries: int = 3,
        *,
        backoff: float = 0.1,
        backoff_max: float = 2.0,
        page_size: int = 500,
        max_connections: int = 4,
    ) -> None:
        if retries < 0 or page_size < 1:
            raise ValueError("retries must be >= 0 and page_size >= 1")
        self.http = HttpClient(api_url, timeout, max_connections)
        self.latency = Histogram()  # every Control API request's round trip, answered or not
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.page_size = page_size

    async def close(self) -> None:
        await self.http.close()

    # -- general -----------------------------------------------------------------

    async def info(self) -> Info:
        return Info.from_api(_obj(await self._call("GET", "/v3/info")))

    # -- path configuration (what MediaMTX is told to serve; RAM-only) ------------

    async def list_path_configs(self) -> dict[str, dict[str, Any]]:
        """Every path configuration, by name (all pages)."""
        items = await self._list("/v3/config/paths/list")
        return {item["name"]: item for item in items if isinstance(item.get("name"), str)}

    async def get_path_config(self, name: str) -> dict[str, Any]:
        """Raises :class:`MediaMtxNotFound` if there is no such configuration."""
        return _obj(await self._call("GET", f"/v3/config/paths/get/{quote_segment(name)}"))

    async def patch_global(self, conf: Mapping[str, Any]) -> None:
        """Set global settings (RAM only in MediaMTX, like paths: gone at its restart)."""
        await self._call("PATCH", "/v3/config/global/patch", body=conf, idempotent=True)

    async def add_path(self, name: str, conf: Mapping[str, Any]) -> None:
        path = f"/v3/config/paths/add/{quote_segment(name)}"
        await self._call("POST", path, body=conf, idempotent=False)

    async def patch_path(self, name: str, conf: Mapping[str, Any]) -> None:
        # Setting the same fields twice is harmless, so a patch may be retried.
        path = f"/v3/config/paths/patch/{quote_segment(name)}"
        await self._call("PATCH", path, body=conf, idempotent=True)

    async def replace_path(self, name: str, conf: Mapping[str, Any]) -> None:
        path = f"/v3/config/paths/replace/{quote_segment(name)}"
        await self._call("POST", path, body=conf, idempotent=True)

    async def delete_path(self, name: str) -> None:
        """Raises :class:`MediaMtxNotFound` if absent, which can also mean that a retried
        delete had in fact succeeded the first time."""
        await self._call("DELETE", f"/v3/config/paths/delete/{quote_segment(name)}")

    # -- runtime paths --------------------------------------------------------------

    async def list_paths(self) -> dict[str, PathState]:
        states = (PathState.from_api(item) for item in await self._list("/v3/paths/list"))
        return {s.name: s for s in states if s.name}

    async def get_path(self, name: str) -> PathState | None:
        """The path's runtime state, or None if MediaMTX has no such path now."""
        try:
            body = await self._call("GET", f"/v3/paths/get/{quote_segment(name)}")
        except MediaMtxNotFound:
            return None
        return PathState.from_api(_obj(body))

    # -- recordings -------------------------------------------------------------------

    async def list_recordings(self, path: str | None = None) -> dict[str, Recording]:
        """Recordings by path name: all of them, or just ``path``'s ({} if it has none)."""
        if path is None:
            items = await self._list("/v3/recordings/list")
        else:
            try:
                items = [_obj(await self._call("GET", f"/v3/recordings/get/{quote_segment(path)}"))]
            except MediaMtxNotFound:
                return {}
        recordings = (Recording.from_api(item) for item in items)
        return {r.name: r for r in recordings if r.name}

    async def delete_segment(self, path: str, start: str | datetime) -> None:
        """Delete the segment of ``path`` that starts at ``start`` (RFC 3339, as listed)."""
        when = start.isoformat() if isinstance(start, datetime) else start
        await self._call(
            "DELETE", "/v3/recordings/deletesegment", query={"path": path, "start": when}
        )

    # -- internals ----------------------------------------------------------------------

    async def _list(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 0
        while page < _MAX_PAGES:
            body = _obj(
                await self._call("GET", path, query={"page": page, "itemsPerPage": self.page_size})
            )
            page_items = body.get("items")
            if isinstance(page_items, dict):
                # pre-v3 servers keyed items by name
                page_items = [
                    {"name": k, **v} for k, v in page_items.items() if isinstance(v, dict)
                ]
            if isinstance(page_items, list):
                items.extend(i for i in page_items if isinstance(i, dict))
            page_count = body.get("pageCount")
            page += 1
            # No pageCount (old or odd servers): what we got is all there is.
            if not isinstance(page_count, int) or page >= page_count or not page_items:
                break
        return items

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str | int] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        what = f"{method} {path.split('?', 1)[0]}"
        may_repeat = method in ("GET", "DELETE") if idempotent is None else idempotent
        attempt = 0
        while True:
            error: MediaMtxError
            started = time.monotonic()
            try:
                response = await self.http.request(
                    method, path, json=body, query=query, idempotent=may_repeat
                )
            except HttpError as e:
                self.latency.observe(time.monotonic() - started)
                error = MediaMtxUnavailable(f"{what}: {e.message}")
                # Nothing sent (e.g. refused): MediaMTX never saw it, so even an add may repeat.
                retry = may_repeat or not e.request_sent
            else:
                self.latency.observe(time.monotonic() - started)
                if response.status < 300:
                    return _decode(response, what)
                error = _error_from(response, what, body)
                if response.status < 500:
                    raise error
                retry = may_repeat
            if not retry or attempt >= self.retries:
                raise error
            delay = min(self.backoff_max, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)
            attempt += 1
            log.debug("%s failed (%s); retry %d in %.2f s", what, error, attempt, delay)
            await asyncio.sleep(delay)


def _decode(response: HttpResponse, what: str) -> Any:
    if not response.body:
        return None
    try:
        return response.json()
    except orjson.JSONDecodeError:
        raise MediaMtxError(
            f"{what}: MediaMTX answered with invalid JSON", response.status
        ) from None


def _obj(body: Any) -> dict[str, Any]:
    # A non-object body reads as empty, so the tolerant models default every field.
    return body if isinstance(body, dict) else {}
