"""A component's health changed: published by the service from the health listener."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from camera_service.observability.health import ComponentState, Status


@dataclass(frozen=True, slots=True)
class HealthChanged:
    """A component's status or reason changed; ``overall`` is the service's after it."""

    state: ComponentState  # a copy, as of the change
    overall: Status

    @classmethod
    def of(cls, state: ComponentState, overall: Status) -> HealthChanged:
        return cls(dataclasses.replace(state, details=dict(state.details)), overall)
