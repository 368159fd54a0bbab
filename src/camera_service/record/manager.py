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
stop_recording, its duration, unplug, MediaMTX restart, failure or shutdown; it is
final (:class:`RecordingEnded`, with every segment) once the recorder has completed the
last segment, or after :data:`FINALIZE_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from camera_service.cameras.events import CameraChanged, CameraRemoved
from camera_service.cameras.registry import CameraRegistry
from camera_service.config import Settings
from camera_service.events import EventBus
from camera_service.limits import Admission, CapacityExceeded, Unlimited
from camera_service.media.desired import DesiredRecording
from camera_service.media.events import MediaMtxRestarted
from camera_service.media.mediamtx.client import MediaMtxError
from camera_service.media.pathconf import RECORD_PART_SECONDS, reader_url
from camera_service.record.events import RecordingEnded, RecordingStarted
from camera_service.record.holder import StreamHolder
from camera_service.record.recording import (
    Reason,
    Recording,
    expected_name,
    unreported_segments,
)
from camera_service.storage.disk import StorageLevel
from camera_service.storage.events import SegmentCompleted, SegmentCreated, SegmentEvent

log = logging.getLogger(__name__)

FINALIZE_TIMEOUT = 10.0  # for the last segment's complete hook
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
    ) -> None:
        self.settings = settings
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
        events.subscribe(SegmentCreated, self._on_segment)
        events.subscribe(SegmentCompleted, self._on_segment)
        events.subscribe(MediaMtxRestarted, self._on_mediamtx_restarted)
        events.subscribe(CameraChanged, self._on_camera_changed)
        events.subscribe(CameraRemoved, self._on_camera_removed)

    # --- what others ask ------------------------------------------------------------

    def busy(self) -> set[str]:
        """Names of segments being written: not to be deleted or indexed as final."""
        return {name for s in self._live.values() for name in s.open_segments}

    def status_of(self, camera_id: str) -> dict[str, Any] | None:
        """get_camera_status's recording fields, or None when the camera is not recording."""
        session = self.active.get(camera_id)
        if session is None:
            return None
        return {
            "recording_session": session.session_id,
            "current_file": session.current_file,
            "elapsed_time": round(session.elapsed(time.time()), 1),
        }

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
        if session.began is None:
            timeout = s.mediamtx.on_demand_start_timeout + FIRST_SEGMENT_MARGIN
            self._set_timer(
                session,
                timeout,
                lambda: self._fail(
                    session, Reason.NO_SEGMENT, f"no segment was written within {timeout:g} s"
                ),
            )
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
        if self._tasks:
            _done, pending = await asyncio.wait(list(self._tasks), timeout=timeout)
            if pending:
                log.warning("recordings not finalized at the shutdown deadline")
        await self.close()

    async def close(self) -> None:
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
        finally:
            self._live.pop(session.session_id, None)
            size = session.file_size(self.recordings)
            self.events.publish(RecordingEnded.of(session, reason, size))

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

    def _on_mediamtx_restarted(self, event: MediaMtxRestarted) -> None:
        # Its recorder is gone with it; the reconcile that follows records nothing.
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
        if session is None:
            return  # not ours (or long final): the media index still sees the file
        if isinstance(event, SegmentCreated):
            session.segments.setdefault(name, None)
            if session.began is None:
                self._began(session, event.at)
        else:
            session.segments[name] = event.duration
            session.completed.add(name)
        session.mark()

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

    def _set_timer(self, session: Recording, delay: float, action: Callable[[], None]) -> None:
        old = self._timers.pop(session.session_id, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[session.session_id] = loop.call_later(max(0.0, delay), action)

    def _reader(self, session: Recording, on_gave_up: Callable[[str], None]) -> StreamHolder:
        url = reader_url(self.settings().mediamtx, session.camera_id)
        return StreamHolder(url, on_gave_up, label=session.camera_id)

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
