"""The MediaMTX controller keeps MediaMTX in line with the cameras.

MediaMTX keeps API-made paths in RAM only and pushes no events, so the service owns
the desired state (one path per camera) and re-applies it: on every camera event,
on a timer, and at once when MediaMTX comes back or restarts (its ``/v3/info``
``started`` changes). Only paths this service created are ever changed or deleted;
their names are kept in SQLite so a restart of the service does not orphan them.

Whether MediaMTX is up has one signal: the check every ``check_interval``
(:attr:`MediaController.reachable`, the ``mediamtx`` health component). The check that
finds it gone says so at once (:class:`MediaMtxUnreachable`: recordings end) and
forgets what it reported of the streams. While it says down, requests that need
MediaMTX fail at once instead of waiting out timeouts (a hung MediaMTX costs 3 attempts
of ``request_timeout`` each), and the first check that gets an answer brings
everything back. The client's retries and this check are all the
failure handling: on loopback a refused connection fails in microseconds, and a
cool-down in front of the client would only delay the recovery the check sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from camera_service.cameras.events import (
    CameraAdded,
    CameraCapabilitiesChanged,
    CameraChanged,
    CameraRemoved,
)
from camera_service.cameras.registry import CameraRegistry
from camera_service.config import MediaMtxConfig, RtspSource, TestPatternSource
from camera_service.db import AsyncDatabase
from camera_service.events import EventBus
from camera_service.media.access import InternalCredential
from camera_service.media.desired import DesiredRecording
from camera_service.media.events import MediaMtxRestarted, MediaMtxUnreachable, StreamsChanged
from camera_service.media.mediamtx.client import MediaMtxClient, MediaMtxError, MediaMtxUnavailable
from camera_service.media.mediamtx.models import PathState
from camera_service.media.pathconf import PathConf, desired_path, differs
from camera_service.observability.health import ComponentHealth, Health, Status

log = logging.getLogger(__name__)

Source = RtspSource | TestPatternSource
CameraEvent = CameraAdded | CameraChanged | CameraCapabilitiesChanged | CameraRemoved


HINT_AFTER = 5.0  # seconds of a MediaMTX never reached before saying what to do
NEXT_STEP = (
    "install MediaMTX (https://github.com/bluenviron/mediamtx/releases) on PATH and the "
    "service runs it (mediamtx.manage: auto), or start one with its API on (api: yes) and "
    "point mediamtx.api_url at it; `camera-service doctor` checks what is missing"
)


class MediaController:
    def __init__(
        self,
        cfg: Callable[[], MediaMtxConfig],
        cameras: CameraRegistry,
        events: EventBus,
        health: Health,
        db: AsyncDatabase,
        source_of: Callable[[str], Source | None],
        device_of: Callable[[str], str | None],
        recording: Callable[[], PathConf],
        record_state: DesiredRecording,
        internal: InternalCredential | None = None,
        global_auth: Callable[[], Mapping[str, Any] | None] = lambda: None,
    ) -> None:
        self.cfg = cfg
        self.internal = internal  # what the publishers present to MediaMTX
        # Auth settings to give MediaMTX through its API at every (re)connect: a MediaMTX
        # on another host learns this run's auth URL (and its secret) that way.
        self.global_auth = global_auth
        self._global_pending = True
        self.cameras = cameras
        self.events = events
        self.db = db
        self.source_of = source_of
        self.device_of = device_of
        self.recording = recording  # what every path carries to record (hooks included)
        self.record_state = record_state  # whether each path records now
        c = cfg()
        self.client = MediaMtxClient(c.api_url, c.request_timeout, retries=2)
        self.link: ComponentHealth = health.register(
            "mediamtx", critical=False, status=Status.UNHEALTHY, reason="not checked yet"
        )
        self.sync: ComponentHealth = health.register("mediamtx_controller", critical=False)
        self.owned: set[str] = set()
        # The last snapshot of MediaMTX's paths: replaced by each check, never changed
        # in place, so what is derived from it is valid while it is the same object.
        self.streams: dict[str, PathState] = {}
        self._owned_version = 0  # bumped on every change of ``owned``
        self._up: tuple[dict[str, PathState], int, frozenset[str]] = ({}, -1, frozenset())
        self.up_since: dict[str, float] = {}  # path -> time.time() it was first seen available
        self.bitrates: dict[str, float] = {}  # path -> inbound bits/s between the last checks
        self._sampled: tuple[float, dict[str, PathState]] = (0.0, {})
        self.version = ""
        self.reachable = False
        self._started: str | None = None
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._last_reconcile = 0.0
        self.generation = 0  # completed reconciles
        self.checks = 0  # completed looks at MediaMTX, answered or not
        self._unseen_since: float | None = None  # first failed look, while never reached
        self._hinted = False
        self._changed = asyncio.Condition()  # notified after every check and reconcile
        events.subscribe(CameraAdded, self._on_camera)
        events.subscribe(CameraChanged, self._on_camera)
        events.subscribe(CameraCapabilitiesChanged, self._on_camera)
        events.subscribe(CameraRemoved, self._on_camera)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self.owned = set(await self.db.run(_load_owned, self.db))
        self._owned_version += 1
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch()), loop.create_task(self._reconcile_loop())]
        self._kick.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.close()

    def _on_camera(self, event: CameraEvent) -> None:
        self._kick.set()

    def reconcile_soon(self) -> None:
        """Ask for a reconcile (after a config reload, say)."""
        self._kick.set()

    # --- watching MediaMTX ----------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.cfg().check_interval)

    def _hint_due(self) -> bool:
        """True once, when MediaMTX has not answered a single look for HINT_AFTER seconds
        since start (a managed one starting up answers well within it)."""
        if self._hinted or self._started is not None:
            return False
        now = time.monotonic()
        if self._unseen_since is None:
            self._unseen_since = now
        if now - self._unseen_since < HINT_AFTER:
            return False
        self._hinted = True
        return True

    async def check(self) -> None:
        """One look at MediaMTX: alive? restarted? what are the streams doing?"""
        up = self.streams_up()
        try:
            info = await self.client.info()
            self.streams = await self.client.list_paths()
        except MediaMtxError as exc:
            was_reachable, self.reachable = self.reachable, False
            # What it reported is no longer true: no stale bytes or readers for a stream
            # that went with it.
            self.streams = {}
            self._measure()
            # A stable reason: the error text differs between tries (refused, timed
            # out, a 5xx), and each change of reason is pushed to every client.
            self.link.set(Status.UNHEALTHY, "unreachable", error=str(exc), url=self.cfg().api_url)
            if was_reachable:
                log.warning("MediaMTX unreachable", extra={"error": str(exc)})
                self.events.publish(MediaMtxUnreachable(str(exc)))
            elif self._hint_due():
                # Never seen since start: most often none is installed. Say once what to do.
                log.warning(
                    "MediaMTX is not answering: no camera can stream until it does",
                    extra={"error": str(exc), "url": self.cfg().api_url, "next_step": NEXT_STEP},
                )
            if up:
                self.events.publish(StreamsChanged(frozenset()))
            self.checks += 1
            await self._notify()
            return
        if not self.reachable or info.started != self._started:
            # Back, or restarted with every API-made path forgotten: re-apply now.
            log.info("MediaMTX reachable", extra={"version": info.version, "started": info.started})
            if self._started is not None and info.started != self._started:
                # Before the reconcile: what MediaMTX was doing (recordings) has ended,
                # and listeners take it out of the desired state first.
                self.events.publish(MediaMtxRestarted(info.started))
            self._kick.set()
            self._global_pending = True
        if self._global_pending:
            await self._push_global()
        self.reachable = True
        self._started = info.started
        self._measure()
        self.version = info.version
        self.link.set(
            Status.HEALTHY,
            version=info.version,
            paths=len(self.streams),
            in_sync=self.sync.state.status is Status.HEALTHY,
        )
        if (now_up := self.streams_up()) != up:
            self.events.publish(StreamsChanged(frozenset(now_up)))
        self.checks += 1
        await self._notify()

    async def _push_global(self) -> None:
        conf = self.global_auth()
        if not conf:
            self._global_pending = False
            return
        try:
            await self.client.patch_global(conf)
        except MediaMtxError as exc:  # tried again at the next check
            log.warning("could not give MediaMTX its auth settings", extra={"error": str(exc)})
            return
        self._global_pending = False
        log.info("MediaMTX authorizes through this service")  # the URL holds the secret

    def _measure(self) -> None:
        """Since when each stream is available, and its bit rate over the last look."""
        now, before = time.monotonic(), self._sampled
        wall = time.time()
        elapsed = now - before[0]
        up_since: dict[str, float] = {}
        bitrates: dict[str, float] = {}
        for name, state in self.streams.items():
            if not state.available:
                continue
            up_since[name] = self.up_since.get(name, wall)
            last = before[1].get(name)
            if last is not None and last.available and elapsed > 0:
                grown = max(0, state.inbound_bytes - last.inbound_bytes)
                bitrates[name] = grown * 8 / elapsed
        self.up_since, self.bitrates = up_since, bitrates
        self._sampled = (now, self.streams)

    # --- reconciling ------------------------------------------------------------------------------

    async def _reconcile_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.cfg().reconcile_interval):
                    await self._kick.wait()
            self._kick.clear()
            if not self.reachable and time.monotonic() - self._last_reconcile < 1.0:
                continue  # nothing to talk to; the watcher kicks us when it is back
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconcile failed")

    def desired(self) -> dict[str, PathConf]:
        cfg = self.cfg()
        recording = self.recording()
        wanted: dict[str, PathConf] = {}
        for camera in self.cameras:
            conf = desired_path(
                camera,
                cfg,
                self.device_of(camera.camera_id),
                self.source_of(camera.camera_id),
                recording,
                self.internal,
            )
            if conf is not None:
                conf.update(self.record_state.fields(camera.camera_id))
                wanted[camera.camera_id] = conf
        return wanted

    async def reconcile(self) -> None:
        """Add, patch and delete our paths until MediaMTX matches the desired state."""
        async with self._lock:
            self._last_reconcile = time.monotonic()
            wanted = self.desired()
            try:
                current = await self.client.list_path_configs()
            except MediaMtxError as exc:
                self.sync.set(Status.DEGRADED, f"cannot read paths: {exc}")
                return
            problems: list[str] = []
            for name, conf in wanted.items():
                try:
                    if name not in current:
                        await self._own(name)
                        await self.client.add_path(name, conf)
                        log.info("path added", extra={"path": name})
                    elif name not in self.owned:
                        problems.append(f"path {name} exists and was not created by this service")
                    elif differs(current[name], conf):
                        await self.client.patch_path(name, conf)
                        log.info("path updated", extra={"path": name})
                except MediaMtxError as exc:
                    problems.append(f"{name}: {exc}")
            for name in sorted(self.owned - wanted.keys()):
                try:
                    if name in current:
                        await self.client.delete_path(name)
                        log.info("path removed", extra={"path": name})
                    await self._disown(name)
                except MediaMtxError as exc:
                    problems.append(f"{name}: {exc}")
            if problems:
                self.sync.set(Status.DEGRADED, "; ".join(problems[:5]), paths=len(wanted))
            else:
                self.sync.set(Status.HEALTHY, "", paths=len(wanted))
        self.generation += 1
        await self._notify()

    async def patch_path(self, name: str, conf: PathConf) -> None:
        """Patch one of our paths now, in step with reconciles: one that read the desired
        state before a change cannot undo it afterwards. Fails at once while the check
        finds MediaMTX unreachable (the reconcile applies the change when it is back)."""
        if not self.reachable:
            raise MediaMtxUnavailable("MediaMTX is unreachable")
        async with self._lock:
            await self.client.patch_path(name, conf)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until, after some check or reconcile, ``predicate()`` holds."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def _own(self, name: str) -> None:
        if name not in self.owned:
            # Recorded before the add: a crash in between leaves at worst a path we own
            # and will correct, never one we created but think foreign.
            await self.db.run(_store_owned, self.db, name)
            self.owned.add(name)
            self._owned_version += 1

    async def _disown(self, name: str) -> None:
        await self.db.run(_forget_owned, self.db, name)
        self.owned.discard(name)
        self._owned_version += 1

    # --- what clients see ----------------------------------------------------------------------

    def stream_metrics(self, camera_id: str) -> dict[str, Any]:
        state = self.streams.get(camera_id)
        if state is None:
            return {}
        return {"bytes_sent": state.outbound_bytes, "readers": state.readers}

    async def path_state(self, name: str) -> PathState | None:
        """MediaMTX's view of one path now (its last check's when it cannot be asked)."""
        if self.reachable:
            try:
                return await self.client.get_path(name)
            except MediaMtxError:
                pass
        return self.streams.get(name)

    def managed_paths(self) -> list[tuple[str, PathState | None]]:
        """Every path this service manages, by name, with MediaMTX's last view of it
        (None: MediaMTX did not list it)."""
        return [(name, self.streams.get(name)) for name in sorted(self.owned)]

    @property
    def active_streams(self) -> int:
        return len(self.streams_up())

    def streams_up(self) -> frozenset[str]:
        """Our paths MediaMTX reported available at its last check (get_status and
        get_metrics ask on every call: derived once per snapshot and set of paths)."""
        streams, version, up = self._up
        if streams is not self.streams or version != self._owned_version:
            streams, version = self.streams, self._owned_version
            up = frozenset(n for n in self.owned if (s := streams.get(n)) and s.available)
            self._up = streams, version, up
        return up


def _load_owned(db: AsyncDatabase) -> list[str]:
    return [row[0] for row in db.database.query("SELECT name FROM mediamtx_paths")]


def _store_owned(db: AsyncDatabase, name: str) -> None:
    with db.database.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO mediamtx_paths (name, created_at) VALUES (?, ?)",
            (name, time.time()),
        )


def _forget_owned(db: AsyncDatabase, name: str) -> None:
    with db.database.transaction() as conn:
        conn.execute("DELETE FROM mediamtx_paths WHERE name = ?", (name,))
