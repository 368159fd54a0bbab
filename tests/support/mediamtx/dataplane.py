"""The RTSP data plane of the MediaMTX test double.

The relay is Debian's ``rtsp-server-perl`` (RTSP::Server): publishers ANNOUNCE/RECORD on
its source port, readers DESCRIBE/SETUP/PLAY on its client port. It only speaks RTP over
UDP in both directions: a TCP-interleaved SETUP from a reader gets ``400`` (it needs
``client_port=``), and interleaved RTP from a publisher lands in its line parser. So both
sides go through one RTSP-aware proxy on :attr:`DataPlane.rtsp_port`, which is also what
``$RTSP_PORT`` points at (MediaMTX serves publishers and readers on one port too):

* the session kind is decided by its first request: ANNOUNCE publishes, anything else reads;
* every SETUP is rewritten to plain UDP towards the relay, on a UDP port pair the proxy owns,
  and the reply is rewritten back: clients may use ``-rtsp_transport tcp`` (interleaved) or
  ``udp``, publishers and readers alike; multicast is refused with ``461``;
* OPTIONS and GET/SET_PARAMETER keepalives are answered by the proxy (the relay has no
  GET_PARAMETER);
* a publisher that disconnects without TEARDOWN gets one sent for it on its own relay
  connection, or the relay would keep a stale mount and answer ``403`` to the next ANNOUNCE;
  the relay never answers TEARDOWN, so the proxy answers it and confirms the relay handled
  it with an OPTIONS behind it on the same connection;
* the proxy sees every RTSP message and media packet, so readiness (RECORD answered 200),
  readers, tracks (from the ANNOUNCE SDP) and byte counts are exact.

The path logic follows MediaMTX's ``path.go``: ``runOnDemand`` / ``sourceOnDemand`` start on
the first DESCRIBE or SETUP and hold readers until the stream is ready or the start timeout
passes (then ``404`` and the command is stopped); once ready the close timer runs until a
reader SETs UP, and restarts when the last reader leaves; when a publisher goes away its
readers are closed. Commands are split like a shell would, without a shell, then ``$VAR``s
are expanded (MediaMTX env first, then the process env); each runs in its own process
group, stopped with SIGINT (SIGKILL after ``stop_timeout``) and restarted after
``restart_pause`` when ``runOnDemandRestart`` is set. A ``source`` URL is pulled by an
``ffmpeg -c copy`` relay publishing into the path, always on unless ``sourceOnDemand``.
Recording follows MediaMTX's ``path.go`` too (``setAvailable`` / ``doReloadConf`` /
``setNotAvailable``): a path records while its effective conf has ``record: true`` *and* its
stream is available; toggling ``record`` (or any ``record*`` key) on a live path starts,
stops or restarts the recorder without touching publisher or readers. MediaMTX's recorder
reads the stream directly: it is not one of the path's readers, so it neither starts a
``runOnDemand`` / ``sourceOnDemand`` source nor keeps one open (a runOnDemand path records
only while something else reads it). ``DataPlane(record_demands_stream=True)`` departs from
that on purpose: the recorder then is an ordinary reader, so it starts an on-demand source
and holds it open. The recorder itself is an FFmpeg reader of the proxy writing segments
(:mod:`.recorder`); it identifies itself by a secret User-Agent, so it is not listed in
``readers``. ``runOnRecordSegmentCreate`` / ``runOnRecordSegmentComplete`` run like the other
commands (split, ``$VAR``s expanded, no restart) with ``MTX_PATH``, ``RTSP_PATH``,
``RTSP_PORT``, ``G1``.., ``MTX_SEGMENT_PATH`` and, on complete, ``MTX_SEGMENT_DURATION``
(seconds, Go's shortest float form). Commands run in ``work_dir`` (MediaMTX's working
directory, against which relative ``recordPath``s resolve), the current directory if unset.
When recording stops (``record`` off, path removed or not ready, :meth:`DataPlane.stop`)
FFmpeg gets SIGINT, so the last segment is finalized before its complete hook runs; if
FFmpeg dies while the path should record, it is restarted after ``record_restart_pause``
(MediaMTX: 2 s). ``recordDeleteAfter`` is not emulated.

Authentication follows MediaMTX's auth manager (:mod:`.auth`): after
:meth:`DataPlane.configure_auth` with ``authMethod: http``, a reader's first DESCRIBE or
SETUP (action ``read``) and a publisher's ANNOUNCE (``publish``) of a configured path are
POSTed to ``authHTTPAddress`` (an unknown path is a ``404`` first, as in MediaMTX's
path manager); a refusal without credentials is a
``401`` with ``WWW-Authenticate: Basic`` (the client retries with them on the same
connection), one with credentials a ``401`` after MediaMTX's 2 s pause, then the
connection closes. The recorder is MediaMTX's own and is not authenticated.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import random
import re
import shlex
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from tests.support.lifecycle import StartStop
from tests.support.system import path as part_path
from tests.support.system import require

from .auth import REALM, Authenticator, rtsp_credentials
from .recorder import Recorder, Segment, go_seconds, record_settings

log = logging.getLogger(__name__)

RELAY_BIN = part_path("rtsp-server-perl")
LOOPBACK = "127.0.0.1"

# Paths whose configuration changes only these keys keep their publisher and readers;
# any other change recreates the path, as MediaMTX does.
_HOT_KEYS = re.compile(
    r"^(record.*|runOnRecordSegment.*|runOnDemandCloseAfter|"
    r"runOnDemandStartTimeout|sourceOnDemandCloseAfter|"
    r"sourceOnDemandStartTimeout|maxReaders)$"
)
_DEFAULT_TIMEOUT = "10s"
_MAX_HEADERS = 64
_MAX_BODY = 1 << 20
# A reader that cannot keep up loses packets instead of growing our memory (MediaMTX drops
# too, past writeQueueSize).
_MAX_CLIENT_BUFFER = 4 << 20
_TEARDOWN_CSEQ = "999998"
_BARRIER_CSEQ = "999999"
_PUBLIC = "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, TEARDOWN, GET_PARAMETER"

_RELAY_BOOT = r"""
$| = 1;
require RTSP::Server;
my $script = shift @ARGV;
# The relay rewinds its RTP port counter to this package default (20000) whenever nothing
# is mounted; pin it to the range we checked, so parallel relays do not collide.
$RTSP::Server::RTP_START_PORT = $ENV{DATAPLANE_RTP_START_PORT};
do $script;
die $@ if $@;
"""

# ---------------------------------------------------------------------------------------
# MediaMTX conventions: durations, commands, codecs


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(value: str | float | None, default: str = _DEFAULT_TIMEOUT) -> float:
    """Seconds in a Go duration string as MediaMTX writes them ("10s", "1m30s", "500ms")."""
    if value is None or value == "":
        value = default
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    if text in ("0", "+0", "-0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise ValueError(f"invalid duration {value!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text:
        raise ValueError(f"invalid duration {value!r}")
    return sign * total


def _shell_name(s: str) -> tuple[str, int]:
    # Port of Go's os.getShellName: MediaMTX expands commands with os.Expand.
    special = "*#$@!?-0123456789"
    if s[0] == "{":
        if len(s) > 2 and s[1] in special and s[2] == "}":
            return s[1:2], 3
        end = s.find("}", 1)
        if end == 1:
            return "", 2
        if end == -1:
            return "", 1
        return s[1:end], end + 1
    if s[0] in special:
        return s[0], 1
    i = 0
    while i < len(s) and (s[i] == "_" or (s[i].isascii() and s[i].isalnum())):
        i += 1
    return s[:i], i


def expand_env(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$NAME`` and ``${NAME}`` like Go's os.Expand: env first, then os.environ."""
    out: list[str] = []
    i = j = 0
    while j < len(text):
        if text[j] == "$" and j + 1 < len(text):
            out.append(text[i:j])
            name, width = _shell_name(text[j + 1 :])
            if not name and not width:
                out.append("$")  # "$" not followed by a name stays as it is
            elif name:
                out.append(env[name] if name in env else os.environ.get(name, ""))
            j += width
            i = j + 1
        j += 1
    out.append(text[i:])
    return "".join(out)


def command_argv(cmd: str, env: Mapping[str, str]) -> list[str]:
    """MediaMTX's way: split like a shell (no shell runs), then expand variables per word."""
    parts = shlex.split(cmd)
    if not parts:
        raise ValueError("empty command")
    return [expand_env(part, env) for part in parts]


_STATIC_PT = {
    "0": "G711",
    "8": "G711",
    "9": "G722",
    "14": "MPEG-1/2 Audio",
    "26": "M-JPEG",
    "32": "MPEG-1/2 Video",
    "33": "MPEG-TS",
}
_CODECS = {
    "H264": "H264",
    "H265": "H265",
    "AV1": "AV1",
    "VP8": "VP8",
    "VP9": "VP9",
    "MP4V-ES": "MPEG-4 Video",
    "MPV": "MPEG-1/2 Video",
    "JPEG": "M-JPEG",
    "OPUS": "Opus",
    "VORBIS": "Vorbis",
    "MPEG4-GENERIC": "MPEG-4 Audio",
    "MP4A-LATM": "MPEG-4 Audio LATM",
    "MPA": "MPEG-1/2 Audio",
    "AC3": "AC3",
    "SPEEX": "Speex",
    "G722": "G722",
    "PCMU": "G711",
    "PCMA": "G711",
    "L8": "LPCM",
    "L16": "LPCM",
    "L24": "LPCM",
    "MP2T": "MPEG-TS",
}


def sdp_codecs(sdp: str) -> list[str]:
    """MediaMTX's ``tracks`` names for each media section of an SDP."""
    codecs: list[str] = []
    sections = re.split(r"\r?\n(?=m=)", sdp)
    for section in sections:
        if not section.startswith("m="):
            continue
        fields = section.splitlines()[0].split()
        pt = fields[3] if len(fields) > 3 else ""
        rtpmap = re.search(rf"^a=rtpmap:{re.escape(pt)}\s+([^/\s]+)", section, re.MULTILINE)
        if rtpmap is not None:
            name = rtpmap.group(1).upper()
            codecs.append("G726" if name.startswith("G726") else _CODECS.get(name, "Generic"))
        else:
            codecs.append(_STATIC_PT.get(pt, "Generic"))
    return codecs


_STATIC_SOURCE_TYPES = {
    "rtsp": "rtspSource",
    "rtsps": "rtspSource",
    "rtmp": "rtmpSource",
    "rtmps": "rtmpSource",
    "http": "hlsSource",
    "https": "hlsSource",
    "srt": "srtSource",
    "udp": "mpegtsSource",
    "whep": "webRTCSource",
    "wheps": "webRTCSource",
}


def _static_source(conf: Mapping[str, Any]) -> str | None:
    source = conf.get("source") or "publisher"
    return source if isinstance(source, str) and "://" in source else None


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------------------
# RTSP framing


class _ProtocolError(Exception):
    pass


@dataclass
class _Frame:
    """An interleaved binary packet: ``$``, channel, 16-bit length, payload."""

    channel: int
    payload: bytes


@dataclass
class _Message:
    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def set(self, name: str, value: str) -> None:
        low = name.lower()
        for i, (key, _) in enumerate(self.headers):
            if key.lower() == low:
                self.headers[i] = (key, value)
                return
        self.headers.append((name, value))

    def encode(self) -> bytes:
        lines = [self.start]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() != "content-length"]
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    @property
    def status(self) -> int:
        parts = self.start.split(maxsplit=2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


async def _read_message(reader: asyncio.StreamReader) -> _Message | _Frame | None:
    """The next RTSP message or interleaved frame; None at a clean end of stream."""
    while True:
        try:
            first = await reader.readexactly(1)
        except asyncio.IncompleteReadError:
            return None
        if first == b"$":
            head = await reader.readexactly(3)
            return _Frame(head[0], await reader.readexactly(int.from_bytes(head[1:], "big")))
        line = first + await reader.readline()
        if line.strip():  # stray CRLFs between messages are tolerated
            break
    msg = _Message(line.decode("utf-8", "replace").strip())
    while True:
        raw = await reader.readline()
        if not raw:
            raise _ProtocolError("end of stream inside RTSP headers")
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            break
        name, sep, value = text.partition(":")
        if not sep or len(msg.headers) >= _MAX_HEADERS:
            raise _ProtocolError(f"bad RTSP header {text!r}")
        msg.headers.append((name.strip(), value.strip()))
    length = msg.get("Content-Length")
    if length:
        if not length.isdigit() or int(length) > _MAX_BODY:
            raise _ProtocolError(f"bad Content-Length {length!r}")
        msg.body = await reader.readexactly(int(length))
    return msg


def _response(code: int, reason: str, cseq: str | None, *headers: tuple[str, str]) -> bytes:
    msg = _Message(f"RTSP/1.0 {code} {reason}")
    if cseq is not None:
        msg.headers.append(("CSeq", cseq))
    msg.headers += headers
    return msg.encode()


@dataclass
class _Transport:
    """One alternative of a Transport header: ``RTP/AVP/TCP;unicast;interleaved=0-1``."""

    profile: str
    params: list[tuple[str, str | None]]

    @classmethod
    def parse(cls, header: str) -> _Transport:
        first = header.split(",")[0]
        profile, *rest = [p.strip() for p in first.split(";")]
        params: list[tuple[str, str | None]] = []
        for item in rest:
            if item:
                key, sep, value = item.partition("=")
                params.append((key.strip(), value.strip() if sep else None))
        return cls(profile, params)

    @property
    def lower(self) -> str:
        return self.profile.upper().rpartition("/")[2] if self.profile.count("/") > 1 else "UDP"

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.params if k.lower() == key.lower()), None)

    def has(self, key: str) -> bool:
        return any(k.lower() == key.lower() for k, _ in self.params)

    def with_param(self, key: str, value: str) -> _Transport:
        kept = [(k, v) for k, v in self.params if k.lower() != key.lower()]
        return _Transport(self.profile, [*kept, (key, value)])

    def encode(self) -> str:
        return ";".join([self.profile] + [k if v is None else f"{k}={v}" for k, v in self.params])


def _pair(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    low, _, high = value.partition("-")
    try:
        first = int(low)
        return first, int(high) if high else first + 1
    except ValueError:
        return None


def _path_name(uri: str) -> tuple[str, str]:
    """(path name, query) of a request URL; SETUP's per-track suffix is dropped."""
    parts = urlsplit(uri)
    name = re.sub(r"/(streamid|trackID|track)=\d+$", "", parts.path).strip("/")
    return name, parts.query


# ---------------------------------------------------------------------------------------
# UDP port pairs owned by the proxy


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, index: int, on_packet: Callable[[int, bytes, Any], None]) -> None:
        self.index, self.on_packet = index, on_packet

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_packet(self.index, data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP "port unreachable" from a reader that went away: nothing to do.
        pass


class _UdpPair:
    """Two consecutive loopback UDP ports (RTP even, RTCP odd), as RTSP peers expect."""

    def __init__(self, transports: list[asyncio.DatagramTransport], port: int) -> None:
        self._transports = transports
        self.ports = (port, port + 1)
        self.remote: list[tuple[str, int] | None] = [None, None]

    @classmethod
    async def open(cls, on_packet: Callable[[int, bytes, Any], None]) -> _UdpPair:
        for _ in range(64):
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtp.bind((LOOPBACK, 0))
            port = rtp.getsockname()[1]
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                if port % 2:
                    raise OSError("odd RTP port")
                rtcp.bind((LOOPBACK, port + 1))
            except OSError:
                rtp.close()
                rtcp.close()
                continue
            loop = asyncio.get_running_loop()
            transports: list[asyncio.DatagramTransport] = []
            for index, sock in enumerate((rtp, rtcp)):
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_UdpProtocol, index, on_packet), sock=sock
                )
                transports.append(transport)
            return cls(transports, port)
        raise OSError("no free consecutive UDP port pair on 127.0.0.1")

    def send(self, index: int, data: bytes, addr: tuple[str, int] | None = None) -> None:
        target = addr or self.remote[index]
        if target is not None and not self._transports[index].is_closing():
            self._transports[index].sendto(data, target)

    def close(self) -> None:
        for transport in self._transports:
            transport.close()


# ---------------------------------------------------------------------------------------
# Commands


class _Command:
    """An external command run as MediaMTX's externalcmd does, with a restart loop."""

    def __init__(
        self,
        argv: Callable[[], list[str]],
        env: Mapping[str, str],
        *,
        label: str,
        restart: bool,
        restart_pause: float,
        stop_timeout: float,
        on_exit: Callable[[_Command], None],
        on_spawn: Callable[[], None] = lambda: None,
        cwd: Path | None = None,
    ) -> None:
        self._argv, self._env, self.label, self.cwd = argv, dict(env), label, cwd
        self.restart, self.restart_pause, self.stop_timeout = restart, restart_pause, stop_timeout
        self._on_exit, self._on_spawn = on_exit, on_spawn
        self.process: asyncio.subprocess.Process | None = None
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        self.runs = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"dataplane-cmd-{self.label}")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                await self._run_once()
                if self._stopping.is_set() or not self.restart:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.restart_pause)
        finally:
            self._on_exit(self)

    async def _run_once(self) -> None:
        try:
            argv = self._argv()
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, **self._env},
                cwd=self.cwd,
                start_new_session=True,  # own process group: signals reach its children
            )
        except (OSError, ValueError) as exc:
            self.output.append(f"cannot run command: {exc}")
            log.warning("%s: cannot run command: %s", self.label, exc)
            return
        self.process, self.runs = proc, self.runs + 1
        self._on_spawn()
        log.debug("%s: started pid %d: %s", self.label, proc.pid, shlex.join(argv))
        assert proc.stdout is not None
        drain = asyncio.create_task(self._drain(proc.stdout))
        exited = asyncio.create_task(proc.wait())
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                # As MediaMTX: SIGINT to the group; SIGKILL if it does not listen.
                _signal_group(proc.pid, signal.SIGINT)
                try:
                    await asyncio.wait_for(asyncio.shield(exited), self.stop_timeout)
                except TimeoutError:
                    _signal_group(proc.pid, signal.SIGKILL)
            await exited
        finally:
            stopping.cancel()
            # Whatever the leader left behind in its group goes too.
            _signal_group(proc.pid, signal.SIGKILL)
        log.debug("%s: pid %d exited with %s", self.label, proc.pid, proc.returncode)
        # EOF ends the drain unless a grandchild still holds the pipe.
        try:
            await asyncio.wait_for(drain, self.stop_timeout)
        except TimeoutError:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            self.output.append(text)
            log.debug("%s: %s", self.label, text)

    async def stop(self) -> None:
        """Stop the restart loop and the process; returns once it is reaped."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.shield(self._task)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# ---------------------------------------------------------------------------------------
# Paths


OnDemandState = Literal["initial", "waiting", "ready", "closing"]


@dataclass(eq=False)
class _Path:
    name: str
    conf_name: str
    conf: dict[str, Any]
    matches: list[str]
    publisher: _Session | None = None
    ready_time: str | None = None
    tracks: list[str] = field(default_factory=list)
    readers: dict[str, _Session] = field(default_factory=dict)
    bytes_received: int = 0
    bytes_sent: int = 0
    command: _Command | None = None
    od_state: OnDemandState = "initial"
    ready_deadline: float = 0.0
    ready_timer: asyncio.TimerHandle | None = None
    close_timer: asyncio.TimerHandle | None = None
    removed: bool = False
    recorder: Recorder | None = None
    record_retry: asyncio.TimerHandle | None = None

    @property
    def ready(self) -> bool:
        return self.ready_time is not None

    def on_demand(self) -> tuple[float, float] | None:
        """(start timeout, close after) when the path starts its source on demand."""
        if _static_source(self.conf) is not None:
            if not self.conf.get("sourceOnDemand"):
                return None
            return (
                parse_duration(self.conf.get("sourceOnDemandStartTimeout")),
                parse_duration(self.conf.get("sourceOnDemandCloseAfter")),
            )
        if not self.conf.get("runOnDemand"):
            return None
        return (
            parse_duration(self.conf.get("runOnDemandStartTimeout")),
            parse_duration(self.conf.get("runOnDemandCloseAfter")),
        )

    def demand_active(self) -> bool:
        return self.od_state != "initial"

    def cancel_timers(self) -> None:
        for timer in (self.ready_timer, self.close_timer):
            if timer is not None:
                timer.cancel()
        self.ready_timer = self.close_timer = None


# ---------------------------------------------------------------------------------------
# Proxy sessions


@dataclass
class _Pending:
    rewrite: Callable[[_Message], None] | None = None
    after: Callable[[_Message], None] | None = None
    future: asyncio.Future[_Message] | None = None
    to_client: bool = True


class _Session:
    """One client connection on rtsp_port, with its own connection to the relay."""

    def __init__(
        self, plane: DataPlane, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.plane, self.reader, self.writer = plane, reader, writer
        self.id = str(uuid.uuid4())
        peer = writer.get_extra_info("peername")
        self.peer_host: str = peer[0] if peer else LOOPBACK
        self.kind: Literal["read", "publish"] | None = None
        self.path: _Path | None = None
        self.query = ""
        self.base_uri = ""
        self.sdp = ""
        self.mounted = self.setup_done = self.teardown_sent = self.playing = False
        # The User-Agent of the data plane's recorder, when this is one; such a session is
        # "internal", not one of the path's readers (MediaMTX's recorder is not), unless
        # record_demands_stream is set.
        self.recorder_agent: str | None = None
        self.internal = False
        # MediaMTX's HLS muxer (:mod:`.hls`): one of the path's readers (it starts an
        # on-demand source), inside MediaMTX, so its clients were authorized, not it.
        self.muxer = False
        self._up_reader: asyncio.StreamReader | None = None
        self._up_writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._pending: collections.OrderedDict[str, _Pending] = collections.OrderedDict()
        self._channels: dict[int, tuple[_UdpPair, int]] = {}
        self._pairs: list[_UdpPair] = []

    def abort(self) -> None:
        """Drop the client; run() notices and cleans up."""
        self.writer.transport.abort()

    async def run(self) -> None:
        try:
            while (msg := await _read_message(self.reader)) is not None:
                if isinstance(msg, _Frame):
                    self._client_frame(msg)
                else:
                    await self._request(msg)
        except (OSError, asyncio.IncompleteReadError, _ProtocolError, ValueError) as exc:
            log.debug("session %s ended: %r", self.id, exc)
        finally:
            await self._cleanup()

    # -- client side

    def _reply(self, data: bytes) -> None:
        if not self.writer.transport.is_closing():
            self.writer.write(data)

    def _media_to_client(self, channel: int, data: bytes) -> None:
        transport = self.writer.transport
        if not self.playing or transport.is_closing():
            return
        if transport.get_write_buffer_size() > _MAX_CLIENT_BUFFER:
            return
        transport.write(b"$" + bytes([channel]) + len(data).to_bytes(2, "big") + data)
        self._count_sent(len(data))

    def _count_sent(self, n: int) -> None:
        if self.path is not None:
            self.path.bytes_sent += n

    def _client_frame(self, frame: _Frame) -> None:
        # A publisher's interleaved RTP goes to the relay over UDP; a reader's RTCP
        # receiver reports have no use here.
        target = self._channels.get(frame.channel)
        if self.kind == "publish" and target is not None and self.path is not None:
            pair, index = target
            pair.send(index, frame.payload)
            self.path.bytes_received += len(frame.payload)

    async def _request(self, msg: _Message) -> None:
        parts = msg.start.split()
        cseq = msg.get("CSeq")
        if len(parts) != 3 or not parts[2].upper().startswith("RTSP/"):
            self._reply(_response(400, "Bad Request", cseq))
            return
        method, uri = parts[0].upper(), parts[1]
        if method == "OPTIONS":
            self._reply(_response(200, "OK", cseq, ("Public", _PUBLIC)))
            return
        if method in ("GET_PARAMETER", "SET_PARAMETER"):
            self._reply(_response(200, "OK", cseq))  # keepalives; the relay has neither
            return
        if self.kind is None:
            agent = msg.get("User-Agent")
            if self.plane._is_recorder(agent):
                self.recorder_agent = agent
                self.internal = not self.plane.record_demands_stream
            self.muxer = agent is not None and agent == self.plane.muxer_agent
            if not await self._bind(method, uri, msg, cseq):
                return
        if self.kind == "read":
            await self._reader_request(method, uri, msg, cseq)
        else:
            await self._publisher_request(method, uri, msg, cseq)

    async def _authorized(self, method: str, uri: str, msg: _Message, cseq: str | None) -> bool:
        """MediaMTX authenticates a reader at DESCRIBE (or SETUP) and a publisher at
        ANNOUNCE, once it has found the path's configuration; see :mod:`.auth`."""
        name, query = _path_name(uri)
        outcome = await self.plane.auth.authenticate(
            credentials=rtsp_credentials(msg.get("Authorization")),
            ip=self.peer_host,
            action="publish" if method == "ANNOUNCE" else "read",
            path=name,
            protocol="rtsp",
            id=self.id,
            query=query,
        )
        if outcome.ok:
            return True
        challenge = ("WWW-Authenticate", f'Basic realm="{REALM}"')
        if outcome.ask_credentials:
            self._reply(_response(401, "Unauthorized", cseq, challenge))
            return False
        self.plane.auth_refused += 1
        await self.plane.auth.pause()
        self._reply(_response(401, "Unauthorized", cseq, challenge))
        self.writer.close()  # gortsplib closes the connection after a failed auth
        return False

    async def _bind(self, method: str, uri: str, msg: _Message, cseq: str | None) -> bool:
        name, query = _path_name(uri)
        path = self.plane._runtime_path(name)
        if path is None:
            self._reply(_response(404, "Not Found", cseq))
            return False
        # pathManager finds the path's configuration, then authenticates. MediaMTX's
        # recorder and static sources are inside MediaMTX: nothing to authorize.
        own = self.recorder_agent is not None or self.muxer or self.plane._is_source(uri)
        if not own and not await self._authorized(method, uri, msg, cseq):
            return False
        kind: Literal["read", "publish"] = "publish" if method == "ANNOUNCE" else "read"
        port = self.plane._relay_source_port if kind == "publish" else self.plane._relay_port
        try:
            self._up_reader, self._up_writer = await asyncio.wait_for(
                asyncio.open_connection(LOOPBACK, port), self.plane.stop_timeout
            )
        except (OSError, TimeoutError):
            self._reply(_response(503, "Service Unavailable", cseq))
            return False
        self.kind, self.path, self.query, self.base_uri = kind, path, query, uri
        self._pump = asyncio.create_task(self._pump_responses(), name=f"dataplane-{self.id}")
        return True

    async def _forward(self, msg: _Message, pending: _Pending | None = None) -> None:
        assert self._up_writer is not None
        self._pending[msg.get("CSeq") or ""] = pending or _Pending()
        self._up_writer.write(msg.encode())
        await self._up_writer.drain()

    # -- readers

    async def _reader_request(self, method: str, uri: str, msg: _Message, cseq: str | None) -> None:
        path = self.path
        assert path is not None
        needs_stream = method in ("DESCRIBE", "SETUP", "PLAY") and not path.ready
        if needs_stream and self.internal:
            self._reply(_response(404, "Not Found", cseq))  # it never brings a stream up
            return
        if needs_stream and not await self.plane._await_ready(path, self.query):
            self._reply(_response(404, "Not Found", cseq))
            return
        if method == "SETUP":
            await self._reader_setup(msg, cseq)
        elif method == "PLAY":
            await self._forward(msg, _Pending(after=self._on_play))
        elif method == "TEARDOWN":
            await self._teardown(msg, cseq)
            self.plane._remove_reader(path, self)
        else:
            await self._forward(msg)

    def _on_play(self, resp: _Message) -> None:
        # Media flows only after the PLAY reply: the relay starts sending at SETUP, and
        # interleaved data before a reply confuses stricter clients.
        if 200 <= resp.status < 300:
            self.playing = True

    def _setup_transport(self, msg: _Message, cseq: str | None) -> _Transport | None:
        """The client's Transport of a SETUP; None (answered) when missing or unsupported."""
        header = msg.get("Transport")
        if header is None:
            self._reply(_response(400, "Bad Request", cseq))
            return None
        client = _Transport.parse(header)
        if client.has("multicast") or client.lower not in ("TCP", "UDP"):
            self._reply(_response(461, "Unsupported Transport", cseq))
            return None
        return client

    async def _reader_setup(self, msg: _Message, cseq: str | None) -> None:
        client = self._setup_transport(msg, cseq)
        if client is None:
            return
        if client.lower == "TCP":
            channels = _pair(client.get("interleaved"))
            if channels is None:
                used = len(self._pairs) * 2
                channels = (used, used + 1)
                client = client.with_param("interleaved", f"{used}-{used + 1}")
            chans = channels

            def on_packet(index: int, data: bytes, addr: Any) -> None:
                self._media_to_client(chans[index], data)

            pair = await _UdpPair.open(on_packet)
            reply = client
        else:
            ports = _pair(client.get("client_port"))
            if ports is None:
                self._reply(_response(461, "Unsupported Transport", cseq))
                return
            targets = ((self.peer_host, ports[0]), (self.peer_host, ports[1]))

            def on_packet(index: int, data: bytes, addr: Any) -> None:
                # The reader's own RTCP and NAT punches arrive here too; only relay
                # packets go on.
                if tuple(addr[:2]) in targets or not self.playing:
                    return
                pair.send(index, data, targets[index])
                self._count_sent(len(data))

            pair = await _UdpPair.open(on_packet)
            reply = client.with_param("server_port", f"{pair.ports[0]}-{pair.ports[1]}")
        self._pairs.append(pair)
        msg.set("Transport", f"RTP/AVP;unicast;client_port={pair.ports[0]}-{pair.ports[1]}")

        def rewrite(resp: _Message) -> None:
            if 200 <= resp.status < 300:
                resp.set("Transport", reply.encode())
                self.setup_done = True
                if self.path is not None and not self.internal:
                    self.plane._add_reader(self.path, self)

        await self._forward(msg, _Pending(rewrite=rewrite))

    # -- publishers

    async def _publisher_request(
        self, method: str, uri: str, msg: _Message, cseq: str | None
    ) -> None:
        path = self.path
        assert path is not None
        if method == "ANNOUNCE":
            previous = path.publisher
            if previous is not None and previous is not self:
                # overridePublisher (MediaMTX's default): the newcomer replaces the old one.
                previous.abort()
                await self.plane._wait_publisher_gone(path, previous)
            self.base_uri, self.sdp = uri, msg.body.decode("utf-8", "replace")

            def announced(resp: _Message) -> None:
                self.mounted = self.mounted or 200 <= resp.status < 300

            await self._forward(msg, _Pending(rewrite=announced))
        elif method == "SETUP":
            await self._publisher_setup(msg, cseq)
        elif method == "RECORD":

            def recording(resp: _Message) -> None:
                if 200 <= resp.status < 300 and self.path is not None:
                    self.plane._publisher_ready(self.path, self)

            await self._forward(msg, _Pending(rewrite=recording))
        elif method == "TEARDOWN":
            await self._teardown(msg, cseq)
            self.plane._publisher_gone(path, self)
        else:
            await self._forward(msg)

    async def _publisher_setup(self, msg: _Message, cseq: str | None) -> None:
        client = self._setup_transport(msg, cseq)
        if client is None:
            return

        def on_packet(index: int, data: bytes, addr: Any) -> None:
            if self.path is not None:
                pair.send(index, data)
                self.path.bytes_received += len(data)

        pair = await _UdpPair.open(on_packet)
        self._pairs.append(pair)
        if client.lower == "TCP":
            channels = _pair(client.get("interleaved"))
            if channels is None:
                used = len(self._pairs) * 2 - 2
                channels = (used, used + 1)
                client = client.with_param("interleaved", f"{used}-{used + 1}")
            self._channels[channels[0]] = (pair, 0)
            self._channels[channels[1]] = (pair, 1)
            reply = client
        else:
            reply = client.with_param("server_port", f"{pair.ports[0]}-{pair.ports[1]}")
        msg.set(
            "Transport",
            f"RTP/AVP;unicast;client_port={pair.ports[0]}-{pair.ports[1]};mode=record",
        )

        def rewrite(resp: _Message) -> None:
            relay = _Transport.parse(resp.get("Transport") or "")
            ports = _pair(relay.get("server_port"))
            if 200 <= resp.status < 300 and ports is not None:
                pair.remote = [(LOOPBACK, ports[0]), (LOOPBACK, ports[1])]
                resp.set("Transport", reply.encode())
                self.setup_done = True

        await self._forward(msg, _Pending(rewrite=rewrite))

    # -- relay side

    async def _pump_responses(self) -> None:
        assert self._up_reader is not None
        try:
            while (msg := await _read_message(self._up_reader)) is not None:
                if isinstance(msg, _Frame):
                    continue
                key = msg.get("CSeq") or ""
                pending = self._pending.pop(key, None)
                if pending is None and not key and self._pending:
                    pending = self._pending.popitem(last=False)[1]
                pending = pending or _Pending()
                if pending.rewrite is not None:
                    pending.rewrite(msg)
                if pending.future is not None and not pending.future.done():
                    pending.future.set_result(msg)
                if pending.to_client:
                    self._reply(msg.encode())
                if pending.after is not None:
                    pending.after(msg)
        except (OSError, asyncio.IncompleteReadError, _ProtocolError, ValueError) as exc:
            log.debug("session %s: relay connection ended: %r", self.id, exc)
        # Without its relay connection the client session cannot go on.
        self.abort()

    async def _teardown(self, msg: _Message | None, cseq: str | None) -> None:
        """TEARDOWN towards the relay (the client's, or one on its behalf), then answer it.

        The relay never answers TEARDOWN; the OPTIONS sent behind it is answered once the
        relay has handled it (one connection, in order), so the unmount is done on return.
        """
        self.teardown_sent = True
        writer = self._up_writer
        if writer is None or writer.is_closing() or self._pump is None or self._pump.done():
            return
        if msg is None:
            msg = _Message(f"TEARDOWN {self.base_uri} RTSP/1.0", [("CSeq", _TEARDOWN_CSEQ)])
        future: asyncio.Future[_Message] = asyncio.get_running_loop().create_future()
        self._pending[_BARRIER_CSEQ] = _Pending(future=future, to_client=False)
        barrier = _Message(f"OPTIONS {self.base_uri} RTSP/1.0", [("CSeq", _BARRIER_CSEQ)])
        try:
            writer.write(msg.encode() + barrier.encode())
            await asyncio.wait_for(asyncio.shield(future), self.plane.stop_timeout)
        except (OSError, TimeoutError) as exc:
            log.debug("session %s: TEARDOWN to relay unconfirmed: %r", self.id, exc)
        if cseq is not None:  # the client's own TEARDOWN
            session = msg.get("Session")
            self._reply(_response(200, "OK", cseq, *([("Session", session)] if session else [])))

    async def _cleanup(self) -> None:
        path = self.path
        if path is not None and self.kind == "publish":
            if self.mounted and not self.teardown_sent:
                await self._teardown(None, None)
            self.plane._publisher_gone(path, self)
        elif path is not None and self.kind == "read":
            self.plane._remove_reader(path, self)
            if self.setup_done and not self.teardown_sent:
                await self._teardown(None, None)
        for pair in self._pairs:
            pair.close()
        if self._up_writer is not None:
            self._up_writer.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        self.writer.close()


# ---------------------------------------------------------------------------------------
# The data plane


class DataPlane(StartStop):
    """rtsp-server-perl plus the RTSP proxy and path runtime; see the module docstring.

    Hooks for the Control API double: :meth:`path_configured`, :meth:`path_removed`,
    :meth:`path_state`. Readers and publishers use ``rtsp://127.0.0.1:<rtsp_port>/<path>``.
    """

    def __init__(
        self,
        *,
        relay_bin: str = RELAY_BIN,
        ffmpeg: str = "ffmpeg",
        restart_pause: float = 5.0,
        stop_timeout: float = 5.0,
        start_timeout: float = 15.0,
        work_dir: str | os.PathLike[str] | None = None,
        record_restart_pause: float = 2.0,
        record_demands_stream: bool = False,
    ) -> None:
        self.relay_bin, self.ffmpeg = relay_bin, ffmpeg
        # MediaMTX waits 5 s before restarting a command or retrying a static source.
        self.restart_pause = restart_pause
        self.stop_timeout, self.start_timeout = stop_timeout, start_timeout
        # MediaMTX's working directory: where commands run and relative recordPaths land.
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self.record_restart_pause = record_restart_pause
        # Not MediaMTX's behaviour (see the module docstring); off unless asked for.
        self.record_demands_stream = record_demands_stream
        # Recorders announce themselves with this User-Agent prefix (one suffix each).
        self._recorder_agent = f"mediamtx-double-recorder/{uuid.uuid4().hex}/"
        # A ``source`` relay publishes with this query: it is MediaMTX's own source, not a
        # client, so it is not authenticated (FFmpeg's RTSP muxer sends no User-Agent of
        # our choosing).
        self._source_marker = f"mediamtx-double-source={uuid.uuid4().hex}"
        # The HLS muxers (:mod:`.hls`) read with this User-Agent.
        self.muxer_agent = f"mediamtx-double-hls/{uuid.uuid4().hex}"
        self._recorders: set[Recorder] = set()
        self._segments: dict[str, list[Segment]] = {}
        self._hooks: set[_Command] = set()
        self._confs: dict[str, dict[str, Any]] = {}
        self._paths: dict[str, _Path] = {}
        self._sessions: dict[asyncio.Task[None], _Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._relay: asyncio.subprocess.Process | None = None
        self._relay_drains: list[asyncio.Task[None]] = []
        self._relay_output: collections.deque[str] = collections.deque(maxlen=200)
        self._rtsp_port = 0
        self._relay_port = 0
        self._relay_source_port = 0
        self._changed = asyncio.Event()
        self._started = False
        # MediaMTX's authentication (authMethod internal with its default "any" user
        # until configure_auth says otherwise).
        self.auth = Authenticator()
        self._file_auth: dict[str, Any] = {}  # as if from mediamtx.yml
        self.auth_refused = 0  # refusals of requests that carried credentials

    def configure_auth(self, conf: Mapping[str, Any], **kwargs: Any) -> None:
        """Apply MediaMTX's global auth settings (``authMethod``, ``authHTTPAddress``,
        ``authHTTPExclude``), e.g. those of the config the service renders."""
        self.auth = Authenticator.from_conf(conf, **kwargs)
        self._file_auth = dict(conf)

    def global_configured(self, conf: Mapping[str, Any]) -> None:
        """The Control API double's hook: global settings patched through the API win
        over the configuration file's (``{}``: back to the file's, after a restart)."""
        self.auth = Authenticator.from_conf({**self._file_auth, **conf})

    # -- lifecycle

    @property
    def rtsp_port(self) -> int:
        """The port readers and publishers use; ``$RTSP_PORT`` in commands."""
        if not self._rtsp_port:
            raise RuntimeError("DataPlane has not been started")
        return self._rtsp_port

    @property
    def relay_ports(self) -> tuple[int, int]:
        """The relay's (reader, publisher) ports; internal, for diagnostics."""
        return self._relay_port, self._relay_source_port

    def url(self, name: str) -> str:
        return f"rtsp://{LOOPBACK}:{self.rtsp_port}/{name}"

    async def start(self) -> None:
        if self._started:
            return
        require("ffmpeg", "ffprobe", "rtsp-server-perl")  # publishers, probes, the relay
        self._changed = asyncio.Event()
        try:
            await self._start_relay()
            self._server = await asyncio.start_server(self._on_client, LOOPBACK, 0)
            self._rtsp_port = self._server.sockets[0].getsockname()[1]
        except BaseException:
            await self.stop()
            raise
        self._started = True
        for name in list(self._confs):
            self._init_conf(name)

    async def stop(self) -> None:
        """Stop commands (their publishers tear down through us), clients, then the relay."""
        self._started = False
        if self._server is not None:
            self._server.close()
        paths, self._paths = list(self._paths.values()), {}
        await asyncio.gather(*(self._close_path(p) for p in paths), return_exceptions=True)
        # Clients go next; each tears down its relay side, so give them a moment first.
        for session in self._sessions.values():
            session.abort()
        if self._sessions:
            await asyncio.wait(list(self._sessions), timeout=self.stop_timeout)
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        await self._settle_tasks()
        await self._settle_hooks()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await self._stop_relay()
        self._rtsp_port = 0

    async def kill_recorders(self) -> None:
        """MediaMTX's recorders die with it: every recorder's FFmpeg is killed, so the
        segments it was writing are left as they are, never completed."""
        await asyncio.gather(*(rec.kill() for rec in list(self._recorders)))

    async def _settle_tasks(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _settle_hooks(self) -> None:
        """Let segment hooks finish (they report the last segments), then stop the rest."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout
        while self._hooks and loop.time() < deadline:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), deadline - loop.time())
        await asyncio.gather(*(cmd.stop() for cmd in list(self._hooks)), return_exceptions=True)

    async def _start_relay(self) -> None:
        last_error = "not started"
        for _ in range(5):
            client_port, source_port = _free_tcp_port(), _free_tcp_port()
            rtp_start = _free_udp_range()
            proc = await asyncio.create_subprocess_exec(
                "perl",
                "-e",
                _RELAY_BOOT,
                self.relay_bin,
                "--clientport",
                str(client_port),
                "--serverport",
                str(source_port),
                "--client_listen_address",
                LOOPBACK,
                "--source_listen_address",
                LOOPBACK,
                "--rtp_start_port",
                str(rtp_start),
                "--max_clients",
                "10000",
                "--loglevel",
                "3",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "DATAPLANE_RTP_START_PORT": str(rtp_start)},
                start_new_session=True,
            )
            self._relay = proc
            assert proc.stdout is not None and proc.stderr is not None
            self._relay_drains = [asyncio.create_task(self._drain_relay(proc.stderr))]
            try:
                async with asyncio.timeout(self.start_timeout):
                    while line := await proc.stdout.readline():
                        text = line.decode(errors="replace").rstrip()
                        self._relay_output.append(text)
                        if text == "Client server started":
                            break
                    else:
                        raise EOFError
            except (TimeoutError, EOFError):
                await self._stop_relay()
                last_error = "\n".join(self._relay_output) or "no output"
                continue  # most likely a port taken between our probe and its bind
            self._relay_drains.append(asyncio.create_task(self._drain_relay(proc.stdout)))
            self._relay_port, self._relay_source_port = client_port, source_port
            log.debug(
                "relay on %d (readers) / %d (publishers), RTP from %d",
                client_port,
                source_port,
                rtp_start,
            )
            return
        raise RuntimeError(f"rtsp-server-perl did not start: {last_error}")

    async def _drain_relay(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            self._relay_output.append(text)
            log.debug("relay: %s", text)

    async def _stop_relay(self) -> None:
        proc, self._relay = self._relay, None
        if proc is not None and proc.returncode is None:
            _signal_group(proc.pid, signal.SIGINT)  # the script exits on SIGINT
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        for task in self._relay_drains:
            try:
                await asyncio.wait_for(task, self.stop_timeout)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._relay_drains = []

    def relay_output(self) -> str:
        return "\n".join(self._relay_output)

    # -- hooks for the Control API double

    def path_configured(self, name: str, conf: dict[str, Any]) -> None:
        """A path was added, patched or replaced; ``conf`` is the full merged PathConf."""
        old = self._confs.get(name)
        self._confs[name] = dict(conf)
        if old is not None:
            hot = _needs_no_restart(old, conf)
            for path in [p for p in self._paths.values() if p.conf_name == name]:
                if hot:
                    path.conf = dict(conf)
                    self._sync_recorder(path)
                else:
                    self._drop_path(path)
        if self._started:
            self._init_conf(name)
        self._notify()

    def path_removed(self, name: str) -> None:
        """Stop everything of the path: its command or source, publisher and readers."""
        self._confs.pop(name, None)
        for path in [p for p in self._paths.values() if p.conf_name == name]:
            self._drop_path(path)
        self._notify()

    def path_state(self, name: str) -> dict[str, Any] | None:
        """Runtime fields of ``/v3/paths/get/{name}``; None when no such path exists."""
        path = self._paths.get(name)
        if path is None:
            if name not in self._confs or name.startswith("~"):
                return None
            return {
                "ready": False,
                "readyTime": None,
                "source": None,
                "readers": [],
                "bytesReceived": 0,
                "bytesSent": 0,
                "tracks": [],
            }
        source: dict[str, str] | None = None
        if path.publisher is not None and path.ready:
            static = _static_source(path.conf)
            if static is not None:
                scheme = urlsplit(static).scheme.lower()
                source = {"type": _STATIC_SOURCE_TYPES.get(scheme, "rtspSource"), "id": ""}
            else:
                source = {"type": "rtspSession", "id": path.publisher.id}
        return {
            "ready": path.ready,
            "readyTime": path.ready_time,
            "source": source,
            "readers": [{"type": "rtspSession", "id": rid} for rid in path.readers],
            "bytesReceived": path.bytes_received if path.ready else 0,
            "bytesSent": path.bytes_sent if path.ready else 0,
            "tracks": list(path.tracks) if path.ready else [],
        }

    # -- helpers for tests

    def publisher_process(self, name: str) -> asyncio.subprocess.Process | None:
        """The running runOnDemand command or source relay of a path, if any."""
        path = self._paths.get(name)
        cmd = path.command if path is not None else None
        if cmd is None or cmd.process is None or cmd.process.returncode is not None:
            return None
        return cmd.process

    async def wait_publisher_process(
        self, name: str, timeout: float, *, not_pid: int | None = None
    ) -> asyncio.subprocess.Process:
        """Wait until the path runs a command process (other than ``not_pid``)."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                proc = self.publisher_process(name)
                if proc is not None and proc.pid != not_pid:
                    return proc
                await changed.wait()

    def command_output(self, name: str) -> str:
        path = self._paths.get(name)
        return "\n".join(path.command.output) if path and path.command else ""

    async def wait_state(
        self, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        """Wait until ``path_state(name)`` satisfies ``predicate``; TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                state = self.path_state(name)
                if state is not None and predicate(state):
                    return state
                await changed.wait()

    # -- recording helpers for tests

    def recording(self, name: str) -> bool:
        """Whether the path has a recorder (running, or starting; not stopping)."""
        path = self._paths.get(name)
        return path is not None and path.recorder is not None

    def segments(self, name: str) -> list[Path]:
        """The files of every segment recorded for the path so far, oldest first."""
        return [seg.file for seg in self._segments.get(name, [])]

    def segment_records(self, name: str) -> list[Segment]:
        """Like :meth:`segments`, with the reported name, start and duration of each."""
        return list(self._segments.get(name, []))

    async def wait_segments(
        self, name: str, count: int, timeout: float, *, complete: bool = False
    ) -> list[Segment]:
        """Wait until the path has ``count`` segments (created, or complete)."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                found = [
                    seg
                    for seg in self._segments.get(name, [])
                    if not complete or seg.duration is not None
                ]
                if len(found) >= count:
                    return found
                await changed.wait()

    async def wait_recording_done(self, name: str, timeout: float) -> list[Segment]:
        """Wait until no recorder of the path runs and every segment hook has exited."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                busy = any(rec.path_name == name for rec in self._recorders)
                if not busy and not self.recording(name) and not self._hooks:
                    return self.segment_records(name)
                await changed.wait()

    # -- recording

    def _is_source(self, uri: str) -> bool:
        return _path_name(uri)[1] == self._source_marker

    def _is_recorder(self, user_agent: str | None) -> bool:
        return user_agent is not None and user_agent.startswith(self._recorder_agent)

    def _disconnect_recorder(self, user_agent: str) -> None:
        # Ends the recorder's input: FFmpeg sees EOF and finalizes even if the stream
        # stalled (a second SIGINT would also abort its writes, trailer included).
        for session in list(self._sessions.values()):
            if session.recorder_agent == user_agent:
                session.abort()

    def _record_wanted(self, path: _Path) -> bool:
        if not self._started or path.removed or not path.conf.get("record"):
            return False
        if path.ready:
            return True
        return self.record_demands_stream and path.on_demand() is not None

    def _sync_recorder(self, path: _Path) -> None:
        """Start, stop or restart the path's recorder to match its conf and stream."""
        rec = path.recorder
        wanted = self._record_wanted(path)
        if rec is not None and (not wanted or rec.settings != record_settings(path.conf)):
            path.recorder = None
            self._spawn(rec.stop())
            rec = None
        if not wanted and path.record_retry is not None:
            path.record_retry.cancel()
            path.record_retry = None
        if wanted and rec is None and path.record_retry is None:
            self._start_recorder(path)

    def _start_recorder(self, path: _Path) -> None:
        rec = Recorder(
            path_name=path.name,
            conf=path.conf,
            url=self.url(path.name),
            ffmpeg=self.ffmpeg,
            user_agent=self._recorder_agent + uuid.uuid4().hex,
            work_dir=self.work_dir,
            stop_timeout=self.stop_timeout,
            on_create=lambda seg: self._segment_created(path, seg),
            on_complete=lambda seg: self._segment_completed(path, seg),
            on_exit=lambda r: self._recorder_exited(path, r),
            on_stop=self._disconnect_recorder,
        )
        path.recorder = rec
        self._recorders.add(rec)
        rec.start()
        log.debug("path %s: recording to %s", path.name, rec.path_format)
        self._notify()

    async def _stop_recorder(self, path: _Path) -> None:
        if path.record_retry is not None:
            path.record_retry.cancel()
            path.record_retry = None
        rec, path.recorder = path.recorder, None
        if rec is not None:
            await rec.stop()

    def _recorder_exited(self, path: _Path, rec: Recorder) -> None:
        self._recorders.discard(rec)
        if path.recorder is rec:
            # FFmpeg ended by itself (stream error): MediaMTX retries after a pause.
            path.recorder = None
            last = rec.output[-1] if rec.output else "no output"
            log.info("path %s: recorder exited: %s", path.name, last)
            if self._record_wanted(path):
                path.record_retry = asyncio.get_running_loop().call_later(
                    self.record_restart_pause, self._record_retry_due, path
                )
        self._notify()

    def _record_retry_due(self, path: _Path) -> None:
        path.record_retry = None
        self._sync_recorder(path)

    def _segment_created(self, path: _Path, seg: Segment) -> None:
        self._segments.setdefault(path.name, []).append(seg)
        self._run_hook(path, "runOnRecordSegmentCreate", {"MTX_SEGMENT_PATH": seg.name})
        self._notify()

    def _segment_completed(self, path: _Path, seg: Segment) -> None:
        duration = go_seconds(seg.duration or 0.0)
        extra = {"MTX_SEGMENT_PATH": seg.name, "MTX_SEGMENT_DURATION": duration}
        self._run_hook(path, "runOnRecordSegmentComplete", extra)
        self._notify()

    def _run_hook(self, path: _Path, key: str, extra: Mapping[str, str]) -> None:
        """Run a segment hook as MediaMTX's externalcmd does: once, never restarted."""
        cmdstr = str(path.conf.get(key) or "")  # the conf of now: hooks are hot-reloaded
        if not cmdstr:
            return
        env = {**self._env(path, ""), **extra}
        env.pop("MTX_QUERY", None)  # ExternalCmdEnv has no query for recorder hooks

        def argv() -> list[str]:
            return command_argv(cmdstr, env)

        cmd = _Command(
            argv,
            env,
            label=f"{path.name} {key}",
            restart=False,
            restart_pause=self.restart_pause,
            stop_timeout=self.stop_timeout,
            on_exit=self._hook_exited,
            cwd=self.work_dir,
        )
        self._hooks.add(cmd)
        cmd.start()

    def _hook_exited(self, cmd: _Command) -> None:
        self._hooks.discard(cmd)
        if cmd.output:
            log.debug("%s: %s", cmd.label, "\n".join(cmd.output))
        self._notify()

    # -- path runtime

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("data plane task failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _resolve(self, name: str) -> tuple[str, dict[str, Any], list[str]] | None:
        if name in self._confs and not name.startswith("~"):
            return name, self._confs[name], [name]
        for conf_name, conf in self._confs.items():
            pattern = conf_name[1:] if conf_name.startswith("~") else None
            if conf_name in ("all", "all_others"):
                pattern = "^.*$"
            if pattern is None:
                continue
            try:
                match = re.search(pattern, name)
            except re.error:
                continue  # the Control API refuses such names; never crash a session on one
            if match is not None:
                return conf_name, conf, [match.group(0), *(g or "" for g in match.groups())]
        return None

    def _runtime_path(self, name: str) -> _Path | None:
        path = self._paths.get(name)
        if path is not None:
            return path
        resolved = self._resolve(name)
        if resolved is None or not self._started:
            return None
        conf_name, conf, matches = resolved
        path = _Path(name, conf_name, dict(conf), matches)
        self._paths[name] = path
        return path

    def _init_conf(self, name: str) -> None:
        # Non-regex paths exist from configuration on; an always-on source starts now.
        if name.startswith("~") or name in ("all", "all_others"):
            return
        path = self._runtime_path(name)
        if (
            path is not None
            and path.command is None
            and _static_source(path.conf)
            and not path.conf.get("sourceOnDemand")
        ):
            self._start_command(path, "")
        if path is not None:
            self._sync_recorder(path)

    def _drop_path(self, path: _Path) -> None:
        if self._paths.get(path.name) is path:
            del self._paths[path.name]
        self._spawn(self._close_path(path))

    async def _close_path(self, path: _Path) -> None:
        path.removed = True
        path.cancel_timers()
        self._notify()
        # The recorder first: its last segment is finalized while the stream still flows.
        await self._stop_recorder(path)
        cmd, path.command = path.command, None
        for session in [*path.readers.values(), *([path.publisher] if path.publisher else [])]:
            session.abort()
        if cmd is not None:
            await cmd.stop()

    def _env(self, path: _Path, query: str) -> dict[str, str]:
        env = {
            "MTX_PATH": path.name,
            "RTSP_PATH": path.name,
            "RTSP_PORT": str(self.rtsp_port),
            "MTX_QUERY": query,
        }
        env.update({f"G{i}": group for i, group in enumerate(path.matches[1:], start=1)})
        return env

    def _start_command(self, path: _Path, query: str) -> None:
        static = _static_source(path.conf)
        env = self._env(path, query)
        if static is not None:
            restart = True  # MediaMTX retries a static source until it is not needed

            def argv() -> list[str]:
                return self._source_argv(path, static)
        else:
            restart = bool(path.conf.get("runOnDemandRestart"))
            cmdstr = str(path.conf.get("runOnDemand") or "")

            def argv() -> list[str]:
                return command_argv(cmdstr, env)

        cmd = _Command(
            argv,
            env,
            label=path.name,
            restart=restart,
            restart_pause=self.restart_pause,
            stop_timeout=self.stop_timeout,
            on_exit=lambda c: self._command_exited(path, c),
            on_spawn=self._notify,
            cwd=self.work_dir,
        )
        path.command = cmd
        cmd.start()
        self._notify()

    def _source_argv(self, path: _Path, source: str) -> list[str]:
        # ffmpeg would analyse the input for ~2 s (frame rate estimation) before it
        # publishes; codec parameters come from the SDP, so 1 s of analysis is plenty.
        argv = [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"]
        argv += ["-analyzeduration", "1000000"]
        if urlsplit(source).scheme.lower() in ("rtsp", "rtsps"):
            transport = {"udp": "udp", "multicast": "udp_multicast"}.get(
                str(path.conf.get("rtspTransport") or ""), "tcp"
            )
            argv += ["-rtsp_transport", transport]
        return [
            *argv,
            "-i",
            source,
            "-c",
            "copy",
            "-f",
            "rtsp",
            "-rtsp_transport",
            "tcp",
            f"rtsp://{LOOPBACK}:{self.rtsp_port}/{path.name}?{self._source_marker}",
        ]

    def _command_exited(self, path: _Path, cmd: _Command) -> None:
        # The command is gone for good (no restart, or stopped): the next reader starts
        # it again instead of waiting on a dead one.
        if path.command is cmd:
            path.command = None
            if path.od_state != "initial":
                path.cancel_timers()
                path.od_state = "initial"
        self._notify()

    def _stop_command(self, path: _Path) -> None:
        cmd, path.command = path.command, None
        path.cancel_timers()
        path.od_state = "initial"
        if cmd is not None:
            self._spawn(cmd.stop())
        self._notify()

    async def _await_ready(self, path: _Path, query: str) -> bool:
        """Hold a reader until the path is ready: MediaMTX's describe/addReader on hold."""
        if path.ready:
            return True
        timing = path.on_demand()
        if timing is None or path.removed:
            return False
        loop = asyncio.get_running_loop()
        if path.od_state == "initial":
            start_timeout = timing[0]
            path.od_state = "waiting"
            path.ready_deadline = loop.time() + start_timeout
            path.ready_timer = loop.call_later(start_timeout, self._ready_timed_out, path)
            self._start_command(path, query)
        while not path.ready:
            if path.removed or not path.demand_active():
                return False
            changed = self._changed
            remaining = path.ready_deadline - loop.time()
            try:
                await asyncio.wait_for(changed.wait(), max(remaining, 0.0))
            except TimeoutError:
                return path.ready
        return True

    def _ready_timed_out(self, path: _Path) -> None:
        path.ready_timer = None
        if not path.ready and path.od_state == "waiting":
            log.info("path %s: source did not become ready in time", path.name)
            self._stop_command(path)

    def _schedule_close(self, path: _Path) -> None:
        timing = path.on_demand()
        if timing is None:
            return
        if path.close_timer is not None:
            path.close_timer.cancel()
        path.od_state = "closing"
        path.close_timer = asyncio.get_running_loop().call_later(
            timing[1], self._close_timed_out, path
        )

    def _close_timed_out(self, path: _Path) -> None:
        path.close_timer = None
        if path.od_state == "closing":
            log.debug("path %s: not needed by anyone, stopping its source", path.name)
            self._stop_command(path)

    def _add_reader(self, path: _Path, session: _Session) -> None:
        path.readers[session.id] = session
        if path.od_state == "closing":
            if path.close_timer is not None:
                path.close_timer.cancel()
                path.close_timer = None
            path.od_state = "ready"
        self._notify()

    def _remove_reader(self, path: _Path, session: _Session) -> None:
        if path.readers.pop(session.id, None) is None:
            return
        if not path.readers and path.od_state == "ready":
            self._schedule_close(path)
        self._notify()

    def _publisher_ready(self, path: _Path, session: _Session) -> None:
        if path.removed:
            session.abort()
            return
        path.publisher = session
        path.ready_time = _now_rfc3339()
        path.tracks = sdp_codecs(session.sdp)
        path.bytes_received = path.bytes_sent = 0
        if path.od_state != "initial":
            if path.ready_timer is not None:
                path.ready_timer.cancel()
                path.ready_timer = None
            if path.readers:
                path.od_state = "ready"
            else:
                self._schedule_close(path)
        log.debug("path %s is ready: %s", path.name, path.tracks)
        self._sync_recorder(path)  # MediaMTX's setAvailable starts the recorder
        self._notify()

    def _publisher_gone(self, path: _Path, session: _Session) -> None:
        if path.publisher is not session:
            return
        path.publisher = None
        path.ready_time = None
        path.tracks = []
        # As MediaMTX: the stream is gone, so are its readers and its recorder.
        for reader in list(path.readers.values()):
            path.readers.pop(reader.id, None)
            reader.abort()
        self._sync_recorder(path)
        self._notify()

    async def _wait_publisher_gone(self, path: _Path, session: _Session) -> None:
        async with asyncio.timeout(self.stop_timeout):
            while path.publisher is session:
                changed = self._changed
                await changed.wait()

    # -- connections

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        session = _Session(self, reader, writer)
        self._sessions[task] = session
        try:
            await session.run()
        except asyncio.CancelledError:
            # Not re-raised: Python 3.11's start_server callback calls task.exception()
            # and logs a cancelled handler as an error.
            writer.transport.abort()
        except Exception:
            log.exception("RTSP session failed")
            writer.transport.abort()
        finally:
            self._sessions.pop(task, None)


def _needs_no_restart(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    keys = set(old) | set(new)
    return all(old.get(k) == new.get(k) for k in keys if not _HOT_KEYS.match(k))


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _free_udp_range(span: int = 200) -> int:
    """An even base below the ephemeral range whose next ``span`` UDP ports are free.

    The relay takes two ports per SETUP from a counter it only rewinds when nothing is
    mounted; keeping it out of the ephemeral range keeps it clear of our own port pairs.
    """
    low = 10000
    high = 32768
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/sys/net/ipv4/ip_local_port_range") as fh,
    ):
        high = int(fh.read().split()[0])
    for _ in range(50):
        base = random.randrange(low, max(high - span, low + 2), 2)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + span):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((LOOPBACK, port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free UDP port range for the relay")
