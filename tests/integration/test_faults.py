"""Fault injection (issue 14): the real service process, the MediaMTX double with its real
recorder, and one fault each: MediaMTX killed mid-recording, the service stopped with
SIGTERM and killed with SIGKILL mid-recording, the recordings disk full and freed, etcd
stopped and restarted, the database deleted and corrupted.

Each test ends with the audit of tests/support/faults.py: every segment on disk is
listed, plays, and its listed duration is ffprobe's (within 0.01 s); the final
recording_status_update's files are those segments and its duration their sum (within
0.1 s a segment); and the statuses the service gave on the way were true.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_registry_etcd import PREFIX, registry, wait_document
from tests.rpc import RpcClient
from tests.support.etcd import EtcdServer
from tests.support.faults import POLL, WAIT, HubFactory, audit, check_final, listed, until
from tests.support.tmpfs import Tmpfs

pytestmark = pytest.mark.slow


async def test_mediamtx_killed_mid_recording(make_hub: HubFactory) -> None:
    hub = await make_hub()
    op = await hub.connect()
    heard = hub.heard[op]
    await hub.path_record(False)
    started = await op.call("start_recording", {"device": "lab"})
    name = (await heard.recording("STARTED"))["filename"]
    await hub.written(name)

    await hub.mtx.crash()
    # The health check is the one signal: once it finds MediaMTX gone, every status the
    # service gives says so (before, the recording and the stream's bytes stayed).
    await heard.first(
        "system_status_update", lambda p: p["component"] == "mediamtx" and p["status"] != "healthy"
    )
    status = await op.call("get_camera_status", {"device": "lab"})
    assert status["recording"] is False and status["recording_session"] is None
    assert (status["metrics"]["bytes_sent"], status["metrics"]["readers"]) == (0, 0)
    assert [s["ready"] for s in await op.call("get_streams")] == [False]
    stopped = await heard.recording("STOPPED")
    assert stopped["session_id"] == started["session_id"]
    assert stopped["reason"] == "mediamtx_restarted" and stopped["files"] == [name]

    await hub.mtx.start()  # MediaMTX started again: the recording is not brought back
    await hub.path_record(False)
    # The segment was never completed: the index probed it all the same.
    listing = await audit(hub, op)
    assert list(listing) == [name]
    check_final(stopped, listing)
    status = await op.call("get_camera_status", {"device": "lab"})
    assert status["recording"] is False and status["last_recording"] == stopped


async def test_sigterm_mid_recording(make_hub: HubFactory) -> None:
    hub = await make_hub()
    op = await hub.connect()
    heard = hub.heard[op]
    await hub.path_record(False)
    started = await op.call("start_recording", {"device": "lab"})
    name = (await heard.recording("STARTED"))["filename"]
    await hub.written(name)

    await hub.sigterm()
    stopped = await heard.recording("STOPPED")  # before the connection closed
    assert stopped["reason"] == "shutdown" and stopped["files"] == [name]
    assert (hub.mtx.path_conf("lab") or {}).get("record") is False

    await hub.start()
    again = await hub.connect("viewer")
    # A shutdown stops a recording for good; a client that was not there learns how.
    status = await again.call("get_camera_status", {"device": "lab"})
    assert status["recording"] is False and status["last_recording"] == stopped
    assert stopped["session_id"] == started["session_id"]
    check_final(stopped, await audit(hub, again))


async def test_sigkill_mid_recording_resumes_a_recording_until_stopped(
    make_hub: HubFactory,
) -> None:
    hub = await make_hub()
    op = await hub.connect()
    heard = hub.heard[op]
    await hub.path_record(False)
    started = await op.call("start_recording", {"device": "lab"})
    name = (await heard.recording("STARTED"))["filename"]
    await hub.written(name)

    await hub.sigkill()
    # MediaMTX records on; its hooks find nobody while the service is down.
    size = await hub.written(name, (hub.recordings / name).stat().st_size)

    service = await hub.start()
    line = await service.wait_for_log("recording resumed after a restart")
    assert line["session_id"] == started["session_id"]
    op = await hub.connect()
    heard = hub.heard[op]
    status = await op.call("get_camera_status", {"device": "lab"})
    assert status["recording"] is True
    assert status["recording_session"] == started["session_id"]
    assert status["resumed_at"] is not None and status["current_file"] == name
    assert status["recording_state"] in ("recording", "degraded")  # degraded: not yet looked
    await hub.written(name, size)  # the same segment goes on

    result = await op.call("stop_recording", {"device": "lab"})
    assert result["session_id"] == started["session_id"] and result["files"] == [name]
    stopped = await heard.recording("STOPPED")
    assert stopped["reason"] == "requested" and stopped["files"] == [name]
    check_final(stopped, await audit(hub, op))
    assert [n["status"] for n in heard.recordings()] == ["STOPPED"]


async def test_sigkill_mid_recording_ends_a_timed_recording_as_interrupted(
    make_hub: HubFactory,
) -> None:
    hub = await make_hub()
    op = await hub.connect()
    heard = hub.heard[op]
    await hub.path_record(False)
    started = await op.call("start_recording", {"device": "lab", "duration": 600})
    name = (await heard.recording("STARTED"))["filename"]
    await hub.written(name)

    await hub.sigkill()
    service = await hub.start()
    line = await service.wait_for_log("recording interrupted by a restart")
    assert line["session_id"] == started["session_id"]
    await hub.path_record(False)  # switched off; MediaMTX completes the segment
    op = await hub.connect("viewer")
    status = await op.call("get_camera_status", {"device": "lab"})
    assert status["recording"] is False and status["recording_session"] is None
    last = await final_of(op)
    assert last["session_id"] == started["session_id"]
    assert last["status"] == "STOPPED" and last["reason"] == "interrupted"
    assert last["files"] == [name]
    check_final(last, await audit(hub, op))


async def final_of(client: RpcClient) -> dict[str, Any]:
    """get_camera_status's last_recording, once there is one (a session the restart
    ended becomes final when MediaMTX has completed its segment)."""
    async with asyncio.timeout(WAIT):
        while True:
            status = await client.call("get_camera_status", {"device": "lab"})
            if status["last_recording"] is not None:
                last: dict[str, Any] = status["last_recording"]
                return last
            await asyncio.sleep(POLL)


# --- the recordings disk full, then freed ----------------------------------------------------


def fill_up(directory: Path) -> Path:
    """Write a file until its file system has no byte left."""
    filler = directory / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 1):  # the last pages too
            full: OSError | None = None
            while full is None:
                try:
                    os.write(fd, b"\x5a" * size)
                except OSError as exc:
                    full = exc
            assert full.errno == errno.ENOSPC, full
    finally:
        os.close(fd)
    return filler


def damage_database(db: Path, damage: str) -> None:
    if damage == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    else:
        db.write_bytes(b"this is not an SQLite file " * 200)


async def test_disk_full_and_freed_mid_recording(make_hub: HubFactory, tmpfs: Tmpfs) -> None:
    root = tmpfs(48 * 1024 * 1024)
    hub = await make_hub(storage={"recordings_path": str(root / "recordings")})
    op = await hub.connect("admin")
    heard = hub.heard[op]
    await hub.path_record(False)
    began = time.monotonic()
    started = await op.call("start_recording", {"device": "lab"})
    first = (await heard.recording("STARTED"))["filename"]
    await hub.written(first)

    filler = fill_up(root)
    degraded = await heard.recording("DEGRADED")
    assert degraded["session_id"] == started["session_id"]
    assert degraded["reason"] == "storage_full" and "full" in degraded["error"]
    status = await op.call("get_camera_status", {"device": "lab"})
    assert status["recording"] is True and status["recording_state"] == "degraded"
    assert status["recording_reason"] == "storage_full"
    recordings = (await hub.health())["components"]["recordings"]
    assert recordings["status"] == "degraded" and "lab" in recordings["details"]["reason"]
    _, metrics = await hub.http("/metrics")
    assert "camera_service_recordings_degraded 1" in metrics.splitlines()
    # MediaMTX retries, each time with a new segment that stays empty: every one but the
    # newest (which might still get data) is removed, and none is listed as finished.
    retries = len(hub.plane.segments("lab"))
    await hub.plane.wait_segments("lab", retries + 2, WAIT)
    await until(lambda: not [n for n, size in list(hub.on_disk().items())[:-1] if size == 0])
    page = await listed(op)
    assert all(f["file_size"] > 0 or f["duration"] is None for f in page.values()), page
    stalled = time.monotonic()

    filler.unlink()  # room again: the next retry records
    resumed = await heard.recording("RESUMED")
    assert resumed["reason"] == "storage_full"
    free_again = time.monotonic()
    await hub.written(resumed["current_file"])
    status = await op.call("get_camera_status", {"device": "lab"})
    assert status["recording_state"] == "recording" and status["recording_reason"] is None
    assert (await hub.health())["components"]["recordings"]["status"] == "healthy"

    result = await op.call("stop_recording", {"device": "lab"})
    # Not the wall clock: the time nothing could be written is left out.
    assert result["duration"] < time.monotonic() - began - (free_again - stalled)
    stopped = await heard.recording("STOPPED")
    assert stopped["reason"] == "requested" and stopped["files"][0] == first
    assert len(stopped["files"]) >= 2  # the cut-short segment and the one after the retry
    listing = await audit(hub, op)
    assert sorted(listing) == sorted(stopped["files"])  # no empty segment left on disk
    check_final(stopped, listing)
    assert [n["status"] for n in heard.recordings()] == [
        "STARTED",
        "DEGRADED",
        "RESUMED",
        "STOPPED",
    ]


# --- etcd stopped and restarted ------------------------------------------------------------------


async def test_etcd_stopped_and_restarted_mid_recording(
    make_hub: HubFactory, etcd: EtcdServer
) -> None:
    # A short lease: its refreshes (every second) are what finds etcd gone and back.
    hub = await make_hub(registry=registry(etcd, "hub-faults", ttl=3))
    op = await hub.connect("admin")
    heard = hub.heard[op]
    await wait_document(etcd, "hub-faults")
    await hub.path_record(False)
    await op.call("start_recording", {"device": "lab"})
    name = (await heard.recording("STARTED"))["filename"]
    await hub.written(name)

    await etcd.stop()
    await heard.first(
        "system_status_update", lambda p: p["component"] == "registry" and p["status"] != "healthy"
    )
    # The registry is away; the recording is not touched.
    size = await hub.written(name, (hub.recordings / name).stat().st_size)
    status = await op.call("get_camera_status", {"device": "lab"})
    assert status["recording"] is True and status["recording_state"] == "recording"

    await etcd.start()
    await heard.first(
        "system_status_update", lambda p: p["component"] == "registry" and p["status"] == "healthy"
    )
    document = await wait_document(etcd, "hub-faults")
    assert document["capacity"]["recordings"]["active"] == 1
    await hub.written(name, size)
    await op.call("stop_recording", {"device": "lab"})
    stopped = await heard.recording("STOPPED")
    assert stopped["files"] == [name]
    check_final(stopped, await audit(hub, op))
    assert [n["status"] for n in heard.recordings()] == ["STARTED", "STOPPED"]
    await hub.sigterm()
    assert await etcd.get_prefix(PREFIX) == {}


# --- the database deleted or corrupted ---------------------------------------------------------


@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
async def test_database_lost_between_runs(make_hub: HubFactory, damage: str) -> None:
    hub = await make_hub()
    op = await hub.connect()
    heard = hub.heard[op]
    await hub.path_record(False)
    await op.call("start_recording", {"device": "lab", "duration": 3})
    stopped = await heard.recording("STOPPED", WAIT)
    assert stopped["reason"] == "duration"
    await hub.sigterm()

    db = hub.data / "camera-service.db"
    damage_database(db, damage)
    # The paths this service had created are not known to be its own any more: MediaMTX
    # starts afresh too, as after the reboot that lost the disk's contents.
    await hub.mtx.restart()
    await hub.start()
    again = await hub.connect("admin")
    listing = await audit(hub, again)
    assert sorted(listing) == sorted(stopped["files"])
    check_final(stopped, listing)
    status = await again.call("get_camera_status", {"device": "lab"})
    # What was kept only in the database is gone, and nothing pretends otherwise.
    assert status["recording"] is False and status["last_recording"] is None
    components = (await hub.health())["components"]
    if damage == "corrupted":
        assert components["database"]["status"] == "degraded"
        assert [p.name for p in hub.data.glob("camera-service.db.corrupt-*")]
    else:
        assert "database" not in components
    # Recording works on the new database.
    await hub.path_record(False)
    await again.call("start_recording", {"device": "lab", "duration": 2})
    second = await hub.heard[again].recording("STOPPED", WAIT)
    check_final(second, await audit(hub, again))
