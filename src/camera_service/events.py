"""In-process event bus: domain code publishes typed events, the notifier (and others)
subscribe by event type.

Event types are frozen dataclasses defined by the package that owns the fact
(``cameras.events``, ``storage.events``, ``record.events``, ...); this module knows none
of them. Delivery is synchronous, in subscription order, to the handlers of the event's
exact type (no subclass matching): one dict lookup per publish, however many
subscribers there are for other types.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar, cast

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[object], object]  # what a handler returns is ignored


class EventBus:
    def __init__(self) -> None:
        # A tuple per type, replaced on subscribe: publish iterates without copying.
        self._handlers: dict[type, tuple[Handler, ...]] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[E], object]) -> None:
        """Call ``handler`` with every event of ``event_type`` published from now on."""
        # Sound: publish passes a handler only events of the type it subscribed to.
        self._handlers[event_type] = (
            *self._handlers.get(event_type, ()),
            cast(Handler, handler),
        )

    def publish(self, event: object) -> None:
        """Deliver synchronously; a failing subscriber is logged and skipped."""
        for handler in self._handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:
                log.exception("event subscriber failed", extra={"event": type(event).__name__})
