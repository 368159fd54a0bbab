"""An in-process RTSP reader that plays a stream and drops it: what holds a MediaMTX
path's on-demand publisher up while the path records (see :mod:`media.holder`).

RTSP/1.0 over TCP only: OPTIONS, DESCRIBE, one SETUP per SDP media with
``RTP/AVP/TCP;unicast;interleaved=<2i>-<2i+1>``, PLAY; then interleaved frames
(``$``, channel, 16-bit length, payload) are skipped by their length without keeping
them, and the answers to our keepalives (GET_PARAMETER, or OPTIONS when the server's
``Public`` lacks it) are parsed where they fall between frames. A run costs one socket
and the StreamReader's buffer (bounded: reading pauses above twice its limit), not a
process; it ends when the server closes, answers an error, or sends nothing at all for
``io_timeout`` seconds (FFmpeg's ``-timeout``). Cancelled, it sends TEARDOWN (best
effort, bounded) before closing.

Requests, response parsing and size limits are the camera probe's
(:mod:`camera_service.net.rtsp`), and so is the answer to a 401 challenge when
credentials are given (the service's own, for a MediaMTX that authorizes every read).
"""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import urljoin

from camera_service.net.rtsp import (
    RtspError,
    RtspResponse,
    RtspSession,
    check_url,
    read_response,
    scrubber,
)

__all__ = ["IO_TIMEOUT", "KEEPALIVE", "RtspReader", "media_controls"]

log = logging.getLogger(__name__)

IO_TIMEOUT = 10.0  # nothing received for this long ends a run
KEEPALIVE = 15.0  # seconds between keepalives (less when the server's session timeout asks)
TEARDOWN_TIMEOUT = 1.0  # how long a stop waits for TEARDOWN's answer
_SKIP_CHUNK = 64 * 1024  # the most one read takes off the buffer to drop it
_CTL = re.compile(r"[\x00-\x1f\x7f]")


def media_controls(sdp: str, base: str) -> tuple[str, list[str]]:
    """The aggregate control URL and one control URL per ``m=`` section.

    RFC 2326 C.1.1: ``a=control`` is absolute, ``*`` (the base itself) or relative to the
    base URL (Content-Base, else Content-Location, else the request URL: the caller's
    ``base``). A media without ``a=control`` is controlled by the aggregate URL. The base
    is taken as a directory (``/`` appended when missing), as FFmpeg, live555 and
    gortsplib do: servers sending no Content-Base mean ``<request URL>/streamid=0``.
    Raises :class:`RtspError` for a control URL that cannot be resolved.
    """
    directory = base if base.endswith("/") else base + "/"

    def resolve(control: str | None) -> str:
        if control is None or control == "*":
            return base
        try:
            return urljoin(directory, control)
        except ValueError:  # e.g. "rtsp://[x": urlsplit refuses the host
            raise RtspError("protocol", "the SDP has an invalid control URL") from None

    session_control: str | None = None
    medias: list[str | None] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            medias.append(None)
        elif line.startswith("a=control:"):
            control = line[len("a=control:") :].strip()
            if medias:
                medias[-1] = control
            else:
                session_control = control
    aggregate = resolve(session_control)
    return aggregate, [resolve(c) if c is not None else aggregate for c in medias]


class RtspReader:
    """One run: set a session up, play it, drop what arrives. See the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        io_timeout: float = IO_TIMEOUT,
        keepalive: float = KEEPALIVE,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.url = url
        self.credentials = credentials  # (user, password), sent when challenged
        self._scrub = scrubber(*(credentials or (None, None)))
        self.io_timeout = io_timeout
        self.keepalive = keepalive
        self.session_id: str | None = None
        self.playing = False
        self.bytes_read = 0  # interleaved payload bytes received and dropped
        self.flowing = asyncio.Event()  # set on the first interleaved frame
        self.keepalives = 0  # keepalives sent
        self._aggregate = url
        self._skip = 0  # bytes of the current frame's payload still to drop
        self._last_rx = 0.0
        self._stalled = False

    async def run(self) -> str:
        """Read until the stream ends; returns why. Cancelled: TEARDOWN, close, re-raise."""
        try:
            host, port = check_url(self.url)
        except RtspError as exc:
            return exc.message
        user, password = self.credentials or (None, None)
        session = RtspSession(host, port, self.url, user, password, self._scrub)
        try:
            return await self._run(session)
        except RtspError as exc:
            return exc.message
        except asyncio.CancelledError:
            await self._teardown(session)
            raise
        finally:
            await session.close()

    async def _ask(
        self,
        session: RtspSession,
        method: str,
        headers: list[tuple[str, str]] | None = None,
        uri: str | None = None,
    ) -> RtspResponse:
        try:
            async with asyncio.timeout(self.io_timeout):
                return await session.request(method, headers, uri)
        except TimeoutError:
            raise RtspError(
                "timeout", f"no answer to {method} within {self.io_timeout:g} s"
            ) from None

    async def _run(self, session: RtspSession) -> str:
        options = await self._ask(session, "OPTIONS")
        public = (options.header("public") or "") if _ok(options) else ""
        describe = await self._ask(session, "DESCRIBE", [("Accept", "application/sdp")])
        if not _ok(describe):
            return _refused("DESCRIBE", describe)
        base = describe.header("content-base") or describe.header("content-location") or self.url
        self._aggregate, controls = media_controls(describe.body.decode("utf-8", "replace"), base)
        if not controls:
            return "DESCRIBE answered an SDP without media"
        interval = self.keepalive
        for index, uri in enumerate(controls):
            transport = f"RTP/AVP/TCP;unicast;interleaved={2 * index}-{2 * index + 1}"
            headers = [("Transport", transport)]
            if self.session_id is not None:
                headers.append(("Session", self.session_id))
            setup = await self._ask(session, "SETUP", headers, uri)
            if not _ok(setup):
                return _refused("SETUP", setup)
            if self.session_id is None:
                value = setup.header("session")
                if not value:
                    return "SETUP answered without a Session"
                session_id, _, params = value.partition(";")
                session_id = session_id.strip()
                if not session_id or _CTL.search(session_id):  # echoed in our requests
                    return "SETUP answered an invalid Session"
                self.session_id = session_id
                timeout = _session_timeout(params)
                if timeout is not None:
                    # Well within the server's session timeout.
                    interval = min(interval, max(1.0, timeout / 2))
        assert self.session_id is not None
        headers = [("Session", self.session_id), ("Range", "npt=0.000-")]
        play = await self._ask(session, "PLAY", headers, self._aggregate)
        if not _ok(play):
            return _refused("PLAY", play)
        self.playing = True
        method = "GET_PARAMETER" if "GET_PARAMETER" in public.upper() else "OPTIONS"
        return await self._drain(session, method, interval)

    async def _drain(self, session: RtspSession, method: str, interval: float) -> str:
        reader, writer = session.reader, session.writer
        assert reader is not None and writer is not None
        loop = asyncio.get_running_loop()
        self._last_rx = loop.time()
        session_header = [("Session", self.session_id or "")]

        handles: list[asyncio.TimerHandle] = []  # the watchdog's and the keepalive's

        def watchdog() -> None:
            idle = loop.time() - self._last_rx
            if idle >= self.io_timeout:
                self._stalled = True
                writer.transport.abort()  # the read below then sees the end
            else:
                handles[0] = loop.call_later(self.io_timeout - idle, watchdog)

        def keepalive() -> None:
            if not writer.is_closing():
                writer.write(session.encode(method, self._aggregate, session_header))
                self.keepalives += 1
            handles[1] = loop.call_later(interval, keepalive)

        handles += [
            loop.call_later(self.io_timeout, watchdog),
            loop.call_later(interval, keepalive),
        ]
        try:
            while True:
                response = await self._next_response(reader)
                if response.status >= 400:
                    return _refused(method, response)
        except (asyncio.IncompleteReadError, RtspError) as exc:
            if self._stalled:  # the watchdog closed the connection, maybe mid-response
                return f"no data for {self.io_timeout:g} s"
            if isinstance(exc, RtspError):
                return exc.message
            return "the server closed the connection"
        except OSError as exc:
            return f"connection lost: {exc.strerror or type(exc).__name__}"
        finally:
            for handle in handles:
                handle.cancel()

    async def _next_response(self, reader: asyncio.StreamReader) -> RtspResponse:
        """Drop interleaved frames up to the next RTSP response and parse it.
        ``IncompleteReadError`` at the end of the stream."""
        loop = asyncio.get_running_loop()
        while True:
            while self._skip:
                chunk = await reader.read(min(self._skip, _SKIP_CHUNK))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", self._skip)
                self._skip -= len(chunk)
                self._last_rx = loop.time()
            head = await reader.readexactly(4)
            while head[0] in b"\r\n":  # stray CRLFs between messages
                head = head[1:] + await reader.readexactly(1)
            self._last_rx = loop.time()
            if head[0] == 0x24:  # "$"
                self._skip = int.from_bytes(head[2:4], "big")
                self.bytes_read += self._skip
                if not self.flowing.is_set():
                    self.flowing.set()
                continue
            return await read_response(reader, "the server", self._scrub, head)

    async def _teardown(self, session: RtspSession) -> None:
        """Best effort: TEARDOWN, and wait (bounded) for its answer so the server has let
        the session go when the stop returns."""
        reader, writer = session.reader, session.writer
        if self.session_id is None or reader is None or writer is None or writer.is_closing():
            return
        try:
            async with asyncio.timeout(TEARDOWN_TIMEOUT):
                writer.write(
                    session.encode("TEARDOWN", self._aggregate, [("Session", self.session_id)])
                )
                await writer.drain()
                cseq = session.cseq
                if not self.playing:
                    return  # mid-setup: the stream may sit inside an answer; do not parse
                while True:
                    got = (await self._next_response(reader)).cseq
                    if got is None or got >= cseq:
                        return
        except (TimeoutError, OSError, RtspError, asyncio.IncompleteReadError) as exc:
            log.debug("rtsp reader %s: TEARDOWN unconfirmed: %r", self.url, exc)


def _ok(response: RtspResponse) -> bool:
    return 200 <= response.status < 300


def _refused(method: str, response: RtspResponse) -> str:
    return f"{method} answered {response.status} {response.reason}".rstrip()


def _session_timeout(params: str) -> float | None:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        value = value.strip()
        # isascii: isdigit() also takes "²", which float() refuses
        if name.strip().lower() == "timeout" and value.isascii() and value.isdigit():
            return float(value) or None
    return None
