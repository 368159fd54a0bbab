"""Per-connection request rate limit (``security.rate_limit.requests_per_minute``).

A token bucket whose burst is one minute's budget, refilled continuously at rpm/60 per
second: a client may spend its whole minute at once (a page load firing many calls)
but cannot sustain more than the rate. It is kept as the generic cell rate algorithm
(GCRA, ITU-T I.371 §4.4.2, "virtual scheduling"), which admits exactly what that
bucket admits with one figure per connection: the *theoretical arrival time*, the
moment the client's spending would be paid back at the rate if it paid one request
per ``interval``. The rate itself is one :class:`RateLimit` every connection shares.

It runs on every request, so a connection's state is one float in its session and the
dispatcher applies :meth:`RateLimit.admit` inline (see its docstring).
"""

from __future__ import annotations

import math


class RateLimit:
    """``requests_per_minute`` for every connection that holds it; :meth:`set_rate`
    changes it for all of them at once (SIGHUP)."""

    __slots__ = ("_rpm", "interval", "tolerance")

    def __init__(self, requests_per_minute: int) -> None:
        self._rpm = 0
        self.interval = 0.0  # seconds one request costs
        self.tolerance = 0.0  # how far ahead of now a client may have spent
        self.set_rate(requests_per_minute)

    @property
    def requests_per_minute(self) -> int:
        return self._rpm

    def set_rate(self, requests_per_minute: int) -> None:
        if (
            isinstance(requests_per_minute, bool)
            or not isinstance(requests_per_minute, int)
            or requests_per_minute < 1
        ):
            raise ValueError(
                f"requests_per_minute must be an integer >= 1 (got {requests_per_minute!r})"
            )
        self._rpm = requests_per_minute
        self.interval = 60.0 / requests_per_minute
        # A full bucket admits rpm requests at one instant: the last of them is admitted
        # when the client is (rpm - 1) intervals ahead.
        self.tolerance = (requests_per_minute - 1) * self.interval

    def admit(self, tat: float, now: float) -> float | None:
        """The connection's next theoretical arrival time if a request at ``now`` is
        admitted, None if it is refused (its state unchanged). ``now`` is
        ``time.perf_counter`` seconds: monotonic, and the clock the dispatcher already
        reads per request. A new connection's ``tat`` is :data:`FULL`.

        The dispatcher runs these lines inline, keep them the same there::

            if tat < now: tat = now                      # paid back: a full bucket
            elif tat - now > tolerance: refuse
            tat += interval
        """
        if tat < now:
            return now + self.interval
        if tat - now > self.tolerance:
            return None
        return tat + self.interval

    def carried(self, tat: float, now: float, old_rpm: int) -> float:
        """``tat`` under this rate, for a connection that spent it at ``old_rpm``
        requests per minute: what it has left stays what it had (at most the new
        burst), as tokens would."""
        spent = max(tat - now, 0.0) * old_rpm / 60.0  # requests not yet paid back
        left = min(old_rpm - spent, float(self._rpm))
        return now + (self._rpm - left) * self.interval


FULL = -math.inf  # the theoretical arrival time of a connection that spent nothing
