"""A circuit breaker: stop calling a dependency that keeps failing, probe it now and then.

closed -> open after ``failure_threshold`` consecutive failures. While open every call
is refused at once with :class:`CircuitOpenError` (nothing touches the network). Once
``reset_timeout`` has passed, exactly one trial call is let through (half-open): its
success closes the circuit, its failure opens it again for another ``reset_timeout``.

The caller classifies outcomes: an answer from the dependency, even a 4xx, is a success
(it is alive); a connection error, timeout or 5xx is a failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

__all__ = ["CircuitBreaker", "CircuitOpenError", "CircuitState"]

log = logging.getLogger(__name__)

CircuitState = Literal["closed", "open", "half_open"]
T = TypeVar("T")


class CircuitOpenError(Exception):
    """Refused without trying: the dependency failed too often recently."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after  # seconds until a trial call will be allowed

    def __str__(self) -> str:
        return self.message


def _always(_: BaseException) -> bool:
    return True


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        name: str = "dependency",
        on_change: Callable[[CircuitState], None] | None = None,
    ) -> None:
        if failure_threshold < 1 or reset_timeout < 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout >= 0")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.name = name
        self.on_change = on_change
        self._clock = clock
        self._state: CircuitState = "closed"
        self._failures = 0  # consecutive
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._last_failure: str | None = None

    @property
    def state(self) -> CircuitState:
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures so far."""
        return self._failures

    @property
    def last_failure(self) -> str | None:
        """The cause of the most recent failure, for health reports."""
        return self._last_failure

    def retry_after(self) -> float:
        """Seconds until a trial call is allowed (0 unless open)."""
        if self._state != "open":
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def acquire(self) -> bool:
        """Ask to make a call. Raises :class:`CircuitOpenError` if refused; returns True
        when this call is the half-open trial (pass it to :meth:`release` if the call
        ends with neither success nor failure, e.g. cancelled)."""
        if self._state == "closed":
            return False
        if self._state == "open":
            wait = self.retry_after()
            if wait > 0:
                raise self._refusal(wait)
            self._set("half_open")
        if self._trial_in_flight:
            raise self._refusal(0.0)
        self._trial_in_flight = True
        return True

    def release(self, trial: bool) -> None:
        """The call ended without an outcome: free the trial slot it held, if any."""
        if trial:
            self._trial_in_flight = False

    def record_success(self) -> None:
        self._failures = 0
        self._trial_in_flight = False
        if self._state != "closed":
            self._set("closed")

    def record_failure(self, cause: object = None) -> None:
        self._failures += 1
        self._trial_in_flight = False
        if cause is not None:
            self._last_failure = str(cause)
        if self._state == "half_open" or (
            self._state == "closed" and self._failures >= self.failure_threshold
        ):
            self._opened_at = self._clock()
            self._set("open")
        # A late failure of a call made before the circuit opened changes nothing.

    def reset(self) -> None:
        """Forget the history and close (e.g. the dependency was just restarted by us)."""
        self._failures = 0
        self._trial_in_flight = False
        if self._state != "closed":
            self._set("closed")

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        is_failure: Callable[[BaseException], bool] = _always,
    ) -> T:
        """Run ``fn`` through the breaker. A returned value is a success; an exception is
        a failure when ``is_failure`` says so, otherwise a success (the dependency
        answered); cancellation is neither."""
        trial = self.acquire()
        try:
            result = await fn()
        except Exception as e:
            if is_failure(e):
                self.record_failure(e)
            else:
                self.record_success()
            raise
        except BaseException:
            self.release(trial)
            raise
        self.record_success()
        return result

    def _refusal(self, wait: float) -> CircuitOpenError:
        cause = f"; last error: {self._last_failure}" if self._last_failure else ""
        when = f"next attempt in {wait:.1f} s" if wait > 0 else "a trial call is in progress"
        return CircuitOpenError(
            f"{self.name} unavailable after {self._failures} consecutive failures ({when}{cause})",
            wait,
        )

    def _set(self, state: CircuitState) -> None:
        old, self._state = self._state, state
        # Opening and closing are news; the trial calls in between (every reset_timeout
        # while a dependency stays down) would only flood the log.
        if state == "open" and old == "closed":
            level = logging.WARNING
        elif state == "closed":
            level = logging.INFO
        else:
            level = logging.DEBUG
        log.log(
            level,
            "circuit %s: %s -> %s",
            self.name,
            old,
            state,
        )
        if self.on_change is not None:
            try:
                self.on_change(state)
            except Exception:
                # A broken observer must not break the calls it observes.
                log.exception("circuit %s: on_change callback failed", self.name)
