"""Registration in etcd: one key per instance, bound to a lease kept alive at TTL/3.

The key (``registry.prefix + instance_id``) holds the registration document as JSON.
If this process dies, the lease expires and etcd deletes the key within the TTL; a
clean stop deletes the key and revokes the lease at once. The client's
:class:`EtcdError` becomes the registrar's :class:`RegistryError` here, at the edge.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import orjson

from camera_service.net.etcd import EtcdClient, EtcdError, LeaseNotFound
from camera_service.registration.backend import (
    Document,
    RegistrationLost,
    RegistryBackend,
    RegistryError,
)


@contextlib.contextmanager
def _registry_errors() -> Iterator[None]:
    try:
        yield
    except RegistryError:
        raise
    except EtcdError as exc:
        raise RegistryError(str(exc)) from exc


class EtcdBackend(RegistryBackend):
    name = "etcd"

    def __init__(self, client: EtcdClient, key: str, ttl: int) -> None:
        if ttl < 2:
            raise ValueError("etcd lease TTL must be at least 2 s")
        self.client = client
        self.key = key
        self.ttl = ttl
        self.lease: int | None = None  # None: not registered (or the lease was lost)

    def refresh_interval(self) -> float:
        return self.ttl / 3

    async def register(self, document: Document) -> None:
        value = orjson.dumps(dict(document))
        with _registry_errors():
            lease = await self.client.grant(self.ttl)
            try:
                await self.client.put(self.key, value, lease)
            except EtcdError:
                await self._revoke_quietly(lease)  # it would expire anyway; do not wait
                raise
        old, self.lease = self.lease, lease
        if old is not None:
            # the key now hangs on the new lease, so revoking the old one leaves it alone
            await self._revoke_quietly(old)

    async def refresh(self, document: Document, changed: bool) -> None:
        lease = self.lease
        if lease is None:
            raise RegistrationLost("not registered in etcd")
        with _registry_errors():
            try:
                remaining = await self.client.keepalive(lease)
                if remaining <= 0:
                    raise LeaseNotFound("etcd lease expired")
                if changed:
                    await self.client.put(self.key, orjson.dumps(dict(document)), lease)
            except LeaseNotFound:
                self.lease = None
                raise RegistrationLost("etcd lease expired; the registration is gone") from None

    async def deregister(self) -> None:
        """Delete the key and revoke the lease; both are tried, the first failure raised."""
        lease, self.lease = self.lease, None
        failure: EtcdError | None = None
        try:
            await self.client.delete(self.key)
        except EtcdError as exc:
            failure = exc
        if lease is not None:
            try:
                await self.client.revoke(lease)
            except EtcdError as exc:
                failure = failure or exc
        if failure is not None:
            raise RegistryError(str(failure)) from failure

    async def close(self) -> None:
        await self.client.close()

    async def _revoke_quietly(self, lease: int) -> None:
        with contextlib.suppress(EtcdError):
            await self.client.revoke(lease)
