"""Request, connection and notification metrics, kept as plain counters.

Recording a request is a few dict and list updates (it runs per request on the hot
path); the Prometheus text is built only when scraped. The process figures of the
summary (memory, CPU, request rate) are taken by :meth:`Metrics.sample`, on the
service's one-second timer, and the latency percentiles at most once per
``PERCENTILE_MAX_AGE``: a summary asked for thousands of times a second costs a few
divisions, not a ``/proc`` read and two histogram scans each.
"""

from __future__ import annotations

import bisect
import os
import resource
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# The fan-out's own: api.md budgets 20 ms and issue 20 aims at 10 ms, so 1 ms steps up
# to 10 ms and 2.5 ms ones to 20 ms tell a p99 against either; the tail is coarse.
FANOUT_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.004,
    0.005,
    0.006,
    0.007,
    0.008,
    0.009,
    0.01,
    0.0125,
    0.015,
    0.0175,
    0.02,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
_PAGE = os.sysconf("SC_PAGE_SIZE")
_bisect_left = bisect.bisect_left
# Seconds the summary's p50/p99 are reused while requests keep coming.
PERCENTILE_MAX_AGE = 1.0


class LogHistogram:
    """Microsecond latencies in log-linear buckets (16 per power of two, ~6 % wide):
    percentiles in O(buckets) from constant memory, one integer index per sample."""

    __slots__ = ("count", "counts")

    def __init__(self) -> None:
        self.counts = [0] * (16 + 16 * 40)
        self.count = 0

    @staticmethod
    def index(us: int) -> int:
        if us < 16:
            return max(us, 0)
        e = us.bit_length() - 5
        return 16 + e * 16 + ((us >> e) - 16)

    @staticmethod
    def lower_bound(idx: int) -> int:
        if idx < 16:
            return idx
        e, m = divmod(idx - 16, 16)
        return (m + 16) << e

    def add(self, seconds: float) -> None:
        us = int(seconds * 1e6)
        if us < 16:  # index(us), inline: this runs per request
            idx = us if us > 0 else 0
        else:
            e = us.bit_length() - 5
            idx = 16 + e * 16 + ((us >> e) - 16)
        counts = self.counts
        counts[idx if idx < len(counts) else -1] += 1
        self.count += 1

    def add_sorted(self, samples: list[float]) -> None:
        """``add`` each of ``samples`` (ascending): a bisection per bucket they fall in,
        not Python arithmetic per sample."""
        counts = self.counts
        last = len(counts) - 1
        lo, n = 0, len(samples)
        while lo < n:
            idx = min(self.index(int(samples[lo] * 1e6)), last)
            if idx == last:
                hi = n
            else:  # the first sample of a later bucket, by the same int() as add()
                bound = self.lower_bound(idx + 1)
                hi = bisect.bisect_left(samples, bound, lo, key=_micros)
            counts[idx] += hi - lo
            lo = hi
        self.count += n

    def percentile(self, q: float) -> float:
        """Value in milliseconds below which a fraction ``q`` of samples fall."""
        if not self.count:
            return 0.0
        rank = q * self.count
        seen = 0
        for idx, n in enumerate(self.counts):
            seen += n
            if seen >= rank and n:
                lo, hi = self.lower_bound(idx), self.lower_bound(idx + 1)
                return (lo + hi) / 2 / 1000.0
        return self.lower_bound(len(self.counts)) / 1000.0


def _micros(seconds: float) -> int:
    return int(seconds * 1e6)


class Histogram:
    """Durations in :data:`LATENCY_BUCKETS`, for a Prometheus histogram."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds


Labels = Mapping[str, str]
Kind = Literal["gauge", "counter", "histogram"]


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family a part reports when scraped: each sample its labels and value
    (a histogram's value is a :class:`Histogram`)."""

    name: str
    kind: Kind
    help: str
    samples: Sequence[tuple[Labels, float | Histogram]]


Collector = Callable[[], Iterable[Family]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label_text(labels: Labels) -> str:
    """``k="v",...`` with the exposition format's escapes (backslash, quote, newline)."""
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())


# Request durations a method keeps unsorted before they go into its histograms.
FOLD_AT = 256


class _MethodMeter:
    """One method's requests: its latency histogram, and errors by code.

    A request's duration is only appended; every ``FOLD_AT`` of them, and before any
    figure is read, they are sorted once and counted into the histograms by bisection
    (C work per sample instead of Python arithmetic: about a tenth of a ping's cost,
    docs/benchmarks.md)."""

    __slots__ = ("buckets", "count", "errors", "pending", "seconds")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.seconds = 0.0
        self.count = 0  # requests folded into the histograms
        self.errors: dict[int, int] = {}
        self.pending: list[float] = []

    def fold(self, latency: LogHistogram) -> float:
        """Count what is pending; the seconds it held."""
        samples = sorted(self.pending)
        self.pending.clear()  # the same list: Metrics reads every meter's pending ones
        buckets = self.buckets
        lo, n = 0, len(samples)
        for i, bound in enumerate(LATENCY_BUCKETS):  # bucket i: bound[i-1] < s <= bound[i]
            hi = bisect.bisect_right(samples, bound, lo)
            buckets[i] += hi - lo
            lo = hi
            if lo == n:
                break
        buckets[-1] += n - lo
        seconds = sum(samples)
        self.seconds += seconds
        self.count += n
        latency.add_sorted(samples)
        return seconds

    @property
    def ok(self) -> int:
        return self.count - sum(self.errors.values())


@dataclass(slots=True)
class _Rate:
    at: float
    requests: int
    cpu: float


class Metrics:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = time.monotonic()
        # Per method: its latency histogram and count per code; totals are summed when read.
        self.methods: dict[str, _MethodMeter] = {}
        self._pending: list[list[float]] = []  # each meter's pending durations
        self._folded_seconds = 0.0  # of every request folded
        self.total_errors = 0
        self.latency = LogHistogram()
        self.active_connections = 0
        self.connections_total = 0
        self.connections_rejected = 0
        self.slow_consumers_closed = 0
        self.notifications_sent = 0
        self.notifications_dropped = 0
        self.fanout_buckets = [0] * (len(FANOUT_BUCKETS) + 1)
        self.fanout_seconds = 0.0
        self.security_events: dict[str, int] = {}
        # MediaMTX authorizations: (outcome, action, protocol) -> count
        self.media_auth: dict[tuple[str, str, str], int] = {}
        # Time to decide, by where the identity came from: "hit", "miss" (the cache) or
        # "none" (no lookup: no credential, or the service's own).
        self.media_auth_buckets: dict[str, list[int]] = {}
        self.media_auth_seconds: dict[str, float] = {}
        self.loop_lag = 0.0
        # Figures other parts keep, read when scraped: name -> (kind, help, read).
        self._meters: dict[str, tuple[str, str, Callable[[], float]]] = {}
        self._collectors: list[Collector] = []
        self._rates: deque[_Rate] = deque(maxlen=11)
        # The summary's sampled figures: memory MB, CPU %, requests/s (sample()).
        self._process: tuple[float, float, float] = (0.0, 0.0, 0.0)
        # (requests counted, when, p50 ms, p99 ms): the percentiles last computed.
        self._percentiles: tuple[int, float, float, float] = (0, float("-inf"), 0.0, 0.0)
        self.sample()

    def meter(
        self, name: str, kind: Literal["gauge", "counter"], help_: str, read: Callable[[], float]
    ) -> None:
        """Export ``read()`` as ``name`` in the Prometheus text."""
        self._meters[name] = (kind, help_, read)

    def collect(self, collector: Collector) -> None:
        """Export the families ``collector()`` returns at every scrape."""
        self._collectors.append(collector)

    # --- hot path ----------------------------------------------------------------------

    def request_done(self, method: str, code: int, seconds: float) -> None:
        meter = self.methods.get(method)
        if meter is None:
            meter = self._meter(method)
        pending = meter.pending
        pending.append(seconds)
        if code:
            meter.errors[code] = meter.errors.get(code, 0) + 1
            self.total_errors += 1
        if len(pending) >= FOLD_AT:
            self._folded_seconds += meter.fold(self.latency)

    def _meter(self, method: str) -> _MethodMeter:
        meter = self.methods[method] = _MethodMeter()
        self._pending.append(meter.pending)
        return meter

    def _fold(self) -> None:
        """Count every pending duration: before a histogram is read."""
        for meter in self.methods.values():
            if meter.pending:
                self._folded_seconds += meter.fold(self.latency)

    @property
    def total_requests(self) -> int:
        return self.latency.count + sum(map(len, self._pending))

    @property
    def total_seconds(self) -> float:
        return self._folded_seconds + sum(map(sum, self._pending))

    @property
    def requests(self) -> dict[tuple[str, int], int]:
        """Requests by (method, code)."""
        self._fold()
        out: dict[tuple[str, int], int] = {}
        for method, meter in self.methods.items():
            if meter.ok:
                out[method, 0] = meter.ok
            for code, n in meter.errors.items():
                out[method, code] = n
        return out

    def notification_done(self, seconds: float, sent: int, dropped: int) -> None:
        """One notification fanned out: ``seconds`` from its event to its frame queued
        on every subscribed connection (api.md §5 budgets 20 ms)."""
        self.fanout_buckets[_bisect_left(FANOUT_BUCKETS, seconds)] += 1
        self.fanout_seconds += seconds
        self.notifications_sent += sent
        self.notifications_dropped += dropped

    def security_event(self, event: str) -> None:
        self.security_events[event] = self.security_events.get(event, 0) + 1

    def media_auth_done(
        self, outcome: str, action: str, protocol: str, seconds: float, cache: str
    ) -> None:
        """One MediaMTX authorization: ``outcome`` is allowed, challenged or refused."""
        key = (outcome, action, protocol)
        self.media_auth[key] = self.media_auth.get(key, 0) + 1
        buckets = self.media_auth_buckets.get(cache)
        if buckets is None:
            buckets = self.media_auth_buckets[cache] = [0] * (len(LATENCY_BUCKETS) + 1)
            self.media_auth_seconds[cache] = 0.0
        buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.media_auth_seconds[cache] += seconds

    # --- sampled figures -----------------------------------------------------------------

    def sample(self) -> None:
        """Called about once a second: keeps the window for rates and CPU use, and
        takes the summary's process figures."""
        now = _Rate(self.clock(), self.total_requests, time.process_time())
        self._rates.append(now)
        first = self._rates[0]
        span = now.at - first.at
        rps, cpu = (0.0, 0.0) if span <= 0 else self._rates_over(first, now, span)
        self._process = (round(self.rss_bytes() / 1048576, 1), round(cpu, 1), round(rps, 1))

    @staticmethod
    def _rates_over(first: _Rate, last: _Rate, span: float) -> tuple[float, float]:
        return (last.requests - first.requests) / span, 100.0 * (last.cpu - first.cpu) / span

    def percentiles(self) -> tuple[float, float]:
        """p50 and p99 of every request's latency in ms, computed again once requests
        came in and ``PERCENTILE_MAX_AGE`` passed since the last time."""
        count, at, p50, p99 = self._percentiles
        now = self.clock()
        if now - at >= PERCENTILE_MAX_AGE:
            self._fold()
            latency = self.latency
            if latency.count != count:
                p50 = round(latency.percentile(0.50), 3)
                p99 = round(latency.percentile(0.99), 3)
                self._percentiles = (latency.count, now, p50, p99)
        return p50, p99

    @staticmethod
    def rss_bytes() -> int:
        try:
            with open("/proc/self/statm", "rb") as f:
                return int(f.read().split()[1]) * _PAGE
        except OSError:  # not Linux: peak RSS is the best portable figure
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def summary(self) -> dict[str, float | int]:
        """get_metrics' figures: the counts as of now; memory, CPU and request rate as
        of the last :meth:`sample`; the percentiles as :meth:`percentiles` says."""
        p50, p99 = self.percentiles()
        n, seconds, errors = self.total_requests, self.total_seconds, self.total_errors
        memory, cpu, rps = self._process
        return {
            "active_connections": self.active_connections,
            "total_requests": n,
            # round(x, 3) and round(x, 4) of these non-negative figures, a few times faster
            "average_response_time": int(1e6 * seconds / n + 0.5) / 1000 if n else 0.0,
            "error_rate": int(1e4 * errors / n + 0.5) / 1e4 if n else 0.0,
            "memory_usage": memory,
            "cpu_usage": cpu,
            "p50_ms": p50,
            "p99_ms": p99,
            "requests_per_second": rps,
        }

    # --- Prometheus text exposition --------------------------------------------------------

    def render(self, extra: dict[str, float] | None = None) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        family("camera_service_rpc_requests_total", "counter", "JSON-RPC requests by method, code.")
        for (method, code), n in sorted(self.requests.items()):
            out.append(f'camera_service_rpc_requests_total{{method="{method}",code="{code}"}} {n}')
        family(
            "camera_service_rpc_request_duration_seconds", "histogram", "JSON-RPC handling time."
        )
        self._fold()
        for method, meter in sorted(self.methods.items()):
            out += _histogram(
                "camera_service_rpc_request_duration_seconds",
                f'method="{method}"',
                meter.buckets,
                meter.seconds,
            )
        family(
            "camera_service_notification_fanout_seconds",
            "histogram",
            "From a domain event to its notification frame queued on every subscriber.",
        )
        out += _histogram(
            "camera_service_notification_fanout_seconds",
            "",
            self.fanout_buckets,
            self.fanout_seconds,
            FANOUT_BUCKETS,
        )
        gauges = {
            # Not "..._connections": OpenMetrics names the counter below that family.
            "camera_service_websocket_open_connections": (
                "gauge",
                self.active_connections,
                "Open WebSocket connections.",
            ),
            "camera_service_websocket_connections_total": (
                "counter",
                self.connections_total,
                "Accepted since start.",
            ),
            "camera_service_websocket_connections_rejected_total": (
                "counter",
                self.connections_rejected,
                "Refused at the connection cap.",
            ),
            "camera_service_websocket_slow_consumers_closed_total": (
                "counter",
                self.slow_consumers_closed,
                "Closed with 1013: send queue full.",
            ),
            "camera_service_notifications_sent_total": (
                "counter",
                self.notifications_sent,
                "Notification frames queued to clients.",
            ),
            "camera_service_notifications_dropped_total": (
                "counter",
                self.notifications_dropped,
                "Notifications not delivered.",
            ),
            "camera_service_event_loop_lag_seconds": (
                "gauge",
                self.loop_lag,
                "Last measured event-loop scheduling delay.",
            ),
            "camera_service_resident_memory_bytes": ("gauge", self.rss_bytes(), "RSS."),
            "camera_service_uptime_seconds": (
                "gauge",
                round(time.monotonic() - self.started, 3),
                "Since start.",
            ),
        }
        for name, (kind, value, help_) in gauges.items():
            family(name, kind, help_)
            out.append(f"{name} {value}")
        for name, (kind, help_, read) in sorted(self._meters.items()):
            family(name, kind, help_)
            out.append(f"{name} {read()}")
        family("camera_service_security_events_total", "counter", "Auth failures, denials.")
        for event, n in sorted(self.security_events.items()):
            out.append(f'camera_service_security_events_total{{event="{event}"}} {n}')
        family(
            "camera_service_media_auth_decisions_total",
            "counter",
            "MediaMTX authorizations by outcome (allowed, challenged, refused), action, protocol.",
        )
        for (outcome, action, protocol), n in sorted(self.media_auth.items()):
            labels = f'outcome="{outcome}",action="{action}",protocol="{protocol}"'
            out.append(f"camera_service_media_auth_decisions_total{{{labels}}} {n}")
        family(
            "camera_service_media_auth_duration_seconds",
            "histogram",
            "Time to decide a MediaMTX authorization, by cache (hit, miss, none).",
        )
        for cache, buckets in sorted(self.media_auth_buckets.items()):
            out += _histogram(
                "camera_service_media_auth_duration_seconds",
                f'cache="{cache}"',
                buckets,
                self.media_auth_seconds[cache],
            )
        for collector in self._collectors:
            for fam in collector():
                family(fam.name, fam.kind, fam.help)
                for label_set, sample in fam.samples:
                    where = _label_text(label_set)
                    if isinstance(sample, Histogram):
                        out += _histogram(fam.name, where, sample.buckets, sample.total)
                    elif where:
                        out.append(f"{fam.name}{{{where}}} {sample}")
                    else:
                        out.append(f"{fam.name} {sample}")
        for name, value in sorted((extra or {}).items()):
            family(name, "gauge", name.replace("_", " "))
            out.append(f"{name} {value}")
        return "\n".join(out) + "\n"


def _histogram(
    name: str,
    labels: str,
    buckets: list[int],
    total: float,
    bounds: tuple[float, ...] = LATENCY_BUCKETS,
) -> list[str]:
    """Prometheus histogram lines over ``bounds`` (``labels`` without braces)."""
    out = []
    cumulative = 0
    sep = "," if labels else ""
    for bound, n in zip((*bounds, float("inf")), buckets, strict=True):
        cumulative += n
        le = "+Inf" if bound == float("inf") else repr(bound)
        out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {cumulative}')
    tail = f"{{{labels}}}" if labels else ""
    out.append(f"{name}_sum{tail} {total:.6f}")
    out.append(f"{name}_count{tail} {cumulative}")
    return out
