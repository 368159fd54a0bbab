"""The preview cache: one capture per camera per interval however many ask, the same
failure for all of them, and a disconnected camera refused at once."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.config import SnapshotsConfig
from camera_service.media.preview import Previews
from camera_service.media.snapshots import (
    CameraUnavailable,
    CaptureFailed,
    Shot,
    SnapshotService,
)


class FakeSnapshots:
    """What Previews uses of a SnapshotService: the registry and grab()."""

    def __init__(self) -> None:
        self.cameras: dict[str, Camera] = {
            "lab": Camera("lab", SourceType.TEST, "lab", CameraStatus.CONNECTED)
        }
        self.release = asyncio.Event()
        self.releases: list[asyncio.Event] = []  # one per grab, in turn, before release
        self.started = asyncio.Event()  # a capture has begun
        self.grabs = 0
        self.fail = ""

    async def grab(self, camera_id: str, fmt: str, quality: int) -> Shot:
        assert (fmt, quality) == ("jpg", 85)
        self.grabs += 1
        self.started.set()
        await (self.releases.pop(0) if self.releases else self.release).wait()
        if self.fail:
            raise CaptureFailed(self.fail)
        return Shot(b"\xff\xd8jpeg-%d" % self.grabs, "stream", 0.0, 640, 360)


def previews(fake: FakeSnapshots, max_age: float) -> Previews:
    cfg = SnapshotsConfig(preview_max_age=max_age)
    return Previews(cast(SnapshotService, fake), lambda: cfg)


async def test_callers_at_once_share_one_capture_and_it_is_kept() -> None:
    fake = FakeSnapshots()
    cache = previews(fake, 3600.0)
    waiting = [asyncio.create_task(cache.get("lab")) for _ in range(10)]
    await fake.started.wait()  # the callers, started first, all wait on this capture
    assert fake.grabs == 1
    fake.release.set()
    shots = await asyncio.gather(*waiting)
    assert {s.data for s in shots} == {b"\xff\xd8jpeg-1"}
    assert (await cache.get("lab")).data == b"\xff\xd8jpeg-1"
    assert fake.grabs == cache.captures == 1


async def test_an_old_preview_is_taken_again() -> None:
    fake = FakeSnapshots()
    fake.release.set()
    cache = previews(fake, 1e-9)
    first = await cache.get("lab")
    assert (await cache.get("lab")).data != first.data and fake.grabs == 2


async def test_a_failure_is_shared_and_remembered() -> None:
    fake = FakeSnapshots()
    fake.fail = "the stream is not available"
    fake.release.set()
    cache = previews(fake, 3600.0)
    for _ in range(3):
        with pytest.raises(CaptureFailed, match="the stream is not available"):
            await cache.get("lab")
    assert fake.grabs == 1


async def test_a_caller_giving_up_does_not_cancel_the_others() -> None:
    fake = FakeSnapshots()
    cache = previews(fake, 3600.0)
    impatient = asyncio.create_task(cache.get("lab"))
    patient = asyncio.create_task(cache.get("lab"))
    await fake.started.wait()
    impatient.cancel()
    fake.release.set()
    assert (await patient).data == b"\xff\xd8jpeg-1"


async def test_a_disconnected_camera_is_refused_whatever_is_kept() -> None:
    fake = FakeSnapshots()
    fake.release.set()
    cache = previews(fake, 3600.0)
    await cache.get("lab")
    fake.cameras["lab"] = Camera("lab", SourceType.TEST, "lab", CameraStatus.DISCONNECTED)
    with pytest.raises(CameraUnavailable):
        await cache.get("lab")
    with pytest.raises(CameraUnavailable):
        await cache.get("nosuch")
    assert fake.grabs == 1


async def test_a_forgotten_camera_keeps_nothing() -> None:
    fake = FakeSnapshots()
    fake.release.set()
    cache = previews(fake, 3600.0)
    await cache.get("lab")
    assert "lab" in cache
    cache.forget("lab")
    assert "lab" not in cache
    assert (await cache.get("lab")).data == b"\xff\xd8jpeg-2"  # taken anew


async def test_a_capture_under_way_when_forgotten_is_answered_not_kept() -> None:
    fake = FakeSnapshots()
    cache = previews(fake, 3600.0)
    waiting = asyncio.create_task(cache.get("lab"))
    await fake.started.wait()
    cache.forget("lab")
    fake.release.set()
    assert (await waiting).data == b"\xff\xd8jpeg-1"
    assert "lab" not in cache


async def test_a_camera_added_back_does_not_join_the_forgotten_capture() -> None:
    fake = FakeSnapshots()
    fake.release.set()  # any capture past the two below
    first, second = asyncio.Event(), asyncio.Event()
    fake.releases = [first, second]
    cache = previews(fake, 3600.0)
    old = asyncio.create_task(cache.get("lab"))
    await fake.started.wait()
    cache.forget("lab")
    fake.started.clear()
    new = asyncio.create_task(cache.get("lab"))  # the camera added back: a capture of its own
    await fake.started.wait()
    assert fake.grabs == 2
    first.set()
    await old  # the forgotten capture ends first
    third = asyncio.create_task(cache.get("lab"))  # joins the new capture
    second.set()
    await asyncio.gather(new, third)
    assert "lab" in cache and fake.grabs == cache.captures == 2
