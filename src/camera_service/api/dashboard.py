"""The web dashboard: static files shipped inside the package, served at ``/`` on the
health port and on the API port (api.md "Dashboard").

The files are read once, on the first request for the page (in a thread), into memory
with a gzip copy of each and a strong ETag of its bytes: a few hundred KB, so every
later request is answered without disk I/O and a revalidation costs one 304; a service
nobody opens the dashboard of never holds them. ``Cache-Control: no-cache`` makes
browsers revalidate on every load, so an upgraded service is seen at once.

Every answer carries the page's security headers: a Content-Security-Policy without
inline script (``script-src 'self'``) whose ``connect-src`` names only this service's
WebSocket port and MediaMTX's HLS port on the host the browser used, no framing
(``frame-ancestors 'none'``, ``X-Frame-Options``), ``nosniff`` and no referrer (stream
URLs carry media tokens). ``/dashboard/config.json`` tells the page where the API
listens, which it cannot know when served from the health port.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from camera_service.net.httpserver import HttpRequest, Response, Router, json_response
from camera_service.net.ranges import etag_matches

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

ASSET_PREFIX = "/dashboard/"
CONFIG_PATH = "/dashboard/config.json"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# Types worth compressing; images are already compressed.
_COMPRESSIBLE = (".html", ".js", ".mjs", ".css", ".svg", ".json", ".txt")
# A Host header that may be put into the CSP as it is: a name, an IPv4 or a bracketed IPv6.
_HOST_RE = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the page's browser connects: the API port (and whether it is TLS), and
    MediaMTX's public host (None: the host the browser used) and HTTP ports."""

    ws_port: int
    tls: bool
    media_host: str | None
    hls_port: int
    webrtc_port: int


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def static_root() -> Traversable:
    # importlib.resources (and the zipfile it brings) only when the files are read
    from importlib.resources import files

    return files("camera_service").joinpath("dashboard", "static")


def load_assets(root: Traversable) -> dict[str, Asset]:
    """Every file under ``root`` by its path relative to it (``"js/app.js"``)."""
    import gzip

    assets: dict[str, Asset] = {}
    for name, entry in _walk(root, ""):
        body = entry.read_bytes()
        ext = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        compressed = gzip.compress(body, 9, mtime=0) if ext in _COMPRESSIBLE else None
        if compressed is not None and len(compressed) >= len(body):
            compressed = None
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        content_type = CONTENT_TYPES.get(ext, "application/octet-stream")
        assets[name] = Asset(body, compressed, content_type, etag)
    return assets


def _walk(entry: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for child in sorted(entry.iterdir(), key=lambda c: c.name):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            yield from _walk(child, f"{prefix}{child.name}/")
        elif child.is_file():
            yield f"{prefix}{child.name}", child


class Assets:
    """The files, loaded by the first request that needs them (in a thread: reading and
    compressing them takes tens of ms) and kept; requests meanwhile wait for that load."""

    def __init__(self, load: Callable[[], dict[str, Asset]] | None = None) -> None:
        self._load = load or (lambda: load_assets(static_root()))
        self._table: dict[str, Asset] | None = None
        self._loading: asyncio.Task[dict[str, Asset]] | None = None

    @classmethod
    def of(cls, table: dict[str, Asset]) -> Assets:
        assets = cls(lambda: table)
        assets._table = table
        return assets

    async def table(self) -> dict[str, Asset]:
        if self._table is not None:
            return self._table
        if self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(asyncio.to_thread(self._load))
        try:
            # Shielded: a client that goes away does not cancel the load for the others.
            table = await asyncio.shield(self._loading)
        except Exception:
            self._loading = None  # unreadable files: the next request tries again
            raise
        self._table = table
        return table


def content_security_policy(request: HttpRequest, ends: Endpoints) -> str:
    """The page's CSP; ``connect-src`` is this service's WebSocket and MediaMTX's HLS
    and WebRTC ports on the host the browser asked for (a Host that is not a plain
    host name adds nothing: the page then can reach only its own origin)."""
    connect = ["'self'"]
    host = _bracketed(request.host)
    if _HOST_RE.fullmatch(host):
        scheme = "wss" if ends.tls else "ws"
        connect.append(f"{scheme}://{host}:{ends.ws_port}")
        media = _bracketed(ends.media_host) if ends.media_host else host
        if _HOST_RE.fullmatch(media):
            for port in (ends.hls_port, ends.webrtc_port):
                connect += [f"http://{media}:{port}", f"https://{media}:{port}"]
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            "media-src 'self' blob:",
            "worker-src 'self' blob:",  # hls.js transmuxes in a worker made from a blob
            f"connect-src {' '.join(connect)}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _bracketed(host: str) -> str:
    """An IPv6 literal as it stands in a URL."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def security_headers(request: HttpRequest, ends: Endpoints) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(request, ends),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def add_dashboard_routes(
    router: Router,
    endpoints: Callable[[], Endpoints],
    assets: Assets | dict[str, Asset] | None = None,
) -> None:
    """``/`` (the page), ``/dashboard/<file>`` (its assets) and ``/dashboard/config.json``.
    ``endpoints`` is read per request: ports are known once the service listens.
    ``assets``: shared by the routers that serve the same files (None: the package's)."""
    files = Assets.of(assets) if isinstance(assets, dict) else assets or Assets()

    async def page(request: HttpRequest) -> Response:
        return _serve(request, (await files.table())["index.html"], endpoints())

    async def asset(request: HttpRequest) -> Response:
        found = (await files.table()).get(request.path.removeprefix(ASSET_PREFIX))
        if found is None or request.path == ASSET_PREFIX + "index.html":
            return json_response({"error": "not found"}, 404, {"X-Content-Type-Options": "nosniff"})
        return _serve(request, found, endpoints())

    async def config(request: HttpRequest) -> Response:
        ends = endpoints()
        body = {"ws_port": ends.ws_port, "ws_path": "/ws", "tls": ends.tls}
        headers = security_headers(request, ends)
        headers["Cache-Control"] = "no-store"
        return Response(200, orjson.dumps(body), "application/json", headers)

    router.add("/", page)
    router.add(CONFIG_PATH, config)
    router.add_prefix(ASSET_PREFIX, asset)


def _serve(request: HttpRequest, item: Asset, ends: Endpoints) -> Response:
    headers = security_headers(request, ends)
    headers.update({"ETag": item.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"})
    if etag_matches(_header(request, b"if-none-match"), item.etag):
        return Response(304, b"", item.content_type, headers)
    if item.gzipped is not None and _accepts_gzip(_header(request, b"accept-encoding")):
        headers["Content-Encoding"] = "gzip"
        return Response(200, item.gzipped, item.content_type, headers)
    return Response(200, item.body, item.content_type, headers)


def _header(request: HttpRequest, name: bytes) -> str | None:
    value = request.headers.get(name)
    return None if value is None else value.decode("latin-1")


def _accepts_gzip(value: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (RFC 9110 §12.5.3; ``q=0`` refuses)."""
    if not value:
        return False
    for item in value.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        q = params.strip().lower()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False
