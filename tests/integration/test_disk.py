"""The disk monitor on real file systems (tmpfs): levels, notifications, health, and
the emergency cleanup of a full disk."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from camera_service.api.notifications import storage_status
from camera_service.app import Application
from camera_service.config import StorageConfig, load_settings
from camera_service.events import EventBus
from camera_service.observability.health import ComponentState, Health, Status
from camera_service.storage.disk import DiskMonitor, StorageLevel, StorageLevelChanged, disk_usage
from camera_service.storage.events import MediaDeleted
from tests.conftest import SECRET, make_token
from tests.rpc import RpcClient
from tests.support.tmpfs import Tmpfs, fill_to_percent, write_file

MIB = 1024 * 1024
DAY = 86400.0


class Watch:
    """A monitor over two real directories, with its events and health recorded."""

    def __init__(self, recordings: Path, snapshots: Path) -> None:
        self.cfg = StorageConfig(warn_percent=50, block_percent=80)
        self.events = EventBus()
        self.published: list[dict[str, Any]] = []
        # As clients are told (the notification params).
        self.events.subscribe(
            StorageLevelChanged, lambda e: self.published.append(storage_status(e))
        )
        self.health = Health()
        self.disk = DiskMonitor(
            lambda: self.cfg,
            recordings,
            snapshots,
            self.events,
            self.health.register("storage", critical=False),
        )

    @property
    def component(self) -> ComponentState:
        return self.health.components["storage"]

    def status(self) -> Status:
        return self.component.status


def test_the_fuller_file_system_counts(tmpfs: Tmpfs) -> None:
    recordings, snapshots = tmpfs(4 * MIB), tmpfs(8 * MIB)
    fill_to_percent(recordings, 30)
    fill_to_percent(snapshots, 60)
    watch = Watch(recordings, snapshots)
    status = watch.disk.status()
    assert status.level is StorageLevel.WARN
    assert status.usage == disk_usage(snapshots) and status.usage.total == 8 * MIB
    # The gate asks about one file system: recordings are still fine.
    assert watch.disk.level(recordings) is StorageLevel.OK
    assert watch.disk.level(snapshots) is StorageLevel.WARN


def test_a_level_change_is_published_once_and_shown_as_health(tmpfs: Tmpfs) -> None:
    media = tmpfs(4 * MIB)
    watch = Watch(media, media)
    assert watch.disk.check_now().level is StorageLevel.OK
    assert watch.published == [] and watch.status() is Status.HEALTHY

    filler = fill_to_percent(media, 55)
    watch.disk.check_now()
    watch.disk.check_now()
    assert [p["status"] for p in watch.published] == ["warn"]
    params = watch.published[0]
    usage = disk_usage(media)
    assert params["total_space"] == usage.total == 4 * MIB
    assert params["available_space"] == usage.available
    assert params["used_percent"] == round(usage.used_percent, 2)
    assert (params["warn_threshold"], params["block_threshold"]) == (50, 80)
    assert params["low_space_warning"] is True and params["critical_space_warning"] is False
    assert params["timestamp"].endswith("Z")
    assert watch.status() is Status.DEGRADED
    assert watch.component.details["used_percent"] == params["used_percent"]

    # Thresholds are read live: lowering them changes the level with no new data.
    watch.cfg = StorageConfig(warn_percent=10, block_percent=20)
    watch.disk.check_now()
    assert watch.published[-1]["status"] == "critical"
    assert watch.published[-1]["critical_space_warning"] is True
    assert watch.status() is Status.UNHEALTHY
    assert watch.health.overall() is Status.DEGRADED  # a full disk does not stop streaming

    filler.unlink()
    watch.disk.check_now()
    assert [p["status"] for p in watch.published] == ["warn", "critical", "ok"]
    assert watch.status() is Status.HEALTHY


async def test_an_unreadable_media_dir_marks_storage_unhealthy(tmp_path: Path) -> None:
    watch = Watch(tmp_path / "gone", tmp_path)
    unhealthy = asyncio.Event()
    watch.health.listeners.append(
        lambda state: unhealthy.set() if state.status is Status.UNHEALTHY else None
    )
    watch.disk.start()
    try:
        await asyncio.wait_for(unhealthy.wait(), 30)
        assert watch.component.reason == "cannot read disk usage"
    finally:
        await watch.disk.stop()


# --- in the service ---------------------------------------------------------------------------


def service_config(tmp_path: Path, media: Path, **storage: Any) -> Path:
    """A config file (so SIGHUP's reload can be exercised) with media on ``media``."""
    path = tmp_path / "config.yaml"
    data = {
        "server": {"host": "127.0.0.1", "port": 0},
        "health": {"host": "127.0.0.1", "port": 0},
        "storage": {
            "data_dir": str(tmp_path / "data"),
            "recordings_path": str(media / "recordings"),
            "snapshots_path": str(media / "snapshots"),
            "warn_percent": 50,
            "block_percent": 80,
            "check_interval": 0.05,
            **storage,
        },
        "security": {"jwt": {"secret_key": SECRET}},
        "mediamtx": {"api_url": "http://127.0.0.1:1"},
    }
    path.write_text(yaml.safe_dump(data))
    return path


@asynccontextmanager
async def running(config: Path, busy: set[str] | None = None) -> AsyncIterator[Application]:
    settings, _ = load_settings(config, {})
    app = Application(settings, config, {})
    await app.start()
    if busy is not None:
        app.parts.media.retention.busy = lambda: busy
    try:
        yield app
    finally:
        await app.stop()


@asynccontextmanager
async def admin(app: Application) -> AsyncIterator[RpcClient]:
    client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
    try:
        await client.call("authenticate", {"auth_token": make_token("admin")})
        await client.call("subscribe_events")  # every topic: the newer ones are opt-in
        yield client
    finally:
        await client.close()


async def storage_update(client: RpcClient, status: str, timeout: float = 30) -> dict[str, Any]:
    """The next storage_status_update with ``status`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        note = await client.notification(max(0.0, deadline - time.monotonic()))
        if note["method"] == "storage_status_update" and note["params"]["status"] == status:
            params: dict[str, Any] = note["params"]
            return params


async def health_of_storage(app: Application) -> dict[str, Any]:
    url = f"http://127.0.0.1:{app.health_port}/health/system"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        body = await r.json()
    component: dict[str, Any] = body["components"]["storage"]
    return component


async def test_crossing_thresholds_notifies_clients_and_changes_health(
    tmp_path: Path, tmpfs: Tmpfs
) -> None:
    media = tmpfs(4 * MIB)
    async with running(service_config(tmp_path, media)) as app, admin(app) as client:
        assert (await health_of_storage(app))["status"] == "healthy"
        recordings = app.paths.recordings

        first = fill_to_percent(recordings, 55, "first.bin")
        warn = await storage_update(client, "warn")
        assert warn["low_space_warning"] is True and warn["used_percent"] >= 55
        assert (await health_of_storage(app))["status"] == "degraded"

        second = fill_to_percent(recordings, 85, "second.bin")
        critical = await storage_update(client, "critical")
        assert critical["critical_space_warning"] is True
        component = await health_of_storage(app)
        assert component["status"] == "unhealthy"
        assert "block threshold" in component["details"]["reason"]
        status = await client.call("get_status")
        assert status["status"] == "degraded"  # non-critical component: still serving

        first.unlink()
        second.unlink()
        ok = await storage_update(client, "ok")
        assert ok["low_space_warning"] is False
        assert (await health_of_storage(app))["status"] == "healthy"


async def test_emergency_cleanup_frees_space_below_warn_without_touching_busy_files(
    tmp_path: Path, tmpfs: Tmpfs, caplog: pytest.LogCaptureFixture
) -> None:
    media = tmpfs(4 * MIB)
    config = service_config(tmp_path, media)
    part = int(0.55 * MIB)
    old = time.time() - 10 * DAY
    async with running(config, busy={"lab_busy.mp4"}) as app, admin(app) as client:
        rec, snap = app.paths.recordings, app.paths.snapshots
        write_file(rec / "lab_busy.mp4", part, old)  # the oldest, but still recording
        for i in range(1, 5):
            write_file(rec / f"lab_{i}.mp4", part, old + i * 3600)
        write_file(rec / "lab_recent.mp4", int(0.3 * MIB))  # modified just now
        write_file(rec / ".lab_work.mp4", int(0.2 * MIB), old)
        write_file(snap / "lab_old.jpg", int(0.2 * MIB), old)
        await storage_update(client, "critical")
        # Emergency cleanup is off by default: nothing is deleted.
        assert len(os.listdir(rec)) == 7

        deleted: list[dict[str, Any]] = []
        app.events.subscribe(MediaDeleted, lambda e: deleted.append(dataclasses.asdict(e)))
        config.write_text(
            config.read_text().replace(
                "check_interval:", "emergency_cleanup: true\n  check_interval:"
            )
        )
        caplog.set_level(logging.WARNING, "camera_service")
        assert app.reload()  # SIGHUP: the setting is live
        ok = await storage_update(client, "ok")

        assert ok["used_percent"] < 50 and disk_usage(rec).used_percent < 50
        assert deleted == [{"kind": "recording", "filename": f"lab_{i}.mp4"} for i in (1, 2, 3)]
        assert sorted(os.listdir(rec)) == [
            ".lab_work.mp4",
            "lab_4.mp4",
            "lab_busy.mp4",
            "lab_recent.mp4",
        ]
        assert os.listdir(snap) == ["lab_old.jpg"]  # emergency cleanup takes recordings only
        logged = [
            r for r in caplog.records if r.getMessage() == "emergency cleanup deleted a recording"
        ]
        assert [getattr(r, "file_name", None) for r in logged] == [
            "lab_1.mp4",
            "lab_2.mp4",
            "lab_3.mp4",
        ]
        assert all(r.levelno == logging.WARNING for r in logged)
