#!/usr/bin/env python3
"""Cheap WebSocket JSON-RPC 2.0 load generator for the camera-service benchmarks.

Runs in its own process (never in the server's interpreter). The machine the service is
benchmarked on has two cores shared by server and generator, so everything here is
built to cost as little CPU per request as possible:

* uvloop + raw ``asyncio.Protocol``: no aiohttp/websockets client, no per-message task
  or future, no stream reader.
* Hand-written RFC 6455 client framing: a request frame is ``header + prefix + id + "}"``
  from a table of precomputed headers; replies are parsed in place (``rfind``/``find``
  with bounds, a pre-compiled regex for the id) and only decoded with orjson on the
  rare path (error replies, notifications, anything unexpected).
* Latencies go into a preallocated log-linear histogram (``array.array``, ~1 %
  precision), never into a list of floats.

Modes (see ``--help``):

* ``closed``: every connection keeps exactly one request in flight.
* ``open``: a fixed total rate, sent on a schedule independent of replies; latency is
  measured from the *scheduled* send time so a stalled server is not hidden
  (coordinated omission).
* ``hold``: hold N (authenticated) connections for D seconds, optionally each sending
  one request every ``--interval`` seconds (staggered, open loop).

Prints one human summary line on stdout (progress goes to stderr) and, with
``--json PATH``, writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import contextlib
import hashlib
import math
import os
import re
import resource
import socket
import sys
import time
from collections import Counter
from typing import Any, cast

import orjson
import uvloop

# bench/ is this script's directory, so it is on sys.path
from server import read_cpu_seconds, read_rss_kb

_perf = time.perf_counter

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# RFC 6455 §5.3: every client frame must be masked, with a 32-bit key XORed over the
# payload. The key's *value* is unconstrained on the wire -- a server cannot tell and
# must not care which key was used -- so an all-zero key is a legal frame. XOR with zero
# is the identity, so the payload goes out as-is: no per-byte Python work, no copy.
# (The RFC asks browsers for unpredictable keys so that hostile page scripts cannot
# forge byte patterns aimed at caching proxies; a benchmark tool talking to its own
# server over loopback has no such attacker, and the server side is exercised exactly
# as with any other key, since it still has to read the mask bit and the key.)
ZERO_MASK = b"\x00\x00\x00\x00"
CLOSE_NORMAL_FRAME = b"\x88\x82" + ZERO_MASK + b"\x03\xe8"  # close 1000, masked

_ID_RE = re.compile(rb'"id"\s*:\s*(\d+)')

HANDSHAKE, AUTH, OPEN, CLOSED = 0, 1, 2, 3
NOTIFICATION = -2  # _decode: a server->client notification (no id)
UNMATCHED = -1  # _decode: id null / unparseable


def client_frame_header(length: int, opcode: int = 0x1) -> bytes:
    """FIN + opcode, MASK bit, 7/16/64-bit length, all-zero masking key."""
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, 0x80 | length)) + ZERO_MASK
    if length < 65536:
        return bytes((first, 0x80 | 126)) + length.to_bytes(2, "big") + ZERO_MASK
    return bytes((first, 0x80 | 127)) + length.to_bytes(8, "big") + ZERO_MASK


# --- latency histogram ----------------------------------------------------------------


class Histogram:
    """Log-linear histogram of microsecond values.

    Values below 128 us are exact. Above, every power of two is split into 64 equal
    buckets, so a bucket is at most 1/64 of its values wide and the midpoint reported
    is within 0.8 % of any value in it. 2,112 counters cover up to ~38 hours.
    """

    __slots__ = ("_last", "counts", "max_us", "sum_us", "total")

    def __init__(self, max_us: int = 1 << 37) -> None:
        n = self.index(max_us) + 1
        self.counts = array.array("Q", bytes(8 * n))
        self._last = n - 1
        self.total = 0
        self.sum_us = 0
        self.max_us = 0

    @staticmethod
    def index(us: int) -> int:
        if us < 128:
            return max(us, 0)
        s = us.bit_length() - 7
        return (s << 6) + (us >> s)

    @staticmethod
    def bounds(idx: int) -> tuple[int, int]:
        if idx < 128:
            return idx, idx
        s = (idx >> 6) - 1
        m = idx - (s << 6)
        return m << s, ((m + 1) << s) - 1

    def record(self, us: int) -> None:
        if us < 128:
            idx = us if us > 0 else 0
        else:
            s = us.bit_length() - 7
            idx = (s << 6) + (us >> s)
            if idx > self._last:
                idx = self._last
        self.counts[idx] += 1
        self.total += 1
        self.sum_us += us
        if us > self.max_us:
            self.max_us = us

    def percentile(self, p: float) -> float:
        """Value (us) at percentile p (0-100): midpoint of its bucket, capped at max."""
        if not self.total:
            return math.nan
        target = max(1, math.ceil(p / 100.0 * self.total))
        cum = 0
        for idx, c in enumerate(self.counts):
            if c:
                cum += c
                if cum >= target:
                    lo, hi = self.bounds(idx)
                    return min((lo + hi) / 2.0, float(self.max_us))
        return float(self.max_us)

    def summary_ms(self) -> dict[str, float | int | None]:
        def ms(us: float) -> float | None:
            return None if math.isnan(us) else round(us / 1000.0, 3)

        return {
            "count": self.total,
            "p50": ms(self.percentile(50)),
            "p90": ms(self.percentile(90)),
            "p99": ms(self.percentile(99)),
            "p999": ms(self.percentile(99.9)),
            "max": ms(float(self.max_us)) if self.total else None,
            "mean": ms(self.sum_us / self.total) if self.total else None,
        }


# --- connection -----------------------------------------------------------------------


class HandshakeError(Exception):
    pass


class AuthFailed(Exception):
    pass


class WsConn(asyncio.Protocol):
    """One WebSocket client connection: handshake, optional authenticate, requests."""

    __slots__ = (
        "buf",
        "close_sent",
        "frag",
        "frag_op",
        "g",
        "inflight_id",
        "key",
        "ready",
        "sent_at",
        "state",
        "transport",
    )

    def __init__(self, g: LoadGen) -> None:
        self.g = g
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.state = HANDSHAKE
        self.ready: asyncio.Future[None] = g.loop.create_future()
        self.key = b""
        self.inflight_id = -1
        self.sent_at = 0.0
        self.frag: bytearray | None = None
        self.frag_op = 0
        self.close_sent = False

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is not a subclass of asyncio.Transport, just compatible
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.key = base64.b64encode(os.urandom(16))
        self.transport.write(self.g.handshake_head + self.key + b"\r\n\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        was = self.state
        self.state = CLOSED
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost during setup: {exc}"))
        elif was == OPEN and not self.g.stopping:
            self.g.dropped += 1

    def data_received(self, data: bytes) -> None:
        if self.state == HANDSHAKE:
            data = self._handshake_data(data)
            if not data:
                return
        buf = self.buf
        if buf:
            buf += data
            pos = self._parse(buf)
            del buf[:pos]
        else:
            pos = self._parse(data)
            if pos < len(data):
                buf += memoryview(data)[pos:]

    def eof_received(self) -> bool | None:
        return None  # close the transport

    # -- handshake / auth --

    def _fail(self, exc: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        self.state = CLOSED
        if self.transport is not None:
            self.transport.close()

    def _handshake_data(self, data: bytes) -> bytes:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > 65536:
                self._fail(HandshakeError("oversized HTTP response head"))
            return b""
        head = bytes(self.buf[:end])
        rest = bytes(self.buf[end + 4 :])
        self.buf = bytearray()
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ", 2)
        if len(status) < 2 or status[1] != b"101":
            self._fail(HandshakeError(lines[0].decode("latin-1", "replace")[:120]))
            return b""
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest())
        if headers.get(b"sec-websocket-accept") != expected:
            self._fail(HandshakeError("bad Sec-WebSocket-Accept"))
            return b""
        assert self.transport is not None
        if self.g.auth_frame:
            self.state = AUTH
            self.transport.write(self.g.auth_frame)
        else:
            self.state = OPEN
            self.ready.set_result(None)
        return rest

    def _on_auth_reply(self, d: bytes | bytearray, s: int, e: int) -> None:
        try:
            obj = orjson.loads(d[s:e])
        except orjson.JSONDecodeError:
            self._fail(AuthFailed("unparseable authenticate reply"))
            return
        if not isinstance(obj, dict) or obj.get("id") != 0:
            return  # not our reply (a notification?)
        result = obj.get("result")
        if isinstance(result, dict) and result.get("authenticated") is True:
            self.state = OPEN
            if not self.ready.done():
                self.ready.set_result(None)
        else:
            self._fail(AuthFailed(orjson.dumps(obj.get("error", obj)).decode()[:200]))

    # -- frames --

    def _parse(self, d: bytes | bytearray) -> int:
        """Handle every complete frame in d; return the offset of the first incomplete."""
        pos = 0
        n = len(d)
        while n - pos >= 2:
            b0 = d[pos]
            b1 = d[pos + 1]
            ln = b1 & 0x7F
            if ln < 126:
                s = pos + 2
            elif ln == 126:
                if n - pos < 4:
                    break
                ln = (d[pos + 2] << 8) | d[pos + 3]
                s = pos + 4
            else:
                if n - pos < 10:
                    break
                ln = int.from_bytes(d[pos + 2 : pos + 10], "big")
                s = pos + 10
            if b1 & 0x80:
                self.g.protocol_errors["masked server frame"] += 1
                self._fail(HandshakeError("masked server frame"))
                return n
            e = s + ln
            if e > n:
                break
            if b0 == 0x81:  # FIN + text: the hot path
                self._on_text(d, s, e)
            else:
                self._on_other(b0, d, s, e)
            pos = e
            if self.state == CLOSED:
                return n
        return pos

    def _on_other(self, b0: int, d: bytes | bytearray, s: int, e: int) -> None:
        op = b0 & 0x0F
        fin = b0 & 0x80
        g = self.g
        t = self.transport
        assert t is not None
        if op == 0x9:  # ping -> pong with the same payload (<= 125 bytes by RFC)
            payload = bytes(d[s:e])
            t.write(bytes((0x8A, 0x80 | len(payload))) + ZERO_MASK + payload)
            g.pings += 1
        elif op == 0xA:  # unsolicited pong
            pass
        elif op == 0x8:  # close: echo the code, then drop the connection
            code = int.from_bytes(d[s : s + 2], "big") if e - s >= 2 else 1005
            g.close_codes[code] += 1
            if self.state == OPEN and not g.stopping:
                g.dropped += 1
            if not self.close_sent:
                self.close_sent = True
                echo = d[s : s + 2] if e - s >= 2 else b""
                t.write(client_frame_header(len(echo), 0x8) + echo)
            self.state = CLOSED
            if not self.ready.done():
                self.ready.set_exception(HandshakeError(f"closed by server: {code}"))
            t.close()
        elif op in (0x1, 0x2) and not fin:  # first fragment
            self.frag = bytearray(d[s:e])
            self.frag_op = op
        elif op == 0x0:  # continuation
            if self.frag is None:
                g.protocol_errors["stray continuation"] += 1
                return
            self.frag += d[s:e]
            if fin:
                f, self.frag = self.frag, None
                if self.frag_op == 0x1:
                    self._on_text(f, 0, len(f))
                else:
                    g.binary_frames += 1
        elif op == 0x2:
            g.binary_frames += 1
        elif op == 0x1:  # text with RSV bits set: treat as text
            self._on_text(d, s, e)
        else:
            g.protocol_errors[f"opcode {op}"] += 1

    def _on_text(self, d: bytes | bytearray, s: int, e: int) -> None:
        now = _perf()
        g = self.g
        if self.state != OPEN:
            if self.state == AUTH:
                self._on_auth_reply(d, s, e)
            return
        # Fast path: take the id from the last '"id":' and trust it unless the frame
        # mentions "error" (maybe an error reply) or "method" (maybe a notification,
        # whose params could hold an "id"); those, and any id we are not waiting for,
        # get a full orjson decode.
        rid = -1
        j = d.rfind(b'"id"', s, e)
        if j >= 0:
            m = _ID_RE.match(d, j, e)
            if m is not None:
                rid = int(m.group(1))
        err = False
        if g.closed_loop:
            if rid != self.inflight_id or (
                d.find(b'"error"', s, e) >= 0 or d.find(b'"method"', s, e) >= 0
            ):
                rid, err = g.decode(d, s, e)
                if rid == NOTIFICATION:
                    return
                if rid != self.inflight_id:
                    g.unexpected += 1
                    return
            if g.recording:
                g.hist.record(int((now - self.sent_at) * 1e6))
                if err:
                    g.errors += 1
            if g.running:
                self.send_request(now)
            else:
                self.inflight_id = -1
        else:
            pending = g.pending
            times = pending.pop(rid, None)
            if times is None or d.find(b'"error"', s, e) >= 0 or d.find(b'"method"', s, e) >= 0:
                if times is not None:
                    pending[rid] = times
                rid, err = g.decode(d, s, e)
                if rid == NOTIFICATION:
                    return
                times = pending.pop(rid, None)
                if times is None:
                    g.unexpected += 1
                    return
            if g.recording:
                g.window_replies += 1
            sched, sent = times
            if sched >= g.t_start:
                g.hist.record(int((now - sched) * 1e6))
                g.service.record(int((now - sent) * 1e6))
                if err:
                    g.errors += 1

    # -- sending --

    def send_request(self, now: float) -> None:
        """Closed loop: send the next request, remember when."""
        g = self.g
        rid = g.next_id
        g.next_id = rid + 1
        self.inflight_id = rid
        self.sent_at = now
        tail = b"%d}" % rid
        self.transport.write(g.heads[len(tail)] + tail)  # type: ignore[union-attr]

    def write_request(self, rid: int) -> None:
        tail = b"%d}" % rid
        self.transport.write(self.g.heads[len(tail)] + tail)  # type: ignore[union-attr]

    def close(self) -> None:
        if self.state != CLOSED and self.transport is not None:
            if self.state != HANDSHAKE and not self.close_sent:
                self.close_sent = True
                self.transport.write(CLOSE_NORMAL_FRAME)
            self.transport.close()
        self.state = CLOSED


# --- the generator --------------------------------------------------------------------


def raise_nofile(wanted: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if wanted > soft:
        print(f"# warning: RLIMIT_NOFILE {soft} < {wanted} connections", file=sys.stderr)
    return soft, hard


class LoadGen:
    def __init__(self, args: argparse.Namespace, token: str | None) -> None:
        self.args = args
        self.loop = asyncio.get_running_loop()
        host_header = f"{args.host}:{args.port}".encode()
        self.handshake_head = (
            b"GET " + args.path.encode() + b" HTTP/1.1\r\nHost: " + host_header + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: "
        )
        self.auth_frame = b""
        if token:
            body = orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "authenticate",
                    "params": {"auth_token": token},
                    "id": 0,
                }
            )
            self.auth_frame = client_frame_header(len(body)) + body
        prefix = b'{"jsonrpc":"2.0","method":' + orjson.dumps(args.method)
        if args.params is not None:
            prefix += b',"params":' + orjson.dumps(args.params)
        prefix += b',"id":'
        # heads[k]: frame header + JSON prefix for a payload whose tail ("<id>}") has k bytes
        self.heads = [client_frame_header(len(prefix) + k) + prefix for k in range(24)]
        self.closed_loop = args.mode == "closed"
        self.conns: list[WsConn] = []
        self.hist = Histogram()
        self.lag = Histogram()  # open loop: actual send - scheduled send
        self.service = Histogram()  # open loop: reply - actual send
        # open loop: request id -> (scheduled send time, actual send time)
        self.pending: dict[int, tuple[float, float]] = {}
        self.next_id = 1
        self.running = False
        self.recording = False
        self.stopping = False
        self.t_start = math.inf
        self.window_replies = 0
        self.errors = 0
        self.error_samples: list[Any] = []
        self.unexpected = 0
        self.notifications = 0
        self.binary_frames = 0
        self.pings = 0
        self.dropped = 0
        self.sent = 0
        self.not_sent = 0
        self.close_codes: Counter[int] = Counter()
        self.protocol_errors: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.failure_samples: dict[str, str] = {}

    # -- rare path --

    def decode(self, d: bytes | bytearray, s: int, e: int) -> tuple[int, bool]:
        """Full JSON decode of a frame the fast path could not settle."""
        try:
            obj = orjson.loads(d[s:e])
        except orjson.JSONDecodeError:
            self.protocol_errors["invalid JSON"] += 1
            return UNMATCHED, False
        if not isinstance(obj, dict):
            self.protocol_errors["non-object reply"] += 1
            return UNMATCHED, False
        if "id" not in obj and "method" in obj:
            self.notifications += 1
            return NOTIFICATION, False
        err = "error" in obj
        if err and len(self.error_samples) < 3:
            self.error_samples.append(obj["error"])
        rid = obj.get("id")
        if isinstance(rid, int) and not isinstance(rid, bool):
            return rid, err
        if err:
            self.errors += 1  # e.g. -32700 with id null
        return UNMATCHED, err

    # -- ramp --

    async def _open_one(self, host: str) -> None:
        proto: WsConn | None = None

        def factory() -> WsConn:
            nonlocal proto
            proto = WsConn(self)
            return proto

        try:
            async with asyncio.timeout(self.args.connect_timeout):
                await self.loop.create_connection(factory, host, self.args.port)
                assert proto is not None
                await proto.ready
        except Exception as exc:
            kind = {
                TimeoutError: "timeout",
                HandshakeError: "handshake",
                AuthFailed: "auth",
            }.get(type(exc), "connect")
            self.failures[kind] += 1
            self.failure_samples.setdefault(kind, f"{type(exc).__name__}: {exc}"[:200])
            if proto is not None:
                proto.close()
            return
        assert proto is not None
        self.conns.append(proto)

    async def ramp(self) -> float:
        args = self.args
        infos = await self.loop.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)
        addr = str(infos[0][4][0])
        t0 = _perf()
        done = 0
        last_report = t0
        while done < args.connections:
            batch = min(args.ramp_batch, args.connections - done)
            await asyncio.gather(*(self._open_one(addr) for _ in range(batch)))
            done += batch
            now = _perf()
            if now - last_report > 2.0:
                last_report = now
                print(
                    f"# ramp {len(self.conns)}/{done} ({now - t0:.1f}s)",
                    file=sys.stderr,
                    flush=True,
                )
        return _perf() - t0

    # -- measurement windows --

    def _rusage(self) -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    async def run_closed(self) -> dict[str, Any]:
        args = self.args
        self.running = True
        for c in self.conns:
            if c.state == OPEN:
                c.send_request(_perf())
        await asyncio.sleep(args.warmup)
        cpu0 = self._rusage()
        server0 = read_cpu_seconds(args.cpu_pid) if args.cpu_pid else None
        t0 = _perf()
        self.recording = True
        await asyncio.sleep(args.duration)
        self.recording = False
        self.running = False
        t1 = _perf()
        cpu1 = self._rusage()
        server1 = read_cpu_seconds(args.cpu_pid) if args.cpu_pid else None
        deadline = _perf() + args.drain
        # Polling is fine here: an Event set from the per-reply hot path would cost more.
        while _perf() < deadline and any(  # noqa: ASYNC110
            c.inflight_id >= 0 and c.state == OPEN for c in self.conns
        ):
            await asyncio.sleep(0.01)
        stalled = sum(1 for c in self.conns if c.inflight_id >= 0)
        window = t1 - t0
        res: dict[str, Any] = {
            "window_s": round(window, 3),
            "requests": self.hist.total,
            "rps": round(self.hist.total / window, 1),
            "unanswered_after_drain": stalled,
            "generator_cpu_percent": round(100.0 * (cpu1 - cpu0) / window, 1),
        }
        if server0 is not None and server1 is not None and self.hist.total:
            # The server's own CPU time in the measured window, per answered request:
            # steadier than req/s on a shared machine (the generator's share is apart).
            res["server_cpu_us_per_request"] = round((server1 - server0) * 1e6 / self.hist.total, 2)
        return res

    async def run_scheduled(self, rate: float, warmup: float, duration: float) -> dict[str, Any]:
        """Open loop: request i is due at t0 + i/rate on connection i % N.

        A request's latency is counted from when it was *due*, not from when it was
        written, so a server (or generator) that falls behind shows up in the figures
        instead of silently lowering the offered load (coordinated omission). The loop
        wakes at most every millisecond (uvloop timers have 1 ms resolution; spinning
        would steal the server's CPU on a shared machine) and writes everything due, so
        a request can go out up to ~1 ms late: that lag is reported (``send_lag_ms``)
        and so is the latency from the actual write (``service_latency_ms``).
        """
        conns = self.conns
        n = len(conns)
        pending = self.pending
        lag = self.lag
        interval = 1.0 / rate
        max_burst = max(1, int(rate * 0.005))  # past that, yield to the reader first
        t0 = _perf() + 0.002
        warm_end = t0 + warmup
        end = warm_end + duration
        i = 0
        cpu0 = 0.0
        started = False
        tw0 = 0.0
        sent_in_window = 0
        while True:
            now = _perf()
            if not started and now >= warm_end:
                started = True
                self.t_start = warm_end
                self.recording = True
                tw0 = now
                cpu0 = self._rusage()
            if now >= end:
                break
            burst = 0
            sched = t0 + i * interval
            while sched <= now and sched < end and burst < max_burst:
                c = conns[i % n]
                i += 1
                if c.state == OPEN:
                    rid = self.next_id
                    self.next_id = rid + 1
                    pending[rid] = (sched, now)
                    c.write_request(rid)
                    burst += 1
                    if sched >= warm_end:
                        sent_in_window += 1
                        lag.record(int((now - sched) * 1e6))
                else:
                    self.not_sent += 1
                sched = t0 + i * interval
            self.sent += burst
            if burst >= max_burst:
                await asyncio.sleep(0)
                continue
            wake = min(sched, end) if started else min(sched, end, warm_end)
            await asyncio.sleep(max(wake - _perf(), 0.001))
        self.recording = False
        t1 = _perf()
        cpu1 = self._rusage()
        in_flight = len(pending)
        deadline = _perf() + self.args.drain
        while pending and _perf() < deadline:  # noqa: ASYNC110 - see run_closed
            await asyncio.sleep(0.01)
        window = t1 - tw0
        lag_ms = self.lag.summary_ms()
        return {
            "window_s": round(window, 3),
            "offered_rps": rate,
            "sent_rps": round(sent_in_window / window, 1),
            "requests": self.window_replies,
            "rps": round(self.window_replies / window, 1),
            "in_flight_at_end": in_flight,
            "unanswered_after_drain": len(pending),
            "not_sent_dead_connection": self.not_sent,
            "send_lag_ms": {k: lag_ms[k] for k in ("p50", "p99", "max")},
            "service_latency_ms": self.service.summary_ms(),
            "generator_cpu_percent": round(100.0 * (cpu1 - cpu0) / window, 1),
        }

    async def run_hold(self) -> dict[str, Any]:
        args = self.args
        n = len(self.conns)
        server0 = read_cpu_seconds(args.cpu_pid) if args.cpu_pid else None
        t0 = _perf()
        if args.interval and args.interval > 0 and n:
            res = await self.run_scheduled(n / args.interval, 0.0, args.duration)
        else:
            cpu0 = self._rusage()
            await asyncio.sleep(args.duration)
            window = _perf() - t0
            res = {
                "window_s": round(window, 3),
                "requests": 0,
                "generator_cpu_percent": round(100.0 * (self._rusage() - cpu0) / window, 1),
            }
        server1 = read_cpu_seconds(args.cpu_pid) if args.cpu_pid else None
        if server0 is not None and server1 is not None:
            # How much of its one core the server used while the connections were held.
            res["server_cpu_percent"] = round(100.0 * (server1 - server0) / (_perf() - t0), 1)
        res["alive_at_end"] = sum(1 for c in self.conns if c.state == OPEN)
        return res

    async def run(self) -> dict[str, Any]:
        args = self.args
        rss: dict[str, int | None] = {}
        if args.rss_pid:
            rss["before_kb"] = read_rss_kb(args.rss_pid)
        ramp_s = await self.ramp()
        established = len(self.conns)
        print(
            f"# ramp: {established}/{args.connections} connections in {ramp_s:.2f}s"
            + (f" failures={dict(self.failures)}" if self.failures else ""),
            file=sys.stderr,
            flush=True,
        )
        res: dict[str, Any] = {}
        if established:
            if args.rss_pid:
                await asyncio.sleep(args.settle)
                rss["held_kb"] = read_rss_kb(args.rss_pid)
            if args.mode == "closed":
                res = await self.run_closed()
            elif args.mode == "open":
                res = await self.run_scheduled(args.rate, args.warmup, args.duration)
            else:
                res = await self.run_hold()
            if args.rss_pid:
                rss["end_kb"] = read_rss_kb(args.rss_pid)
        self.stopping = True
        for c in self.conns:
            c.close()
        await asyncio.sleep(0.05)  # let close frames / FINs go out
        out: dict[str, Any] = {
            "mode": args.mode,
            "method": args.method,
            "params": args.params,
            "target": f"ws://{args.host}:{args.port}{args.path}",
            "authenticated": bool(self.auth_frame),
            "connections_requested": args.connections,
            "connections_established": established,
            "connect_failures": dict(self.failures),
            "connect_failure_samples": self.failure_samples,
            "ramp_s": round(ramp_s, 3),
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            **res,
            "latency_ms": self.hist.summary_ms(),
            "errors": self.errors,
            "error_samples": self.error_samples,
            "unexpected_replies": self.unexpected,
            "notifications": self.notifications,
            "server_pings": self.pings,
            "dropped": self.dropped,
            "close_codes": {str(k): v for k, v in self.close_codes.items()},
            "protocol_errors": dict(self.protocol_errors),
        }
        if args.rate is not None and args.mode == "open":
            out["offered_rps"] = args.rate
        if args.interval is not None and args.mode == "hold":
            out["interval_s"] = args.interval
        if rss:
            out["server_rss_kb"] = rss
        return out


def summary_line(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    parts = [
        f"{r['mode']} {r['method']}",
        f"conns={r['connections_established']}/{r['connections_requested']}",
    ]
    if r["mode"] == "open":
        parts.append(f"offered={r.get('offered_rps')}/s sent={r.get('sent_rps')}/s")
    parts.append(f"rps={r.get('rps', 0):.0f}" if "rps" in r else "rps=-")
    parts.append(
        f"p50={f(lat['p50'])} p90={f(lat['p90'])} p99={f(lat['p99'])} max={f(lat['max'])} ms"
    )
    parts.append(f"errors={r['errors']}")
    if r["mode"] != "closed":
        parts.append(
            f"in_flight_at_end={r.get('in_flight_at_end', 0)}"
            f" unanswered={r.get('unanswered_after_drain', 0)}"
        )
    parts.append(f"dropped={r['dropped']}")
    if r["connect_failures"]:
        parts.append(f"connect_failures={r['connect_failures']}")
    if "generator_cpu_percent" in r:
        parts.append(f"gen_cpu={r['generator_cpu_percent']:.0f}%")
    if "server_cpu_percent" in r:
        parts.append(f"server_cpu={r['server_cpu_percent']:.0f}%")
    if "server_cpu_us_per_request" in r:
        parts.append(f"server_cpu_us/req={r['server_cpu_us_per_request']:.1f}")
    if "server_rss_kb" in r:
        parts.append(f"rss_kb={r['server_rss_kb']}")
    return " ".join(parts)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--mode", choices=("closed", "open", "hold"), default="closed")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8002)
    p.add_argument("--path", default="/ws")
    p.add_argument("-c", "--connections", type=int, default=100)
    p.add_argument("-d", "--duration", type=float, default=10.0, help="measured seconds")
    p.add_argument("-w", "--warmup", type=float, default=None, help="default 2 (hold: 0)")
    p.add_argument("-r", "--rate", type=float, default=None, help="open: total req/s")
    p.add_argument(
        "--interval", type=float, default=None, help="hold: seconds between requests per conn"
    )
    p.add_argument("--method", default="ping")
    p.add_argument("--params", type=orjson.loads, default=None, help="JSON object")
    tok = p.add_mutually_exclusive_group()
    tok.add_argument("--token", default=None, help="authenticate each connection")
    tok.add_argument("--token-env", default=None, help="read the token from this env var")
    p.add_argument("--ramp-batch", type=int, default=250, help="connections opened at once")
    p.add_argument("--connect-timeout", type=float, default=15.0)
    p.add_argument("--drain", type=float, default=2.0, help="seconds to wait for stragglers")
    p.add_argument("--rss-pid", type=int, default=None, help="sample this PID's VmRSS")
    p.add_argument(
        "--cpu-pid",
        type=int,
        default=None,
        help="this PID's CPU: per request (closed mode), share of a core (hold mode)",
    )
    p.add_argument("--settle", type=float, default=2.0, help="with --rss-pid: wait after ramp")
    p.add_argument("--json", dest="json_path", default=None, help="write figures here")
    args = p.parse_args(argv)
    if args.mode == "open" and not args.rate:
        p.error("--mode open needs --rate")
    if args.warmup is None:
        args.warmup = 0.0 if args.mode == "hold" else 2.0
    if args.connections < 1:
        p.error("--connections must be >= 1")
    return args


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    token = args.token
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            raise SystemExit(f"environment variable {args.token_env} is empty or unset")
    gen = LoadGen(args, token)
    return await gen.run()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile(args.connections + 64)
    result = uvloop.run(amain(args))
    print(summary_line(result), flush=True)
    if args.json_path:
        with open(args.json_path, "wb") as f:
            f.write(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return 0 if result["connections_established"] else 1


if __name__ == "__main__":
    sys.exit(main())
