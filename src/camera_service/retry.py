"""A retry schedule: a steady interval while healthy, exponential backoff with jitter
after failures. RTSP source checks and the service registration use it."""

from __future__ import annotations

import random


class RetrySchedule:
    """When to try next: ``interval`` while things go well; after failures 1 s, 2 s, 4 s
    ... up to ``max_backoff``, each shortened by up to ``jitter`` so many clients of one
    dead peer (cameras behind a switch, hubs of a fleet) do not retry in lockstep."""

    def __init__(
        self,
        interval: float,
        max_backoff: float,
        *,
        initial_backoff: float = 1.0,
        jitter: float = 0.25,
        rng: random.Random | None = None,
    ) -> None:
        if interval <= 0 or max_backoff <= 0 or initial_backoff <= 0:
            raise ValueError("interval, max_backoff and initial_backoff must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.interval = interval
        self.max_backoff = max_backoff
        self.initial_backoff = min(initial_backoff, max_backoff)
        self.jitter = jitter
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self, ok: bool) -> float:
        if ok:
            self.failures = 0
            return self.interval
        self.failures += 1
        # Cap the exponent so a camera dead for days cannot overflow the float.
        delay = min(self.max_backoff, self.initial_backoff * 2.0 ** min(self.failures - 1, 32))
        return delay * (1.0 - self.jitter * self._rng.random())
