"""Circuit breaker state machine, driven by an injected clock (no waiting)."""

from __future__ import annotations

import asyncio

import pytest

from camera_service.media.circuit import CircuitBreaker, CircuitOpenError, CircuitState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[CircuitState]:
    return []


@pytest.fixture
def breaker(clock: Clock, changes: list[CircuitState]) -> CircuitBreaker:
    return CircuitBreaker(3, 5.0, clock, name="MediaMTX API", on_change=changes.append)


def state(b: CircuitBreaker) -> CircuitState:
    return b.state  # a call, so mypy does not narrow the property between assertions


def fail(b: CircuitBreaker, times: int, cause: str = "connection refused") -> None:
    for _ in range(times):
        b.acquire()
        b.record_failure(cause)


def test_opens_after_consecutive_failures_only(breaker: CircuitBreaker, changes) -> None:
    fail(breaker, 2)
    breaker.acquire()
    breaker.record_success()  # resets the count
    fail(breaker, 2)
    assert state(breaker) == "closed" and breaker.failures == 2
    fail(breaker, 1)
    assert state(breaker) == "open" and changes == ["open"]
    assert breaker.last_failure == "connection refused"


def test_open_refuses_until_reset_timeout(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 4.0
    with pytest.raises(CircuitOpenError) as e:
        breaker.acquire()
    assert e.value.retry_after == pytest.approx(1.0)
    assert str(e.value) == (
        "MediaMTX API unavailable after 3 consecutive failures"
        " (next attempt in 1.0 s; last error: connection refused)"
    )
    assert state(breaker) == "open"


def test_half_open_allows_one_trial_and_success_closes(
    breaker: CircuitBreaker, clock: Clock, changes
) -> None:
    fail(breaker, 3)
    clock.now += 5.0
    assert breaker.acquire() is True  # the trial
    assert state(breaker) == "half_open"
    with pytest.raises(CircuitOpenError, match="trial call is in progress"):
        breaker.acquire()  # only one at a time
    breaker.record_success()
    assert state(breaker) == "closed" and breaker.failures == 0
    assert breaker.acquire() is False
    assert changes == ["open", "half_open", "closed"]


def test_half_open_failure_reopens_for_a_full_timeout(
    breaker: CircuitBreaker, clock: Clock, changes
) -> None:
    fail(breaker, 3)
    clock.now += 10.0
    breaker.acquire()
    breaker.record_failure("timeout")
    assert state(breaker) == "open"
    clock.now += 4.9
    with pytest.raises(CircuitOpenError, match="last error: timeout"):
        breaker.acquire()
    clock.now += 0.1
    assert breaker.acquire() is True
    assert changes == ["open", "half_open", "open", "half_open"]


def test_abandoned_trial_frees_the_slot(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 5.0
    trial = breaker.acquire()
    breaker.release(trial)  # e.g. cancelled: no verdict
    assert state(breaker) == "half_open"
    assert breaker.acquire() is True


def test_late_failure_while_open_does_not_extend(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 3.0
    breaker.record_failure("late answer of a call started before opening")
    clock.now += 2.0
    assert breaker.acquire() is True


def test_broken_observer_does_not_break_calls(clock: Clock) -> None:
    def boom(state: CircuitState) -> None:
        raise RuntimeError("observer bug")

    b = CircuitBreaker(1, 1.0, clock, on_change=boom)
    fail(b, 1)
    assert state(b) == "open"


def test_reset_closes(breaker: CircuitBreaker, changes) -> None:
    fail(breaker, 3)
    breaker.reset()
    assert state(breaker) == "closed" and changes == ["open", "closed"]


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(0)


async def test_call_gates_and_classifies(breaker: CircuitBreaker, clock: Clock) -> None:
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("refused")

    async def not_found() -> int:
        nonlocal calls
        calls += 1
        raise KeyError("404")

    async def ok() -> int:
        nonlocal calls
        calls += 1
        return 7

    # an exception the classifier calls an answer (a 4xx, say) is a success
    for _ in range(5):
        with pytest.raises(KeyError):
            await breaker.call(not_found, is_failure=lambda e: not isinstance(e, KeyError))
    assert state(breaker) == "closed"
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            await breaker.call(failing)
    assert state(breaker) == "open" and calls == 8
    with pytest.raises(CircuitOpenError):
        await breaker.call(ok)
    assert calls == 8  # refused without calling
    clock.now += 5.0
    assert await breaker.call(ok) == 7
    assert state(breaker) == "closed"


async def test_cancelled_trial_is_neither_success_nor_failure(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    clock.now += 5.0
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(breaker.call(forever))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert state(breaker) == "half_open" and breaker.failures == 3
    assert breaker.acquire() is True  # the slot is free for the next trial
