"""The etcd v3 client against a real etcd (tests/support/etcd.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from camera_service.net.etcd import EtcdClient, EtcdError, LeaseNotFound, prefix_end
from tests.support.etcd import EtcdServer, free_port

WAIT = 20.0  # generous: a loaded 2-core machine, an etcd restart, the watch's backoff


@pytest.fixture
async def client(etcd: EtcdServer) -> AsyncIterator[EtcdClient]:
    c = EtcdClient([etcd.url], timeout=5.0)
    try:
        yield c
    finally:
        await c.close()


class Watcher:
    """Runs ``client.watch(key)`` in a task; what it yields lands in a queue."""

    def __init__(self, client: EtcdClient, key: str) -> None:
        self.seen: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(client, key))

    async def _run(self, client: EtcdClient, key: str) -> None:
        # A short backoff cap: on a loaded machine etcd can take seconds to come back,
        # and the default cap (10 s) could outlast WAIT after a few failed tries.
        async for value in client.watch(key, retry_max=1.0):
            self.seen.put_nowait(value)

    async def next(self) -> bytes | None:
        return await asyncio.wait_for(self.seen.get(), WAIT)

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


def test_prefix_end_follows_etcds_rule() -> None:
    assert prefix_end(b"/a/") == b"/a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0"


async def test_fixture_restart_keeps_data_and_ports(etcd: EtcdServer) -> None:
    await etcd.put("/k", b"v")
    url = etcd.url
    await etcd.stop()
    assert not etcd.running
    await etcd.start()
    assert etcd.url == url
    assert await etcd.get("/k") == b"v"


async def test_put_get_prefix_delete(etcd: EtcdServer, client: EtcdClient) -> None:
    await client.put("/fleet/a", b'{"id": "a"}')
    await client.put("/fleet/b", b"\x00\xffbinary")
    await client.put("/fleetX", b"outside the prefix")
    assert await etcd.get("/fleet/a") == b'{"id": "a"}'  # really stored, not cached
    assert await client.get("/fleet/b") == b"\x00\xffbinary"
    assert await client.get("/fleet/none") is None
    assert await client.get_prefix("/fleet/") == {
        "/fleet/a": b'{"id": "a"}',
        "/fleet/b": b"\x00\xffbinary",
    }
    assert await client.delete("/fleet/a") == 1
    assert await client.delete("/fleet/a") == 0
    assert await etcd.get("/fleet/a") is None
    assert await client.get_prefix("/nothing/") == {}


async def test_lease_keepalive_then_expiry(etcd: EtcdServer, client: EtcdClient) -> None:
    lease = await client.grant(2)
    await client.put("/leased", b"v", lease)
    assert 0 < await client.keepalive(lease) <= 2
    assert await etcd.lease_ttl("/leased") is not None
    # no more keepalives: etcd deletes the key when the lease runs out
    await etcd.wait_value("/leased", None)
    assert await client.keepalive(lease) == 0
    with pytest.raises(LeaseNotFound):
        await client.put("/leased", b"again", lease)


async def test_revoke_deletes_leased_keys(etcd: EtcdServer, client: EtcdClient) -> None:
    lease = await client.grant(60)
    await client.put("/a", b"1", lease)
    await client.put("/b", b"2", lease)
    await client.put("/c", b"unleased")
    await client.revoke(lease)
    assert await etcd.get("/a") is None and await etcd.get("/b") is None
    assert await etcd.get("/c") == b"unleased"
    await client.revoke(lease)  # already gone: fine
    assert await client.keepalive(lease) == 0


async def test_watch_sees_the_value_then_every_change(etcd: EtcdServer, client: EtcdClient) -> None:
    await etcd.put("/w", b"first")
    watcher = Watcher(client, "/w")
    try:
        assert await watcher.next() == b"first"
        await etcd.put("/w", b"second")
        assert await watcher.next() == b"second"
        await etcd.put("/w", b"second")  # a put of the same value is still a change
        assert await watcher.next() == b"second"
        await etcd.delete("/w")
        assert await watcher.next() is None
        await etcd.put("/other", b"x")  # another key: nothing
        await etcd.put("/w", b"third")
        assert await watcher.next() == b"third"
        assert watcher.seen.empty()
    finally:
        await watcher.stop()


async def test_watch_of_an_absent_key_starts_with_none(client: EtcdClient) -> None:
    watcher = Watcher(client, "/absent")
    try:
        assert await watcher.next() is None
    finally:
        await watcher.stop()


async def test_watch_survives_an_etcd_restart(etcd: EtcdServer, client: EtcdClient) -> None:
    await etcd.put("/w", b"before")
    watcher = Watcher(client, "/w")
    try:
        assert await watcher.next() == b"before"
        await etcd.stop()
        await etcd.start()
        # most likely written before the watch is back: the re-read must not miss it
        await etcd.put("/w", b"while reconnecting")
        assert await watcher.next() == b"while reconnecting"
        await etcd.put("/w", b"after")
        assert await watcher.next() == b"after"
    finally:
        await watcher.stop()


async def test_watch_ends_when_the_client_closes(etcd: EtcdServer) -> None:
    client = EtcdClient([etcd.url])
    values = [v async for v in _first_then_close(client)]
    assert values == [None]


async def _first_then_close(client: EtcdClient) -> AsyncIterator[bytes | None]:
    async for value in client.watch("/k"):
        yield value
        await client.close()  # the stream is cut and the watch does not reconnect


async def test_fails_over_from_a_dead_first_endpoint(etcd: EtcdServer) -> None:
    client = EtcdClient([f"http://127.0.0.1:{free_port()}", etcd.url])
    try:
        await client.put("/f", b"v")
        assert await client.get("/f") == b"v"
        watcher = Watcher(client, "/f")
        try:
            assert await watcher.next() == b"v"
            await etcd.put("/f", b"w")
            assert await watcher.next() == b"w"
        finally:
            await watcher.stop()
    finally:
        await client.close()


async def test_unreachable_etcd_is_a_registry_error_without_credentials() -> None:
    client = EtcdClient(
        [f"http://root:hunter2@127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"],
        timeout=5.0,
    )
    try:
        with pytest.raises(EtcdError) as caught:
            await client.get("/k")
        message = str(caught.value)
        assert "unreachable" in message and "connection refused" in message
        assert "hunter2" not in message and "root" not in message
        assert "hunter2" not in repr(client)
    finally:
        await client.close()


async def test_etcd_errors_are_registry_errors(client: EtcdClient) -> None:
    with pytest.raises(LeaseNotFound, match="lease not found"):
        await client.put("/k", b"v", lease=12345)
    with pytest.raises(EtcdError, match="key is not provided"):
        await client.put("", b"v")
    await client.close()
    with pytest.raises(EtcdError, match="closed"):
        await client.get("/k")


def test_endpoints_must_be_http_urls() -> None:
    with pytest.raises(ValueError, match="http://host:port"):
        EtcdClient(["https://etcd:2379"])
    with pytest.raises(ValueError, match="at least one"):
        EtcdClient([])
