"""Storage methods over the wire: get_storage_info, set_retention_policy, cleanup_old_files."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from camera_service.app import Application
from camera_service.config import Settings
from tests.conftest import Connect, make_settings, make_token
from tests.rpc import RpcClient
from tests.support.hostile_names import plant_symlinks
from tests.support.tmpfs import Tmpfs, write_file

DAY = 86400.0
METHODS = ("get_storage_info", "set_retention_policy", "cleanup_old_files")


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Application, RpcClient]]:
    app = Application(settings)
    await app.start()
    client = None
    try:
        client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
        await client.call("authenticate", {"auth_token": make_token("admin")})
        yield app, client
    finally:
        if client is not None:
            await client.close()
        await app.stop()


def df(path: Path) -> tuple[int, int, int]:
    out = subprocess.run(
        ["df", "-B1", "--output=size,used,avail", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    size, used, avail = (int(v) for v in out.splitlines()[1].split())
    return size, used, avail


def aged(directory: Path, name: str, age_days: float, size: int = 1000) -> Path:
    return write_file(directory / name, size, time.time() - age_days * DAY)


async def test_storage_info_matches_df_and_counts_only_media(tmp_path: Path, tmpfs: Tmpfs) -> None:
    media = tmpfs(4 * 1024 * 1024)
    settings = make_settings(
        tmp_path,
        storage={
            "recordings_path": str(media / "recordings"),
            "snapshots_path": str(media / "snapshots"),
            "warn_percent": 10,
            "block_percent": 90,
        },
    )
    async with running(settings) as (app, client):
        rec, snap = app.paths.recordings, app.paths.snapshots
        aged(rec, "lab_a.mp4", 1, 300_000)
        aged(rec, "lab_b.ts", 1, 345_678)
        aged(snap, "lab_a.jpg", 1, 54_321)
        aged(rec, ".hidden.mp4", 1, 100_000)  # not media a client can name
        aged(rec, "notes.txt", 1, 7)
        plant_symlinks(rec, snap / "lab_a.jpg")

        info = await client.call("get_storage_info")

        total, used, available = df(rec)
        assert (info["total_space"], info["used_space"], info["available_space"]) == (
            total,
            used,
            available,
        )
        assert info["used_percent"] == info["usage_percentage"]
        assert info["used_percent"] == pytest.approx(100 * used / (used + available), abs=0.01)
        assert info["recordings_size"] == 300_000 + 345_678
        assert info["snapshots_size"] == 54_321
        assert (info["warn_threshold"], info["block_threshold"]) == (10, 90)
        assert info["status"] == "warn"  # ~17 % of 4 MiB is used
        assert info["low_space_warning"] is True and info["critical_space_warning"] is False
        assert info["retention_policy"] == {
            "policy_type": "age",
            "enabled": False,
            "max_age_days": 30.0,
            "source": "config",
        }


@pytest.mark.parametrize("role", [None, "viewer", "operator"])
async def test_storage_methods_need_admin(connect: Connect, role: str | None) -> None:
    client = await connect(role)
    for method in METHODS:
        reply = await client.request(method, {"policy_type": "manual", "enabled": False})
        assert reply["error"]["code"] == (-32001 if role is None else -32003), method


BAD_POLICIES: list[tuple[dict[str, Any], str]] = [
    ({}, "policy_type"),
    ({"policy_type": "forever", "enabled": True}, "policy_type"),
    ({"policy_type": None, "enabled": True}, "policy_type"),
    ({"policy_type": "age"}, "enabled"),
    ({"policy_type": "age", "enabled": "yes", "max_age_days": 3}, "enabled"),
    ({"policy_type": "age", "enabled": 1, "max_age_days": 3}, "enabled"),
    ({"policy_type": "age", "enabled": True}, "max_age_days"),
    ({"policy_type": "size", "enabled": True}, "max_size_gb"),
    ({"policy_type": "count", "enabled": False}, "max_count"),
    ({"policy_type": "age", "enabled": True, "max_age_days": 0}, "max_age_days"),
    ({"policy_type": "age", "enabled": True, "max_age_days": -1}, "max_age_days"),
    ({"policy_type": "age", "enabled": True, "max_age_days": "30"}, "max_age_days"),
    ({"policy_type": "age", "enabled": True, "max_age_days": True}, "max_age_days"),
    ({"policy_type": "age", "enabled": True, "max_age_days": 1e9}, "max_age_days"),
    ({"policy_type": "size", "enabled": True, "max_size_gb": -5}, "max_size_gb"),
    ({"policy_type": "size", "enabled": True, "max_size_gb": [1]}, "max_size_gb"),
    ({"policy_type": "count", "enabled": True, "max_count": 1.5}, "max_count"),
    ({"policy_type": "count", "enabled": True, "max_count": 0}, "max_count"),
    ({"policy_type": "count", "enabled": True, "max_count": 10**12}, "max_count"),
    # A limit of another type is not used, but a bad one is still refused.
    ({"policy_type": "age", "enabled": True, "max_age_days": 3, "max_count": -1}, "max_count"),
]


async def test_bad_retention_params_are_refused_and_change_nothing(connect: Connect) -> None:
    client = await connect("admin")
    before = (await client.call("get_storage_info"))["retention_policy"]
    for params, param in BAD_POLICIES:
        reply = await client.request("set_retention_policy", params)
        error = reply.get("error")
        assert error is not None and error["code"] == -32602, params
        assert param in error["message"] and error["data"]["param"] == param, (params, error)
        assert "/" not in error["message"]
    assert (await client.call("get_storage_info"))["retention_policy"] == before


async def test_policy_is_persisted_and_applied_after_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running(settings) as (app, client):
        result = await client.call(
            "set_retention_policy",
            {"policy_type": "count", "enabled": False, "max_count": 2, "auth_token": "ignored"},
        )
        assert result["policy_type"] == "count" and result["enabled"] is False
        assert result["max_count"] == 2 and set(result) == {
            "policy_type",
            "enabled",
            "max_count",
            "message",
        }
        assert "cleanup_old_files" in result["message"]
        rec, snap = app.paths.recordings, app.paths.snapshots

    for i, directory in enumerate((rec, snap, rec, snap)):
        aged(directory, f"lab_{i}.{'mp4' if directory == rec else 'jpg'}", 10 - i, 1000 + i)

    async with running(settings) as (app, client):
        info = await client.call("get_storage_info")
        assert info["retention_policy"] == {
            "policy_type": "count",
            "enabled": False,
            "max_count": 2,
            "source": "stored",
        }
        result = await client.call("cleanup_old_files")
        assert result["cleanup_executed"] is True
        assert (result["files_deleted"], result["space_freed"]) == (2, 1000 + 1001)
        assert sorted(os.listdir(rec) + os.listdir(snap)) == ["lab_2.mp4", "lab_3.jpg"]


async def test_cleanup_applies_the_config_policy_and_manual_deletes_nothing(
    tmp_path: Path,
) -> None:
    async with running(make_settings(tmp_path)) as (app, client):  # age, 30 days, disabled
        rec = app.paths.recordings
        aged(rec, "lab_old.mp4", 45, 4096)
        aged(rec, "lab_new.mp4", 3)
        outside = aged(tmp_path, "outside.mp4", 400)
        plant_symlinks(rec, outside)

        result = await client.call("cleanup_old_files")
        assert (result["files_deleted"], result["space_freed"]) == (1, 4096)
        assert not (rec / "lab_old.mp4").exists() and outside.exists()

        aged(rec, "lab_ancient.mp4", 4000)
        result = await client.call(
            "set_retention_policy", {"policy_type": "manual", "enabled": True}
        )
        assert result == {
            "policy_type": "manual",
            "enabled": True,
            "message": "Retention policy set: delete nothing automatically",
        }
        result = await client.call("cleanup_old_files")
        assert (result["files_deleted"], result["space_freed"]) == (0, 0)
        assert "manual" in result["message"]
        assert (rec / "lab_ancient.mp4").exists()


async def test_methods_are_discoverable(connect: Connect) -> None:
    client = await connect()
    doc = await client.call("rpc.discover")
    names = {m["name"] for m in doc["methods"]}
    assert set(METHODS) <= names
