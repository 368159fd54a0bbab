"""The HLS server of the MediaMTX double, on its real RTSP data plane.

What MediaMTX does (v1.20.1, ``internal/servers/hls`` and its docs, "Read from the
server: HLS"; "Authentication"), and how the double does it:

- streams are at ``http://host:8888/<path>/index.m3u8`` (the multivariant playlist),
  which names a media playlist beside it, which names the segments;
- every request (playlist or segment) is authenticated: the path must exist first (a
  path without configuration is ``404``), then the auth manager is asked with
  ``action: read``, ``protocol: hls``, the credentials of the request
  (``Authorization: Basic`` user and password, ``Authorization: Bearer`` token) and its
  raw query string as ``query`` (that is where ``?jwt=`` and ``?token=`` travel). A
  refusal of a request without credentials is ``401`` with ``WWW-Authenticate: Basic
  realm="mediamtx"``, any other refusal ``401`` after the 2 s pause (:mod:`.auth`);
- the query of a request is carried into the playlists it gets: the URIs inside them
  get the same query, so a player that was given ``index.m3u8?jwt=...`` sends the token
  on every later request (MediaMTX issue 3275, fixed in v1.8);
- a path's muxer starts on the first request (``hlsAlwaysRemux: no``) as a reader of the
  path, so an on-demand source starts for it; a request to a starting muxer waits until
  its first segment exists (later requests never wait), and the muxer closes after
  ``hlsMuxerCloseAfter`` (60 s) without a request;
- ``Access-Control-Allow-Origin`` is ``hlsAllowOrigin`` (``*``), with
  ``Access-Control-Allow-Credentials: true``; ``OPTIONS`` answers the preflight.

The muxer is FFmpeg's HLS muxer reading the path's RTSP stream from the data plane (with
the plane's muxer User-Agent: MediaMTX's muxer is inside MediaMTX, its clients were
authorized, not it), segments of about one second in MPEG-TS (MediaMTX's ``hlsVariant:
mpegts``; its default low-latency fMP4 variant is not emulated). A muxer whose FFmpeg
ended (the publisher went away) is started again by the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.support.lifecycle import StartStop
from tests.support.system import require

from .auth import REALM, Credentials, rtsp_credentials
from .dataplane import DataPlane

MULTIVARIANT = "index.m3u8"
MEDIA = "stream.m3u8"
CLOSE_AFTER = 60.0  # hlsMuxerCloseAfter
FIRST_SEGMENT_TIMEOUT = 15.0
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/MP2T",
}
LOOPBACK = "127.0.0.1"


def http_credentials(authorization: str | None) -> Credentials:
    """What MediaMTX takes from an HTTP ``Authorization`` header: Basic user and
    password, or a Bearer token."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return Credentials(token=value.strip())
    return rtsp_credentials(authorization)


async def authorize_read(
    plane: DataPlane, request: web.Request, name: str, protocol: str, cors: dict[str, str]
) -> web.Response | None:
    """Ask the auth manager whether ``request`` may read ``name`` over ``protocol``
    (``hls``, ``webrtc``) as MediaMTX's HTTP servers do; None if it may, else the ``401``."""
    outcome = await plane.auth.authenticate(
        credentials=http_credentials(request.headers.get("Authorization")),
        ip=request.remote or LOOPBACK,
        action="read",
        path=name,
        protocol=protocol,
        id=None,
        query=request.query_string,
    )
    if outcome.ok:
        return None
    headers = dict(cors)
    headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    if not outcome.ask_credentials:
        plane.auth_refused += 1
        await plane.auth.pause()
    return web.Response(status=401, headers=headers)


def with_query(playlist: str, query: str) -> str:
    """``playlist`` with ``query`` on every URI it names (lines that are not tags, and
    ``URI="..."`` attributes)."""
    if not query:
        return playlist

    def add(uri: str) -> str:
        return f"{uri}{'&' if '?' in uri else '?'}{query}"

    out = []
    for line in playlist.splitlines():
        if line and not line.startswith("#"):
            line = add(line)
        elif 'URI="' in line:
            head, _, rest = line.partition('URI="')
            uri, _, tail = rest.partition('"')
            line = f'{head}URI="{add(uri)}"{tail}'
        out.append(line)
    return "\n".join(out) + "\n"


def multivariant(bandwidth: int) -> str:
    """The multivariant playlist of a path with one video rendition (FFmpeg writes none
    for a stream it copies: it knows no bandwidth)."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\n"
        f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth}\n{MEDIA}\n"
    )


@dataclass
class _Muxer:
    name: str
    directory: Path
    process: asyncio.subprocess.Process | None = None
    last_request: float = field(default_factory=time.monotonic)
    bandwidth: int = 0  # bits/s, from the first segment (one second of media)
    # Its first segment and playlist were written. Only a starting muxer makes requests
    # wait: FFmpeg deletes seg0.ts once it leaves the playlist (delete_segments).
    started: bool = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


class HlsServer(StartStop):
    """``HlsServer(plane)``: MediaMTX's HLS server for the paths of ``plane``;
    :attr:`port` after :meth:`start`. ``requests`` counts the requests per path."""

    def __init__(
        self,
        plane: DataPlane,
        *,
        ffmpeg: str = "ffmpeg",
        close_after: float = CLOSE_AFTER,
        allow_origin: str = "*",
    ) -> None:
        self.plane = plane
        self.ffmpeg = ffmpeg
        self.close_after = close_after
        self.allow_origin = allow_origin
        self.requests: dict[str, int] = {}
        self._muxers: dict[str, _Muxer] = {}
        self._runner: web.AppRunner | None = None
        self._root: Path | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._port = 0

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("HlsServer has not been started")
        return self._port

    def url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self.port}/{name}/{MULTIVARIANT}"

    def muxing(self, name: str) -> bool:
        muxer = self._muxers.get(name)
        return muxer is not None and muxer.running

    async def start(self, port: int = 0) -> None:
        require("ffmpeg")
        self._root = Path(tempfile.mkdtemp(prefix="mediamtx-double-hls-"))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self._port = int(server.sockets[0].getsockname()[1])
        self._reaper = asyncio.create_task(self._reap(), name="hls-reaper")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for muxer in list(self._muxers.values()):
            await self._close(muxer)
        self._muxers.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        self._port = 0

    # -- requests

    def _cors(self) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": self.allow_origin,
            "Access-Control-Allow-Credentials": "true",
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":
            headers = self._cors()
            headers["Access-Control-Allow-Methods"] = "OPTIONS, GET"
            headers["Access-Control-Allow-Headers"] = "Authorization, Range"
            return web.Response(status=204, headers=headers)
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, headers=self._cors())
        name, _, file = request.path.lstrip("/").rpartition("/")
        if not name or not file:
            return web.Response(status=404, headers=self._cors())
        self.requests[name] = self.requests.get(name, 0) + 1
        if self.plane._runtime_path(name) is None:
            return web.Response(status=404, text="path not found", headers=self._cors())
        refused = await self._authorize(request, name)
        if refused is not None:
            return refused
        muxer = await self._muxer(name)
        if muxer is None:
            return web.Response(status=404, text="stream not available", headers=self._cors())
        muxer.last_request = time.monotonic()
        headers = self._cors()
        if file == MULTIVARIANT:
            headers["Cache-Control"] = "no-cache"
            text = with_query(multivariant(muxer.bandwidth), request.query_string)
            body = text.encode()
            return web.Response(body=body, content_type=CONTENT_TYPES[".m3u8"], headers=headers)
        target = muxer.directory / file
        if "/" in file or not target.is_file():
            return web.Response(status=404, headers=self._cors())
        ext = target.suffix
        if ext == ".m3u8":
            text = with_query(target.read_text(), request.query_string)
            headers["Cache-Control"] = "no-cache"
            body = text.encode()
        else:
            body = target.read_bytes()
            headers["Cache-Control"] = "max-age=3600"
        content_type = CONTENT_TYPES.get(ext, "application/octet-stream")
        return web.Response(body=body, content_type=content_type, headers=headers)

    async def _authorize(self, request: web.Request, name: str) -> web.Response | None:
        return await authorize_read(self.plane, request, name, "hls", self._cors())

    # -- muxers

    async def _muxer(self, name: str) -> _Muxer | None:
        muxer = self._muxers.get(name)
        if muxer is None or not muxer.running:
            if muxer is not None:
                await self._close(muxer)
            assert self._root is not None
            directory = self._root / name.replace("/", "_")
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            muxer = _Muxer(name, directory)
            self._muxers[name] = muxer
            muxer.process = await asyncio.create_subprocess_exec(
                *self._argv(name, directory),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        if muxer.started:
            return muxer
        deadline = time.monotonic() + FIRST_SEGMENT_TIMEOUT
        first = muxer.directory / "seg0.ts"
        while not first.is_file() or not (muxer.directory / MEDIA).is_file():
            if not muxer.running or time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.1)  # polling a file FFmpeg writes; no event to wait on
        with contextlib.suppress(FileNotFoundError):  # already rotated out: keep 1 bit/s
            muxer.bandwidth = first.stat().st_size * 8
        muxer.bandwidth = max(1, muxer.bandwidth)
        muxer.started = True
        return muxer

    def _argv(self, name: str, directory: Path) -> list[str]:
        argv = [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"]
        argv += ["-user_agent", self.plane.muxer_agent, "-rtsp_transport", "tcp"]
        argv += ["-i", self.plane.url(name), "-map", "0:v?", "-map", "0:a?", "-c", "copy"]
        argv += ["-f", "hls", "-hls_time", "1", "-hls_list_size", "6"]
        argv += ["-hls_flags", "delete_segments+independent_segments+omit_endlist"]
        argv += ["-hls_segment_type", "mpegts"]
        argv += ["-hls_segment_filename", str(directory / "seg%d.ts"), str(directory / MEDIA)]
        return argv

    async def _close(self, muxer: _Muxer) -> None:
        process = muxer.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        shutil.rmtree(muxer.directory, ignore_errors=True)

    async def _reap(self) -> None:
        """Close the muxers nobody asked anything of for ``close_after`` seconds."""
        while True:
            await asyncio.sleep(min(1.0, self.close_after))
            now = time.monotonic()
            for name, muxer in list(self._muxers.items()):
                if now - muxer.last_request > self.close_after:
                    del self._muxers[name]
                    await self._close(muxer)
