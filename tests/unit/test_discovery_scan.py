"""The discovery part (cameras/discovery.py) with a stand-in for the network: one
discovery at a time (the periodic scan and clients'), each bounded, the scan's interval
stored and read back, the scan cancelled cleanly, and every run published."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import strategies as st

from camera_service.cameras import onvif
from camera_service.cameras.discovery import Discovery, IntervalStore
from camera_service.cameras.events import CamerasDiscovered
from camera_service.config import (
    MAX_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
    OnvifConfig,
    check_scan_interval,
)
from camera_service.db import AsyncDatabase, Database
from camera_service.events import EventBus
from tests.support.properties import examples


def device(n: int) -> onvif.Device:
    return onvif.Device(f"urn:uuid:{n}", f"http://127.0.0.1:{n}/onvif", "127.0.0.1", n)


class FakeNetwork:
    """discover(): each call records whether another was running, and waits for a go."""

    def __init__(self) -> None:
        self.running = 0
        self.overlapped = False
        self.calls: list[onvif.Credentials | None] = []
        self.go = asyncio.Event()
        self.go.set()
        self.started = asyncio.Event()
        self.called = asyncio.Event()
        self.found = [device(1)]

    async def discover(
        self, cfg: OnvifConfig, credentials: onvif.Credentials | None
    ) -> list[onvif.Device]:
        self.overlapped |= self.running > 0
        self.running += 1
        self.calls.append(credentials)
        self.called.set()
        self.started.set()
        try:
            await self.go.wait()
            return list(self.found)
        finally:
            self.running -= 1


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[AsyncDatabase]:
    adb = await AsyncDatabase.open(tmp_path / "camera-service.db")
    yield adb
    await adb.close()


def part(
    db: AsyncDatabase, net: FakeNetwork, cfg: OnvifConfig | None = None
) -> tuple[Discovery, list[CamerasDiscovered]]:
    events = EventBus()
    heard: list[CamerasDiscovered] = []
    events.subscribe(CamerasDiscovered, heard.append)
    config = cfg or OnvifConfig(probe_wait=0.1, device_timeout=0.1)
    return Discovery(lambda: config, db, events, net.discover), heard


async def calls(net: FakeNetwork, n: int, timeout: float = 5.0) -> None:
    """Until the network was asked ``n`` times."""
    async with asyncio.timeout(timeout):
        while len(net.calls) < n:
            net.called.clear()
            await net.called.wait()


async def test_a_client_discovery_waits_for_the_periodic_one(db: AsyncDatabase) -> None:
    net = FakeNetwork()
    discovery, heard = part(db, net)
    await discovery.start()
    try:
        net.go.clear()
        net.started.clear()
        await discovery.set_interval(1.0)
        await net.started.wait()  # the scan runs at once and hangs on the network
        client = asyncio.create_task(discovery.run(onvif.Credentials("u", "p")))
        await asyncio.sleep(0)
        assert discovery.running and len(net.calls) == 1  # the client's waits
        net.go.set()
        assert [d.endpoint for d in await client] == ["urn:uuid:1"]
        assert not net.overlapped
        # The scan signs with the last client's credentials from then on.
        await calls(net, 3)
        assert net.calls[:3] == [None, onvif.Credentials("u", "p"), onvif.Credentials("u", "p")]
        assert [e.periodic for e in heard[:2]] == [True, False]
        assert heard[0].new == ("urn:uuid:1",) and heard[1].new == ()
    finally:
        await discovery.stop()


async def test_a_hanging_discovery_is_cut_at_its_deadline(db: AsyncDatabase) -> None:
    net = FakeNetwork()
    net.go.clear()  # never answers
    discovery, heard = part(db, net, OnvifConfig(probe_wait=0.05, device_timeout=0.05))
    with pytest.raises(TimeoutError):
        await discovery.run()
    assert not discovery.running and heard == []
    net.go.set()
    assert len(await discovery.run()) == 1  # the lock was let go


async def test_stop_cancels_a_scan_in_flight(db: AsyncDatabase) -> None:
    net = FakeNetwork()
    net.go.clear()
    discovery, _ = part(db, net)
    await discovery.start()
    await discovery.set_interval(5.0)
    await net.started.wait()
    async with asyncio.timeout(5):
        await discovery.stop()
    assert net.running == 0 and not discovery.running


async def test_off_runs_nothing_and_a_failing_scan_keeps_scanning(db: AsyncDatabase) -> None:
    net = FakeNetwork()
    discovery, heard = part(db, net)
    await discovery.start()
    try:
        for _ in range(3):  # the scan task runs to its wait: with 0 it runs nothing
            await asyncio.sleep(0)
        assert net.calls == []  # the config's 0: off

        async def broken(
            cfg: OnvifConfig, credentials: onvif.Credentials | None
        ) -> list[onvif.Device]:
            net.calls.append(credentials)
            net.called.set()
            raise OSError("no network")

        discovery._discover = broken
        await discovery.set_interval(1.0)
        await calls(net, 2)
        assert heard == []
    finally:
        await discovery.stop()


async def test_the_interval_set_is_read_back_by_a_new_part(db: AsyncDatabase) -> None:
    net = FakeNetwork()
    first, _ = part(db, net, OnvifConfig(scan_interval=600))
    await first.start()
    assert (first.interval, first.source) == (600, "config")
    await first.set_interval(0)
    with pytest.raises(ValueError, match=r"0 \(off\) or 1 to 86400 seconds"):
        await first.set_interval(0.5)
    async with asyncio.timeout(5):  # a cancel lost as the interval changes would hang here
        await first.stop()
    second, _ = part(db, net, OnvifConfig(scan_interval=600))
    await second.start()
    try:
        assert (second.interval, second.source) == (0, "stored")
    finally:
        await second.stop()


def test_an_unreadable_stored_interval_leaves_the_configs(tmp_path: Path) -> None:
    database, _ = Database.open_or_recover(tmp_path / "db")
    store = IntervalStore(database)
    assert store.load() is None
    for raw in ('"often"', "not json", "0.25", "-3", "[1]", "1e9"):
        with database.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO runtime_settings"
                " VALUES ('onvif.scan_interval', ?, 0, NULL)",
                (raw,),
            )
        assert store.load() is None, raw
    database.close()


intervals = st.one_of(
    st.just(0.0),
    st.floats(MIN_SCAN_INTERVAL, MAX_SCAN_INTERVAL, allow_nan=False),
    st.integers(1, int(MAX_SCAN_INTERVAL)).map(float),
)


@examples(30)
@given(intervals)
def test_a_stored_interval_reads_back_as_it_was(
    tmp_path_factory: pytest.TempPathFactory, v: float
) -> None:
    database, _ = Database.open_or_recover(tmp_path_factory.mktemp("db") / "db")
    store = IntervalStore(database)
    store.save(v, "admin")
    assert store.load() == v
    database.close()


@examples(60)
@given(st.one_of(st.floats(allow_nan=True), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8)))
def test_a_stored_value_reads_back_valid_or_not_at_all(
    tmp_path_factory: pytest.TempPathFactory, value: float | int | str
) -> None:
    import orjson

    database, _ = Database.open_or_recover(tmp_path_factory.mktemp("db") / "db")
    store = IntervalStore(database)
    with database.transaction() as conn:
        conn.execute(
            "INSERT INTO runtime_settings VALUES ('onvif.scan_interval', ?, 0, NULL)",
            (orjson.dumps(value).decode() if value == value else "NaN",),
        )
    loaded = store.load()
    assert loaded is None or loaded == check_scan_interval(loaded)
    database.close()
