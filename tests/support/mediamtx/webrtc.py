"""The WebRTC server of the MediaMTX double: WHEP reads on its real RTSP data plane.

What MediaMTX does (v1.20.1, ``internal/servers/webrtc`` and its docs, "Read from the
server: WebRTC"; "Authentication"), and how the double does it:

- a reader POSTs an SDP offer (``Content-Type: application/sdp``) to
  ``http://host:8889/<path>/whep`` and gets ``201 Created`` with the SDP answer, an
  ``ETag``, an ``ID`` and a ``Location`` (``/<path>/whep/<secret>``) naming the session;
  ``DELETE`` on the location ends it (``200``), ``PATCH`` on it takes trickled ICE
  candidates (``204``); an unknown session is ``404``;
- the request is authenticated like HLS: a path without configuration is ``404``, then
  the auth manager is asked with ``action: read``, ``protocol: webrtc``, the credentials
  (``Authorization: Basic`` or ``Bearer``) and the raw query (``?jwt=``); a refusal without
  credentials is ``401`` with ``WWW-Authenticate``, any other refusal ``401`` after the
  pause; a path with nothing published is ``404``; another Content-Type is ``400``;
- ``Access-Control-Allow-Origin`` is ``webrtcAllowOrigin`` (``*``) and the session
  headers are exposed to scripts; ``OPTIONS`` answers the preflight.

The peer is aiortc's, reading the path's RTSP stream from the data plane (with the
plane's muxer User-Agent, as the HLS muxer) through FFmpeg's demuxer and sending its
H.264 as it is, not re-encoded (``MediaPlayer(..., decode=False)``), so the browser
decodes the camera's own stream. ICE is loopback only, both ways: the one host
candidate it offers is 127.0.0.1, no STUN server; of an offer's candidates it keeps
only those on 127.0.0.1, and it discards every packet from another address (each one
counted in :data:`FOREIGN`). A browser that names other addresses (Chromium names its
default route's when it may not enumerate interfaces) still connects, on the pair
127.0.0.1 to 127.0.0.1: its checks to our 127.0.0.1 candidate come from 127.0.0.1
and are answered, so it learns that address as its own (peer-reflexive).
"""

from __future__ import annotations

import asyncio
import fractions
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aioice.ice
import av
from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer

from tests.support.lifecycle import StartStop
from tests.support.system import require

from .dataplane import DataPlane
from .hls import LOOPBACK, authorize_read

# Packets the double's ICE sockets discarded, by source address: none come from
# anywhere but loopback when the browser keeps to it.
FOREIGN: Counter[str] = Counter()


def _loopback_only() -> None:
    """aioice offers every interface but loopback as a host candidate; the double offers
    loopback alone, and takes packets from loopback alone (aioice has no option for
    either: its lookup and its sockets' receive are replaced, once)."""

    def loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [LOOPBACK] if use_ipv4 else []

    aioice.ice.get_host_addresses = loopback
    protocol = aioice.ice.StunProtocol
    received = protocol.datagram_received
    if getattr(received, "loopback_only", False):
        return

    def from_loopback(
        self: aioice.ice.StunProtocol, data: bytes | str, addr: tuple[Any, ...]
    ) -> None:
        if addr[0] != LOOPBACK:
            FOREIGN[str(addr[0])] += 1
            return
        received(self, data, addr)

    setattr(from_loopback, "loopback_only", True)  # noqa: B010 - once per process
    setattr(protocol, "datagram_received", from_loopback)  # noqa: B010


def loopback_candidates(sdp: str) -> tuple[str, list[str]]:
    """``sdp`` with only its ICE candidates on 127.0.0.1, and the addresses of those
    dropped (RFC 8839 ``a=candidate:<foundation> <component> <transport> <priority>
    <address> <port> typ ...``)."""
    kept: list[str] = []
    dropped: list[str] = []
    for line in sdp.split("\r\n"):
        fields = line.split()
        if line.startswith("a=candidate:") and len(fields) > 5 and fields[4] != LOOPBACK:
            dropped.append(fields[4])
            continue
        kept.append(line)
    return "\r\n".join(kept), dropped


def ice_pairs(pc: RTCPeerConnection) -> tuple[tuple[str, str] | None, set[tuple[str, str]]]:
    """The (local, remote) addresses of the pair ICE nominated for ``pc`` (None before
    one is) and of every pair it checked (aioice keeps both in its connection)."""
    nominated: tuple[str, str] | None = None
    checked: set[tuple[str, str]] = set()
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        for pair in getattr(connection, "_check_list", []):
            checked.add((str(pair.local_candidate.host), str(pair.remote_candidate.host)))
        for pair in getattr(connection, "_nominated", {}).values():
            nominated = str(pair.local_candidate.host), str(pair.remote_candidate.host)
    return nominated, checked


@dataclass
class _Session:
    secret: str
    path: str
    pc: RTCPeerConnection
    track: _WithParameterSets


class WebRtcServer(StartStop):
    """``WebRtcServer(plane)``: MediaMTX's WebRTC (WHEP) server for the paths of
    ``plane``; :attr:`port` after :meth:`start`. ``enabled = False`` answers every
    request but the preflight ``404`` (as for a path MediaMTX serves no WebRTC on), so
    a page falls back; ``requests`` counts the WHEP offers per path, ``dropped`` lists
    the addresses of the offers' candidates that were not loopback."""

    def __init__(self, plane: DataPlane, *, allow_origin: str = "*") -> None:
        self.plane = plane
        self.allow_origin = allow_origin
        self.enabled = True
        self.requests: dict[str, int] = {}
        self.sessions: dict[str, _Session] = {}
        self.dropped: list[str] = []
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("WebRtcServer has not been started")
        return self._port

    def url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self.port}/{name}/whep"

    async def start(self, port: int = 0) -> None:
        require("ffmpeg")
        _loopback_only()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self._port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for session in list(self.sessions.values()):
            await self._close(session)
        self.sessions.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._port = 0

    async def drop(self) -> None:
        """End every session from the server side, as a MediaMTX restart would."""
        for session in list(self.sessions.values()):
            await self._close(session)

    # -- requests

    def _cors(self) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": self.allow_origin,
            "Access-Control-Allow-Credentials": "true",
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.lstrip("/").split("/")
        if len(parts) >= 2 and parts[-1] == "whep" and request.method == "POST":
            name = "/".join(parts[:-1])
            self.requests[name] = self.requests.get(name, 0) + 1
        if request.method == "OPTIONS":
            headers = self._cors()
            headers["Access-Control-Allow-Methods"] = "OPTIONS, GET, POST, PATCH, DELETE"
            headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, If-Match"
            headers["Access-Control-Expose-Headers"] = "ETag, ID, Accept-Patch, Link, Location"
            return web.Response(status=204, headers=headers)
        if not self.enabled:
            return web.Response(status=404, headers=self._cors())
        if len(parts) >= 2 and parts[-1] == "whep" and request.method == "POST":
            return await self._offer(request, "/".join(parts[:-1]))
        if len(parts) >= 3 and parts[-2] == "whep":
            session = self.sessions.get(parts[-1])
            if session is None or session.path != "/".join(parts[:-2]):
                return web.Response(status=404, text="session not found", headers=self._cors())
            if request.method == "DELETE":
                await self._close(session)
                return web.Response(status=200, headers=self._cors())
            if request.method == "PATCH":
                return web.Response(status=204, headers=self._cors())
        return web.Response(status=404, headers=self._cors())

    async def _offer(self, request: web.Request, name: str) -> web.Response:
        if self.plane._runtime_path(name) is None:
            return web.Response(status=404, text="path not found", headers=self._cors())
        refused = await authorize_read(self.plane, request, name, "webrtc", self._cors())
        if refused is not None:
            return refused
        if request.content_type != "application/sdp":
            return web.Response(status=400, text="invalid Content-Type", headers=self._cors())
        offer, dropped = loopback_candidates(await request.text())
        self.dropped.extend(dropped)
        try:
            session = await self._session(name, offer)
        except OSError:
            return web.Response(
                status=404, text="no stream is available on path", headers=self._cors()
            )
        headers = self._cors()
        headers["Access-Control-Expose-Headers"] = "ETag, ID, Accept-Patch, Link, Location"
        headers["ETag"] = "*"
        headers["ID"] = session.secret
        headers["Accept-Patch"] = "application/trickle-ice-sdpfrag"
        headers["Location"] = f"/{name}/whep/{session.secret}"
        answer = session.pc.localDescription
        return web.Response(
            status=201, body=answer.sdp.encode(), content_type="application/sdp", headers=headers
        )

    # -- peers

    async def _session(self, name: str, offer: str) -> _Session:
        options = {"rtsp_transport": "tcp", "user_agent": self.plane.muxer_agent}
        try:
            player = await asyncio.to_thread(
                MediaPlayer, self.plane.url(name), format="rtsp", options=options, decode=False
            )
        except Exception as exc:  # PyAV's errors for a stream that is not there
            raise OSError(str(exc)) from exc
        if player.video is None:
            raise OSError("no H.264 video on the path")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        track = _WithParameterSets(player.video, _extradata(player))
        session = _Session(uuid.uuid4().hex, name, pc, track)
        self.sessions[session.secret] = session
        # The camera's H.264 as it is: the only codec offered back (before the offer is
        # taken in, when aiortc applies the preferences).
        transceiver = pc.addTransceiver(track, direction="sendonly")
        codecs = RTCRtpSender.getCapabilities("video").codecs
        h264 = [c for c in codecs if c.mimeType == "video/H264"]
        transceiver.setCodecPreferences(h264)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())

        @pc.on("connectionstatechange")
        async def ended() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close(session)

        return session

    async def _close(self, session: _Session) -> None:
        if self.sessions.pop(session.secret, None) is None:
            return
        await session.pc.close()
        await session.track.stopped()


def _extradata(player: MediaPlayer) -> bytes:
    """The stream's SPS and PPS in Annex B (FFmpeg's RTSP demuxer takes them from the
    SDP's ``sprop-parameter-sets``; the RTP packets need not repeat them)."""
    container = getattr(player, "_MediaPlayer__container", None)
    if container is None:
        return b""
    for stream in container.streams.video:
        data = stream.codec_context.extradata
        return bytes(data) if data else b""
    return b""


class _WithParameterSets(MediaStreamTrack):
    """The player's H.264 packets, each keyframe led by the parameter sets, so a decoder
    that joins at any keyframe can start."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, parameter_sets: bytes) -> None:
        super().__init__()
        self.source = source
        self.parameter_sets = parameter_sets
        self._stopping: asyncio.Future[None] | None = None

    async def recv(self) -> av.Packet[av.stream.Stream]:
        packet = await self.source.recv()
        assert isinstance(packet, av.Packet)  # decode=False: packets, not frames
        if self.parameter_sets and packet.is_keyframe:
            led = av.Packet(self.parameter_sets + bytes(packet))
            led.pts, led.dts = packet.pts, packet.dts
            led.time_base = packet.time_base or fractions.Fraction(1, 90000)
            led.is_keyframe = True
            return led
        return packet

    def stop(self) -> None:
        super().stop()
        # Once: the player's stop closes its container. It joins its demuxer thread,
        # which may be waiting on the data plane, in this event loop: joined from
        # another thread, the loop goes on serving it.
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().run_in_executor(None, self.source.stop)

    async def stopped(self) -> None:
        self.stop()
        assert self._stopping is not None
        await self._stopping
