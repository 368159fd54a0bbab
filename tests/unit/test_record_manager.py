"""RecordingManager on its own: sessions, segments from hook events, ends and failures.

MediaMTX is replaced by a recorder of path patches and the stream reader by a stand-in,
so each rule is checked exactly; tests/integration/test_recordings.py runs the whole chain.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from camera_service.api.methods.recordings import started_result, stopped_result
from camera_service.api.notifications import (
    recording_degraded,
    recording_resumed,
    recording_started,
)
from camera_service.api.wire import recording_ended
from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.cameras.registry import CameraRegistry
from camera_service.db import AsyncDatabase
from camera_service.events import EventBus
from camera_service.limits import CapacityExceeded
from camera_service.media.desired import DesiredRecording
from camera_service.media.events import MediaMtxRestarted, MediaMtxUnreachable
from camera_service.media.holder import StreamHolder
from camera_service.media.mediamtx.client import MediaMtxUnavailable
from camera_service.media.pathconf import RECORD_PART_SECONDS
from camera_service.observability.health import Health, Status
from camera_service.record import manager as manager_module
from camera_service.record import progress
from camera_service.record.events import (
    RecordingDegraded,
    RecordingEnded,
    RecordingResumed,
    RecordingStarted,
)
from camera_service.record.manager import (
    AlreadyRecording,
    CameraUnavailable,
    MediaMtxFailed,
    NotRecording,
    RecordingManager,
    StorageRefused,
)
from camera_service.record.recording import Interruption, Recording, expected_name
from camera_service.record.segments import Content, SegmentFacts
from camera_service.storage.disk import DiskUsage, StorageLevel
from camera_service.storage.events import (
    MediaDeleted,
    SegmentAbandoned,
    SegmentCompleted,
    SegmentCreated,
)
from tests.conftest import make_settings


class FakePaths:
    """Records patches; ``fail`` makes the next ones raise as the client would."""

    def __init__(self) -> None:
        self.reachable = True
        self.fail: Exception | None = None
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.patched = asyncio.Event()
        self.hold: asyncio.Event | None = None  # set: patches wait for it (a slow MediaMTX)
        self.holding = asyncio.Event()

    async def patch_path(self, name: str, conf: dict[str, Any]) -> None:
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        if self.fail is not None:
            raise self.fail
        self.patches.append((name, dict(conf)))
        self.patched.set()


class FakeHolder(StreamHolder):
    def __init__(self, on_gave_up: Any) -> None:
        super().__init__("rtsp://127.0.0.1:1/fake", on_gave_up)
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


MEDIA = b"x"  # what the stand-in for ffprobe takes for media: 100 bytes a second


async def fake_inspect(recordings: Path, name: str) -> SegmentFacts:
    """ffprobe's verdict on the rig's files: empty, media (``x``...), else unreadable."""
    try:
        data = (recordings / name).read_bytes()
    except FileNotFoundError:
        return SegmentFacts(Content.MISSING)
    if not data:
        return SegmentFacts(Content.EMPTY)
    if data.startswith(MEDIA):
        return SegmentFacts(Content.MEDIA, len(data), len(data) / 100)
    return SegmentFacts(Content.UNREADABLE, len(data))


class Rig:
    def __init__(
        self,
        tmp_path: Path,
        db: AsyncDatabase | None = None,
        health: Health | None = None,
        **sections: Any,
    ) -> None:
        self.settings = make_settings(tmp_path, **sections)
        self.recordings = tmp_path / "recordings"
        self.recordings.mkdir(exist_ok=True)
        self.events = EventBus()
        self.cameras = CameraRegistry(self.events)
        for camera_id in ("lab", "yard"):
            self.cameras.put(Camera(camera_id, SourceType.TEST, camera_id, CameraStatus.CONNECTED))
        self.paths = FakePaths()
        self.desired = DesiredRecording(lambda: self.settings.recording)
        self.level = StorageLevel.OK
        self.holders: list[FakeHolder] = []
        self.notes: list[dict[str, Any]] = []
        self.noted = asyncio.Event()
        # As clients are told (the notification params).
        self.events.subscribe(RecordingStarted, lambda e: self._note(recording_started(e)))
        self.events.subscribe(RecordingEnded, lambda e: self._note(recording_ended(e)))
        self.events.subscribe(RecordingDegraded, lambda e: self._note(recording_degraded(e)))
        self.events.subscribe(RecordingResumed, lambda e: self._note(recording_resumed(e)))
        self.storage_events: list[object] = []
        for kind in (MediaDeleted, SegmentAbandoned, SegmentCreated):
            self.events.subscribe(kind, self.storage_events.append)
        self.manager = RecordingManager(
            lambda: self.settings,
            self.cameras,
            self.events,
            self.paths,
            self.desired,
            self.recordings,
            lambda: self.level,
            self._holder,
            db=db,
            health=health,
            inspect=fake_inspect,
        )

    async def settle(self) -> None:
        """Until the manager's background work (finalizing, saving) is done."""
        while self.manager._tasks:
            await asyncio.wait(list(self.manager._tasks))

    def _holder(self, session: Recording, on_gave_up: Any) -> StreamHolder:
        holder = FakeHolder(on_gave_up)
        self.holders.append(holder)
        return holder

    def _note(self, params: dict[str, Any]) -> None:
        self.notes.append(params)
        self.noted.set()

    def segment(
        self,
        event: str,
        name: str,
        camera: str = "lab",
        duration: float | None = None,
        data: bytes = MEDIA * 100,
        **kw: Any,
    ) -> None:
        """A segment hook as the HookReceiver publishes it; the file exists from create."""
        path = self.recordings / name
        if event == "create":
            path.write_bytes(data)
            self.events.publish(SegmentCreated(camera, path, kw.get("at")))
        else:
            self.events.publish(SegmentCompleted(camera, path, duration, kw.get("at")))

    async def note(self, status: str, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for n in self.notes:
                    if n["status"] == status:
                        self.notes.remove(n)
                        return n
                self.noted.clear()
                await self.noted.wait()


@pytest.fixture
async def rig(tmp_path: Path) -> Any:
    r = Rig(tmp_path)
    yield r
    await r.manager.close()


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """No grace for a create hook that will never come; short finalize waits."""
    monkeypatch.setattr(manager_module, "FIRST_SEGMENT_GRACE", 0.0)
    monkeypatch.setattr(manager_module, "FINALIZE_TIMEOUT", 0.2)


async def test_start_records_the_path_and_is_reported_with_the_real_name(rig: Rig) -> None:
    session = await rig.manager.start("lab", None, "ts")
    assert rig.paths.patches == [("lab", {"record": True, "recordFormat": "mpegts"})]
    assert rig.desired.fields("lab") == {"record": True, "recordFormat": "mpegts"}
    assert rig.desired.fields("yard") == {"record": False, "recordFormat": "fmp4"}
    assert rig.holders[0].started
    assert session.expected.startswith("lab_") and session.expected.endswith(".ts")
    camera = rig.cameras.get("lab")
    assert camera is not None and camera.recording
    assert rig.notes == []  # STARTED waits for the real name

    rig.segment("create", "lab_2026-11-25_10-00-01.ts")
    started = await rig.note("STARTED")
    assert started["filename"] == "lab_2026-11-25_10-00-01.ts"
    assert started["session_id"] == session.session_id and started["duration"] is None
    assert rig.manager.busy() == {"lab_2026-11-25_10-00-01.ts"}
    active = rig.manager.active.get("lab")
    assert active is session and active.current_file == "lab_2026-11-25_10-00-01.ts"
    assert active.state == "recording" and rig.manager.last.get("lab") is None


async def test_every_segment_is_returned_and_stopped_waits_for_the_last(rig: Rig) -> None:
    await rig.manager.start("lab", None, None)
    rig.segment("create", "lab_a.mp4")
    rig.segment("complete", "lab_a.mp4", duration=60.0)
    # The recorder's hooks are separate processes: a complete may overtake its create.
    rig.segment("complete", "lab_b.mp4", duration=60.0)
    rig.segment("create", "lab_b.mp4")
    rig.segment("create", "lab_c.mp4")
    session = await rig.manager.stop("lab")
    assert session.files == ["lab_a.mp4", "lab_b.mp4", "lab_c.mp4"]
    result = stopped_result(session, rig.recordings)
    assert result["status"] == "STOPPED" and result["file_size"] == 300
    assert result["files"] == session.files and result["filename"] == "lab_a.mp4"
    assert rig.paths.patches[-1] == ("lab", {"record": False, "recordFormat": "fmp4"})
    assert "lab" not in rig.manager.active
    camera = rig.cameras.get("lab")
    assert camera is not None and not camera.recording
    await rig.note("STARTED")
    assert not [n for n in rig.notes if n["status"] == "STOPPED"]  # lab_c still open
    assert rig.manager.busy() == {"lab_c.mp4"}
    rig.segment("complete", "lab_c.mp4", duration=2.5)
    stopped = await rig.note("STOPPED")
    assert stopped["files"] == ["lab_a.mp4", "lab_b.mp4", "lab_c.mp4"]
    assert stopped["reason"] == "requested" and stopped["duration"] == 122.5
    assert rig.manager.busy() == set()
    assert rig.holders[0].stopped


async def test_refusals_change_nothing(rig: Rig) -> None:
    with pytest.raises(NotRecording, match=r"^MediaMTX operation failed: .*not recording"):
        await rig.manager.stop("lab")
    with pytest.raises(CameraUnavailable):
        await rig.manager.start("nope", None, None)
    rig.cameras.update("yard", status=CameraStatus.DISCONNECTED)
    with pytest.raises(CameraUnavailable):
        await rig.manager.start("yard", None, None)
    for level in (StorageLevel.WARN, StorageLevel.CRITICAL):
        rig.level = level
        with pytest.raises(StorageRefused) as refused:
            await rig.manager.start("lab", None, None)
        assert refused.value.level is level
    rig.level = StorageLevel.OK
    rig.paths.reachable = False
    with pytest.raises(MediaMtxFailed, match=r"^MediaMTX operation failed: "):
        await rig.manager.start("lab", None, None)
    rig.paths.reachable = True
    rig.paths.fail = MediaMtxUnavailable("cannot connect")
    with pytest.raises(MediaMtxFailed, match="cannot connect"):
        await rig.manager.start("lab", None, None)
    assert rig.paths.patches == [] and rig.manager.active == {}
    assert rig.desired.fields("lab")["record"] is False
    assert all(h.stopped for h in rig.holders if h.started)
    assert rig.notes == []


async def test_a_start_cancelled_while_mediamtx_takes_the_patch_leaves_nothing_behind(
    rig: Rig,
) -> None:
    rig.paths.hold = asyncio.Event()
    start = asyncio.get_running_loop().create_task(rig.manager.start("lab", None, None))
    await rig.paths.holding.wait()
    start.cancel()  # the request's deadline, or the shutdown's
    with pytest.raises(asyncio.CancelledError):
        await start
    # No session to finalize at shutdown; the desired state says record off.
    assert rig.manager.active == {}
    assert rig.desired.fields("lab")["record"] is False
    assert all(h.stopped for h in rig.holders if h.started)
    assert rig.notes == []


async def test_one_recording_per_camera_and_the_capacity(tmp_path: Path) -> None:
    rig = Rig(tmp_path, resources={"max_recordings": 1})
    try:
        session = await rig.manager.start("lab", None, None)
        with pytest.raises(AlreadyRecording) as again:
            await rig.manager.start("lab", None, None)
        assert (again.value.camera_id, again.value.session_id) == ("lab", session.session_id)
        with pytest.raises(CapacityExceeded) as full:
            await rig.manager.start("yard", None, None)
        assert (full.value.resource, full.value.limit, full.value.active) == ("recordings", 1, 1)
        assert len(rig.paths.patches) == 1
    finally:
        await rig.manager.close()


async def test_failed_stop_keeps_recording(rig: Rig) -> None:
    await rig.manager.start("lab", None, None)
    rig.paths.fail = MediaMtxUnavailable("timed out")
    with pytest.raises(MediaMtxFailed, match="timed out"):
        await rig.manager.stop("lab")
    assert "lab" in rig.manager.active
    assert rig.desired.fields("lab")["record"] is True


async def test_duration_is_timed_from_the_first_segment(rig: Rig) -> None:
    session = await rig.manager.start("lab", 1.0, None)
    assert started_result(session)["duration"] == 1.0
    at = time.time() - 0.1  # the hook process started a moment ago
    rig.segment("create", "lab_a.mp4", at=at)
    # The first part was written before the hook ran (never before the request).
    assert session.began == max(session.start_time, at - RECORD_PART_SECONDS)
    rig.paths.patched.clear()
    async with asyncio.timeout(10):
        while rig.paths.patches[-1][1]["record"]:
            rig.paths.patched.clear()
            await rig.paths.patched.wait()
    assert session.reason == "duration" and rig.manager.active == {}
    rig.segment("complete", "lab_a.mp4", duration=1.02)
    stopped = await rig.note("STOPPED")
    assert stopped["reason"] == "duration" and stopped["duration"] == 1.02


async def test_mediamtx_restart_ends_sessions_without_a_patch(rig: Rig) -> None:
    await rig.manager.start("lab", None, None)
    rig.segment("create", "lab_a.mp4")
    patches = len(rig.paths.patches)
    rig.events.publish(MediaMtxRestarted("later"))
    # Out of the desired state before the controller reconciles.
    assert rig.desired.fields("lab")["record"] is False
    rig.segment("complete", "lab_a.mp4", duration=3.0)
    stopped = await rig.note("STOPPED")
    assert stopped["reason"] == "mediamtx_restarted" and stopped["files"] == ["lab_a.mp4"]
    assert len(rig.paths.patches) == patches


@pytest.mark.parametrize("how", ["removed", "disconnected"])
async def test_unplug_ends_the_session(rig: Rig, how: str) -> None:
    await rig.manager.start("lab", None, None)
    rig.segment("create", "lab_a.mp4")
    if how == "removed":
        rig.cameras.remove("lab")
    else:
        rig.cameras.update("lab", status=CameraStatus.DISCONNECTED)
    assert rig.manager.active == {}
    rig.segment("complete", "lab_a.mp4", duration=3.0)
    stopped = await rig.note("STOPPED")
    assert stopped["reason"] == "unplugged" and stopped["files"] == ["lab_a.mp4"]


async def test_no_segment_in_time_fails_and_switches_record_off(
    tmp_path: Path, quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(tmp_path, mediamtx={"on_demand_start_timeout": 0.05})
    monkeypatch.setattr(manager_module, "FIRST_SEGMENT_MARGIN", 0.0)
    try:
        await rig.manager.start("lab", None, None)
        failed = await rig.note("FAILED")
        assert failed["reason"] == "no_segment" and failed["files"] == []
        assert "no segment" in failed["error"] and "/" not in failed["error"]
        assert rig.paths.patches[-1] == ("lab", {"record": False, "recordFormat": "fmp4"})
        assert rig.holders[0].stopped and rig.manager.active == {}
    finally:
        await rig.manager.close()


async def test_unreadable_stream_fails_the_session(rig: Rig) -> None:
    await rig.manager.start("lab", None, None)
    rig.segment("create", "lab_a.mp4")
    rig.holders[0].on_gave_up("exit 1: Connection refused")
    rig.segment("complete", "lab_a.mp4", duration=1.0)
    failed = await rig.note("FAILED")
    assert failed["reason"] == "stream_unreadable"
    assert failed["error"] == "the stream could not be read"
    assert failed["files"] == ["lab_a.mp4"]


async def test_stop_before_any_segment_is_final_at_once(rig: Rig, quick: None) -> None:
    await rig.manager.start("lab", None, None)
    session = await rig.manager.stop("lab")
    assert stopped_result(session, rig.recordings)["files"] == []
    stopped = await rig.note("STOPPED")
    assert stopped["files"] == [] and stopped["filename"] == session.expected


async def test_shutdown_switches_off_and_waits_for_the_last_segments(rig: Rig) -> None:
    await rig.manager.start("lab", None, None)
    await rig.manager.start("yard", None, None)
    rig.segment("create", "lab_a.mp4")
    rig.segment("create", "yard_a.mp4", camera="yard")
    done = asyncio.ensure_future(rig.manager.shutdown(timeout=10))
    async with asyncio.timeout(10):
        while len([p for p in rig.paths.patches if not p[1]["record"]]) < 2:
            rig.paths.patched.clear()
            await rig.paths.patched.wait()
    assert not done.done()  # waiting for the recorder to complete the segments
    rig.segment("complete", "lab_a.mp4", duration=1.0)
    rig.segment("complete", "yard_a.mp4", camera="yard", duration=1.0)
    await asyncio.wait_for(done, 10)
    stopped = [n for n in rig.notes if n["status"] == "STOPPED"]
    assert sorted(n["camera_id"] for n in stopped) == ["lab", "yard"]
    assert {n["reason"] for n in stopped} == {"shutdown"}


async def test_a_segment_on_disk_before_its_hook_is_waited_for(rig: Rig) -> None:
    session = await rig.manager.start("lab", None, None)
    t = session.start_time
    first, second = (expected_name("lab", t + i, "mp4") for i in (-1, 0))
    rig.segment("create", first)
    await rig.note("STARTED")
    # A segment boundary just before the stop: MediaMTX created the file; its create
    # hook has not arrived when the first segment's complete does.
    (rig.recordings / second).write_bytes(b"x" * 10)
    (rig.recordings / expected_name("yard", t, "mp4")).write_bytes(b"other camera")
    (rig.recordings / expected_name("lab", t - 3600, "mp4")).write_bytes(b"an older one")
    await rig.manager.stop("lab")
    rig.segment("complete", first, duration=1.0)
    assert not [n for n in rig.notes if n["status"] == "STOPPED"]
    async with asyncio.timeout(10):
        while second not in session.segments:  # found on disk
            session.changed.clear()
            await session.changed.wait()
    rig.segment("complete", second, duration=0.5)
    stopped = await rig.note("STOPPED")
    assert stopped["files"] == [first, second] and stopped["duration"] == 1.5


# --- what is on disk: junk left by a recorder that cannot write -----------------------------


@pytest.fixture
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager_module, "ABANDON_GRACE", 0.0)


async def test_empty_segments_are_removed_and_a_cut_short_one_kept_with_its_duration(
    rig: Rig, no_grace: None, quick: None
) -> None:
    session = await rig.manager.start("lab", None, None)
    rig.segment("create", "lab_a.mp4", data=MEDIA * 250)  # cut short: no complete hook
    rig.segment("create", "lab_b.mp4", data=b"")  # a retry on a full disk
    rig.segment("create", "lab_c.mp4", data=b"")
    await rig.settle()
    # lab_b: empty, and the recorder moved on: gone at once. lab_a: given up, timed.
    assert not (rig.recordings / "lab_b.mp4").exists()
    assert session.files == ["lab_a.mp4", "lab_c.mp4"]
    assert session.segments["lab_a.mp4"] == 2.5 and "lab_a.mp4" in session.completed
    abandoned = [e for e in rig.storage_events if isinstance(e, SegmentAbandoned)]
    assert [e.segment.name for e in abandoned] == ["lab_a.mp4"]

    await rig.manager.stop("lab")
    stopped = await rig.note("STOPPED")
    assert stopped["files"] == ["lab_a.mp4"] and stopped["duration"] == 2.5
    assert stopped["file_size"] == 250
    assert sorted(p.name for p in rig.recordings.iterdir()) == ["lab_a.mp4"]
    deleted = [e.filename for e in rig.storage_events if isinstance(e, MediaDeleted)]
    assert deleted == ["lab_b.mp4", "lab_c.mp4"] and rig.manager.removed == 2
    # A late hook of a removed segment does not bring it back.
    rig.segment("complete", "lab_b.mp4", duration=0.0)
    assert session.files == ["lab_a.mp4"]


async def test_an_unreadable_segment_is_removed_one_only_found_on_disk_is_kept(
    rig: Rig, quick: None
) -> None:
    session = await rig.manager.start("lab", None, None)
    first = expected_name("lab", session.start_time, "mp4")
    rig.segment("create", first, data=b"ftyp moov, no frame")
    await rig.note("STARTED")
    # A file of the session's name and time that no hook named: not known to be ours.
    second = expected_name("lab", session.start_time + 1, "mp4")
    (rig.recordings / second).write_bytes(b"")
    await rig.manager.stop("lab")
    stopped = await rig.note("STOPPED")
    assert stopped["files"] == [] and stopped["duration"] == 0
    assert not (rig.recordings / first).exists()  # named by a hook, no media: removed
    assert (rig.recordings / second).exists()  # never ours to delete; not reported


async def test_a_complete_segment_is_timed_by_its_hook_unless_it_is_empty(rig: Rig) -> None:
    await rig.manager.start("lab", None, None)
    rig.segment("create", "lab_a.mp4")
    rig.segment("complete", "lab_a.mp4", duration=4.0)
    rig.segment("create", "lab_b.mp4", data=b"")
    await rig.manager.stop("lab")
    rig.segment("complete", "lab_b.mp4", duration=1.0)  # closed, but nothing in it
    stopped = await rig.note("STOPPED")
    assert stopped["files"] == ["lab_a.mp4"] and stopped["duration"] == 4.0


# --- progress: degraded while nothing is written -----------------------------------------------


def test_progress_is_growth_of_one_segment_between_two_looks() -> None:
    s = Recording("s", "lab", "lab", "mp4", None, 0.0, "lab_x.mp4")
    s.segments["a.mp4"] = None
    s.began = s.progress_at = 100.0
    assert progress.observe(s, "a.mp4", 10, 101.0, None) is None  # the first look: baseline
    assert progress.observe(s, "a.mp4", 20, 102.0, None) is None and s.progress_at == 102.0
    stall = 102.0 + progress.STALL_SECONDS
    # New segments that stay empty (a full disk's retries) are no progress.
    assert progress.observe(s, "b.mp4", 0, stall - 1, None) is None
    turn = progress.observe(s, "c.mp4", 0, stall, 0)
    assert turn == (progress.Turn.DEGRADED, Interruption.STORAGE_FULL)
    assert progress.observe(s, "c.mp4", 0, stall + 5, None) is None  # said once
    assert s.recorded_so_far(stall + 5) == pytest.approx(2.0)  # 100 to 102: then nothing
    assert progress.observe(s, "d.mp4", 700, stall + 6, None) is None  # a header: baseline
    turn = progress.observe(s, "d.mp4", 9000, stall + 7, None)
    assert turn == (progress.Turn.RESUMED, Interruption.STORAGE_FULL)
    assert s.degraded is None and s.stalled_seconds == pytest.approx(stall + 7 - 102.0)
    s.progress_at = 0.0
    assert progress.observe(s, "d.mp4", 9000, 50.0, 10**9) == (
        progress.Turn.DEGRADED,
        Interruption.STALLED,
    )


def component(health: Health, name: str) -> tuple[Status, bool]:
    """A component's status, and whether its reason names the camera lab."""
    state = health.components[name]
    return state.status, "lab" in state.reason


@pytest.fixture
def fast_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "LOOK_INTERVAL", 0.02)
    monkeypatch.setattr(progress, "STALL_SECONDS", 0.3)


async def test_a_session_that_writes_nothing_is_degraded_until_it_writes_again(
    tmp_path: Path, fast_looks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    health = Health()
    rig = Rig(tmp_path, health=health)
    full = DiskUsage(total=10**6, used=10**6, available=0)
    monkeypatch.setattr(manager_module, "disk_usage", lambda path: full)
    try:
        await rig.manager.restore()
        session = await rig.manager.start("lab", None, None)
        rig.segment("create", "lab_a.mp4")
        assert "recordings" not in health.components  # registered at the first trouble
        degraded = await rig.note("DEGRADED")
        assert degraded["reason"] == "storage_full" and "full" in degraded["error"]
        assert degraded["session_id"] == session.session_id and degraded["duration"] is None
        assert session.state == "degraded" and session.degraded == "storage_full"
        assert rig.manager.degraded == 1
        assert component(health, "recordings") == (Status.DEGRADED, True)

        with (rig.recordings / "lab_a.mp4").open("ab") as f:  # the disk has room again
            f.write(MEDIA * 10)
        resumed = await rig.note("RESUMED")
        assert resumed["reason"] == "storage_full" and resumed["current_file"] == "lab_a.mp4"
        assert component(health, "recordings") == (Status.HEALTHY, False)
        assert rig.manager.degraded == 0 and session.stalled_seconds >= 0.3
        # The stop's answer leaves the stall out of the recorded time.
        await rig.manager.stop("lab")
        result = stopped_result(session, rig.recordings)
        assert result["duration"] <= round(session.elapsed(time.time()) - 0.3, 3) + 0.01
        # Writes failed meanwhile: the recorder's word is checked against the file.
        rig.segment("complete", "lab_a.mp4", duration=99.0)
        stopped = await rig.note("STOPPED")
        assert stopped["duration"] == 1.1  # 110 bytes: what the container holds
    finally:
        await rig.manager.close()


async def test_mediamtx_unreachable_ends_the_sessions_at_once(rig: Rig) -> None:
    await rig.manager.start("lab", None, None)
    rig.segment("create", "lab_a.mp4")
    rig.events.publish(MediaMtxUnreachable("connection refused"))
    assert rig.manager.active == {} and rig.desired.fields("lab")["record"] is False
    camera = rig.cameras.get("lab")
    assert camera is not None and not camera.recording
    rig.segment("complete", "lab_a.mp4", duration=3.0)
    stopped = await rig.note("STOPPED")
    assert stopped["reason"] == "mediamtx_restarted" and stopped["files"] == ["lab_a.mp4"]


# --- a restart: sessions the previous run left -------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> Any:
    database = await AsyncDatabase.open(tmp_path / "service.db")
    yield database
    await database.close()


async def crashed(rig: Rig) -> None:
    """The process dies here: what was saved stays, nothing more happens."""
    await rig.settle()
    rig.manager._closed = True  # no more writes
    await rig.manager.close()


async def test_a_recording_until_stopped_is_resumed_after_a_crash(
    tmp_path: Path, db: AsyncDatabase
) -> None:
    before = Rig(tmp_path, db=db)
    session = await before.manager.start("lab", None, None)
    before.segment("create", "lab_a.mp4")
    await before.note("STARTED")
    await crashed(before)

    after = Rig(tmp_path, db=db)
    try:
        await after.manager.restore()
        resumed = after.manager.active["lab"]
        assert resumed.session_id == session.session_id and resumed.files == ["lab_a.mp4"]
        assert resumed.resumed_at is not None and resumed.began == session.began
        note = await after.note("RESUMED")
        assert note["reason"] == "service_restarted" and note["session_id"] == session.session_id
        assert after.desired.fields("lab")["record"] is True and after.holders[0].started
        camera = after.cameras.get("lab")
        assert camera is not None and camera.recording
        assert resumed.state == "recording" and resumed.resumed_at is not None
        # The segment MediaMTX is still writing is open again for the index.
        created = [e for e in after.storage_events if isinstance(e, SegmentCreated)]
        assert [e.segment.name for e in created] == ["lab_a.mp4"]

        await after.manager.stop("lab")
        after.segment("complete", "lab_a.mp4", duration=7.0)
        stopped = await after.note("STOPPED")
        assert stopped["session_id"] == session.session_id and stopped["files"] == ["lab_a.mp4"]
        await after.settle()
    finally:
        await after.manager.close()

    again = Rig(tmp_path, db=db)
    try:
        await again.manager.restore()
        assert again.manager.active == {}  # final: nothing to take up
        last = again.manager.last.get("lab")
        assert last is not None and recording_ended(last) == stopped  # kept across restarts
    finally:
        await again.manager.close()


async def test_a_timed_recording_interrupted_by_a_crash_is_ended_and_reported(
    tmp_path: Path, db: AsyncDatabase, quick: None
) -> None:
    before = Rig(tmp_path, db=db)
    session = await before.manager.start("lab", 60.0, None)
    before.segment("create", "lab_a.mp4", data=MEDIA * 300)
    before.segment("create", "lab_b.mp4", data=b"")  # the disk filled up before the crash
    await before.note("STARTED")
    await crashed(before)

    after = Rig(tmp_path, db=db)
    try:
        await after.manager.restore()
        assert after.manager.active == {} and after.desired.fields("lab")["record"] is False
        stopped = await after.note("STOPPED")
        assert stopped["session_id"] == session.session_id
        assert stopped["reason"] == "interrupted" and stopped["files"] == ["lab_a.mp4"]
        assert stopped["duration"] == 3.0  # the container's, not the clock's
        assert not (after.recordings / "lab_b.mp4").exists()
        last = after.manager.last.get("lab")
        assert last is not None and recording_ended(last) == stopped
    finally:
        await after.manager.close()


async def test_a_session_killed_while_ending_is_finalized_with_its_reason(
    tmp_path: Path, db: AsyncDatabase
) -> None:
    before = Rig(tmp_path, db=db)
    await before.manager.start("lab", None, None)
    before.segment("create", "lab_a.mp4")
    await before.manager.shutdown(timeout=0.1)  # killed while waiting for the last hook

    after = Rig(tmp_path, db=db)
    try:
        await after.manager.restore()
        assert after.manager.active == {}
        after.segment("complete", "lab_a.mp4", duration=2.0)
        stopped = await after.note("STOPPED")
        assert stopped["reason"] == "shutdown" and stopped["files"] == ["lab_a.mp4"]
        assert after.manager.active == {}
    finally:
        await after.manager.close()
