"""A hub to break on purpose, and the audit every fault test ends with.

The hub is the real service process (:class:`ServiceProcess`) on the MediaMTX double
with its real data plane and recorder (FFmpeg), and one live test camera ``lab``::

    async def test_x(make_hub: HubFactory) -> None:
        hub = await make_hub()                      # service started
        op = await hub.connect()                    # an operator, its notifications heard
        ...
        listing = await audit(hub, op)              # nothing lost, nothing misreported

:func:`audit` holds the service to the files: every media file in the recordings
directory is listed (and nothing else), plays (ffprobe: H.264 640x360), is not empty,
has its real size, and its listed duration is ffprobe's within
:data:`LISTED_TOLERANCE`. :func:`check_final` holds a final ``recording_status_update``
to them: its files exist and are listed, its size is theirs and its duration is the
sum of theirs within :data:`FINAL_TOLERANCE` per segment.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest_asyncio

from tests.conftest import make_token
from tests.rpc import RpcClient
from tests.support import processes
from tests.support.media_stack import LAB
from tests.support.mediamtx.dataplane import DataPlane
from tests.support.mediamtx.double import MediaMtxDouble
from tests.support.mediamtx.fixtures import assert_no_violations
from tests.support.service_process import ServiceProcess, write_config

WAIT = 60.0  # generous: other test runs share the two cores
POLL = 0.2  # an external process's files and index: looked at this often
# The listing's duration is ffprobe's own reading (the index runs ffprobe): equal but
# for rounding.
LISTED_TOLERANCE = 0.01
# A final notification's duration is the recorder's (its complete hook) for a segment
# it closed: FFmpeg's segment list, within a frame or two of the container's.
FINAL_TOLERANCE = 0.1
MEDIA_SUFFIXES = (".mp4", ".ts")


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """A bounded poll of what another process changes (its files, MediaMTX's state as
    it patches it), where no event says when."""
    await processes.until(condition, timeout, poll=POLL)


class Heard:
    """Every notification one client receives, kept in order."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.notes: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while True:
            note = await self.client.notifications.get()
            async with self._changed:
                self.notes.append(note)
                self._changed.notify_all()

    def recordings(self) -> list[dict[str, Any]]:
        return [n["params"] for n in self.notes if n["method"] == "recording_status_update"]

    async def first(
        self, method: str, pred: Callable[[dict[str, Any]], bool], timeout: float = WAIT
    ) -> dict[str, Any]:
        """The params of the first ``method`` notification (heard or to come) matching."""

        def found() -> dict[str, Any] | None:
            return next(
                (n["params"] for n in self.notes if n["method"] == method and pred(n["params"])),
                None,
            )

        async with asyncio.timeout(timeout), self._changed:
            while (params := found()) is None:
                await self._changed.wait()
            return params

    async def recording(self, status: str, timeout: float = WAIT) -> dict[str, Any]:
        """The first recording_status_update with ``status``."""
        return await self.first("recording_status_update", lambda p: p["status"] == status, timeout)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@dataclass
class Hub:
    plane: DataPlane
    mtx: MediaMtxDouble
    config: Path
    data: Path
    recordings: Path
    service: ServiceProcess | None = None
    clients: list[RpcClient] = field(default_factory=list)
    heard: dict[RpcClient, Heard] = field(default_factory=dict)
    services: list[ServiceProcess] = field(default_factory=list)

    async def start(self) -> ServiceProcess:
        """Start the service (again) on the same data dir."""
        self.service = await ServiceProcess.start(self.config)
        self.services.append(self.service)
        return self.service

    @property
    def running(self) -> ServiceProcess:
        assert self.service is not None, "the service is not running"
        return self.service

    async def connect(self, role: str = "operator") -> RpcClient:
        client = await RpcClient.connect(self.running.ws_url)
        self.clients.append(client)
        self.heard[client] = Heard(client)
        await client.call("authenticate", {"auth_token": make_token(role)})
        await client.call("subscribe_events")  # every topic: the newer ones are opt-in
        return client

    async def sigterm(self) -> None:
        """Stop the service as systemd does; it exits 0."""
        self.running.signal(signal.SIGTERM)
        assert await self.running.exit_code() == 0
        self.service = None

    async def sigkill(self) -> None:
        """Kill the service: no drain, no cleanup."""
        await self.running.kill()
        self.service = None

    async def http(self, path: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.running.http_url + path) as r,
        ):
            return r.status, await r.text()

    async def health(self) -> dict[str, Any]:
        _, text = await self.http("/health/system")
        body: dict[str, Any] = json.loads(text)
        return body

    async def written(self, name: str, more_than: int = 64 * 1024) -> int:
        """Wait until the segment ``name`` holds more than ``more_than`` bytes (media is
        being recorded); its size then."""
        path = self.recordings / name
        async with asyncio.timeout(WAIT):
            while True:
                size = path.stat().st_size if path.exists() else 0
                if size > more_than:
                    return size
                await asyncio.sleep(POLL)

    async def path_record(self, want: bool) -> None:
        """Wait until MediaMTX has the camera's path with ``record`` as wanted."""
        await until(lambda: (self.mtx.path_conf("lab") or {}).get("record") is want)

    def on_disk(self) -> dict[str, int]:
        """Media files in the recordings directory (not the recorder's hidden work files)
        with their sizes."""
        return {
            p.name: p.stat().st_size
            for p in sorted(self.recordings.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix in MEDIA_SUFFIXES
        }


class HubFactory(Protocol):
    def __call__(self, start: bool = True, **sections: dict[str, Any]) -> Awaitable[Hub]: ...


@pytest_asyncio.fixture
async def make_hub(tmp_path: Path) -> AsyncIterator[HubFactory]:
    """At most one hub per test; at teardown every client, service process, the double
    and its data plane are stopped."""
    hubs: list[Hub] = []
    planes: list[DataPlane] = []

    async def make(start: bool = True, **sections: dict[str, Any]) -> Hub:
        plane = DataPlane(restart_pause=0.2, stop_timeout=5.0, work_dir=tmp_path)
        await plane.__aenter__()
        planes.append(plane)
        mtx = MediaMtxDouble(work_dir=tmp_path, data_plane=plane)
        await mtx.start()
        media = {
            "api_url": mtx.api_url,
            "rtsp_port": plane.rtsp_port,
            "check_interval": 0.2,
            "on_demand_close_after": 2.0,
        }
        data = tmp_path / "data"
        recordings = Path(sections.get("storage", {}).get("recordings_path", data / "recordings"))
        config = write_config(
            tmp_path / "config.yaml",
            data,
            mediamtx=media,
            cameras={"sources": [LAB], "poll_interval": 30.0},
            **sections,
        )
        hub = Hub(plane, mtx, config, data, recordings)
        hubs.append(hub)
        if start:
            await hub.start()
        return hub

    try:
        yield make
    finally:
        for hub in hubs:
            for heard in hub.heard.values():
                await heard.close()
            for client in hub.clients:
                await client.close()
            for service in hub.services:
                await service.kill()
            await hub.mtx.stop()
        for plane in planes:
            await plane.__aexit__(None, None, None)
        for hub in hubs:
            assert_no_violations(hub.mtx)


async def ffprobe(path: Path) -> float:
    """The media duration of a playable H.264 640x360 file (the camera ``lab``)."""
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-show_entries",
        "format=duration:stream=codec_name,width,height", "-of", "json", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, f"{path.name} does not play: {err.decode()}"
    info = json.loads(out)
    [video] = info["streams"]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 640, 360), info
    duration = float(info["format"]["duration"])
    assert duration > 0, f"{path.name} holds no media"
    return duration


async def listed(client: RpcClient) -> dict[str, dict[str, Any]]:
    page = await client.call("list_recordings", {"limit": 1000})
    assert page["total"] == len(page["files"])
    return {f["filename"]: f for f in page["files"]}


async def audit(hub: Hub, client: RpcClient) -> dict[str, dict[str, Any]]:
    """Nothing lost, nothing misreported: see the module docstring. Waits (bounded) for
    the index to have every file and its duration; returns the listing by name."""
    async with asyncio.timeout(WAIT):
        while True:
            disk = hub.on_disk()
            listing = await listed(client)
            probed = all(f["duration"] is not None for f in listing.values())
            if set(listing) == set(disk) and probed:
                break
            await asyncio.sleep(POLL)
    assert disk, "nothing was recorded"
    for name, size in disk.items():
        entry = listing[name]
        assert size > 0, f"{name} is empty"
        assert entry["file_size"] == size, entry
        assert entry["device"] == "lab", entry
        media = await ffprobe(hub.recordings / name)
        assert abs(entry["duration"] - media) <= LISTED_TOLERANCE, (entry, media)
    return listing


def check_final(note: dict[str, Any], listing: dict[str, dict[str, Any]]) -> None:
    """A final (STOPPED/FAILED) notification against the audited listing."""
    assert note["status"] in ("STOPPED", "FAILED"), note
    assert note["files"], note
    assert set(note["files"]) <= set(listing), (note["files"], sorted(listing))
    assert note["filename"] == note["files"][0]
    assert note["file_size"] == sum(listing[f]["file_size"] for f in note["files"]), note
    each = {f: listing[f]["duration"] for f in note["files"]}
    media = sum(each.values())
    assert abs(note["duration"] - media) <= FINAL_TOLERANCE * len(each), (note["duration"], each)
