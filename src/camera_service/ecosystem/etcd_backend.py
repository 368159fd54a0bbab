"""Registration in etcd: one key per instance, bound to a lease kept alive at TTL/3.

The key (``registry.prefix + instance_id``) holds the registration document as JSON.
If this process dies, the lease expires and etcd deletes the key within the TTL; a
clean stop deletes the key and revokes the lease at once.
"""

from __future__ import annotations

import contextlib

import orjson

from camera_service.ecosystem.backend import (
    Document,
    RegistrationLost,
    RegistryBackend,
    RegistryError,
)
from camera_service.ecosystem.etcd import EtcdClient, LeaseNotFound


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
        lease = await self.client.grant(self.ttl)
        try:
            await self.client.put(self.key, value, lease)
        except RegistryError:
            await self._revoke_quietly(lease)  # it would expire anyway; do not wait for it
            raise
        old, self.lease = self.lease, lease
        if old is not None:
            # the key now hangs on the new lease, so revoking the old one leaves it alone
            await self._revoke_quietly(old)

    async def refresh(self, document: Document, changed: bool) -> None:
        lease = self.lease
        if lease is None:
            raise RegistrationLost("not registered in etcd")
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
        failure: RegistryError | None = None
        try:
            await self.client.delete(self.key)
        except RegistryError as exc:
            failure = exc
        if lease is not None:
            try:
                await self.client.revoke(lease)
            except RegistryError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    async def close(self) -> None:
        await self.client.close()

    async def _revoke_quietly(self, lease: int) -> None:
        with contextlib.suppress(RegistryError):
            await self.client.revoke(lease)
