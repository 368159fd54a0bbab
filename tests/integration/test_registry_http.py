"""Registration with the hub's HTTP aggregator (the test aggregator of docs/registry.md,
which checks every body against the published schemas and fails the test on any
violation)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from camera_service.app import Application
from tests.conftest import make_settings, make_token
from tests.rpc import RpcClient
from tests.support.aggregator import Aggregator
from tests.support.v4l2tree import FakeV4l2Tree


def registry(aggregator: Aggregator, heartbeat: float, **extra: Any) -> dict[str, Any]:
    return {
        "backend": "http",
        "url": aggregator.url,
        "heartbeat_interval": heartbeat,
        "instance_id": "hub-h",
        "advertise_host": "127.0.0.1",
        "retry_max": 0.5,
        **extra,
    }


@pytest.fixture
async def started() -> AsyncIterator[list[Any]]:
    """Apps and clients a test started; stopped and closed at the end."""
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        await (thing.close() if isinstance(thing, RpcClient) else thing.stop())


async def admin(app: Application, started: list[Any]) -> RpcClient:
    client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
    started.append(client)
    # One batch: every topic (the newer ones are opt-in) from the moment it authenticates,
    # so no notification falls between the two.
    batch = [
        {
            "jsonrpc": "2.0",
            "method": "authenticate",
            "params": {"auth_token": make_token("admin")},
            "id": 1,
        },
        {"jsonrpc": "2.0", "method": "subscribe_events", "id": 2},
    ]
    replies = await client.send_raw(orjson.dumps(batch).decode(), "batch")
    assert all("result" in r for r in replies), replies
    return client


async def test_register_heartbeat_push_and_deregister(
    tmp_path: Path, aggregator: Aggregator, started: list[Any]
) -> None:
    tree = FakeV4l2Tree(tmp_path / "v4l2")
    # One beat an hour: any heartbeat the test sees after the first was pushed.
    app = Application(
        make_settings(tmp_path, registry=registry(aggregator, 3600), cameras=tree.cameras_config())
    )
    await app.start()
    started.append(app)

    register = await aggregator.wait_for(lambda c: c.kind == "register" and c.ok)
    assert register.path.endswith("/instances") and register.body["instance_id"] == "hub-h"
    assert register.body["endpoints"]["ws"] == f"ws://127.0.0.1:{app.ws_port}/ws"
    assert register.body["capacity"]["recordings"]["limit"] == 8
    # Registered: the registry component turns healthy, and that is pushed too.
    healthy = await aggregator.wait_for(
        lambda c: c.kind == "heartbeat" and c.body["health"]["components"]["registry"] == "healthy"
    )
    assert healthy.body["sequence"] >= 1

    since = len(aggregator.calls)
    tree.add_camera(0, "HD Pro Webcam C920", "046d", "082d", serial="A1", port="1-1")
    beat = await aggregator.wait_for(
        lambda c: c.kind == "heartbeat" and c.body["cameras"]["total"] == 1, since=since
    )
    assert beat.body["capacity"]["usb_cameras"] == {"limit": 8, "active": 1, "free": 7}
    assert beat.body["sequence"] > healthy.body["sequence"]

    started.remove(app)
    await app.stop()
    bye = aggregator.calls[-1]
    assert bye.kind == "deregister" and bye.ok and bye.path.endswith("/instances/hub-h")
    assert aggregator.instances == {}


async def test_heartbeats_follow_the_configured_interval(
    tmp_path: Path, aggregator: Aggregator, started: list[Any]
) -> None:
    app = Application(make_settings(tmp_path, registry=registry(aggregator, 0.2)))
    await app.start()
    started.append(app)
    await aggregator.wait_for(lambda c: c.kind == "register" and c.ok)
    sequences = [(await aggregator.next_call("heartbeat")).body["sequence"] for _ in range(4)]
    assert sequences == sorted(sequences) and len(set(sequences)) == 4


async def test_aggregator_outage_degrades_only_the_registry_and_it_registers_again(
    tmp_path: Path, aggregator: Aggregator, started: list[Any]
) -> None:
    app = Application(make_settings(tmp_path, registry=registry(aggregator, 0.3)))
    await app.start()
    started.append(app)
    client = await admin(app, started)
    await aggregator.wait_for(lambda c: c.kind == "register" and c.ok)
    await client.wait_notification(
        "system_status_update", lambda p: p["component"] == "registry" and p["status"] == "healthy"
    )
    before = (await client.call("get_status"))["components"]

    # Down, and back with no memory of us: the heartbeat gets 404 and we register again.
    async with aggregator.stopped(lose_state=True):
        await client.wait_notification(
            "system_status_update",
            lambda p: p["component"] == "registry" and p["status"] == "degraded",
        )
        status = await client.call("get_status")
        after = status["components"]
        assert after.pop("registry") == "degraded" and before.pop("registry") == "healthy"
        # MediaMTX is a closed port here: its component moves on its own.
        del after["mediamtx_controller"], before["mediamtx_controller"]
        assert after == before  # nothing else is touched
        assert await client.call("ping") == "pong"
        since = len(aggregator.calls)

    lost = await aggregator.wait_for(lambda c: c.kind == "heartbeat", since=since)
    assert lost.status == 404
    again = await aggregator.wait_for(lambda c: c.kind == "register" and c.ok, since=since)
    assert again.body["instance_id"] == "hub-h"
    assert "hub-h" in aggregator.instances


async def test_failing_aggregator_never_blocks_the_api_or_the_stop(
    tmp_path: Path, aggregator: Aggregator, started: list[Any]
) -> None:
    aggregator.hang()  # every request left hanging until the client gives up
    app = Application(make_settings(tmp_path, registry=registry(aggregator, 0.3)))
    await app.start()
    started.append(app)
    client = await admin(app, started)
    assert await client.call("ping") == "pong"
    status = await client.call("get_status")
    assert status["components"]["registry"] == "degraded"
    started.remove(client)
    await client.close()
    started.remove(app)
    await app.stop()  # bounded: nothing registered, nothing to wait for
    assert app.phase == "stopped"


async def test_a_change_during_a_slow_heartbeat_is_pushed_after_it(
    tmp_path: Path, aggregator: Aggregator, started: list[Any]
) -> None:
    tree = FakeV4l2Tree(tmp_path / "v4l2")
    settings = make_settings(
        tmp_path,
        registry=registry(aggregator, 3600),
        cameras=tree.cameras_config(),
        # MediaMTX (a closed port here) checked once an hour: its health stays put, so no
        # unrelated change can wake the registrar and hide a lost wake-up.
        mediamtx={"check_interval": 3600, "reconcile_interval": 3600},
    )
    app = Application(settings)
    await app.start()
    started.append(app)
    client = await admin(app, started)
    await aggregator.wait_for(
        lambda c: c.kind == "heartbeat" and c.body["health"]["components"]["registry"] == "healthy"
    )

    aggregator.hold(1)  # the next heartbeat waits on the aggregator...
    tree.add_camera(0, "Cam A", "046d", "082d", serial="A1", port="1-1")
    await aggregator.holding.wait()
    # ...while a second camera arrives: a change the held heartbeat does not carry.
    tree.add_camera(2, "Cam B", "046d", "082d", serial="B2", port="1-2")
    # Both probed: no event is left to come that would wake the registrar by chance.
    probed: set[str] = set()
    while probed != {"camera0", "camera2"}:
        update = await client.wait_notification("camera_status_update", lambda p: p["fps"] > 0)
        probed.add(update["camera_id"])
    since = len(aggregator.calls)
    aggregator.recover()
    # Pushed once the held one is answered, not an hour later at the next beat.
    beat = await aggregator.wait_for(
        lambda c: c.kind == "heartbeat" and c.ok and c.body["cameras"]["total"] == 2, since=since
    )
    assert beat.body["capacity"]["usb_cameras"]["active"] == 2


async def test_a_stop_that_meets_a_change_ends_the_registrar(
    tmp_path: Path, aggregator: Aggregator, started: list[Any]
) -> None:
    """A change and the stop in the same moment (SIGTERM turns the service "draining"):
    the registrar ends and deregisters. On Python 3.11, asyncio.wait_for returned
    normally when cancelled as the change arrived, and the stop waited for ever."""
    app = Application(make_settings(tmp_path, registry=registry(aggregator, 3600)))
    await app.start()
    started.append(app)
    registrar = app.parts.registration.registrar
    assert registrar is not None
    await aggregator.wait_for(
        lambda c: c.kind == "heartbeat" and c.body["health"]["components"]["registry"] == "healthy"
    )
    task = registrar._task
    assert task is not None

    def waiting() -> bool:
        """The registrar waits for the next beat or change (its coroutine chain)."""
        coro: Any = task.get_coro()
        while coro is not None:
            if getattr(coro, "__name__", "") == "_wait":
                return True
            coro = getattr(coro, "cr_await", None)
        return False

    # Nothing signals that the registrar is suspended there: yield until it is.
    async with asyncio.timeout(10):
        while not waiting():  # noqa: ASYNC110
            await asyncio.sleep(0)
    registrar.changed()
    async with asyncio.timeout(10):
        await registrar.stop(3.0)
    assert await aggregator.wait_for(lambda c: c.kind == "deregister")
