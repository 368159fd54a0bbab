"""In-process event bus: domain code publishes, the notifier (and others) listen.

Domain packages never import the transport; they publish ``(topic, payload)`` here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Subscriber = Callable[[str, dict[str, Any]], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Deliver synchronously; a failing subscriber is logged and skipped."""
        for subscriber in list(self._subscribers):
            try:
                subscriber(topic, payload)
            except Exception:
                log.exception("event subscriber failed", extra={"topic": topic})
