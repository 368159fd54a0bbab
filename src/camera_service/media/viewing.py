"""Viewing windows: a camera's on-demand stream kept up for a while because a client
asked (``start_streaming``), whether or not anyone reads it yet.

A window is one more demand for the camera's MediaMTX path, met the way a recording
meets it: a :class:`~camera_service.media.holder.StreamHolder` plays the path (which
starts its on-demand publisher and keeps it from closing), and the snapshot grabbers
are told the reader is ours, not a viewer (``GrabberPool.reading``). It ends when its
time is up (``mediamtx.viewing_window``; opening it again starts the time anew), when
it is closed, when its camera goes, when its reader gives up, or at shutdown. Then the
path goes back to MediaMTX's own on-demand rule: it closes once nobody else reads it.

Also the phase of a camera's stream as clients are told it (:func:`phase`), from
MediaMTX's view of the path and whether a window holds it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from camera_service.cameras.events import CameraChanged, CameraRemoved
from camera_service.cameras.registry import CameraRegistry
from camera_service.config import MediaMtxConfig, RtspSource
from camera_service.events import EventBus
from camera_service.limits import Admission, Unlimited
from camera_service.media.access import InternalCredential
from camera_service.media.holder import StreamHolder
from camera_service.media.mediamtx.client import MediaMtxUnavailable
from camera_service.media.mediamtx.models import PathState
from camera_service.media.pathconf import reader_url

log = logging.getLogger(__name__)

HolderFactory = Callable[[str, Callable[[str], None]], StreamHolder]


class CameraUnavailable(Exception):
    def __init__(self, camera_id: str) -> None:
        super().__init__(f"Camera not found or not connected: {camera_id}")


class Phase(enum.Enum):
    """What a camera's stream is doing."""

    ACTIVE = "active"  # readers can read it now
    STARTING = "starting"  # wanted (a window, a reader connecting) and not up yet
    STOPPING = "stopping"  # up with nobody reading: the on-demand publisher closes soon
    INACTIVE = "inactive"  # not up, not wanted
    ERROR = "error"  # cannot be up: camera gone or in error, MediaMTX unreachable


def phase(
    *, connected: bool, reachable: bool, state: PathState | None, held: bool, on_demand: bool
) -> Phase:
    """The stream's phase (pure: the rule behind ``get_stream_status``).

    ``held``: a viewing window holds it; ``on_demand``: MediaMTX closes the path's
    source once its last reader leaves."""
    if not connected or not reachable:
        return Phase.ERROR
    if state is None:
        return Phase.STARTING if held else Phase.INACTIVE
    if not state.available:
        return Phase.STARTING if held or state.online or state.readers else Phase.INACTIVE
    if on_demand and not held and state.readers == 0:
        return Phase.STOPPING
    return Phase.ACTIVE


def on_demand(source: object) -> bool:
    """Whether MediaMTX runs the camera's source only while someone reads it: always
    for our publishers (USB, test pattern), as configured for an RTSP camera."""
    return not isinstance(source, RtspSource) or source.on_demand


class StreamView(Protocol):
    """What the windows need of the MediaMTX controller."""

    @property
    def reachable(self) -> bool: ...

    @property
    def streams(self) -> dict[str, PathState]: ...

    async def path_state(self, name: str) -> PathState | None: ...

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None: ...


@dataclass(slots=True)
class Window:
    camera_id: str
    opened_at: float  # time.time()
    length: float  # seconds, from the last (re)open
    until: float  # time.time() it ends unless opened again
    holder: StreamHolder
    release: Callable[[], None]  # tells the grabbers our reader is gone
    timer: asyncio.TimerHandle | None = None
    gave_up: str | None = None  # why the reader gave up, if it did


@dataclass(frozen=True, slots=True)
class Closed:
    """A window that ended: when, and how many readers besides it were on the stream."""

    camera_id: str
    opened_at: float
    closed_at: float
    others: int


@dataclass(slots=True)
class ViewingWindows:
    cfg: Callable[[], MediaMtxConfig]
    cameras: CameraRegistry
    events: EventBus
    view: StreamView
    capacity: Admission = field(default_factory=Unlimited)
    own_reader: Callable[[str], Callable[[], None]] = lambda camera_id: lambda: None
    holder: HolderFactory | None = None
    internal: InternalCredential | None = None  # what the holders present to MediaMTX
    windows: dict[str, Window] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.events.subscribe(CameraChanged, self._on_camera_changed)
        self.events.subscribe(CameraRemoved, self._on_camera_removed)

    # --- opening and closing ------------------------------------------------------------

    def open(self, camera_id: str) -> Window:
        """Hold the camera's stream up for ``mediamtx.viewing_window`` seconds from now;
        an open window is extended. Raises :class:`CameraUnavailable`,
        :class:`MediaMtxUnavailable` or ``CapacityExceeded`` (one stream too many)."""
        camera = self.cameras.get(camera_id)
        if camera is None or not camera.connected:
            self.capacity.check_device(camera_id)  # a USB device past the limit: say so
            raise CameraUnavailable(camera_id)
        if not self.view.reachable:
            raise MediaMtxUnavailable("MediaMTX is unreachable")
        length = self.cfg().viewing_window
        window = self.windows.get(camera_id)
        if window is None:
            self.capacity.check_stream(camera_id)  # the reader brings the stream up
            holder = self._make_holder(camera_id, lambda why: self._gave_up(camera_id, why))
            now = time.time()
            window = Window(
                camera_id, now, length, now + length, holder, self.own_reader(camera_id)
            )
            self.windows[camera_id] = window
            holder.start()
            log.info("viewing window opened", extra={"camera_id": camera_id, "seconds": length})
        window.length, window.until = length, time.time() + length
        if window.timer is not None:
            window.timer.cancel()
        loop = asyncio.get_running_loop()
        window.timer = loop.call_later(length, self._expire, window)
        return window

    async def until_up(self, camera_id: str, timeout: float) -> bool:
        """Wait (bounded) until MediaMTX reports the camera's stream available."""

        def up() -> bool:
            state = self.view.streams.get(camera_id)
            return state is not None and state.available

        try:
            await self.view.wait_until(up, timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, camera_id: str, *, count: bool = True) -> Closed | None:
        """End the camera's window (None: it had none); ``count``: ask MediaMTX how
        many others read the stream (``Closed.others``, else 0)."""
        window = self.windows.pop(camera_id, None)
        if window is None:
            return None
        if window.timer is not None:
            window.timer.cancel()
        others = await self._others(window) if count else 0
        await window.holder.stop()
        window.release()
        log.info("viewing window closed", extra={"camera_id": camera_id, "others": others})
        return Closed(camera_id, window.opened_at, time.time(), others)

    async def _others(self, window: Window) -> int:
        """Readers of the stream besides the window's own. Counted before that one
        leaves: MediaMTX may still list a reader a moment after it went, never before
        it played."""
        state = await self.view.path_state(window.camera_id)
        if state is None:
            return 0
        reader = window.holder.reader
        ours = 1 if reader is not None and reader.playing and window.holder.running else 0
        return max(0, state.readers - ours)

    async def stop(self) -> None:
        """Close every window (shutdown), without asking MediaMTX anything."""
        await asyncio.gather(*(self.close(cid, count=False) for cid in list(self.windows)))
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    # --- what ends a window -------------------------------------------------------------

    def _expire(self, window: Window) -> None:
        if self.windows.get(window.camera_id) is window:
            self._close_soon(window.camera_id)

    def _gave_up(self, camera_id: str, why: str) -> None:
        window = self.windows.get(camera_id)
        if window is not None:
            window.gave_up = why
            self._close_soon(camera_id)

    def _on_camera_changed(self, event: CameraChanged) -> None:
        if not event.after.connected and event.after.camera_id in self.windows:
            self._close_soon(event.after.camera_id)

    def _on_camera_removed(self, event: CameraRemoved) -> None:
        if event.camera.camera_id in self.windows:
            self._close_soon(event.camera.camera_id)

    def _close_soon(self, camera_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._close_quietly(camera_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_quietly(self, camera_id: str) -> None:
        try:
            await self.close(camera_id)
        except Exception:
            log.exception("closing a viewing window failed", extra={"camera_id": camera_id})

    def _make_holder(self, camera_id: str, on_gave_up: Callable[[str], None]) -> StreamHolder:
        if self.holder is not None:
            return self.holder(camera_id, on_gave_up)
        credentials = self.internal.pair if self.internal is not None else None
        url = reader_url(self.cfg(), camera_id)
        return StreamHolder(url, on_gave_up, label=camera_id, credentials=credentials)
