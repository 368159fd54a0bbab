"""The etcd v3 client against a real etcd (tests/support/etcd.py)."""

from __future__ import annotations

from tests.support.etcd import EtcdServer


async def test_fixture_restart_keeps_data_and_ports(etcd: EtcdServer) -> None:
    await etcd.put("/k", b"v")
    url = etcd.url
    await etcd.stop()
    assert not etcd.running
    await etcd.start()
    assert etcd.url == url
    assert await etcd.get("/k") == b"v"
