"""The MediaMTX double's HLS server, held to MediaMTX's HLS server: streams at
``/<path>/index.m3u8`` from the real data plane, every playlist and segment request
authorized (``action: read``, ``protocol: hls``, the request's credentials and raw query),
the query carried into the playlists, a 401 Basic challenge without credentials, 404
for a path without configuration before any authentication, CORS for ``*``."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.test_mediamtx_double_auth import PUBLISH, AuthServer
from tests.support.mediamtx.dataplane import DataPlane
from tests.support.mediamtx.hls import (
    FIRST_SEGMENT_TIMEOUT,
    HlsServer,
    http_credentials,
    with_query,
)
from tests.support.properties import examples

needs_media = pytest.mark.needs("ffmpeg", "ffprobe", "rtsp-server-perl")


@pytest.fixture
async def auth() -> AsyncIterator[AuthServer]:
    server = AuthServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def hls(auth: AuthServer) -> AsyncIterator[HlsServer]:
    async with DataPlane(restart_pause=0.2, stop_timeout=3.0) as plane:
        plane.configure_auth(
            {"authMethod": "http", "authHTTPAddress": auth.url, "authHTTPExclude": []},
            pause_after_error=0.1,
        )
        plane.path_configured("cam", {"runOnDemand": PUBLISH, "runOnDemandCloseAfter": "2s"})
        server = HlsServer(plane)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@needs_media
async def test_a_stream_plays_with_every_request_authorized(
    hls: HlsServer, auth: AuthServer
) -> None:
    base = f"http://127.0.0.1:{hls.port}"
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/nope/index.m3u8") as r:
            assert r.status == 404
        assert auth.bodies == []  # the path is looked up before anyone is asked
        async with s.get(f"{base}/cam/index.m3u8") as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"] == 'Basic realm="mediamtx"'
        headers = {"Authorization": basic("u", "p")}
        async with s.get(f"{base}/cam/index.m3u8?jwt=abc", headers=headers) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/vnd.apple.mpegurl"
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            multivariant = await r.text()
        assert multivariant.startswith("#EXTM3U") and "#EXT-X-STREAM-INF:BANDWIDTH=" in multivariant
        media = [ln for ln in multivariant.splitlines() if ln and not ln.startswith("#")]
        assert media == ["stream.m3u8?jwt=abc"]  # the query goes on
        async with s.get(f"{base}/cam/{media[0]}", headers=headers) as r:
            playlist = await r.text()
        segments = [ln for ln in playlist.splitlines() if ln and not ln.startswith("#")]
        assert segments and all(seg.endswith("?jwt=abc") for seg in segments)
        async with s.get(f"{base}/cam/{segments[0]}", headers=headers) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "video/MP2T"
            assert (await r.read())[0] == 0x47  # an MPEG-TS sync byte
        # A wrong credential is refused (after the pause), with no retry offered.
        async with s.get(
            f"{base}/cam/{segments[0]}", headers={"Authorization": basic("u", "x")}
        ) as r:
            assert r.status == 401
    asked = [b for b in auth.bodies if b["protocol"] == "hls"]
    assert len(asked) == 5  # index (refused), index, media playlist, segment, segment
    assert {(b["action"], b["path"]) for b in asked} == {("read", "cam")}
    assert [b["query"] for b in asked] == ["", "jwt=abc", "jwt=abc", "jwt=abc", "jwt=abc"]
    assert asked[1]["user"] == "u" and asked[1]["password"] == "p" and asked[1]["token"] == ""
    assert hls.muxing("cam")
    # The muxer is one of the path's readers: it started the on-demand publisher.
    state = hls.plane.path_state("cam")
    assert state is not None and state["ready"] is True


@needs_media
async def test_requests_never_wait_again_once_the_first_segment_is_gone(hls: HlsServer) -> None:
    # FFmpeg deletes seg0.ts a segment after it slid out of the playlist (its
    # hls_delete_threshold), so once seg1.ts is out too (~8 s in); a started
    # muxer answers at once from then on, as MediaMTX's does, instead of waiting for a
    # first segment that never comes back.
    url = f"http://127.0.0.1:{hls.port}/cam"
    headers = {"Authorization": basic("u", "p")}
    quick = aiohttp.ClientTimeout(total=FIRST_SEGMENT_TIMEOUT / 3)
    async with aiohttp.ClientSession(headers=headers) as s:
        async with s.get(f"{url}/index.m3u8") as r:  # starts the muxer, waits for seg0
            assert r.status == 200
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while True:
            async with s.get(f"{url}/stream.m3u8", timeout=quick) as r:
                assert r.status == 200
                segments = [ln for ln in (await r.text()).splitlines() if ln.endswith(".ts")]
            if not {"seg0.ts", "seg1.ts"} & set(segments):
                break
            assert loop.time() < deadline, "seg1.ts never left the playlist"
            await asyncio.sleep(0.5)  # pacing a player's playlist reloads
        for uri in ("index.m3u8", "stream.m3u8", segments[-1]):
            async with s.get(f"{url}/{uri}", timeout=quick) as r:
                assert r.status == 200, uri


async def test_preflight_is_answered_for_any_origin() -> None:
    async with DataPlane(restart_pause=0.2, stop_timeout=3.0) as plane:
        server = HlsServer(plane)
        await server.start()
        try:
            async with (
                aiohttp.ClientSession() as s,
                s.options(f"http://127.0.0.1:{server.port}/cam/index.m3u8") as r,
            ):
                assert r.status == 204
                assert r.headers["Access-Control-Allow-Origin"] == "*"
                assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
        finally:
            await server.stop()


def test_bearer_is_a_token_basic_a_user_and_password() -> None:
    assert http_credentials("Bearer abc").token == "abc"
    creds = http_credentials(basic("u", "p:q"))
    assert (creds.user, creds.password, creds.token) == ("u", "p:q", "")
    assert http_credentials(None).empty and http_credentials("Digest x").empty


URI = st.from_regex(r"[a-z0-9_]{1,12}\.(ts|m3u8)(\?[a-z]=[a-z0-9]{1,4})?", fullmatch=True)
QUERY = st.from_regex(r"[a-z]{1,4}=[A-Za-z0-9._-]{0,20}", fullmatch=True)


@given(st.lists(URI, max_size=6), QUERY)
@examples(200)
def test_with_query_puts_the_query_on_every_uri_and_only_there(uris: list[str], query: str) -> None:
    tags = ["#EXTM3U", "#EXT-X-TARGETDURATION:1"]
    playlist = "\n".join(tags + [line for uri in uris for line in ("#EXTINF:1.0,", uri)])
    out = with_query(playlist, query).splitlines()
    assert [ln for ln in out if ln.startswith("#")] == [
        ln for ln in playlist.splitlines() if ln.startswith("#")
    ]
    got = [ln for ln in out if not ln.startswith("#")]
    assert got == [f"{u}{'&' if '?' in u else '?'}{query}" for u in uris]
    assert with_query(playlist, "") == playlist
