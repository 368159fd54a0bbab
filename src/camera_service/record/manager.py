"""Recording sessions on MediaMTX's native recorder.

A recording is part of the desired state: the manager sets each camera's ``record``
(and ``recordFormat``) in media's :class:`DesiredRecording`, and the MediaMTX
controller reconciles it, so a path a crashed service left recording is switched off
and a MediaMTX restart forgets nothing we still want. Start and stop also patch the
path at once, for speed. Real segment names arrive through MediaMTX's segment hooks
(segment events on the bus): the first create announces the session
(:class:`RecordingStarted`) and starts a duration limit's timer, so the media is as
long as asked.

Sessions belong to this manager, not to a connection. A session ends on
stop_recording, its duration, unplug, MediaMTX going away (unreachable, or restarted),
failure or shutdown; it is final (:class:`RecordingEnded`, with every segment) once the
recorder has completed the last segment, or after :data:`FINALIZE_TIMEOUT`.

What a session reports is what is on disk. A segment the recorder did not complete
(it died, or gave up on it and started another) is read with ffprobe for its duration;
one that holds no media (a full disk leaves such files behind, one per retry) is
deleted, if a hook named it (never a file we only found), and not reported. While a
session is on, its newest segment is watched (:mod:`record.progress`): when nothing is
written it is degraded (:class:`RecordingDegraded`; health component ``recordings``)
until media flows again (:class:`RecordingResumed`).

Sessions are kept in SQLite (:mod:`record.store`). At start, one the previous run
never finished was interrupted by a crash: a recording until stopped is taken up again
(the same session, :class:`RecordingResumed`), any other is ended (``interrupted``).
Each camera's last final session is kept for clients that were not there to hear it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, Protocol

from camera_service.cameras.events import CameraChanged, CameraRemoved
from camera_service.cameras.registry import CameraRegistry
from camera_service.config import Settings
from camera_service.db import AsyncDatabase
from camera_service.events import EventBus
from camera_service.limits import Admission, CapacityExceeded, Unlimited
from camera_service.media.access import InternalCredential
from camera_service.media.desired import DesiredRecording
from camera_service.media.events import MediaMtxRestarted, MediaMtxUnreachable
from camera_service.media.holder import StreamHolder
from camera_service.media.mediamtx.client import MediaMtxError
from camera_service.media.pathconf import RECORD_PART_SECONDS, reader_url
from camera_service.observability.health import ComponentHealth, Health, Status
from camera_service.record import progress
from camera_service.record.events import (
    RecordingDegraded,
    RecordingEnded,
    RecordingResumed,
    RecordingStarted,
)
from camera_service.record.recording import (
    Interruption,
    Reason,
    Recording,
    expected_name,
    unreported_segments,
)
from camera_service.record.segments import Content, Inspect, SegmentFacts, inspect
from camera_service.record.store import SessionStore, Stored, row_of
from camera_service.storage.disk import StorageLevel, disk_usage
from camera_service.storage.events import (
    MediaDeleted,
    SegmentAbandoned,
    SegmentCompleted,
    SegmentCreated,
    SegmentEvent,
)
from camera_service.storage.names import remove_media, stat_media
from camera_service.storage.probe import ffprobe_beside

log = logging.getLogger(__name__)
P = ParamSpec("P")

FINALIZE_TIMEOUT = 10.0  # for the last segment's complete hook
ABANDON_GRACE = 2.0  # an earlier segment's complete hook may be a moment behind the next create
FIRST_SEGMENT_GRACE = 2.0  # a stop before any segment: a create hook may be on its way
FIRST_SEGMENT_MARGIN = 10.0  # on top of mediamtx.on_demand_start_timeout
HOOK_CLOCK_SLACK = 10.0  # a hook's start time older than this is not believed


class PathControl(Protocol):
    """What the manager needs of the MediaMTX controller."""

    @property
    def reachable(self) -> bool: ...

    async def patch_path(self, name: str, conf: dict[str, Any]) -> None: ...


class RecordingError(Exception):
    """A start or stop refused; the message is fit for a client (no paths)."""


class CameraUnavailable(RecordingError):
    def __init__(self, camera_id: str) -> None:
        super().__init__(f"Camera not found or not connected: {camera_id}")


class AlreadyRecording(RecordingError):
    def __init__(self, camera_id: str, session_id: str) -> None:
        super().__init__(f"Camera {camera_id} is already recording")
        self.camera_id = camera_id
        self.session_id = session_id


class StorageRefused(RecordingError):
    def __init__(self, level: StorageLevel) -> None:
        threshold = "block" if level is StorageLevel.CRITICAL else "warn"
        super().__init__(
            f"Storage {'critical' if threshold == 'block' else 'low'}: disk use is above "
            f"the {threshold} threshold; new recordings are refused"
        )
        self.level = level


class MediaMtxFailed(RecordingError):
    def __init__(self, cause: str) -> None:
        super().__init__(f"MediaMTX operation failed: {cause}")


class NotRecording(MediaMtxFailed):
    def __init__(self, camera_id: str) -> None:
        super().__init__(f"camera {camera_id} is not recording")


HolderFactory = Callable[[Recording, Callable[[str], None]], StreamHolder]


class RecordingManager:
    def __init__(
        self,
        settings: Callable[[], Settings],
        cameras: CameraRegistry,
        events: EventBus,
        paths: PathControl,
        desired: DesiredRecording,
        recordings: Path,
        storage_level: Callable[[], StorageLevel],
        holder: HolderFactory | None = None,
        capacity: Admission | None = None,
        own_reader: Callable[[str], Callable[[], None]] | None = None,
        *,
        db: AsyncDatabase | None = None,
        health: Health | None = None,
        inspect: Inspect | None = None,
        internal: InternalCredential | None = None,
    ) -> None:
        self.settings = settings
        self.internal = internal  # what the holders present to MediaMTX
        self.cameras = cameras
        self.events = events
        self.paths = paths
        self.desired = desired  # kept in step with ``active``: see _activate
        self.recordings = recordings
        self.storage_level = storage_level
        self.make_holder = holder or self._reader
        self.capacity = capacity or Unlimited()
        self.active: dict[str, Recording] = {}  # camera_id -> the session recording it
        self._live: dict[str, Recording] = {}  # session_id -> every session not yet final
        # Tells the snapshot grabbers a holder is ours, not a viewer (GrabberPool.reading).
        self.own_reader = own_reader or (lambda camera_id: lambda: None)
        # session_id -> its reader, and the call that tells the grabbers it is gone
        self._holders: dict[str, tuple[StreamHolder, Callable[[], None]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}  # session_id -> its next timer
        self._tasks: set[asyncio.Task[None]] = set()
        self.last: dict[str, RecordingEnded] = {}  # camera_id -> its last final session
        self.removed = 0  # segments deleted because they held no media
        self.db = db
        self.store = SessionStore(db.database) if db is not None else None
        self.inspect = inspect or self._inspect
        self.health = health
        self._health: ComponentHealth | None = None  # registered at the first trouble
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False
        events.subscribe(SegmentCreated, self._on_segment)
        events.subscribe(SegmentCompleted, self._on_segment)
        events.subscribe(MediaMtxRestarted, self._on_mediamtx_gone)
        events.subscribe(MediaMtxUnreachable, self._on_mediamtx_gone)
        events.subscribe(CameraChanged, self._on_camera_changed)
        events.subscribe(CameraRemoved, self._on_camera_removed)

    # --- what others ask ------------------------------------------------------------

    def busy(self) -> set[str]:
        """Names of segments being written: not to be deleted or indexed as final."""
        return {name for s in self._live.values() for name in s.open_segments}

    @property
    def degraded(self) -> int:
        """Sessions that are on and write nothing."""
        return sum(1 for s in self.active.values() if s.degraded is not None)

    # --- lifetime ---------------------------------------------------------------------

    async def restore(self) -> None:
        """Take up the sessions the previous run left (before the MediaMTX controller's
        first reconcile reads the desired state), then watch the sessions' progress."""
        if self.db is not None and self.store is not None:
            try:
                stored = await self.db.run(self.store.load)
            except (sqlite3.Error, OSError) as exc:
                log.error("cannot read the recording sessions", extra={"error": str(exc)})
                stored = Stored([], {})
            self.last = stored.last
            for session in stored.unfinished:
                await self._take_up(session)
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    # --- start and stop --------------------------------------------------------------

    async def start(self, camera_id: str, duration: float | None, fmt: str | None) -> Recording:
        """Switch recording on; returns at once (the first segment comes later).
        Raises :class:`RecordingError` or :class:`CapacityExceeded` (recordings, streams,
        a USB device past the limit)."""
        camera = self.cameras.get(camera_id)
        if camera is None or not camera.connected:
            self.capacity.check_device(camera_id)  # a USB device past the limit: say so
            raise CameraUnavailable(camera_id)
        current = self.active.get(camera_id)
        if current is not None:
            raise AlreadyRecording(camera_id, current.session_id)
        s = self.settings()
        limit = s.resources.max_recordings
        if len(self.active) >= limit:
            raise CapacityExceeded("recordings", limit, len(self.active))
        try:
            level = self.storage_level()
        except OSError:
            level = StorageLevel.CRITICAL  # cannot tell: do not risk filling it
        if level is not StorageLevel.OK:
            raise StorageRefused(level)
        if not self.paths.reachable:
            raise MediaMtxFailed("MediaMTX is unreachable")
        self.capacity.check_stream(camera_id)  # the reader brings the stream up

        fmt = fmt or s.recording.format
        now = time.time()
        session = Recording(
            uuid.uuid4().hex,
            camera_id,
            camera.device,
            fmt,
            duration,
            now,
            expected_name(camera_id, now, fmt),
        )
        # Registered before the patch: a reconcile meanwhile keeps record on, and a
        # second start for the camera is refused.
        self._activate(session)
        self._live[session.session_id] = session
        # The reader first: an on-demand stream starts while MediaMTX takes the patch.
        holder = self.make_holder(
            session, lambda why: self._fail(session, Reason.STREAM_UNREADABLE, why)
        )
        self._holders[session.session_id] = (holder, self.own_reader(camera_id))
        holder.start()
        try:
            await self.paths.patch_path(camera_id, self.desired.fields(camera_id))
        except (MediaMtxError, asyncio.CancelledError) as exc:
            # Refused, or the request was cancelled (its deadline, the shutdown's): no
            # session is left to finalize, no notification, and the desired state says
            # record off, which the reconcile applies if MediaMTX took the patch after all.
            self._deactivate(session)
            self._live.pop(session.session_id, None)
            await self._stop_holder(session.session_id)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise MediaMtxFailed(str(exc)) from None
        if session.ended:
            return session  # unplugged during the patch: already being finalized
        self.cameras.update(camera_id, recording=True)
        self._save(session)
        if session.began is None:
            self._expect_first_segment(session, s.mediamtx.on_demand_start_timeout)
        log.info(
            "recording started",
            extra={"camera_id": camera_id, "session_id": session.session_id, "format": fmt},
        )
        return session

    async def stop(self, camera_id: str) -> Recording:
        """Switch recording off; returns at once with the segments known now. STOPPED
        follows when the recorder has completed the last segment."""
        session = self.active.get(camera_id)
        if session is None:
            raise NotRecording(camera_id)
        if not self.paths.reachable:
            raise MediaMtxFailed("MediaMTX is unreachable")
        self._deactivate(session)  # a reconcile meanwhile switches it off too
        try:
            await self.paths.patch_path(camera_id, self.desired.fields(camera_id))
        except MediaMtxError as exc:
            if not session.ended and camera_id not in self.active:
                self._activate(session)  # nothing changed: still recording
            raise MediaMtxFailed(str(exc)) from None
        self._end(session, Reason.REQUESTED, patch=False)
        return session

    async def shutdown(self, timeout: float = FINALIZE_TIMEOUT) -> None:
        """End every session (record off) and wait, bounded, until they are final."""
        for session in list(self.active.values()):
            self._end(session, Reason.SHUTDOWN)
        # Until no task is left: a final session still has its row to write.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks and (left := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._tasks), timeout=left)
        if self._tasks:
            log.warning("recordings not finalized at the shutdown deadline")
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(
            *(self._stop_holder(sid) for sid in list(self._holders)), return_exceptions=True
        )

    # --- ending -------------------------------------------------------------------------

    def _end(
        self, session: Recording, reason: Reason, *, patch: bool = True, error: str = ""
    ) -> None:
        """The session stops recording now; it becomes final in the background."""
        if session.ended:
            return
        session.ended_at = time.time()
        session.reason = reason
        session.error = error
        self._deactivate(session)
        timer = self._timers.pop(session.session_id, None)
        if timer is not None:
            timer.cancel()
        if session.camera_id not in self.active:
            self.cameras.update(session.camera_id, recording=False)
        session.mark()
        log.info(
            "recording ended",
            extra={
                "camera_id": session.camera_id,
                "session_id": session.session_id,
                "reason": reason.value,
            },
        )
        self._save(session)
        self._report_health()
        self._spawn(self._finalize(session, reason, patch))

    def _fail(self, session: Recording, reason: Reason, detail: str) -> None:
        if session.ended:
            return
        log.warning(
            "recording failed",
            extra={"camera_id": session.camera_id, "reason": reason.value, "detail": detail},
        )
        message = "the stream could not be read" if reason is Reason.STREAM_UNREADABLE else detail
        self._end(session, reason, error=message)

    async def _finalize(self, session: Recording, reason: Reason, patch: bool) -> None:
        try:
            if patch and session.camera_id not in self.active:
                try:
                    await self.paths.patch_path(
                        session.camera_id, self.desired.fields(session.camera_id)
                    )
                except MediaMtxError as exc:
                    # The reconcile switches it off when it can (desired: record off).
                    log.warning(
                        "cannot switch recording off",
                        extra={"camera_id": session.camera_id, "error": str(exc)},
                    )
            await self._stop_holder(session.session_id)
            await self._settle(session)
            for name in list(session.segments):
                await self._check(session, name)
        finally:
            self._live.pop(session.session_id, None)
            size = session.file_size(self.recordings)
            ended = RecordingEnded.of(session, reason, size)
            self.last[session.camera_id] = ended
            if self.store is not None:
                self._persist(self.store.finish, row_of(session), ended.duration, size)
            self.events.publish(ended)

    async def _settle(self, session: Recording) -> None:
        """Wait (bounded) until the recorder has completed every segment."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FINALIZE_TIMEOUT
        if not session.segments:
            await _wait(session, lambda: bool(session.segments), FIRST_SEGMENT_GRACE)
        for _ in range(3):
            if session.segments:
                await _wait(session, lambda: session.settled, deadline - loop.time())
            # A segment whose create hook is still on its way is on disk already.
            taken = {n for s in self._live.values() if s is not session for n in s.segments}
            try:
                late = await asyncio.to_thread(unreported_segments, self.recordings, session, taken)
            except OSError:
                late = []
            if not late or loop.time() >= deadline:
                break
            for name in late:
                session.segments.setdefault(name, None)
            session.mark()
        if session.open_segments:
            log.warning(
                "recording finalized without the recorder's completion",
                extra={"camera_id": session.camera_id, "segments": session.open_segments},
            )

    async def _stop_holder(self, session_id: str) -> None:
        entry = self._holders.pop(session_id, None)
        if entry is not None:
            holder, release = entry
            await holder.stop()
            release()

    # --- events ---------------------------------------------------------------------------

    def _on_mediamtx_gone(self, event: MediaMtxRestarted | MediaMtxUnreachable) -> None:
        # Its recorder is gone with it (or cannot be told anything): the sessions end
        # now, and the reconcile once it is back records nothing.
        for recording in list(self.active.values()):
            self._end(recording, Reason.MEDIAMTX_RESTARTED, patch=False)

    def _on_camera_changed(self, event: CameraChanged) -> None:
        session = self.active.get(event.after.camera_id)
        if session is not None and not event.after.connected:
            self._end(session, Reason.UNPLUGGED)  # its path is switched off

    def _on_camera_removed(self, event: CameraRemoved) -> None:
        session = self.active.get(event.camera.camera_id)
        if session is not None:
            # The path goes with the next reconcile.
            self._end(session, Reason.UNPLUGGED, patch=False)

    def _on_segment(self, event: SegmentEvent) -> None:
        name = event.segment.name
        session = self._route(event.camera_id, name)
        if session is None or name in session.discarded:
            return  # not ours (or long final): the media index still sees the file
        session.hooked.add(name)
        if isinstance(event, SegmentCreated):
            new = name not in session.segments
            session.segments.setdefault(name, None)
            if session.began is None:
                self._began(session, event.at)
            if new:
                self._spawn(self._abandon_earlier(session, name))
        else:
            session.segments[name] = event.duration
            session.completed.add(name)
        session.mark()
        self._save(session)

    def _route(self, camera_id: str, name: str) -> Recording | None:
        for live in self._live.values():
            if live.camera_id == camera_id and name in live.segments:
                return live
        session = self.active.get(camera_id)
        if session is not None:
            return session
        # A segment of a session that is ending (its create raced the stop).
        ending = [s for s in self._live.values() if s.camera_id == camera_id]
        return ending[-1] if ending else None

    def _began(self, session: Recording, at: float | None) -> None:
        now = time.time()
        hooked = at if at is not None and now - HOOK_CLOCK_SLACK <= at <= now else now
        # The hook runs once the first part is written; the media began a part earlier,
        # and never before the request.
        began = max(session.start_time, hooked - RECORD_PART_SECONDS)
        session.began = began
        session.progress_at = now
        timer = self._timers.pop(session.session_id, None)
        if timer is not None:
            timer.cancel()
        if session.duration is not None and not session.ended:
            # Timed from the first segment: the media is as long as asked.
            remaining = session.duration - (now - began)
            self._set_timer(session, remaining, lambda: self._end(session, Reason.DURATION))
        if not session.announced:
            session.announced = True
            self.events.publish(RecordingStarted.of(session))

    # --- what is on disk ------------------------------------------------------------------

    async def _abandon_earlier(self, session: Recording, newest: str) -> None:
        """``newest`` was created: the recorder writes no earlier segment again. One still
        open is looked at once its complete hook has had a moment (an empty one at
        once: nothing will ever be in it)."""
        names = list(session.segments)
        earlier = names[: names.index(newest)] if newest in names else []
        waiting = []
        for name in earlier:
            if name in session.completed:
                continue
            try:
                empty = stat_media(self.recordings, name).st_size == 0
            except (FileNotFoundError, OSError):
                empty = False
            if empty:
                await self._check(session, name)
            else:
                waiting.append(name)
        if waiting:
            await asyncio.sleep(ABANDON_GRACE)
            for name in waiting:
                if name in session.segments and name not in session.completed:
                    await self._check(session, name)

    async def _check(self, session: Recording, name: str) -> None:
        """A segment its recorder will not write again: keep it with the container's own
        duration, or remove it (and never report it) when it holds no media."""
        if name not in session.segments:
            return
        complete = name in session.completed
        duration = session.segments[name]
        try:
            if complete and duration and not session.doubtful:
                # Closed by the recorder with a length: trust it, unless it is empty.
                size = stat_media(self.recordings, name).st_size
                facts = (
                    SegmentFacts(Content.MEDIA, size, duration)
                    if size
                    else SegmentFacts(Content.EMPTY)
                )
            else:
                facts = await self.inspect(self.recordings, name)
        except FileNotFoundError:
            facts = SegmentFacts(Content.MISSING)
        except OSError as exc:
            log.warning("cannot read a segment", extra={"segment": name, "error": exc.strerror})
            return
        if name not in session.segments:
            return  # looked at meanwhile
        if facts.content is Content.MEDIA:
            session.segments[name] = facts.duration
            if not complete:
                session.completed.add(name)
                log.info(
                    "segment finalized without the recorder",
                    extra={"camera_id": session.camera_id, "segment": name},
                )
                self.events.publish(SegmentAbandoned(session.camera_id, self.recordings / name))
        else:
            self._forget_segment(session, name)
            if facts.junk and name in session.hooked:
                await self._remove(session, name, facts.content)
        session.mark()
        self._save(session)

    def _forget_segment(self, session: Recording, name: str) -> None:
        session.segments.pop(name, None)
        session.completed.discard(name)
        session.discarded.add(name)  # a late hook does not bring it back

    async def _remove(self, session: Recording, name: str, content: Content) -> None:
        try:
            await asyncio.to_thread(remove_media, self.recordings, name)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot remove a segment", extra={"segment": name, "error": exc.strerror})
            return
        self.removed += 1
        log.info(
            "removed a recording segment with no media",
            extra={"camera_id": session.camera_id, "segment": name, "content": content.value},
        )
        self.events.publish(MediaDeleted("recording", name))

    async def _inspect(self, recordings: Path, name: str) -> SegmentFacts:
        return await inspect(recordings, name, ffprobe_beside(self.settings().mediamtx.ffmpeg))

    # --- progress ---------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(progress.LOOK_INTERVAL)
            now = time.time()
            for session in list(self.active.values()):
                if session.began is not None and not session.ended and session.segments:
                    self._look(session, now)

    def _look(self, session: Recording, now: float) -> None:
        name = session.current_file
        try:
            size = stat_media(self.recordings, name).st_size
        except (FileNotFoundError, OSError):
            size = 0
        available: int | None = None
        if session.degraded is None and now - session.progress_at >= progress.STALL_SECONDS:
            with contextlib.suppress(OSError):
                available = disk_usage(self.recordings).available
        turn = progress.observe(session, name, size, now, available)
        if turn is None:
            return
        kind, reason = turn
        extra = {"camera_id": session.camera_id, "reason": reason.value}
        if kind is progress.Turn.DEGRADED:
            log.warning("recording degraded: nothing is being written", extra=extra)
            self.events.publish(RecordingDegraded.of(session, reason, progress.explain(reason)))
        else:
            log.info("recording writes again", extra=extra)
            self.events.publish(RecordingResumed.of(session, reason))
        self._report_health()

    def _report_health(self) -> None:
        troubled = sorted(
            (s.camera_id, s.degraded) for s in self.active.values() if s.degraded is not None
        )
        if self._health is None:
            if not troubled or self.health is None:
                return
            self._health = self.health.register("recordings", critical=False)
        if not troubled:
            self._health.set(Status.HEALTHY)
            return
        reason = "; ".join(f"{camera_id}: {progress.explain(why)}" for camera_id, why in troubled)
        self._health.set(Status.DEGRADED, reason, cameras=[camera_id for camera_id, _ in troubled])

    # --- a restart --------------------------------------------------------------------------

    async def _take_up(self, session: Recording) -> None:
        """A session the previous run did not finish: resume it (a recording until
        stopped, its camera still here), or end it."""
        self._live[session.session_id] = session
        taken = {n for s in self._live.values() if s is not session for n in s.segments}
        try:
            found = await asyncio.to_thread(unreported_segments, self.recordings, session, taken)
        except OSError:
            found = []
        for name in found:  # written while nobody listened to the hooks
            session.segments.setdefault(name, None)
        extra = {"camera_id": session.camera_id, "session_id": session.session_id}
        if session.ended:
            # Its end was decided; the previous run did not live to make it final.
            log.warning("recording finalized after a restart", extra=extra)
            self._spawn(self._finalize(session, session.reason or Reason.INTERRUPTED, True))
            return
        s = self.settings()
        if (
            session.duration is not None
            or self.cameras.get(session.camera_id) is None
            or session.camera_id in self.active
            or len(self.active) >= s.resources.max_recordings
        ):
            log.warning("recording interrupted by a restart", extra=extra)
            self._end(session, Reason.INTERRUPTED)
            return
        now = time.time()
        session.resumed_at = session.progress_at = now
        self._activate(session)
        holder = self.make_holder(
            session, lambda why: self._fail(session, Reason.STREAM_UNREADABLE, why)
        )
        self._holders[session.session_id] = (holder, self.own_reader(session.camera_id))
        holder.start()
        self.cameras.update(session.camera_id, recording=True)
        log.warning("recording resumed after a restart", extra=extra)
        if session.began is None:
            self._expect_first_segment(session, s.mediamtx.on_demand_start_timeout)
        else:
            self.events.publish(RecordingResumed.of(session, Interruption.SERVICE_RESTARTED))
            newest = session.current_file
            with contextlib.suppress(FileNotFoundError, OSError):
                written = stat_media(self.recordings, newest).st_mtime
                if newest in session.hooked and now - written < progress.STALL_SECONDS:
                    # A MediaMTX that outlived us is still writing it: the index hears
                    # of it as the create hook it missed would have said.
                    path = self.recordings / newest
                    self.events.publish(SegmentCreated(session.camera_id, path, None))
        self._save(session)

    # --- persistence --------------------------------------------------------------------------

    def _save(self, session: Recording) -> None:
        if self.store is not None:
            self._persist(self.store.save, row_of(session))

    def _persist(self, write: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> None:
        """Write in the background, in call order (one DB thread takes the calls in the
        order they are made); a failure is logged, the session goes on."""
        if self.db is None or self._closed:
            return
        db = self.db

        async def run() -> None:
            try:
                await db.run(write, *args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                log.warning("cannot save a recording session", extra={"error": str(exc)})

        self._spawn(run())

    # --- plumbing ---------------------------------------------------------------------------

    def _activate(self, session: Recording) -> None:
        """``session`` records its camera: ``active`` and the desired state say so."""
        self.active[session.camera_id] = session
        self.desired.record(session.camera_id, session.format)

    def _deactivate(self, session: Recording) -> None:
        """``session`` no longer records its camera (if it still did)."""
        if self.active.get(session.camera_id) is session:
            del self.active[session.camera_id]
            self.desired.stop(session.camera_id)

    def _expect_first_segment(self, session: Recording, start_timeout: float) -> None:
        """Fail the session if MediaMTX writes no segment for it in time."""
        timeout = start_timeout + FIRST_SEGMENT_MARGIN
        self._set_timer(
            session,
            timeout,
            lambda: self._fail(
                session, Reason.NO_SEGMENT, f"no segment was written within {timeout:g} s"
            ),
        )

    def _set_timer(self, session: Recording, delay: float, action: Callable[[], None]) -> None:
        old = self._timers.pop(session.session_id, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[session.session_id] = loop.call_later(max(0.0, delay), action)

    def _reader(self, session: Recording, on_gave_up: Callable[[str], None]) -> StreamHolder:
        url = reader_url(self.settings().mediamtx, session.camera_id)
        credentials = self.internal.pair if self.internal is not None else None
        return StreamHolder(url, on_gave_up, label=session.camera_id, credentials=credentials)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _wait(session: Recording, done: Callable[[], bool], timeout: float) -> None:
    """Until ``done()`` holds or ``timeout`` passes; woken by :meth:`Recording.mark`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        session.changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):  # not wait_for: see Registrar._wait
                await session.changed.wait()
