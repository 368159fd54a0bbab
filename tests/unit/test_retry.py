"""Check schedule of RTSP sources: steady when healthy, exponential backoff when not."""

from __future__ import annotations

import random

import pytest

from camera_service.retry import RetrySchedule


def test_healthy_uses_the_interval() -> None:
    health = RetrySchedule(10.0, 60.0)
    assert [health.next_delay(True) for _ in range(3)] == [10.0, 10.0, 10.0]


def test_backoff_doubles_to_the_cap_and_resets() -> None:
    health = RetrySchedule(10.0, 60.0, jitter=0.0)
    delays = [health.next_delay(False) for _ in range(9)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert health.failures == 9
    assert health.next_delay(True) == 10.0 and health.failures == 0
    assert health.next_delay(False) == 1.0


def test_jitter_only_shortens_and_stays_within_bounds() -> None:
    health = RetrySchedule(5.0, 30.0, initial_backoff=2.0, jitter=0.25, rng=random.Random(7))
    for n in range(1, 40):
        nominal = min(30.0, 2.0 * 2 ** (n - 1))
        delay = health.next_delay(False)
        assert nominal * 0.75 <= delay <= nominal
    # Long outages neither overflow nor exceed the cap.
    health.failures = 10_000
    assert 22.5 <= health.next_delay(False) <= 30.0


def test_jitter_spreads_cameras_apart() -> None:
    rng = random.Random(1)
    delays = {RetrySchedule(10.0, 60.0, rng=rng).next_delay(False) for _ in range(20)}
    assert len(delays) == 20


def test_initial_backoff_never_exceeds_max() -> None:
    assert RetrySchedule(10.0, 0.5, jitter=0.0).next_delay(False) == 0.5


@pytest.mark.parametrize(
    "kwargs",
    [{"interval": 0.0}, {"max_backoff": -1.0}, {"initial_backoff": 0.0}, {"jitter": 1.0}],
)
def test_invalid_parameters(kwargs: dict[str, float]) -> None:
    a: dict[str, float] = {"interval": 10.0, "max_backoff": 60.0, **kwargs}
    with pytest.raises(ValueError, match="must be"):
        RetrySchedule(
            a["interval"],
            a["max_backoff"],
            initial_backoff=a.get("initial_backoff", 1.0),
            jitter=a.get("jitter", 0.25),
        )
