"""Token bucket: burst of one minute's budget, continuous refill."""

from __future__ import annotations

import pytest

from camera_service.auth.ratelimit import TokenBucket

T0 = 1000.0


def spend(bucket: TokenBucket, now: float, n: int) -> int:
    return sum(bucket.allow(now) for _ in range(n))


def test_burst_is_one_minute_budget() -> None:
    bucket = TokenBucket(120)
    assert spend(bucket, T0, 120) == 120
    assert not bucket.allow(T0)


def test_refills_continuously() -> None:
    bucket = TokenBucket(120)  # 2 per second
    spend(bucket, T0, 120)
    assert not bucket.allow(T0 + 0.49)
    assert bucket.allow(T0 + 0.5)
    assert not bucket.allow(T0 + 0.5)
    assert spend(bucket, T0 + 5.5, 100) == 10


def test_never_exceeds_capacity_after_idle() -> None:
    bucket = TokenBucket(60)
    spend(bucket, T0, 60)
    assert spend(bucket, T0 + 3600, 1000) == 60


def test_sustained_rate() -> None:
    bucket = TokenBucket(60)
    allowed = sum(bucket.allow(T0 + i * 0.1) for i in range(600))  # 60 s at 10/s
    assert 60 + 59 <= allowed <= 60 + 60  # the burst plus one per second


def test_clock_going_back_adds_nothing() -> None:
    bucket = TokenBucket(60)
    spend(bucket, T0, 60)
    assert not bucket.allow(T0 - 100)
    assert not bucket.allow(T0 + 0.5)
    assert bucket.allow(T0 + 1)


def test_set_rate_keeps_spent_budget() -> None:
    bucket = TokenBucket(120)
    spend(bucket, T0, 120)
    bucket.set_rate(600)  # raising the limit does not hand out a fresh burst
    assert not bucket.allow(T0)
    assert bucket.requests_per_minute == 600
    assert spend(bucket, T0 + 1, 100) == 10


def test_set_rate_lower_clamps() -> None:
    bucket = TokenBucket(120)
    bucket.set_rate(5)
    assert spend(bucket, T0, 100) == 5


@pytest.mark.parametrize("rpm", [0, -1, 1.5, True, "120"])
def test_invalid_rate(rpm: object) -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        TokenBucket(rpm)  # type: ignore[arg-type]
    bucket = TokenBucket(1)
    with pytest.raises(ValueError, match="requests_per_minute"):
        bucket.set_rate(rpm)  # type: ignore[arg-type]


def test_minimum_rate() -> None:
    bucket = TokenBucket(1)
    assert bucket.allow(T0)
    assert not bucket.allow(T0 + 59)
    assert bucket.allow(T0 + 60)


def test_slots() -> None:
    bucket = TokenBucket(10)
    assert not hasattr(bucket, "__dict__")
