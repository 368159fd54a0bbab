"""RTSP/1.0 probe client for IP cameras: OPTIONS + DESCRIBE, Basic/Digest auth, SDP.

The camera monitor uses :func:`probe` to decide whether a configured RTSP source is
reachable and what it serves (codec, size, rate); ``camera_service.retry`` paces those
checks. MediaMTX pulls the media itself; the probe never sets up a session. The wire
pieces (:class:`RtspSession`, :func:`read_response`, :func:`check_url`) are shared with
:mod:`camera_service.net.rtsp_reader`, which does.

Credentials never leave this module except on the wire: they are not put in exception
messages, log lines, reprs or results, and any server text we echo back is scrubbed of
them (a hostile or broken camera could reflect our Authorization header).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from camera_service.net.h264 import H264Error, sps_from_sprop

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "ConnectionClosed",
    "RtspError",
    "RtspErrorKind",
    "RtspProbe",
    "RtspResponse",
    "RtspSession",
    "VideoInfo",
    "check_url",
    "parse_sdp_video",
    "probe",
    "read_response",
]

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
DEFAULT_PORT = 554
USER_AGENT = "camera-service"
_MAX_STALE_RESPONSES = 4  # answers to earlier CSeqs skipped before giving up
_CLOSE_TIMEOUT = 1.0

RtspErrorKind = Literal["unreachable", "timeout", "auth", "protocol", "not_found"]


class RtspError(Exception):
    """Why a probe failed. ``kind`` drives the camera status; the message is for people."""

    def __init__(self, kind: RtspErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: RtspErrorKind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"RtspError({self.kind!r}, {self.message!r})"


@dataclass(frozen=True, slots=True)
class VideoInfo:
    codec: str  # rtpmap encoding name, upper case: H264, H265, JPEG, ...
    width: int | None
    height: int | None
    fps: float | None


@dataclass(frozen=True, slots=True)
class RtspProbe:
    ok: bool  # DESCRIBE answered 2xx with an SDP
    status: int  # DESCRIBE's status code
    server: str | None
    sdp: str
    video: VideoInfo | None


# --- probe -------------------------------------------------------------------------------


async def probe(
    url: str,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 5.0,
) -> RtspProbe:
    """OPTIONS then DESCRIBE ``url``; the whole exchange is bounded by ``timeout`` seconds.

    Raises :class:`RtspError`: ``unreachable`` (refused, reset, closed, unresolvable),
    ``timeout``, ``auth`` (401/403, or credentials missing or rejected), ``not_found``
    (404) or ``protocol`` (not RTSP, oversized, malformed, unsupported URL). Other
    DESCRIBE statuses (3xx, 5xx, ...) return ``ok=False`` with that status.
    """
    scrub = scrubber(username, password)
    try:
        return await _probe(url, username, password, timeout, scrub)
    except RtspError as exc:
        # Server text can end up in messages; it must never carry our secrets back.
        raise RtspError(exc.kind, scrub(exc.message)) from None


async def _probe(
    url: str,
    username: str | None,
    password: str | None,
    timeout: float,
    scrub: Callable[[str], str],
) -> RtspProbe:
    host, port = check_url(url)
    if (username is None) != (password is None):
        raise RtspError("auth", "username and password must be given together")
    if username is not None and _has_ctl(username):
        raise RtspError("auth", "username contains control characters")
    where = f"{host}:{port}"
    session = RtspSession(host, port, url, username, password, scrub)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            options = await session.request("OPTIONS")
            if not 200 <= options.status < 300:
                # Some cameras refuse OPTIONS yet serve DESCRIBE: let DESCRIBE decide.
                log.debug("rtsp %s: OPTIONS answered %d", where, options.status)
            describe = await session.request("DESCRIBE", [("Accept", "application/sdp")])
    except TimeoutError:
        raise RtspError(
            "timeout", f"no RTSP answer from {where} within {timeout:g}s ({session.stage})"
        ) from None
    finally:
        await session.close()

    status = describe.status
    elapsed = (time.perf_counter() - started) * 1000
    log.debug("rtsp %s: DESCRIBE answered %d in %.1f ms", where, status, elapsed)
    if status == 403:
        raise RtspError("auth", f"{where} forbids access to this stream (403 Forbidden)")
    if status == 404:
        raise RtspError("not_found", f"{where} has no stream at this path (404 Not Found)")
    server = describe.header("server") or options.header("server")
    server = _printable(scrub(server))[:200] if server else None
    if not 200 <= status < 300:
        return RtspProbe(ok=False, status=status, server=server, sdp="", video=None)
    sdp = describe.body.decode("utf-8", errors="replace")
    if not sdp.lstrip().startswith("v="):
        raise RtspError("protocol", f"{where} answered DESCRIBE without an SDP description")
    sdp = scrub(sdp)
    return RtspProbe(ok=True, status=status, server=server, sdp=sdp, video=parse_sdp_video(sdp))


def check_url(url: str) -> tuple[str, int]:
    if _has_ctl(url) or " " in url:
        raise RtspError("protocol", "RTSP URL contains spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "rtsps":
        raise RtspError("protocol", "rtsps:// (RTSP over TLS) is not supported yet; use rtsp://")
    if scheme != "rtsp":
        raise RtspError("protocol", "not an rtsp:// URL")
    if "@" in parts.netloc:
        # Never echo the URL here: it holds the very credentials it must not carry.
        raise RtspError("protocol", "RTSP URL must not contain credentials; pass them apart")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise RtspError("protocol", "RTSP URL has an invalid port") from None
    if not parts.hostname:
        raise RtspError("protocol", "RTSP URL has no host")
    return parts.hostname, port


_CTL = re.compile(r"[\x00-\x1f\x7f]")


def _has_ctl(text: str) -> bool:
    return _CTL.search(text) is not None


def _printable(text: str) -> str:
    return _CTL.sub("?", text)


def scrubber(username: str | None, password: str | None) -> Callable[[str], str]:
    """Replace every form in which our credentials could be reflected with ``***``."""
    found: list[str] = []
    if username is not None and password is not None:
        found.append(_basic_token(username, password))
    found += [s for s in (password, username) if s]
    found.sort(key=len, reverse=True)  # the longest first, so no fragment survives

    def scrub(text: str) -> str:
        for secret in found:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    return scrub


# --- wire ----------------------------------------------------------------------------


class ConnectionClosed(Exception):
    """The server closed the connection before sending any byte of a response."""


@dataclass(slots=True)
class RtspResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]  # (lower-case name, value), in order
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]

    @property
    def cseq(self) -> int | None:
        value = self.header("cseq")
        return _decimal(value) if value is not None else None


_HUGE = 1 << 63  # past any length or sequence number we compare with


def _decimal(text: str) -> int | None:
    """The value of ASCII decimal digits, or None. Not ``str.isdigit``, which also takes
    "²" (latin-1 0xB2) that int() refuses; past 18 digits, capped instead of converted
    (int() refuses over 4,300)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    text = text.lstrip("0") or "0"
    return int(text) if len(text) <= 18 else _HUGE


_STATUS_LINE = re.compile(r"RTSP/(\d)\.(\d) +(\d{3})(?: +(.*))?")


async def read_response(
    reader: asyncio.StreamReader, where: str, scrub: Callable[[str], str], first: bytes = b""
) -> RtspResponse:
    """One response; ``first`` is its beginning, already read by the caller (a reader of
    interleaved data looks at one byte to tell a response from a ``$`` frame)."""
    lines: list[str] = []
    total = 0
    while True:
        try:
            raw = first + await reader.readuntil(b"\n")
            first = b""
        except asyncio.IncompleteReadError as exc:
            if not lines and not first and not exc.partial.strip():
                raise ConnectionClosed from None
            raise RtspError("protocol", f"{where} closed the connection mid-response") from None
        except asyncio.LimitOverrunError:
            raise RtspError(
                "protocol", f"{where} sent a header line over {MAX_HEADER_BYTES} bytes"
            ) from None
        total += len(raw)
        if total > MAX_HEADER_BYTES:
            raise RtspError("protocol", f"{where} sent over {MAX_HEADER_BYTES} bytes of headers")
        line = raw.decode("latin-1").rstrip("\r\n")
        if not line:
            if lines:
                break
            continue  # stray CRLFs (keep-alives) before a status line are harmless
        lines.append(line)

    m = _STATUS_LINE.fullmatch(lines[0])
    if m is None:
        raise RtspError(
            "protocol",
            # Scrub before cutting, so no fragment of a reflected secret survives.
            f"{where} did not answer with RTSP (status line {_printable(scrub(lines[0]))[:60]!r})",
        )
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[0] in " \t" and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or name != name.strip():
            raise RtspError("protocol", f"{where} sent a malformed header line")
        headers.append((name.lower(), value.strip()))
    response = RtspResponse(int(m.group(3)), _printable(m.group(4) or "")[:100], headers)

    length_text = response.header("content-length")
    if length_text is not None:
        length = _decimal(length_text)
        if length is None:
            raise RtspError("protocol", f"{where} sent an invalid Content-Length")
        if length > MAX_BODY_BYTES:
            raise RtspError("protocol", f"{where} sent a body over {MAX_BODY_BYTES} bytes")
        try:
            response.body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise RtspError("protocol", f"{where} closed the connection mid-body") from None
    return response


@dataclass(slots=True)
class RtspSession:
    """One RTSP conversation: a lazily (re)opened connection, CSeq and credentials."""

    host: str
    port: int
    url: str
    username: str | None
    password: str | None
    scrub: Callable[[str], str]
    stage: str = "connecting"
    cseq: int = 0
    auth: _Authorizer | None = None
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    answered: bool = False  # the current connection has carried a full exchange
    _where: str = field(init=False)

    def __post_init__(self) -> None:
        self._where = f"{self.host}:{self.port}"

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is not None and self.writer is not None:
            return self.reader, self.writer
        self.stage = "connecting"
        try:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, limit=MAX_HEADER_BYTES
            )
        except ConnectionRefusedError:
            raise RtspError("unreachable", f"{self._where} refused the connection") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise RtspError("unreachable", f"cannot connect to {self._where}: {reason}") from None
        self.answered = False
        return self.reader, self.writer

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is None:
            return
        writer.close()
        # asyncio.timeout, not wait_for: on 3.11 wait_for returns normally when it is
        # cancelled just as the socket closes, and the cancel of the run is lost.
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await writer.wait_closed()

    async def request(
        self, method: str, extra: list[tuple[str, str]] | None = None, uri: str | None = None
    ) -> RtspResponse:
        """Send ``method`` for ``uri`` (the session's URL by default); a 401 gets one
        answer to its fresh challenge per request, so credentials cached from OPTIONS
        whose nonce went stale are renewed, not fatal."""
        uri = uri or self.url
        retried = False
        while True:
            headers = list(extra or [])
            if self.auth is not None:
                headers.append(("Authorization", self.auth.header(method, uri)))
            response = await self._exchange(method, headers, uri)
            if response.status != 401:
                return response
            if self.username is None or self.password is None:
                raise RtspError(
                    "auth", f"{self._where} requires credentials and none are configured (401)"
                )
            if retried:
                raise RtspError("auth", f"{self._where} rejected the credentials (401)")
            retried = True
            self.auth = _Authorizer.choose(
                self.username, self.password, response.header_all("www-authenticate"), self._where
            )

    def encode(self, method: str, uri: str, headers: list[tuple[str, str]]) -> bytes:
        """The next request (its CSeq is then :attr:`cseq`), for the caller to write."""
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{name}: {value}" for name, value in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    async def _exchange(
        self, method: str, headers: list[tuple[str, str]], uri: str
    ) -> RtspResponse:
        # A kept-alive connection the server dropped between requests gets one fresh retry.
        for attempt in range(2):
            reader, writer = await self._connect()
            reused = self.answered
            data = self.encode(method, uri, headers)
            self.stage = f"waiting for the {method} answer"
            try:
                writer.write(data)
                await writer.drain()
                response = await self._read_matching(reader, self.cseq)
            except (ConnectionClosed, OSError):
                await self.close()
                if reused and attempt == 0:
                    continue
                raise RtspError(
                    "unreachable", f"{self._where} closed the connection without answering"
                ) from None
            self.answered = True
            if (response.header("connection") or "").lower() == "close":
                await self.close()
            return response
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    async def _read_matching(self, reader: asyncio.StreamReader, cseq: int) -> RtspResponse:
        for _ in range(_MAX_STALE_RESPONSES):
            response = await read_response(reader, self._where, self.scrub)
            got = response.cseq
            if got is None or got >= cseq:
                return response
            log.debug("rtsp %s: skipped a late answer to CSeq %d", self._where, got)
        raise RtspError("protocol", f"{self._where} answers do not match our CSeq")


# --- authentication ----------------------------------------------------------------------


def _basic_token(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_KNOWN_SCHEMES = frozenset({"basic", "digest", "bearer", "negotiate", "ntlm", "kerberos"})
_PARAM_VALUE = re.compile(r"[^,\s]*")
_DIGESTS = {"md5": "md5", "sha-256": "sha256"}  # RFC 7616 name -> hashlib name


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lower case: "basic", "digest", ...
    params: dict[str, str]


def parse_challenges(values: list[str]) -> list[Challenge]:
    """Parse WWW-Authenticate values (RFC 7235 §4.1); one value may hold several
    challenges, and a malformed tail is dropped rather than failing the probe."""
    challenges: list[Challenge] = []
    for value in values:
        pos, n = 0, len(value)
        current: Challenge | None = None
        while pos < n:
            while pos < n and value[pos] in " \t,":
                pos += 1
            m = _TOKEN.match(value, pos)
            if m is None:
                break
            token = m.group()
            after = m.end()
            while after < n and value[after] in " \t":
                after += 1
            is_param = after < n and value[after] == "=" and current is not None
            if is_param and current is not None:
                # "name=value": a parameter unless it is a token68 (ends in "=" or ",").
                pos = after + 1
                while pos < n and value[pos] in " \t":
                    pos += 1
                if pos < n and value[pos] == '"':
                    text, pos = _quoted(value, pos)
                else:
                    m2 = _PARAM_VALUE.match(value, pos)
                    assert m2 is not None  # the pattern matches the empty string
                    text, pos = m2.group(), m2.end()
                current.params[token.lower()] = text
            else:
                current = Challenge(token.lower(), {})
                challenges.append(current)
                pos = m.end()
    return challenges


def _quoted(value: str, pos: int) -> tuple[str, int]:
    out: list[str] = []
    pos += 1
    while pos < len(value):
        ch = value[pos]
        if ch == "\\" and pos + 1 < len(value):
            out.append(value[pos + 1])
            pos += 2
            continue
        if ch == '"':
            return "".join(out), pos + 1
        out.append(ch)
        pos += 1
    return "".join(out), pos  # unterminated: take what is there


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Authorizer:
    """Builds Authorization headers for one chosen challenge (Basic or Digest)."""

    __slots__ = ("_challenge", "_nc", "_password", "_username")

    def __init__(self, username: str, password: str, challenge: Challenge) -> None:
        self._username = username
        self._password = password
        self._challenge = challenge
        self._nc = 0

    def __repr__(self) -> str:
        return f"_Authorizer({self._challenge.scheme})"

    @classmethod
    def choose(cls, username: str, password: str, values: list[str], where: str) -> _Authorizer:
        challenges = parse_challenges(values)
        # Digest never sends the password; take the first one we can compute (RFC 7616
        # lists challenges in the server's preference), else Basic.
        for c in challenges:
            if (
                c.scheme == "digest"
                and "nonce" in c.params
                and _digest_algorithm(c) is not None
                # Challenge values are echoed into our request: no header injection.
                and not any(_has_ctl(v) for v in c.params.values())
            ):
                return cls(username, password, c)
        for c in challenges:
            if c.scheme == "basic":
                return cls(username, password, c)
        # Name only schemes we know: anything else is server text, and could be ours.
        known = sorted({c.scheme for c in challenges if c.scheme in _KNOWN_SCHEMES})
        unknown = len([c for c in challenges if c.scheme not in _KNOWN_SCHEMES])
        offered = ", ".join(known + ([f"{unknown} unrecognized"] if unknown else [])) or "none"
        raise RtspError("auth", f"{where} offers no supported authentication (offered: {offered})")

    def header(self, method: str, uri: str) -> str:
        c = self._challenge
        if c.scheme == "basic":
            return "Basic " + _basic_token(self._username, self._password)
        return self._digest(method, uri)

    def _digest(self, method: str, uri: str) -> str:
        c = self._challenge
        algorithm = _digest_algorithm(c)
        assert algorithm is not None  # checked by choose()
        name, sess = algorithm
        hash_name = _DIGESTS[name]

        def h(text: str) -> str:
            return hashlib.new(hash_name, text.encode("utf-8")).hexdigest()

        realm, nonce = c.params.get("realm", ""), c.params["nonce"]
        qops = [q.strip().lower() for q in c.params.get("qop", "").split(",") if q.strip()]
        qop = "auth" if "auth" in qops else "auth-int" if "auth-int" in qops else None
        cnonce = secrets.token_hex(8)
        self._nc += 1
        nc = f"{self._nc:08x}"

        ha1 = h(f"{self._username}:{realm}:{self._password}")
        if sess:
            ha1 = h(f"{ha1}:{nonce}:{cnonce}")
        # Our requests carry no body, so auth-int hashes the empty entity.
        ha2 = h(f"{method}:{uri}:{h('')}") if qop == "auth-int" else h(f"{method}:{uri}")
        if qop is None:
            response = h(f"{ha1}:{nonce}:{ha2}")  # RFC 2069 compatibility
        else:
            response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")

        parts = [
            f"username={_quote(self._username)}",
            f"realm={_quote(realm)}",
            f"nonce={_quote(nonce)}",
            f"uri={_quote(uri)}",
            f"response={_quote(response)}",
        ]
        if "algorithm" in c.params:
            parts.append(f"algorithm={c.params['algorithm']}")
        if "opaque" in c.params:
            parts.append(f"opaque={_quote(c.params['opaque'])}")
        if qop is not None:
            parts += [f"qop={qop}", f"nc={nc}", f"cnonce={_quote(cnonce)}"]
        return "Digest " + ", ".join(parts)


def _digest_algorithm(c: Challenge) -> tuple[str, bool] | None:
    """(hash name, -sess) for a Digest challenge we can answer, or None."""
    algorithm = c.params.get("algorithm", "MD5").lower()
    sess = algorithm.endswith("-sess")
    name = algorithm.removesuffix("-sess")
    return (name, sess) if name in _DIGESTS else None


# --- SDP ---------------------------------------------------------------------------------

_STATIC_PAYLOADS = {26: "JPEG", 31: "H261", 32: "MPV", 34: "H263"}  # RFC 3551 table 5
_MAX_FPS = 1000.0


def parse_sdp_video(sdp: str) -> VideoInfo | None:
    """Codec, size and rate of the first video stream of an SDP description.

    Size: the H.264 SPS (what the decoder will use) before ``a=framesize`` and
    ``a=x-dimensions``. Rate: ``a=framerate`` (stated by the camera) before the SPS
    timing info (cameras fill it inconsistently).
    """
    session_attrs: list[str] = []
    media_attrs: list[str] | None = None
    payload: int | None = None
    section = "session"  # then "video" for the first video m= section, "other" elsewhere
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if section == "video":
                break  # only the first video section matters
            fields = line[2:].split()
            section = "video" if fields and fields[0] == "video" else "other"
            if section == "video":
                media_attrs = []
                payload = _decimal(fields[3]) if len(fields) > 3 else None
        elif line.startswith("a=") and section == "session":
            session_attrs.append(line[2:])
        elif line.startswith("a=") and media_attrs is not None:
            media_attrs.append(line[2:])
    if media_attrs is None:
        return None

    codec: str | None = None
    fmtp: dict[str, str] = {}
    width = height = None
    fps: float | None = None
    size_from_attr: tuple[int, int] | None = None
    for attr in media_attrs:
        name, _, value = attr.partition(":")
        name = name.strip().lower()
        value = value.strip()
        pt_text, _, rest = value.partition(" ")
        if name == "rtpmap" and _is_pt(pt_text, payload):
            codec = rest.split("/", 1)[0].strip().upper() or None
        elif name == "fmtp" and _is_pt(pt_text, payload):
            fmtp = _parse_fmtp(rest)
        elif name == "framesize" and _is_pt(pt_text, payload):
            size_from_attr = _parse_size(rest, "-") or size_from_attr
        elif name == "x-dimensions" and size_from_attr is None:
            size_from_attr = _parse_size(value, ",")
        elif name in ("framerate", "x-framerate"):
            fps = _parse_fps(value) or fps
    if fps is None:
        for attr in session_attrs:
            name, _, value = attr.partition(":")
            if name.strip().lower() in ("framerate", "x-framerate"):
                fps = _parse_fps(value.strip()) or fps
    if codec is None and payload is not None:
        codec = _STATIC_PAYLOADS.get(payload)

    if codec == "H264" and "sprop-parameter-sets" in fmtp:
        try:
            sps = sps_from_sprop(fmtp["sprop-parameter-sets"])
        except H264Error as exc:
            log.debug("rtsp: unusable sprop-parameter-sets: %s", exc)
        else:
            width, height = sps.width, sps.height
            if fps is None and sps.fps is not None and 0 < sps.fps <= _MAX_FPS:
                fps = sps.fps
    if width is None and size_from_attr is not None:
        width, height = size_from_attr
    return VideoInfo(codec=codec or "UNKNOWN", width=width, height=height, fps=fps)


def _is_pt(text: str, payload: int | None) -> bool:
    return payload is not None and _decimal(text) == payload


def _parse_fmtp(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip()
    return params


def _parse_size(text: str, sep: str) -> tuple[int, int] | None:
    w, s, h = text.strip().partition(sep)
    width, height = _decimal(w), _decimal(h)
    if not s or width is None or height is None:
        return None
    return (width, height) if 0 < width <= 16384 and 0 < height <= 16384 else None


def _parse_fps(text: str) -> float | None:
    try:
        fps = float(text.split()[0]) if text.split() else math.nan
    except ValueError:
        return None
    return fps if math.isfinite(fps) and 0 < fps <= _MAX_FPS else None
