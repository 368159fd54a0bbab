"""ONVIF discovery as a part of the service: one discovery at a time, what the last one
found, and the periodic scan.

A client's discovery (``discover_cameras``) and the periodic one share one lock, so
they never overlap: a discovery asked for while another runs waits for it. Each run is
bounded by :func:`.onvif.discover`'s own deadlines and, as a backstop, by
:func:`run_deadline`. The scan interval is the config's ``onvif.scan_interval`` until
an admin sets one (``set_discovery_interval``), which is kept in SQLite
(``runtime_settings``) across restarts. Every run's result is published as
:class:`.events.CamerasDiscovered`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import orjson

from camera_service.cameras import onvif
from camera_service.cameras.events import CamerasDiscovered
from camera_service.config import OnvifConfig, check_scan_interval
from camera_service.db import AsyncDatabase, Database
from camera_service.events import EventBus

log = logging.getLogger(__name__)

SCAN_INTERVAL_KEY = "onvif.scan_interval"
Discover = Callable[[OnvifConfig, onvif.Credentials | None], Awaitable[list[onvif.Device]]]


def run_deadline(cfg: OnvifConfig) -> float:
    """The longest one discovery may take: the probe's wait, then every device at once
    under its own timeout, and a second for the rest."""
    return cfg.probe_wait + cfg.device_timeout + 1.0


class IntervalStore:
    """The scan interval an admin set. Call only on the DB thread."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def load(self) -> float | None:
        row = self.database.query_one(
            "SELECT value FROM runtime_settings WHERE key = ?", (SCAN_INTERVAL_KEY,)
        )
        if row is None:
            return None
        try:
            value = orjson.loads(row["value"])
            return check_scan_interval(float(value))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            # The rules may have tightened since it was stored: the config's is in effect.
            log.error("stored scan interval unreadable; using the config's")
            return None

    def save(self, seconds: float, actor: str | None) -> None:
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO runtime_settings (key, value, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
                " value = excluded.value, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by",
                (SCAN_INTERVAL_KEY, orjson.dumps(seconds).decode(), time.time(), actor),
            )


class Discovery:
    def __init__(
        self,
        cfg: Callable[[], OnvifConfig],
        db: AsyncDatabase,
        events: EventBus,
        discover: Discover = onvif.discover,
    ) -> None:
        self.cfg = cfg
        self.db = db
        self.events = events
        self._discover = discover
        self.store = IntervalStore(db.database)
        self.stored: float | None = None  # set_discovery_interval's, once set
        self.devices: list[onvif.Device] = []  # what the last discovery found
        self.at = 0.0  # when it finished (epoch seconds); 0: none yet
        self.runs = 0  # discoveries finished, periodic or not
        # The last client discovery's, in memory only: a periodic scan reads what it
        # could read (profiles of cameras that need credentials).
        self._credentials: onvif.Credentials | None = None
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()  # the interval changed: the scan starts again
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        """Seconds between periodic discoveries in effect; 0: off."""
        return self.stored if self.stored is not None else self.cfg().scan_interval

    @property
    def source(self) -> str:
        return "stored" if self.stored is not None else "config"

    @property
    def running(self) -> bool:
        return self._lock.locked()

    async def run(
        self, credentials: onvif.Credentials | None = None, *, periodic: bool = False
    ) -> list[onvif.Device]:
        """One discovery, after any other one running has finished; a periodic one
        signs with the last client discovery's credentials."""
        if not periodic:
            self._credentials = credentials
        async with self._lock:
            cfg = self.cfg()
            async with asyncio.timeout(run_deadline(cfg)):
                devices = await self._discover(cfg, self._credentials if periodic else credentials)
            seen = {d.endpoint for d in self.devices}
            self.devices, self.at, self.runs = devices, time.time(), self.runs + 1
        new = tuple(d.endpoint for d in devices if d.endpoint not in seen)
        log.info(
            "onvif discovery done",
            extra={"devices": len(devices), "new": len(new), "periodic": periodic},
        )
        self.events.publish(CamerasDiscovered(tuple(devices), self.at, periodic, new))
        return devices

    async def set_interval(self, seconds: float, actor: str | None = None) -> None:
        """Store ``seconds`` (0: off; checked as the config's key is) and apply it: the
        first scan of a new interval runs at once."""
        seconds = check_scan_interval(seconds)
        await self.db.run(self.store.save, seconds, actor)
        self.stored = seconds
        self._changed.set()
        log.info("discovery interval set", extra={"scan_interval": seconds, "actor": actor})

    async def start(self) -> None:
        self.stored = await self.db.run(self.store.load)
        self._task = asyncio.get_running_loop().create_task(self._scan(), name="onvif-scan")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _scan(self) -> None:
        while True:
            self._changed.clear()
            interval = self.interval
            if interval > 0:
                try:
                    await self.run(periodic=True)
                except Exception:  # the next one may succeed: say so, keep scanning
                    log.exception("periodic onvif discovery failed")
            # Off: wait for an interval. On: until the next scan or a new interval.
            # (asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancel that
            # arrives as the event is set, and stop() would wait for ever.)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval or None):
                    await self._changed.wait()
