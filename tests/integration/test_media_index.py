"""The media index: names, probes (real ffprobe on files FFmpeg makes here), the
reconcile at start, the service's own events (segment hooks, snapshots, deletions) and
the rescans inotify asks for when something else changed, with a real SQLite database."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from camera_service.db import AsyncDatabase
from camera_service.events import EventBus
from camera_service.storage import index as media_index
from camera_service.storage.events import (
    MediaDeleted,
    SegmentAbandoned,
    SegmentCompleted,
    SegmentCreated,
    SnapshotSaved,
)
from camera_service.storage.index import WRITE_IDLE_SECONDS, MediaEntry, MediaIndex, name_info
from camera_service.storage.names import Kind, is_media_name
from camera_service.storage.probe import (
    ImageInfo,
    VideoInfo,
    image_info,
    parse_ffprobe,
    probe_video,
    read_image_info,
)
from tests.support.hostile_names import plant_symlinks
from tests.support.media_samples import ffmpeg, samples
from tests.support.processes import children, state, until

WAIT = 60.0  # generous: other test runs share the machine's two cores
__all__ = ["samples"]  # a fixture


Factory = Callable[..., Awaitable[MediaIndex]]


@pytest.fixture
async def make_index(tmp_path: Path) -> AsyncIterator[Factory]:
    """``await make_index()`` starts an index over tmp_path/rec and tmp_path/snap with a
    database that outlives it (a second call is a restart)."""
    rec, snap = tmp_path / "rec", tmp_path / "snap"
    rec.mkdir(exist_ok=True)
    snap.mkdir(exist_ok=True)
    db = await AsyncDatabase.open(tmp_path / "index.db")
    started: list[MediaIndex] = []

    async def make(events: EventBus | None = None) -> MediaIndex:
        index = MediaIndex(db, rec, snap, events)
        await index.start()
        started.append(index)
        return index

    try:
        yield make
    finally:
        for index in started:
            await index.stop()
        await db.close()


async def names(index: MediaIndex, kind: Kind) -> list[str]:
    return [e.name for e in (await index.list(kind, limit=1000)).files]


async def entry(index: MediaIndex, kind: Kind, name: str) -> MediaEntry | None:
    files = (await index.list(kind, limit=1000)).files
    return next((e for e in files if e.name == name), None)


async def until_listed(index: MediaIndex, kind: Kind, expected: set[str]) -> None:
    """Wait (on the index's own change notifications) until the listing is ``expected``;
    ``list`` does not look at the file system itself, so this proves events arrived."""

    async def listed() -> bool:
        return set(await names(index, kind)) == expected

    await index.wait_until(listed, WAIT)


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "camera", "start"),
    [
        ("recording", "lab_2025-01-15_14-30-00.mp4", "lab", "2025-01-15T14:30:00"),
        ("recording", "camera0_2025-01-15_14-30-00.TS", "camera0", "2025-01-15T14:30:00"),
        ("recording", "my_cam-2_2025-12-31_23-59-59.mp4", "my_cam-2", "2025-12-31T23:59:59"),
        ("recording", "lab_2025-01-15_14-30-00-250000.mp4", "lab", "2025-01-15T14:30:00.25"),
        ("snapshot", "lab_snapshot_2025-01-15_14-30-00.jpg", "lab", "2025-01-15T14:30:00"),
        ("snapshot", "lab_snapshot_2025-01-15_14-30-00_2.png", "lab", "2025-01-15T14:30:00"),
        ("snapshot", "a_b_snapshot_2025-01-15_14-30-00.jpeg", "a_b", "2025-01-15T14:30:00"),
    ],
)
def test_names_following_the_contract_give_camera_and_utc_start(
    kind: Kind, name: str, camera: str, start: str
) -> None:
    assert name_info(kind, name) == (camera, utc(start))


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("recording", "holiday.mp4"),
        ("recording", "lab_2025-13-01_00-00-00.mp4"),  # no month 13
        ("recording", "lab_2025-01-15_14-30-00.mkv"),
        ("recording", "lab_snapshot_2025-01-15_14-30-00.jpg"),
        ("recording", "_2025-01-15_14-30-00.mp4"),
        ("recording", "lab_٢٠٢٥-01-15_14-30-00.mp4"),  # Arabic-Indic digits are not ours
        ("snapshot", "lab_2025-01-15_14-30-00.jpg"),
        ("snapshot", "lab_snapshot_2025-01-15.jpg"),
    ],
)
def test_other_names_have_no_camera_and_no_time(kind: Kind, name: str) -> None:
    assert name_info(kind, name) == (None, None)


def test_media_names() -> None:
    assert is_media_name("recording", "a.mp4") and is_media_name("recording", "B.TS")
    assert is_media_name("snapshot", "x.JPEG")
    assert is_media_name("snapshot", "holiday photo (1).png")
    assert not is_media_name("recording", "a.jpg")
    assert not is_media_name("snapshot", "a.mp4")
    assert not is_media_name("recording", ".mtxrec-1-000000.mp4")  # hidden: a work file
    assert not is_media_name("recording", ".mp4")
    assert not is_media_name("recording", "notes.txt")
    assert not is_media_name("recording", "a\nb.mp4")
    assert not is_media_name("recording", "%2e%2e.mp4")


# --- probes -------------------------------------------------------------------------------------


def test_image_headers_of_real_files(samples: dict[str, Path]) -> None:
    for stem, expected in (
        ("wide", ImageInfo("jpg", 640, 360)),
        ("small", ImageInfo("png", 64, 48)),
    ):
        fd = os.open(samples[stem], os.O_RDONLY)
        try:
            assert read_image_info(fd) == expected
        finally:
            os.close(fd)


def test_image_header_parser_refuses_what_it_cannot_read(samples: dict[str, Path]) -> None:
    jpeg = samples["wide"].read_bytes()
    png = samples["small"].read_bytes()

    def info(data: bytes) -> ImageInfo | None:
        return image_info(lambda offset, size: data[offset : offset + size])

    assert info(b"") is None
    assert info(b"GIF89a" + bytes(100)) is None
    assert info(jpeg[:20]) is None  # cut before the frame header
    assert info(png[:20]) is None
    assert info(b"\xff\xd8\xff\xda" + bytes(64)) is None  # scan data before any frame
    assert info(b"\xff\xd8" + b"\xff\xe0\x00\x00" * 4) is None  # a zero length
    # Segments in front of the frame header are skipped, whatever their size.
    app = b"\xff\xe1" + (40_002).to_bytes(2, "big") + bytes(40_000)
    assert info(jpeg[:2] + app + jpeg[2:]) == ImageInfo("jpg", 640, 360)


def test_ffprobe_output_parsing() -> None:
    out = {
        "streams": [{"codec_type": "audio"}, {"codec_type": "video", "width": 640, "height": 360}],
        "format": {"duration": "5.012000"},
    }
    assert parse_ffprobe(orjson.dumps(out)) == VideoInfo(5.012, 640, 360)
    out = {"streams": [{"codec_type": "video", "duration": "3.5"}], "format": {"duration": "N/A"}}
    assert parse_ffprobe(orjson.dumps(out)) == VideoInfo(3.5, None, None)
    assert parse_ffprobe(b"{}") == VideoInfo(None, None, None)


@pytest.mark.needs("ffprobe")
async def test_a_cancelled_probe_kills_and_reaps_ffprobe(tmp_path: Path) -> None:
    # A FIFO nobody writes to: the real ffprobe opens it and waits for data for ever.
    fifo = tmp_path / "stalled.mp4"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR)  # a writer end too, so ffprobe's open does not block
    try:
        probe = asyncio.create_task(probe_video(fd, timeout=WAIT))
        await until(lambda: bool(children("ffprobe")), WAIT)
        pids = children("ffprobe")
        assert len(pids) == 1
        probe.cancel()
        await asyncio.wait({probe}, timeout=WAIT)
        assert probe.cancelled()
        assert state(pids[0]) is None  # killed and reaped before the probe ended
    finally:
        os.close(fd)


# --- reconcile at start ---------------------------------------------------------------------------


async def test_start_indexes_every_media_file_and_reads_real_durations_and_sizes(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path]
) -> None:
    rec, snap = tmp_path / "rec", tmp_path / "snap"
    shutil.copy(samples["two"], rec / "lab_2025-01-15_14-30-00.mp4")
    shutil.copy(samples["one"], rec / "holiday clip (1).ts")  # not ours, odd name
    shutil.copy(samples["two"], rec / "café.MP4")
    (rec / "broken.mp4").write_bytes(b"not a video")
    shutil.copy(samples["wide"], snap / "lab_snapshot_2025-01-15_14-30-05.jpg")
    shutil.copy(samples["small"], snap / "photo.png")
    shutil.copy(samples["small"], snap / "really-a-png.jpg")
    # Never listed: hidden work files, other types, directories, links, fifos.
    shutil.copy(samples["two"], rec / ".mtxrec-0001-000000.mp4")
    (rec / "notes.txt").write_text("x")
    (rec / "dir.mp4").mkdir()
    os.mkfifo(rec / "fifo.mp4")
    secret = tmp_path / "secret.mp4"
    shutil.copy(samples["two"], secret)
    plant_symlinks(rec, secret)
    plant_symlinks(snap, secret)
    foreign_mtime = os.stat(rec / "holiday clip (1).ts").st_mtime

    index = await make_index()
    await index.settled(WAIT)

    recordings = {e.name: e for e in (await index.list("recording")).files}
    assert set(recordings) == {
        "lab_2025-01-15_14-30-00.mp4",
        "holiday clip (1).ts",
        "café.MP4",
        "broken.mp4",
    }
    ours = recordings["lab_2025-01-15_14-30-00.mp4"]
    assert ours.camera_id == "lab" and ours.start_time == utc("2025-01-15T14:30:00")
    assert ours.duration == pytest.approx(2.0, abs=0.15)
    assert ours.end_time == pytest.approx(ours.start_time + 2.0, abs=0.15)
    assert (ours.width, ours.height, ours.format) == (320, 240, "mp4")
    assert ours.size == (rec / ours.name).stat().st_size
    foreign = recordings["holiday clip (1).ts"]
    assert foreign.camera_id is None and foreign.start_time == foreign_mtime
    assert foreign.duration == pytest.approx(1.0, abs=0.15) and foreign.format == "ts"
    assert recordings["café.MP4"].duration == pytest.approx(2.0, abs=0.15)
    assert recordings["broken.mp4"].duration is None  # unreadable: listed, no duration

    snapshots = {e.name: e for e in (await index.list("snapshot")).files}
    assert set(snapshots) == {
        "lab_snapshot_2025-01-15_14-30-05.jpg",
        "photo.png",
        "really-a-png.jpg",
    }
    shot = snapshots["lab_snapshot_2025-01-15_14-30-05.jpg"]
    assert (shot.camera_id, shot.width, shot.height, shot.format) == ("lab", 640, 360, "jpg")
    assert (snapshots["photo.png"].width, snapshots["photo.png"].height) == (64, 48)
    assert snapshots["really-a-png.jpg"].format == "png"  # the header says what it is
    assert secret.read_bytes() == samples["two"].read_bytes()
    assert await index.total_size("recording") == sum(e.size for e in recordings.values())


async def test_restart_reconciles_what_changed_while_the_service_was_down(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path]
) -> None:
    rec = tmp_path / "rec"
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        shutil.copy(samples["two"], rec / name)
    index = await make_index()
    await index.settled(WAIT)
    await index.stop()

    (rec / "a.mp4").unlink()
    shutil.copy(samples["one"], rec / "b.mp4")  # rewritten: now a 1 s clip
    shutil.copy(samples["one"], rec / "d.ts")
    index = await make_index()
    await index.settled(WAIT)
    listed = {e.name: e for e in (await index.list("recording")).files}
    assert set(listed) == {"b.mp4", "c.mp4", "d.ts"}
    assert listed["b.mp4"].duration == pytest.approx(1.0, abs=0.15)
    assert listed["b.mp4"].size == (rec / "b.mp4").stat().st_size
    assert listed["c.mp4"].duration == pytest.approx(2.0, abs=0.15)


# --- changes while running ------------------------------------------------------------------------


async def test_inotify_follows_files_created_renamed_moved_and_deleted(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path]
) -> None:
    """Changes nobody in the service announced: each one ends in a rescan."""
    snap = tmp_path / "snap"
    index = await make_index()
    await until_listed(index, "snapshot", set())

    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120", "-frames:v", "1", str(snap / "new.jpg"))
    await until_listed(index, "snapshot", {"new.jpg"})
    await index.settled(WAIT)
    new = await entry(index, "snapshot", "new.jpg")
    assert new is not None and (new.width, new.height) == (160, 120)

    os.rename(snap / "new.jpg", snap / "renamed.jpg")
    await until_listed(index, "snapshot", {"renamed.jpg"})

    outside = tmp_path / "outside.png"
    shutil.copy(samples["small"], outside)
    os.rename(outside, snap / "moved in.png")
    await until_listed(index, "snapshot", {"renamed.jpg", "moved in.png"})
    await index.settled(WAIT)
    moved = await entry(index, "snapshot", "moved in.png")
    assert moved is not None and (moved.width, moved.height) == (64, 48)

    os.rename(snap / "renamed.jpg", snap / ".hidden.jpg")  # hidden: no longer listed
    await until_listed(index, "snapshot", {"moved in.png"})
    os.rename(snap / "moved in.png", tmp_path / "moved out.png")
    await until_listed(index, "snapshot", set())

    shutil.copy(samples["two"], tmp_path / "rec" / "clip.mp4")
    await until_listed(index, "recording", {"clip.mp4"})
    await index.settled(WAIT)
    clip = await entry(index, "recording", "clip.mp4")
    assert clip is not None and clip.duration == pytest.approx(2.0, abs=0.15)
    (tmp_path / "rec" / "clip.mp4").unlink()
    await until_listed(index, "recording", set())


def max_queued_events() -> int:
    return int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())


async def test_lost_inotify_events_trigger_a_full_rescan(
    tmp_path: Path, make_index: Factory
) -> None:
    """More changes than the kernel queues while the loop is busy: the queue overflows,
    events are lost, and the rescan still finds every file."""
    snap = tmp_path / "snap"
    index = await make_index()
    await until_listed(index, "snapshot", set())
    count = (
        max_queued_events() // 2 + 100
    )  # two events each (create, close): more than the queue holds
    for i in range(count):  # no await: the loop cannot read events meanwhile
        (snap / f"shot-{i:06d}.jpg").write_bytes(b"")

    async def all_listed() -> bool:
        return (await index.list("snapshot", limit=1)).total == count

    await index.wait_until(all_listed, WAIT)
    assert index.rescans >= 2  # at start, and after the overflow


async def test_segment_hooks_list_a_recording_while_written_and_probe_it_when_complete(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path]
) -> None:
    """As MediaMTX's recorder does in the double: the segment is written through a hidden
    work name, hard-linked to its real name and the work name swapped for a symlink (so
    the real name is the only link), and inotify sees only its creation."""
    events = EventBus()
    index = await make_index(events)
    rec = tmp_path / "rec"
    name = "lab_2025-01-15_14-30-00.mp4"
    segment, work = rec / name, rec / ".mtxrec-1-000000.mp4"
    data = samples["two"].read_bytes()
    await until_listed(index, "recording", set())

    with work.open("wb") as f:
        f.write(data[:1000])
        f.flush()
        os.link(work, segment)
        os.symlink(segment, rec / ".swap")
        os.replace(rec / ".swap", work)
        events.publish(SegmentCreated("lab", segment))
        listed = await entry(index, "recording", name)  # list applies what is pending first
        assert listed is not None and listed.writing and listed.duration is None
        assert listed.camera_id == "lab" and listed.size == 1000
        f.write(data[1000:])
        f.flush()
        listed = await entry(index, "recording", name)  # the size now, while written
        assert listed is not None and listed.size == len(data) and listed.duration is None
    work.unlink()

    events.publish(SegmentCompleted("lab", segment, 9.0))
    await index.settled(WAIT)
    done = await entry(index, "recording", name)
    assert done is not None and not done.writing
    assert done.duration == pytest.approx(2.0, abs=0.15)  # read from the file, not the hook


@pytest.mark.parametrize("same_batch", [True, False])
async def test_a_create_hook_arriving_after_complete_does_not_reopen_the_segment(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path], same_batch: bool
) -> None:
    """MediaMTX runs each segment hook as its own process, so for a short segment the
    "create" call can reach us after "complete". The segment stays closed (and so can
    be deleted), whether the two are applied together or one after the other."""
    events = EventBus()
    index = await make_index(events)
    await until_listed(index, "recording", set())
    index.watcher.stop()  # only the hooks tell the index now
    segment = tmp_path / "rec" / "lab_2025-01-15_14-30-00.mp4"
    shutil.copy(samples["two"], segment)

    events.publish(SegmentCompleted("lab", segment, 2.0))
    if not same_batch:
        closed = await entry(index, "recording", segment.name)
        assert closed is not None and not closed.writing
    events.publish(SegmentCreated("lab", segment))
    late = await entry(index, "recording", segment.name)
    assert late is not None and not late.writing

    # A "create" for a file that did change since is believed.
    with segment.open("ab") as f:
        f.write(b"more")
    events.publish(SegmentCreated("lab", segment))
    reopened = await entry(index, "recording", segment.name)
    assert reopened is not None and reopened.writing


async def test_a_segment_its_recorder_gave_up_on_is_probed_at_once(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path]
) -> None:
    """MediaMTX died mid-segment: no complete hook comes. The record manager's word
    that the segment is abandoned closes it, and it is probed, without a restart."""
    events = EventBus()
    index = await make_index(events)
    await until_listed(index, "recording", set())
    segment = tmp_path / "rec" / "lab_2025-01-15_14-30-00.mp4"
    shutil.copy(samples["two"], segment)
    events.publish(SegmentCreated("lab", segment))
    opened = await entry(index, "recording", segment.name)
    assert opened is not None and opened.writing and opened.duration is None

    events.publish(SegmentAbandoned("lab", segment))
    await index.settled(WAIT)
    done = await entry(index, "recording", segment.name)
    assert done is not None and not done.writing
    assert done.duration == pytest.approx(2.0, abs=0.15)


async def test_a_segment_nobody_writes_any_more_is_closed_and_probed(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No event at all after its create hook (a writer that died without a word): once
    its file is idle for WRITE_IDLE_SECONDS the index closes and probes it itself."""
    monkeypatch.setattr(media_index, "IDLE_SWEEP_SECONDS", 0.05)
    events = EventBus()
    index = await make_index(events)
    await until_listed(index, "recording", set())
    segment = tmp_path / "rec" / "lab_2025-01-15_14-30-00.mp4"
    shutil.copy(samples["two"], segment)
    events.publish(SegmentCreated("lab", segment))
    opened = await entry(index, "recording", segment.name)
    assert opened is not None and opened.writing

    idle = time.time() - WRITE_IDLE_SECONDS - 1
    os.utime(segment, (idle, idle))

    async def probed() -> bool:
        done = await entry(index, "recording", segment.name)
        return done is not None and not done.writing and done.duration is not None

    await index.wait_until(probed, WAIT)


def saved(filename: str) -> SnapshotSaved:
    """What the snapshot service publishes once ``filename`` is written (sizes aside)."""
    return SnapshotSaved("lab", "lab", filename, 1, 0.0, "warm", "jpg", 1, 1)


async def test_only_changes_the_service_does_not_explain_cause_a_rescan(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's own files reach the index through its events; inotify's reports of
    them are explained and cost nothing. A file copied in by hand is found by a rescan
    of its directory only."""
    # A margin for a loaded machine: a report read more than the window after the
    # event that explains it would count as unexplained.
    monkeypatch.setattr(media_index, "EXPLAIN_SECONDS", 3.0)
    events = EventBus()
    index = await make_index(events)
    await index.settled(WAIT)
    reconciled: list[str] = []
    reconcile = index.store.reconcile

    def spy(kind: Kind, startup: bool, now: float) -> None:
        reconciled.append(kind)
        reconcile(kind, startup, now)

    monkeypatch.setattr(index.store, "reconcile", spy)
    rec, snap = tmp_path / "rec", tmp_path / "snap"
    shot = "lab_snapshot_2025-01-15_14-30-00.jpg"

    # Snapshots as the service writes and deletes them; a marker copied in by hand into
    # the other directory afterwards: once it is listed, inotify's reports of the
    # snapshots (read before it, in order) have been weighed too.
    shutil.copy(samples["wide"], snap / shot)
    events.publish(saved(shot))
    shutil.copy(samples["small"], snap / "lab_snapshot_2025-01-15_14-30-01.png")
    events.publish(saved("lab_snapshot_2025-01-15_14-30-01.png"))
    (snap / shot).unlink()
    events.publish(MediaDeleted("snapshot", shot))
    shutil.copy(samples["one"], rec / "by hand.ts")
    await until_listed(index, "recording", {"by hand.ts"})
    assert reconciled == ["recording"]
    assert await names(index, "snapshot") == ["lab_snapshot_2025-01-15_14-30-01.png"]

    # A segment as MediaMTX writes it, then a marker in the snapshots directory.
    segment = rec / "lab_2025-01-15_14-30-00.mp4"
    shutil.copy(samples["two"], segment)
    events.publish(SegmentCreated("lab", segment))
    events.publish(SegmentCompleted("lab", segment, 2.0))
    shutil.copy(samples["small"], snap / "by hand.png")
    await until_listed(index, "snapshot", {"lab_snapshot_2025-01-15_14-30-01.png", "by hand.png"})
    assert reconciled == ["recording", "snapshot"]
    assert set(await names(index, "recording")) == {"by hand.ts", segment.name}


async def test_a_segment_a_rescan_found_before_its_create_hook_is_opened_by_the_hook(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path]
) -> None:
    """A rescan can find a new segment before its create hook arrives. The file is then
    listed as any file (nobody said it is being written), and the hook still opens it:
    a found file is not one its writer said is complete."""
    events = EventBus()
    index = await make_index(events)
    await until_listed(index, "recording", set())
    index.watcher.stop()
    segment = tmp_path / "rec" / "lab_2025-01-15_14-30-00.mp4"
    shutil.copy(samples["two"], segment)
    await index.rescan()
    found = await entry(index, "recording", segment.name)
    assert found is not None and not found.writing

    events.publish(SegmentCreated("lab", segment))
    opened = await entry(index, "recording", segment.name)
    assert opened is not None and opened.writing and opened.duration is None
    events.publish(SegmentCompleted("lab", segment, 2.0))
    await index.settled(WAIT)
    done = await entry(index, "recording", segment.name)
    assert done is not None and not done.writing
    assert done.duration == pytest.approx(2.0, abs=0.15)


async def test_a_late_create_hook_leaves_a_probed_segment_as_it_was(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path]
) -> None:
    events = EventBus()
    index = await make_index(events)
    await until_listed(index, "recording", set())
    index.watcher.stop()
    segment = tmp_path / "rec" / "lab_2025-01-15_14-30-00.mp4"
    shutil.copy(samples["two"], segment)
    events.publish(SegmentCompleted("lab", segment, 2.0))
    await index.settled(WAIT)
    events.publish(SegmentCreated("lab", segment))
    late = await entry(index, "recording", segment.name)
    assert late is not None and not late.writing
    assert late.duration == pytest.approx(2.0, abs=0.15)  # not forgotten


async def test_a_segment_whose_complete_hook_was_lost_is_closed_by_a_rescan_once_idle(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path]
) -> None:
    events = EventBus()
    index = await make_index(events)
    await until_listed(index, "recording", set())
    index.watcher.stop()
    segment = tmp_path / "rec" / "lab_2025-01-15_14-30-00.mp4"
    shutil.copy(samples["two"], segment)
    events.publish(SegmentCreated("lab", segment))
    await index.rescan()
    written = await entry(index, "recording", segment.name)
    assert written is not None and written.writing  # its writer may still be at it

    idle = time.time() - 2 * WRITE_IDLE_SECONDS
    os.utime(segment, (idle, idle))  # nobody wrote to it for two minutes
    await index.rescan()
    await index.settled(WAIT)
    closed = await entry(index, "recording", segment.name)
    assert closed is not None and not closed.writing
    assert closed.duration == pytest.approx(2.0, abs=0.15)


async def test_bus_events_are_applied_before_the_next_listing(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path]
) -> None:
    events = EventBus()
    index = await make_index(events)
    await until_listed(index, "snapshot", set())
    index.watcher.stop()  # only the bus tells the index now
    snap = tmp_path / "snap"
    shutil.copy(samples["wide"], snap / "lab_snapshot_2025-01-15_14-30-00.jpg")
    events.publish(
        SnapshotSaved(
            "lab", "lab", "lab_snapshot_2025-01-15_14-30-00.jpg", 1, 0.0, "warm", "jpg", 1, 1
        )
    )
    assert await names(index, "snapshot") == ["lab_snapshot_2025-01-15_14-30-00.jpg"]

    (snap / "lab_snapshot_2025-01-15_14-30-00.jpg").unlink()
    events.publish(MediaDeleted("snapshot", "lab_snapshot_2025-01-15_14-30-00.jpg"))
    assert await names(index, "snapshot") == []

    shutil.copy(samples["small"], snap / "late.png")
    await index.rescan()
    assert await names(index, "snapshot") == ["late.png"]


# --- queries ----------------------------------------------------------------------------------


async def test_pages_are_newest_first_and_filter_by_camera_and_time(
    tmp_path: Path, make_index: Factory
) -> None:
    rec = tmp_path / "rec"
    made = []
    for minute in range(10):
        for camera in ("lab", "camera0"):
            name = f"{camera}_2025-01-15_14-{minute:02d}-00.ts"
            (rec / name).write_bytes(b"")
            made.append((utc(f"2025-01-15T14:{minute:02d}:00"), name))
    newest_first = [n for _, n in sorted(made, reverse=True)]
    index = await make_index()

    page = await index.list("recording", limit=7)
    assert page.total == 20 and [e.name for e in page.files] == newest_first[:7]
    pages = [await index.list("recording", limit=7, offset=o) for o in (0, 7, 14)]
    assert [e.name for p in pages for e in p.files] == newest_first
    assert (await index.list("recording", offset=20)).files == []

    lab = await index.list("recording", camera_id="lab")
    assert lab.total == 10 and all(e.camera_id == "lab" for e in lab.files)
    window = await index.list(
        "recording", since=utc("2025-01-15T14:03:00"), until=utc("2025-01-15T14:05:00")
    )
    assert [e.name for e in window.files] == [
        "lab_2025-01-15_14-05-00.ts",
        "camera0_2025-01-15_14-05-00.ts",
        "lab_2025-01-15_14-04-00.ts",
        "camera0_2025-01-15_14-04-00.ts",
        "lab_2025-01-15_14-03-00.ts",
        "camera0_2025-01-15_14-03-00.ts",
    ]
    oldest = await index.oldest(["recording", "snapshot"], 3)
    assert [e.name for e in oldest] == [n for _, n in sorted(made)][:3]


async def test_delete_removes_the_file_and_its_row_and_nothing_else(
    tmp_path: Path, make_index: Factory
) -> None:
    rec = tmp_path / "rec"
    (rec / "a.ts").write_bytes(b"1234")
    secret = tmp_path / "secret.ts"
    secret.write_bytes(b"keep")
    plant_symlinks(rec, secret)
    index = await make_index()
    assert await index.delete("recording", "a.ts") == 4
    assert not (rec / "a.ts").exists() and await names(index, "recording") == []
    for name in ("a.ts", "link.mp4", "escape.ts", "dirlink.mp4", "secret.ts", "../secret.ts"):
        with pytest.raises(FileNotFoundError):
            await index.delete("recording", name)
    assert secret.read_bytes() == b"keep"
    assert (rec / "link.mp4").is_symlink()


async def test_stop_is_clean_while_probes_run(
    tmp_path: Path, make_index: Factory, samples: dict[str, Path]
) -> None:
    for i in range(20):
        shutil.copy(samples["two"], tmp_path / "rec" / f"clip{i}.mp4")
    index = await make_index()
    await until_listed(index, "recording", {f"clip{i}.mp4" for i in range(20)})
    await asyncio.wait_for(index.stop(), WAIT)
    assert all(t.done() for t in asyncio.all_tasks() if t.get_name().startswith("media-"))


async def test_one_directory_for_recordings_and_snapshots(
    tmp_path: Path, samples: dict[str, Path]
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    db = await AsyncDatabase.open(tmp_path / "index.db")
    index = MediaIndex(db, media, media)
    await index.start()
    try:
        await until_listed(index, "recording", set())
        shutil.copy(samples["one"], media / "clip.ts")
        shutil.copy(samples["small"], media / "shot.png")
        await until_listed(index, "recording", {"clip.ts"})
        await until_listed(index, "snapshot", {"shot.png"})
    finally:
        await index.stop()
        await db.close()


def test_a_file_is_being_written_only_while_open_and_modified_lately() -> None:
    now = 1_800_000_000.0
    entry = MediaEntry(
        "recording", "a.mp4", None, now, None, None, 10, now - 5, "mp4", None, None, True
    )
    assert entry.written_now(now)
    assert not dataclasses.replace(entry, writing=False).written_now(now)
    assert not dataclasses.replace(entry, mtime=now - 600).written_now(now)  # its writer died
