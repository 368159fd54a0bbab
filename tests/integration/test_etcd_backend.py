"""The etcd registry backend against a real etcd: lease, key, refresh, loss, removal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from camera_service.config import ConfigError
from camera_service.net.etcd import EtcdClient
from camera_service.registration.backend import RegistrationLost, RegistryBackend, RegistryError
from camera_service.registration.etcd_backend import EtcdBackend
from tests.conftest import make_settings
from tests.support.etcd import EtcdServer

KEY = "/camera-service/instances/hub-7-8002"


def document(status: str = "healthy", active: int = 0) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "instance_id": "hub-7-8002",
        "health": {"status": status, "components": {}},
        "capacity": {"streams": {"limit": 16, "active": active, "free": 16 - active}},
    }


async def stored(etcd: EtcdServer) -> dict[str, Any] | None:
    raw = await etcd.get(KEY)
    return None if raw is None else dict(json.loads(raw))


@pytest.fixture
async def backend(etcd: EtcdServer) -> AsyncIterator[EtcdBackend]:
    b = EtcdBackend(EtcdClient([etcd.url], timeout=5.0), KEY, ttl=15)
    try:
        yield b
    finally:
        await b.close()


def test_is_a_registry_backend(backend: EtcdBackend) -> None:
    checked: RegistryBackend = backend  # the protocol, checked by mypy
    assert checked.name == "etcd"
    assert backend.refresh_interval() == 5.0
    with pytest.raises(ValueError, match="TTL"):
        EtcdBackend(backend.client, KEY, ttl=1)


async def test_register_puts_the_document_on_a_lease(
    etcd: EtcdServer, backend: EtcdBackend
) -> None:
    await backend.register(document())
    assert await stored(etcd) == document()
    ttl = await etcd.lease_ttl(KEY)
    assert ttl is not None and 0 < ttl <= 15


async def test_refresh_keeps_alive_and_updates_only_when_changed(
    etcd: EtcdServer, backend: EtcdBackend
) -> None:
    await backend.register(document())
    await backend.refresh(document("degraded", 3), changed=False)
    assert await stored(etcd) == document()  # nothing changed as far as the caller knows
    await backend.refresh(document("degraded", 3), changed=True)
    assert await stored(etcd) == document("degraded", 3)
    assert await etcd.lease_ttl(KEY) is not None  # still on the lease


async def test_lost_lease_raises_registration_lost_then_register_again(
    etcd: EtcdServer, backend: EtcdBackend
) -> None:
    await backend.register(document())
    assert backend.lease is not None
    await etcd.call("/v3/lease/revoke", {"ID": str(backend.lease)})  # as expiry would
    assert await stored(etcd) is None
    with pytest.raises(RegistrationLost):
        await backend.refresh(document(), changed=False)
    with pytest.raises(RegistrationLost):  # and stays lost until registered again
        await backend.refresh(document(), changed=True)
    await backend.register(document("degraded"))
    assert await stored(etcd) == document("degraded")
    await backend.refresh(document("degraded"), changed=False)


async def test_expired_lease_deletes_the_key_and_is_lost(etcd: EtcdServer) -> None:
    backend = EtcdBackend(EtcdClient([etcd.url]), KEY, ttl=2)
    try:
        await backend.register(document())
        await etcd.wait_value(KEY, None)  # no refresh: etcd removes the key within the TTL
        with pytest.raises(RegistrationLost):
            await backend.refresh(document(), changed=True)
        assert await stored(etcd) is None  # the changed put did not bring it back leaseless
    finally:
        await backend.close()


async def test_register_again_moves_the_key_to_a_new_lease(
    etcd: EtcdServer, backend: EtcdBackend
) -> None:
    await backend.register(document())
    old = backend.lease
    await backend.register(document("degraded"))
    assert backend.lease != old
    assert await stored(etcd) == document("degraded")
    ttl = await etcd.call("/v3/lease/timetolive", {"ID": str(old)})
    assert int(ttl["TTL"]) == -1  # the old lease is revoked, the key is not


async def test_deregister_deletes_the_key_and_revokes_the_lease(
    etcd: EtcdServer, backend: EtcdBackend
) -> None:
    await backend.register(document())
    lease = backend.lease
    await backend.deregister()
    assert await stored(etcd) is None
    ttl = await etcd.call("/v3/lease/timetolive", {"ID": str(lease)})
    assert int(ttl["TTL"]) == -1
    await backend.deregister()  # nothing left: fine
    await backend.close()
    await backend.close()  # idempotent


async def test_etcd_down_is_a_registry_error_and_the_lease_outlives_a_restart(
    etcd: EtcdServer, backend: EtcdBackend
) -> None:
    await backend.register(document())
    await etcd.stop()
    with pytest.raises(RegistryError) as caught:
        await backend.refresh(document(), changed=False)
    assert not isinstance(caught.value, RegistrationLost)  # unreachable is not lost
    with pytest.raises(RegistryError):
        await backend.deregister()  # bounded: refused at once, not hung
    await etcd.start()
    # the failed deregister left the key to its lease, which etcd kept across the restart
    assert await stored(etcd) == document()
    assert await etcd.lease_ttl(KEY) is not None


async def test_refresh_after_restart_keeps_the_registration(
    etcd: EtcdServer, backend: EtcdBackend
) -> None:
    await backend.register(document())
    await etcd.stop()
    await etcd.start()
    await backend.refresh(document("degraded"), changed=True)
    assert await stored(etcd) == document("degraded")


@pytest.mark.parametrize(
    "endpoint", ["https://etcd:2379", "http://user:pw@etcd:2379", "etcd:2379", "http://etcd/v3"]
)
def test_endpoints_the_client_cannot_speak_are_refused_by_the_config(
    tmp_path: Path, endpoint: str
) -> None:
    with pytest.raises(ConfigError, match=r"registry\.endpoints.*http://host\[:port\]"):
        make_settings(tmp_path, registry={"endpoints": ["http://127.0.0.1:2379", endpoint]})
    assert make_settings(tmp_path, registry={"endpoints": ["http://[::1]:2379"]})
