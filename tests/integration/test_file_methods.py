"""File methods through the real service over WebSocket: list_recordings,
list_snapshots, get_recording_info, get_snapshot_info, delete_recording,
delete_snapshot; hostile names and planted symlinks never reach outside the media
directories."""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from camera_service.app import Application
from camera_service.config import Settings
from camera_service.record.manager import RecordingManager
from tests.conftest import Connect, make_settings
from tests.rpc import RpcClient
from tests.support.hostile_names import RPC_NAMES, plant_symlinks
from tests.support.media_samples import samples
from tests.support.media_stack import MediaStackFactory

__all__ = ["samples"]  # a fixture

WAIT = 60.0
FILE_METHODS = ("get_recording_info", "get_snapshot_info", "delete_recording", "delete_snapshot")
LIST_METHODS = ("list_recordings", "list_snapshots")
LISTED_KEYS = {"filename", "file_size", "size_bytes", "modified_time", "download_url", "device"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Hundreds of calls from one connection in the hostile-name test.
    return make_settings(tmp_path, security={"rate_limit": {"requests_per_minute": 100_000}})


def recordings(app: Application) -> Path:
    return app.paths.recordings


def snapshots(app: Application) -> Path:
    return app.paths.snapshots


async def indexed(app: Application) -> None:
    """The index has seen the files the test put there, and probed them."""
    await app.index.rescan()
    await app.index.settled(WAIT)


async def error(client: RpcClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = await client.request(method, params)
    assert "error" in reply, (method, params, reply)
    err: dict[str, Any] = reply["error"]
    return err


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(minute: int) -> str:
    return f"2025-01-15_14-{minute:02d}-00"


@pytest.fixture
async def clips(service: Application, samples: dict[str, Path]) -> list[str]:
    """Twelve 1 s recordings of two cameras a minute apart, and one not made by us."""
    names = []
    for minute in range(6):
        for camera in ("lab", "camera0"):
            name = f"{camera}_{stamp(minute)}.ts"
            shutil.copy(samples["one"], recordings(service) / name)
            names.append(name)
    shutil.copy(samples["two"], recordings(service) / "holiday clip.mp4")
    await indexed(service)
    return names


# --- listing -----------------------------------------------------------------------------------


async def test_list_recordings_is_newest_first_paged_with_durations_from_the_files(
    service: Application, connect: Connect, clips: list[str]
) -> None:
    client = await connect("viewer")
    # The foreign file's time is its mtime (now): newest. Then by the time in the name.
    named = sorted(clips, key=lambda n: (n.split("_", 1)[1], n), reverse=True)
    expected = ["holiday clip.mp4", *named]
    seen: list[dict[str, Any]] = []
    for offset in range(0, 14, 5):
        page = await client.call("list_recordings", {"limit": 5, "offset": offset})
        assert (page["total"], page["limit"], page["offset"]) == (13, 5, offset)
        seen += page["files"]
    assert [f["filename"] for f in seen] == expected

    by_name = {f["filename"]: f for f in seen}
    for item in seen:
        assert set(item) == LISTED_KEYS | {"duration"}
        assert item["modified_time"].endswith("Z")
        size = (recordings(service) / item["filename"]).stat().st_size
        assert item["file_size"] == size
    assert by_name["holiday clip.mp4"]["duration"] == pytest.approx(2.0, abs=0.15)
    assert by_name["holiday clip.mp4"]["download_url"] == "/files/recordings/holiday%20clip.mp4"
    assert by_name["holiday clip.mp4"]["device"] is None
    lab = by_name[f"lab_{stamp(0)}.ts"]
    assert lab["duration"] == pytest.approx(1.0, abs=0.15)
    assert lab["device"] == "lab" and lab["download_url"] == f"/files/recordings/lab_{stamp(0)}.ts"
    assert by_name[f"camera0_{stamp(0)}.ts"]["device"] == "/dev/video0"

    beyond = await client.call("list_recordings", {"offset": 100})
    assert beyond == {"files": [], "total": 13, "limit": 100, "offset": 100}


async def test_list_filters_by_device_and_time(
    service: Application, connect: Connect, clips: list[str]
) -> None:
    client = await connect("viewer")

    async def names(**params: Any) -> list[str]:
        page = await client.call("list_recordings", params)
        assert page["total"] == len(page["files"])
        return [f["filename"] for f in page["files"]]

    video0 = await names(device="/dev/video0")
    assert video0 == await names(device="camera0")
    assert video0 == [f"camera0_{stamp(m)}.ts" for m in range(5, -1, -1)]
    assert await names(device="lab") == [f"lab_{stamp(m)}.ts" for m in range(5, -1, -1)]
    assert await names(device="nobody") == []

    window = await names(device="lab", since="2025-01-15T14:02:00Z", until="2025-01-15T14:03:00Z")
    assert window == [f"lab_{stamp(3)}.ts", f"lab_{stamp(2)}.ts"]
    # A naive time is UTC; other offsets are converted.
    naive = await names(device="lab", since="2025-01-15T14:02:00", until="2025-01-15T14:03:00")
    offset = await names(device="lab", since="2025-01-15T15:02+01:00", until="2025-01-15T14:03Z")
    assert naive == offset == window
    assert await names(device="lab", since="2025-01-15T14:05:30Z") == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"limit": 1.5}, "limit"),
        ({"limit": True}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "0"}, "offset"),
        ({"device": "../x"}, "device"),
        ({"device": "/dev/video"}, "device"),
        ({"device": -1}, "device"),  # a number N is /dev/videoN (0-9999): this is none
        ({"since": "yesterday"}, "since"),
        ({"since": 1736951400}, "since"),
        ({"until": "2025-13-01T00:00:00Z"}, "until"),
        ({"since": "2025-01-15T15:00:00Z", "until": "2025-01-15T14:00:00Z"}, "until"),
    ],
)
async def test_bad_list_params_name_the_param(
    connect: Connect, params: dict[str, Any], param: str
) -> None:
    client = await connect("viewer")
    for method in LIST_METHODS:
        err = await error(client, method, params)
        assert err["code"] == -32602
        assert err["data"]["param"] == param and param in err["message"]


async def test_snapshots_listed_and_described_with_resolution_from_the_image(
    service: Application, connect: Connect, samples: dict[str, Path]
) -> None:
    ours = "lab_snapshot_2025-01-15_14-30-05.jpg"
    shutil.copy(samples["wide"], snapshots(service) / ours)
    shutil.copy(samples["small"], snapshots(service) / "photo.png")
    await indexed(service)
    client = await connect("viewer")

    page = await client.call("list_snapshots")
    assert [f["filename"] for f in page["files"]] == ["photo.png", ours]
    assert all(set(f) == LISTED_KEYS for f in page["files"])

    info = await client.call("get_snapshot_info", {"filename": ours})
    mtime = (snapshots(service) / ours).stat().st_mtime
    assert info == {
        "filename": ours,
        "file_size": (snapshots(service) / ours).stat().st_size,
        "size_bytes": (snapshots(service) / ours).stat().st_size,
        "created_time": "2025-01-15T14:30:05Z",
        "modified_time": info["modified_time"],
        "download_url": f"/files/snapshots/{ours}",
        "resolution": "640x360",
        "device": "lab",
        "format": "jpg",
    }
    assert info["modified_time"] == iso(mtime)
    png = await client.call("get_snapshot_info", {"filename": "photo.png"})
    assert (png["resolution"], png["format"], png["device"]) == ("64x48", "png", None)


async def test_recording_info_has_the_real_duration(
    service: Application, connect: Connect, clips: list[str]
) -> None:
    client = await connect("viewer")
    info = await client.call("get_recording_info", {"filename": "camera0_2025-01-15_14-03-00.ts"})
    assert info["duration"] == pytest.approx(1.0, abs=0.15)
    assert (info["format"], info["device"]) == ("ts", "/dev/video0")
    assert info["created_time"] == "2025-01-15T14:03:00Z"
    assert "resolution" not in info
    # Info looks at the file itself: right even when no change event arrived.
    service.index.watcher.stop()
    shutil.copy(recordings(service) / clips[0], recordings(service) / "fresh.ts")
    fresh = await client.call("get_recording_info", {"filename": "fresh.ts"})
    assert fresh["file_size"] == (recordings(service) / "fresh.ts").stat().st_size
    (recordings(service) / clips[1]).unlink()
    gone = await error(client, "get_recording_info", {"filename": clips[1]})
    assert gone["code"] == -1005

    for method, name in (
        ("get_recording_info", "missing.mp4"),
        ("get_recording_info", "photo.jpg"),  # not a recording name
        ("get_snapshot_info", "camera0_2025-01-15_14-03-00.ts"),  # not a snapshot
        ("get_snapshot_info", "missing.jpg"),
    ):
        err = await error(client, method, {"filename": name})
        assert err["code"] == -1005, (method, name)
        assert err["data"] == {"reason": "file_not_found", "filename": name}


# --- deleting ----------------------------------------------------------------------------------


async def test_delete_recording_and_snapshot(
    service: Application, connect: Connect, clips: list[str], samples: dict[str, Path]
) -> None:
    shutil.copy(samples["small"], snapshots(service) / "photo.png")
    await indexed(service)
    viewer = await connect("viewer")
    operator = await connect("operator")
    name = clips[0]

    err = await error(viewer, "delete_recording", {"filename": name})
    assert err["code"] == -32003
    assert (recordings(service) / name).exists()

    result = await operator.call("delete_recording", {"filename": name})
    assert result["filename"] == name and result["deleted"] is True
    assert isinstance(result["message"], str) and result["message"]
    assert not (recordings(service) / name).exists()
    listed = await viewer.call("list_recordings")
    assert name not in [f["filename"] for f in listed["files"]] and listed["total"] == 12
    err = await error(operator, "delete_recording", {"filename": name})
    assert err["code"] == -1005

    err = await error(operator, "delete_recording", {"filename": "photo.png"})  # a snapshot
    assert err["code"] == -1005 and (snapshots(service) / "photo.png").exists()
    assert (await operator.call("delete_snapshot", {"filename": "photo.png"}))["deleted"] is True
    assert (await viewer.call("list_snapshots"))["total"] == 0
    assert (await error(operator, "get_snapshot_info", {"filename": "photo.png"}))["code"] == -1005


@pytest.fixture
def busy(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The segments the record manager reports as being written (it learns them from
    MediaMTX's hooks, and there is no MediaMTX here). Requested before ``service``: the
    service's parts take the manager's method when they are built."""
    names: set[str] = set()
    monkeypatch.setattr(RecordingManager, "busy", lambda manager: names)
    return names


async def test_a_segment_being_recorded_is_not_deleted(
    busy: set[str], service: Application, connect: Connect, clips: list[str]
) -> None:
    name = clips[0]
    busy.add(name)
    operator = await connect("operator")
    err = await error(operator, "delete_recording", {"filename": name})
    assert err["code"] == -1006
    assert err["data"] == {"reason": "recording_in_progress", "filename": name}
    assert (recordings(service) / name).exists()


async def test_file_methods_need_authentication(connect: Connect) -> None:
    client = await connect(None)
    for method in LIST_METHODS:
        assert (await error(client, method, {}))["code"] == -32001
    for method in FILE_METHODS:
        assert (await error(client, method, {"filename": "a.mp4"}))["code"] == -32001


# --- hostile names and planted links -------------------------------------------------------------


def tree(root: Path) -> dict[str, bytes | str]:
    """Everything under ``root``: file contents and link targets (but the database,
    which the service writes all the time)."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if name.startswith("camera-service.db"):
                continue
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
    return out


async def test_hostile_names_are_refused_by_every_file_method_and_touch_nothing(
    service: Application, connect: Connect, tmp_path: Path
) -> None:
    data = service.paths.data_dir
    for d in (tmp_path, data, recordings(service).parent):
        (d / "secret.txt").write_text("secret")
    (recordings(service) / "file.mp4").write_bytes(b"media")
    (recordings(service) / ".hidden.mp4").write_bytes(b"hidden")
    (snapshots(service) / ".hidden.mp4").write_bytes(b"hidden")
    plant_symlinks(recordings(service), tmp_path / "secret.txt")
    await indexed(service)
    before = tree(tmp_path)
    client = await connect("admin")

    for name in RPC_NAMES:
        for method in FILE_METHODS:
            err = await error(client, method, {"filename": name})
            assert err["code"] == -32602, (method, name, err)
            assert err["data"]["param"] == "filename" and "filename" in err["message"]
            assert "/" not in err["message"].split("filename", 1)[1], err  # no path echoed
        for method in LIST_METHODS:
            for param in ("device", "since", "until"):
                reply = await client.request(method, {param: name})
                if name is None:  # the same as leaving the filter out
                    assert "result" in reply
                    continue
                if param == "device" and name == 123:  # the alias of /dev/video123
                    assert reply["result"]["files"] == []
                    continue
                assert reply["error"]["code"] == -32602, (method, param, name)
                assert reply["error"]["data"]["param"] == param

    assert tree(tmp_path) == before
    listed = await client.call("list_recordings")
    assert [f["filename"] for f in listed["files"]] == ["file.mp4"]


async def test_symlinks_dirs_and_fifos_in_the_media_dirs_are_not_files(
    service: Application, connect: Connect, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"secret")
    rec_links = plant_symlinks(recordings(service), secret)
    snap_links = plant_symlinks(snapshots(service), secret)
    (recordings(service) / "dir.mp4").mkdir()
    (recordings(service) / "dir.mp4" / "inner.mp4").write_bytes(b"inner")
    os.mkfifo(recordings(service) / "fifo.mp4")
    await indexed(service)
    before = tree(tmp_path)
    client = await connect("admin")

    for kind, names in (
        ("recording", [*rec_links, "dir.mp4", "fifo.mp4"]),
        ("snapshot", snap_links),
    ):
        for name in names:
            for method in (f"get_{kind}_info", f"delete_{kind}"):
                err = await error(client, method, {"filename": name})
                assert err["code"] == -1005, (method, name, err)

    assert tree(tmp_path) == before
    for method in LIST_METHODS:
        assert (await client.call(method))["files"] == []


# --- a real recording ----------------------------------------------------------------------------


async def test_a_real_recording_is_listed_while_written_then_with_its_real_duration(
    media_stack: MediaStackFactory,
) -> None:
    """The whole chain: MediaMTX's recorder (the double's, FFmpeg) writes a segment, the
    index lists it at once with no duration, refuses to delete it while it is written,
    and lists the duration read from the finished file."""
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    index = stack.app.index
    await client.call("start_recording", {"device": "lab"})

    async def being_written() -> bool:
        page = await index.list("recording", camera_id="lab")
        return any(e.writing for e in page.files)

    await index.wait_until(being_written, WAIT)
    listed = await client.call("list_recordings", {"device": "lab"})
    [segment] = listed["files"]
    assert segment["duration"] is None and segment["device"] == "lab"
    err = await error(client, "delete_recording", {"filename": segment["filename"]})
    assert err["code"] == -1006

    await client.call("stop_recording", {"device": "lab"})

    async def finished() -> bool:
        page = await index.list("recording", camera_id="lab")
        return bool(page.files) and page.files[0].duration is not None

    await index.wait_until(finished, WAIT)
    info = await client.call("get_recording_info", {"filename": segment["filename"]})
    path = stack.app.paths.recordings / segment["filename"]
    assert info["duration"] == pytest.approx(await ffprobe_duration(path), abs=0.01)
    assert info["duration"] > 0 and info["file_size"] == path.stat().st_size


async def ffprobe_duration(path: Path) -> float:
    proc = await asyncio.create_subprocess_exec(
        "ffprobe",
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "csv=p=0",
        str(path),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), WAIT)
    return float(out)
