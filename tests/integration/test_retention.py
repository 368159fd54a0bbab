"""Retention: the policies' choice (pure), and deleting real files safely."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from camera_service.app import Application
from camera_service.config import RetentionConfig, StorageConfig
from camera_service.db import AsyncDatabase, Database
from camera_service.events import EventBus
from camera_service.storage.disk import DiskMonitor
from camera_service.storage.events import MediaDeleted
from camera_service.storage.inventory import MediaFile, scan_media
from camera_service.storage.retention import (
    DAY,
    GIB,
    RECENT_SECONDS,
    Retention,
    RetentionPolicy,
    RetentionStore,
    select,
)
from tests.conftest import make_settings
from tests.support.hostile_names import plant_symlinks
from tests.support.tmpfs import write_file

NOW = 1_700_000_000.0


def media(name: str, age_days: float, size: int = 100, kind: Any = "recording") -> MediaFile:
    return MediaFile(kind, name, size, NOW - age_days * DAY)


FILES = [
    media("a.mp4", 10),
    media("b.jpg", 8, kind="snapshot"),
    media("c.mp4", 5),
    media("d.ts", 2),
    media("e.png", 0.5, kind="snapshot"),
]


def on_deleted(events: EventBus, sink: Callable[[dict[str, Any]], object]) -> None:
    events.subscribe(MediaDeleted, lambda e: sink(dataclasses.asdict(e)))


def names(files: list[MediaFile]) -> list[str]:
    return [f.name for f in files]


# --- the choice --------------------------------------------------------------------------------


def test_age_deletes_older_than_the_limit_oldest_first() -> None:
    policy = RetentionPolicy("age", True, max_age_days=4)
    assert names(select(policy, list(reversed(FILES)), (), NOW)) == ["a.mp4", "b.jpg", "c.mp4"]


def test_size_deletes_oldest_until_under_the_limit() -> None:
    files = [media(f"{i}.mp4", 10 - i, size=GIB // 4) for i in range(6)]  # 1.5 GiB
    policy = RetentionPolicy("size", True, max_size_gb=1.0)
    assert names(select(policy, files, (), NOW)) == ["0.mp4", "1.mp4"]


def test_count_keeps_the_newest() -> None:
    policy = RetentionPolicy("count", True, max_count=2)
    assert names(select(policy, FILES, (), NOW)) == ["a.mp4", "b.jpg", "c.mp4"]


def test_manual_chooses_nothing() -> None:
    assert select(RetentionPolicy("manual", True), FILES, (), NOW) == []


def test_busy_and_recent_files_are_never_chosen_but_count_towards_limits() -> None:
    files = [
        media("busy.mp4", 30),
        media("old.mp4", 20),
        MediaFile("recording", "fresh.mp4", 100, NOW - RECENT_SECONDS / 2),
        MediaFile("recording", "future.mp4", 100, NOW + 3600),  # clock skew: keep
    ]
    busy = {"busy.mp4"}
    assert names(select(RetentionPolicy("age", True, max_age_days=0.0001), files, busy, NOW)) == [
        "old.mp4"
    ]
    # Four files, one allowed: only old.mp4 may go, the rest are protected.
    assert names(select(RetentionPolicy("count", True, max_count=1), files, busy, NOW)) == [
        "old.mp4"
    ]
    tiny = RetentionPolicy("size", True, max_size_gb=1e-9)
    assert names(select(tiny, files, busy, NOW)) == ["old.mp4"]


def test_policy_from_config_carries_only_its_own_limit() -> None:
    policy = RetentionPolicy.from_config(RetentionConfig(policy_type="count", max_count=7))
    assert policy.limits() == {"max_count": 7}
    assert RetentionPolicy.from_config(RetentionConfig(policy_type="manual")).limits() == {}


def test_store_keeps_one_policy_across_reopen(tmp_path: Path) -> None:
    db = Database(tmp_path / "db.sqlite")
    store = RetentionStore(db)
    assert store.load() is None
    store.save(RetentionPolicy("age", True, max_age_days=3.5), "alice")
    store.save(RetentionPolicy("size", False, max_size_gb=2.0), "bob")
    db.close()
    db = Database(tmp_path / "db.sqlite")
    assert RetentionStore(db).load() == RetentionPolicy("size", False, max_size_gb=2.0)
    rows = db.query("SELECT updated_by FROM retention_policy")
    assert [r["updated_by"] for r in rows] == ["bob"]
    db.close()


# --- deleting real files -------------------------------------------------------------------------


class Rig:
    def __init__(self, root: Path, db: AsyncDatabase, cfg: RetentionConfig) -> None:
        self.recordings = root / "recordings"
        self.snapshots = root / "snapshots"
        self.recordings.mkdir()
        self.snapshots.mkdir()
        self.events = EventBus()
        self.deleted: list[dict[str, Any]] = []
        on_deleted(self.events, self.deleted.append)
        self.disk = DiskMonitor(lambda: StorageConfig(), self.recordings, self.snapshots)
        self.busy: set[str] = set()
        self.cfg = cfg
        self.retention = Retention(lambda: self.cfg, db, self.disk, self.events, lambda: self.busy)

    def plant(self, kind: str, name: str, age_days: float, size: int = 1000) -> Path:
        directory = self.recordings if kind == "recording" else self.snapshots
        return write_file(directory / name, size, time.time() - age_days * DAY)

    def present(self) -> set[str]:
        return {f.name for f in scan_media(self.recordings, self.snapshots)}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    db = await AsyncDatabase.open(tmp_path / "db.sqlite")
    try:
        rig = Rig(tmp_path, db, RetentionConfig(policy_type="age", max_age_days=7))
        await rig.retention.start()
        yield rig
        await rig.retention.stop()
    finally:
        await db.close()


async def test_age_policy_deletes_old_media_and_reports_each_deletion(rig: Rig) -> None:
    rig.plant("recording", "cam_old.mp4", 30, 5000)
    rig.plant("snapshot", "cam_old.jpg", 20, 700)
    rig.plant("recording", "cam_new.mp4", 1)
    rig.plant("snapshot", "cam_new.png", 2)
    result = await rig.retention.apply()
    assert (result.files_deleted, result.space_freed) == (2, 5700)
    assert rig.present() == {"cam_new.mp4", "cam_new.png"}
    assert rig.deleted == [
        {"kind": "recording", "filename": "cam_old.mp4"},
        {"kind": "snapshot", "filename": "cam_old.jpg"},
    ]


async def test_busy_recent_hidden_symlinks_dirs_and_other_files_are_never_deleted(
    rig: Rig, tmp_path: Path
) -> None:
    rig.plant("recording", "busy.mp4", 40)
    rig.busy.add("busy.mp4")
    rig.plant("recording", "writing.mp4", 40)
    os.utime(rig.recordings / "writing.mp4")  # being written: modified just now
    rig.plant("recording", ".work.mp4", 40)  # the recorder's hidden work file
    rig.plant("recording", "notes.txt", 40)
    rig.plant("snapshot", "old.JPG", 40)  # extensions are matched case-insensitively
    os.mkdir(rig.recordings / "folder.mp4")
    write_file(rig.recordings / "folder.mp4" / "inner.mp4", 10, time.time() - 40 * DAY)
    outside = tmp_path / "outside"
    outside.mkdir()
    target = write_file(outside / "precious.mp4", 10, time.time() - 40 * DAY)
    links = [rig.recordings / n for n in plant_symlinks(rig.recordings, target)]
    for link in links:
        os.utime(link, (time.time() - 40 * DAY,) * 2, follow_symlinks=False)

    result = await rig.retention.apply()

    assert result.files_deleted == 1 and rig.deleted == [
        {"kind": "snapshot", "filename": "old.JPG"}
    ]
    assert target.exists() and (rig.recordings / "folder.mp4" / "inner.mp4").exists()
    assert all(link.is_symlink() for link in links)
    for name in ("busy.mp4", "writing.mp4", ".work.mp4", "notes.txt"):
        assert (rig.recordings / name).exists(), name


async def test_size_and_count_policies_delete_oldest_first(rig: Rig) -> None:
    for i in range(6):
        rig.plant("recording", f"r{i}.mp4", 10 - i, 400_000)
    rig.cfg = RetentionConfig(policy_type="size", max_size_gb=1_000_000 / GIB)  # ~1 MB
    result = await rig.retention.apply()
    assert result.files_deleted == 4 and result.space_freed == 1_600_000
    assert rig.present() == {"r4.mp4", "r5.mp4"}
    rig.cfg = RetentionConfig(policy_type="count", max_count=1)
    assert (await rig.retention.apply()).files_deleted == 1
    assert rig.present() == {"r5.mp4"}


async def test_manual_policy_deletes_nothing(rig: Rig) -> None:
    rig.plant("recording", "ancient.mp4", 3650)
    rig.cfg = RetentionConfig(policy_type="manual")
    result = await rig.retention.apply()
    assert (result.files_deleted, result.space_freed) == (0, 0)
    assert rig.present() == {"ancient.mp4"}


async def test_a_stored_policy_wins_over_the_config(rig: Rig) -> None:
    rig.plant("recording", "a.mp4", 3)
    rig.plant("recording", "b.mp4", 2)
    await rig.retention.set_policy(RetentionPolicy("count", False, max_count=1), "admin")
    assert rig.retention.source == "stored"
    assert (await rig.retention.apply()).files_deleted == 1  # enabled=False: still applied
    assert rig.present() == {"b.mp4"}


async def test_enabled_policy_runs_periodically_in_the_service(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        retention={"policy_type": "age", "max_age_days": 1, "enabled": True, "interval": 0.05},
    )
    app = Application(settings)
    await app.start()
    try:
        deleted: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        on_deleted(app.events, deleted.put_nowait)
        write_file(app.paths.recordings / "lab_old.mp4", 100, time.time() - 2 * DAY)
        write_file(app.paths.recordings / "lab_new.mp4", 100, time.time() - DAY / 2)
        assert await asyncio.wait_for(deleted.get(), 30) == {
            "kind": "recording",
            "filename": "lab_old.mp4",
        }
        assert (app.paths.recordings / "lab_new.mp4").exists()
    finally:
        await app.stop()
