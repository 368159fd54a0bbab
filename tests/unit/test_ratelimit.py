"""The rate limit: a burst of one minute's budget, continuous refill, kept as GCRA."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camera_service.auth.ratelimit import FULL, RateLimit

T0 = 1000.0


class Client:
    """One connection's state under a shared limit, as the session keeps it."""

    def __init__(self, rate: RateLimit) -> None:
        self.rate = rate
        self.tat = FULL

    def allow(self, now: float) -> bool:
        admitted = self.rate.admit(self.tat, now)
        if admitted is None:
            return False
        self.tat = admitted
        return True

    def spend(self, now: float, n: int) -> int:
        return sum(self.allow(now) for _ in range(n))


def test_burst_is_one_minute_budget() -> None:
    client = Client(RateLimit(120))
    assert client.spend(T0, 120) == 120
    assert not client.allow(T0)


def test_refills_continuously() -> None:
    client = Client(RateLimit(120))  # 2 per second
    client.spend(T0, 120)
    assert not client.allow(T0 + 0.49)
    assert client.allow(T0 + 0.5)
    assert not client.allow(T0 + 0.5)
    assert client.spend(T0 + 5.5, 100) == 10


def test_never_exceeds_capacity_after_idle() -> None:
    client = Client(RateLimit(60))
    client.spend(T0, 60)
    assert client.spend(T0 + 3600, 1000) == 60


def test_sustained_rate() -> None:
    client = Client(RateLimit(60))
    allowed = sum(client.allow(T0 + i * 0.1) for i in range(600))  # 60 s at 10/s
    assert 60 + 59 <= allowed <= 60 + 60  # the burst plus one per second


def test_clock_going_back_adds_nothing() -> None:
    client = Client(RateLimit(60))
    client.spend(T0, 60)
    assert not client.allow(T0 - 100)
    assert not client.allow(T0 + 0.5)
    assert client.allow(T0 + 1)


def test_a_refused_request_changes_nothing() -> None:
    rate = RateLimit(10)
    client = Client(rate)
    client.spend(T0, 10)
    before = client.tat
    assert rate.admit(before, T0) is None
    assert client.tat == before


def test_connections_sharing_a_limit_spend_their_own_budget() -> None:
    rate = RateLimit(5)
    a, b = Client(rate), Client(rate)
    assert a.spend(T0, 10) == 5
    assert b.spend(T0, 10) == 5


def carry(rate: RateLimit, clients: list[Client], rpm: int, now: float) -> None:
    """What the WebSocket server does on SIGHUP."""
    old = rate.requests_per_minute
    rate.set_rate(rpm)
    for c in clients:
        c.tat = rate.carried(c.tat, now, old)


def test_a_higher_rate_keeps_what_was_spent() -> None:
    rate = RateLimit(120)
    client = Client(rate)
    client.spend(T0, 120)
    carry(rate, [client], 600, T0)  # raising the limit does not hand out a fresh burst
    assert not client.allow(T0)
    assert rate.requests_per_minute == 600
    assert client.spend(T0 + 1, 100) == 10


def test_a_lower_rate_clamps_what_is_left() -> None:
    rate = RateLimit(120)
    client = Client(rate)
    carry(rate, [client], 5, T0)
    assert client.spend(T0, 100) == 5


def test_a_half_spent_budget_carries_over() -> None:
    rate = RateLimit(100)
    client = Client(rate)
    client.spend(T0, 40)  # 60 left
    carry(rate, [client], 200, T0)
    assert client.spend(T0, 1000) == 60


@pytest.mark.parametrize("rpm", [0, -1, 1.5, True, "120"])
def test_invalid_rate(rpm: object) -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimit(rpm)  # type: ignore[arg-type]
    rate = RateLimit(7)
    with pytest.raises(ValueError, match="requests_per_minute"):
        rate.set_rate(rpm)  # type: ignore[arg-type]
    assert (rate.requests_per_minute, rate.interval) == (7, 60.0 / 7)  # unchanged


def test_minimum_rate() -> None:
    client = Client(RateLimit(1))
    assert client.allow(T0)
    assert not client.allow(T0 + 59)
    assert client.allow(T0 + 60)


def test_slots() -> None:
    assert not hasattr(RateLimit(10), "__dict__")


class ExactBucket:
    """The token bucket the limit stands for, in exact arithmetic."""

    def __init__(self, rpm: int) -> None:
        self.capacity = Fraction(rpm)
        self.per_second = Fraction(rpm, 60)
        self.tokens = self.capacity
        self.last: Fraction | None = None

    def allow(self, now: Fraction) -> tuple[bool, Fraction]:
        """Whether a request at ``now`` is admitted, and the tokens it found."""
        if self.last is None or now > self.last:
            if self.last is not None:
                self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.per_second)
            self.last = now
        found = self.tokens
        if found >= 1:
            self.tokens -= 1
            return True, found
        return False, found


steps = st.lists(st.integers(min_value=0, max_value=5_000), min_size=1, max_size=300)


@given(rpm=st.integers(min_value=1, max_value=100_000), gaps_ms=steps)
def test_it_admits_what_the_token_bucket_admits(rpm: int, gaps_ms: list[int]) -> None:
    client = Client(RateLimit(rpm))
    bucket = ExactBucket(rpm)
    now_ms = 10**9
    for gap in gaps_ms:
        now_ms += gap
        expected, found = bucket.allow(Fraction(now_ms, 1000))
        got = client.allow(now_ms / 1000)
        # Floats may only disagree with exact arithmetic right at the boundary.
        assert got == expected or abs(found - 1) < Fraction(1, 10**6), (found, got)
        if got != expected:
            return  # from here the two histories differ


@given(
    rpm=st.integers(min_value=1, max_value=10_000),
    new_rpm=st.integers(min_value=1, max_value=10_000),
    spent=st.integers(min_value=0, max_value=10_000),
)
def test_a_new_rate_leaves_the_tokens_a_bucket_would(rpm: int, new_rpm: int, spent: int) -> None:
    rate = RateLimit(rpm)
    client = Client(rate)
    used = client.spend(T0, spent)
    carry(rate, [client], new_rpm, T0)
    left = min(rpm - used, new_rpm)  # what the bucket keeps
    assert client.spend(T0, left + 5) in (left, left - 1, left + 1)  # float rounding
    assert client.tat <= T0 or not client.allow(T0)
