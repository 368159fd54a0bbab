"""What a service registry backend does; the registrar (``registration.py``) drives it.

A backend is thin: it knows its registry's protocol and nothing of timing. The
registrar owns the loop: it registers (retrying with backoff), refreshes every
``refresh_interval()`` seconds and at once when health or capacity changed, registers
again after :class:`RegistrationLost`, and deregisters on a clean stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

Document = Mapping[str, Any]


class RegistryError(Exception):
    """The registry could not be reached or refused the request; retried with backoff.
    The message never carries credentials."""


class RegistrationLost(RegistryError):
    """The registry no longer holds this instance (lease expired, 404): register again."""


class RegistryBackend(Protocol):
    name: str  # "etcd" | "http": the health component's detail and the logs use it

    def refresh_interval(self) -> float:
        """Seconds between refreshes: etcd TTL/3, the aggregator's heartbeat interval."""
        ...

    async def register(self, document: Document) -> None:
        """Make this instance known with ``document`` (the registration value/body)."""
        ...

    async def refresh(self, document: Document, changed: bool) -> None:
        """Keep the registration alive; ``changed``: health or capacity changed since the
        last call, so the registry's copy must be brought up to date now."""
        ...

    async def deregister(self) -> None:
        """Remove this instance at once (clean shutdown). Bounded; may raise RegistryError."""
        ...

    async def close(self) -> None:
        """Release connections. Idempotent."""
        ...
