"""Component health: every part reports through one small handle.

A component calls ``handle.set(status, reason, **details)`` when its state changes;
readers (HTTP health, get_status, the registration) see the aggregate. Changes are
pushed to listeners at once; the service publishes each as a
:class:`observability.events.HealthChanged`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Status(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


_ORDER = {Status.HEALTHY: 0, Status.DEGRADED: 1, Status.UNHEALTHY: 2}


# The first and last second a datetime can hold: an expiry set by hand may lie beyond.
_FIRST = datetime.min.replace(tzinfo=UTC).timestamp()
_LAST = datetime.max.replace(tzinfo=UTC, microsecond=0).timestamp()


def iso(ts: float) -> str:
    """ISO 8601 UTC with a Z suffix, the form api.md uses for every time stamp. A time
    outside years 1-9999 (a credential with a far-future expiry) is shown as the nearest
    one that exists, never as an error."""
    ts = min(max(ts, _FIRST), _LAST)
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class ComponentState:
    name: str
    status: Status
    reason: str
    details: dict[str, Any]
    since: float
    # A non-critical component (say, the registry link) can only degrade the service.
    critical: bool = True

    def to_dict(self) -> dict[str, Any]:
        details = dict(self.details)
        if self.reason:
            details["reason"] = self.reason
        return {"status": self.status.value, "details": details, "timestamp": iso(self.since)}


Listener = Callable[[ComponentState], None]


@dataclass(slots=True)
class ComponentHealth:
    """The handle a component keeps to report its own health."""

    _registry: Health
    state: ComponentState

    def set(self, status: Status, reason: str = "", **details: Any) -> None:
        s = self.state
        changed = s.status != status or s.reason != reason
        s.details = details
        if changed:
            s.status, s.reason, s.since = status, reason, time.time()
            self._registry.changed(s)


@dataclass
class Health:
    components: dict[str, ComponentState] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)
    # Bumped on every register and status change: readers cache what they derive.
    version: int = 0

    def register(
        self, name: str, critical: bool = True, status: Status = Status.HEALTHY, reason: str = ""
    ) -> ComponentHealth:
        state = ComponentState(name, status, reason, {}, time.time(), critical)
        self.components[name] = state
        self.version += 1
        return ComponentHealth(self, state)

    def changed(self, state: ComponentState) -> None:
        self.version += 1
        for listener in list(self.listeners):
            listener(state)

    def overall(self) -> Status:
        worst = Status.HEALTHY
        for c in self.components.values():
            status = c.status
            if not c.critical and status is Status.UNHEALTHY:
                status = Status.DEGRADED
            if _ORDER[status] > _ORDER[worst]:
                worst = status
        return worst

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: c.to_dict() for name, c in sorted(self.components.items())}
