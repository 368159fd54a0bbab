"""Per-connection request rate limit (``security.rate_limit.requests_per_minute``)."""

from __future__ import annotations

import math


class TokenBucket:
    """Burst = one minute's budget, refilled continuously at rpm/60 per second.

    A client may spend its whole minute at once (a page load firing many calls) but
    cannot sustain more than the rate. Runs per request, so: slots, plain float
    arithmetic, no clock call (the caller passes a monotonic ``now`` it already has).
    """

    __slots__ = ("_capacity", "_last", "_per_second", "_tokens")

    def __init__(self, requests_per_minute: int) -> None:
        self._capacity = 0.0
        self._per_second = 0.0
        self._tokens = 0.0
        self._last = -math.inf  # first allow() fills the bucket
        self.set_rate(requests_per_minute)
        self._tokens = self._capacity

    @property
    def requests_per_minute(self) -> int:
        return int(self._capacity)

    def set_rate(self, requests_per_minute: int) -> None:
        """Apply a new rate (SIGHUP) without resetting what the client has spent."""
        if (
            isinstance(requests_per_minute, bool)
            or not isinstance(requests_per_minute, int)
            or requests_per_minute < 1
        ):
            raise ValueError(
                f"requests_per_minute must be an integer >= 1 (got {requests_per_minute!r})"
            )
        self._capacity = float(requests_per_minute)
        self._per_second = requests_per_minute / 60.0
        if self._tokens > self._capacity:
            self._tokens = self._capacity

    def allow(self, now: float) -> bool:
        """Take one token if there is one. ``now`` is monotonic seconds."""
        tokens = self._tokens
        if now > self._last:
            tokens += (now - self._last) * self._per_second
            if tokens > self._capacity:
                tokens = self._capacity
            self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False
