"""The dashboard over HTTP on both ports (api.md "Dashboard"): the page and its assets,
their types, security headers, caching and compression, and the WebSocket path that
still asks for an upgrade."""

from __future__ import annotations

import gzip
import re

import aiohttp
import pytest

from camera_service.api.dashboard import load_assets, static_root
from camera_service.app import Application

ASSETS = load_assets(static_root())


def ports(app: Application) -> list[int]:
    return [app.health_port, app.ws_port]


@pytest.mark.parametrize("which", ["health", "api"])
async def test_the_page_is_served_with_its_security_headers(
    service: Application, which: str
) -> None:
    port = service.health_port if which == "health" else service.ws_port
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/") as r:
        body = await r.read()
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert r.headers["Content-Encoding"] == "gzip"  # aiohttp asks for it
        assert body == ASSETS["index.html"].body
        csp = r.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["default-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        connect = directives["connect-src"].split()
        assert f"ws://127.0.0.1:{service.ws_port}" in connect
        assert "http://127.0.0.1:8888" in connect  # MediaMTX's HLS port, same host
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["Cache-Control"] == "no-cache"
    assert "<script>" not in body.decode() and "onclick" not in body.decode()  # no inline


async def test_assets_have_their_types_etags_and_304(service: Application) -> None:
    expected = {
        "js/app.js": "text/javascript; charset=utf-8",
        "vendor/hls.light.min.mjs": "text/javascript; charset=utf-8",
        "style.css": "text/css; charset=utf-8",
        "vendor/hls.js-LICENSE.txt": "text/plain; charset=utf-8",
    }
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        for name, content_type in expected.items():
            url = f"http://127.0.0.1:{service.health_port}/dashboard/{name}"
            async with s.get(url, headers={"Accept-Encoding": "identity"}) as r:
                assert r.status == 200 and r.headers["Content-Type"] == content_type
                assert "Content-Encoding" not in r.headers
                assert await r.read() == ASSETS[name].body
                etag = r.headers["ETag"]
                assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
            async with s.get(url, headers={"If-None-Match": etag}) as r:
                assert r.status == 304 and await r.read() == b""
            async with s.get(url, headers={"Accept-Encoding": "br, gzip;q=0.5"}) as r:
                assert r.headers["Content-Encoding"] == "gzip"
                assert r.headers["Vary"] == "Accept-Encoding"
                assert gzip.decompress(await r.read()) == ASSETS[name].body


async def test_config_tells_the_page_where_the_api_is(service: Application) -> None:
    url = f"http://127.0.0.1:{service.health_port}/dashboard/config.json"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
        assert await r.json() == {"ws_port": service.ws_port, "ws_path": "/ws", "tls": False}


async def test_unknown_assets_are_404_and_ws_still_asks_for_an_upgrade(
    service: Application,
) -> None:
    async with aiohttp.ClientSession() as s:
        for port in ports(service):
            for path in ("/dashboard/nope.js", "/dashboard/index.html", "/dashboard/"):
                async with s.get(f"http://127.0.0.1:{port}{path}") as r:
                    assert r.status == 404, path
            async with s.post(f"http://127.0.0.1:{port}/") as r:
                assert r.status == 405
        async with s.get(f"http://127.0.0.1:{service.ws_port}/ws") as r:
            assert r.status == 426 and r.headers["Upgrade"] == "websocket"
        # The page's path is a WebSocket path too: an upgrade there still works.
        async with s.ws_connect(f"ws://127.0.0.1:{service.ws_port}/") as ws:
            await ws.send_json({"jsonrpc": "2.0", "method": "ping", "id": 1})
            assert (await ws.receive_json())["result"] == "pong"


async def test_a_host_header_that_is_not_a_host_adds_nothing_to_the_csp(
    service: Application,
) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            f"http://127.0.0.1:{service.health_port}/",
            headers={"Host": "evil; script-src *"},
        ) as r,
    ):
        csp = r.headers["Content-Security-Policy"]
        assert "evil" not in csp and "connect-src 'self';" in csp
