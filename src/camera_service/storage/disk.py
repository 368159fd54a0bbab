"""How full the media file systems are, and the gate new media pass through.

``statvfs`` is cheap (a few microseconds), so the gate reads it at the moment a
recording or snapshot is asked for rather than trusting a cached figure.

The monitor also checks both media file systems periodically (they may be separate
mounts; the fuller one counts): a change of level is published as
:class:`StorageLevelChanged` and shown as the health component ``storage``, and at the
block threshold it can start the emergency cleanup (``on_critical``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camera_service.config import StorageConfig
from camera_service.events import EventBus
from camera_service.observability.health import ComponentHealth, Status
from camera_service.storage.inventory import scan_media, total_size

log = logging.getLogger(__name__)


class StorageLevel(enum.StrEnum):
    OK = "ok"
    WARN = "warn"  # used >= warn_percent
    CRITICAL = "critical"  # used >= block_percent: new media refused


_HEALTH = {
    StorageLevel.OK: (Status.HEALTHY, ""),
    StorageLevel.WARN: (Status.DEGRADED, "disk use above the warn threshold"),
    StorageLevel.CRITICAL: (
        Status.UNHEALTHY,
        "disk use above the block threshold: new recordings and snapshots refused",
    ),
}


@dataclass(frozen=True, slots=True)
class DiskUsage:
    total: int
    used: int
    available: int  # to unprivileged users, as df shows

    @property
    def used_percent(self) -> float:
        # As df: used / (used + available), so the root-reserved blocks count as full.
        denominator = self.used + self.available
        return 100.0 * self.used / denominator if denominator else 100.0


def disk_usage(path: Path) -> DiskUsage:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bfree * st.f_frsize
    available = st.f_bavail * st.f_frsize
    return DiskUsage(total, total - free, available)


@dataclass(frozen=True, slots=True)
class StorageStatus:
    """One check: the level and figures of the fuller media file system."""

    level: StorageLevel
    usage: DiskUsage
    warn_percent: float
    block_percent: float
    timestamp: float

    def figures(self) -> dict[str, Any]:
        u = self.usage
        return {
            "used_percent": round(u.used_percent, 2),
            "total_space": u.total,
            "used_space": u.used,
            "available_space": u.available,
            "warn_threshold": self.warn_percent,
            "block_threshold": self.block_percent,
        }


@dataclass(frozen=True, slots=True)
class StorageLevelChanged:
    """A check found the level changed (the first check: changed from OK)."""

    status: StorageStatus
    previous: StorageLevel


class DiskMonitor:
    """Call :meth:`level` / :meth:`check_now` on the event loop thread."""

    def __init__(
        self,
        cfg: Callable[[], StorageConfig],
        recordings: Path,
        snapshots: Path,
        events: EventBus | None = None,
        health: ComponentHealth | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.cfg = cfg
        self.recordings = recordings
        self.snapshots = snapshots
        self.events = events
        self.health = health
        self.executor = executor
        # The emergency cleanup; started by a check that finds CRITICAL when
        # storage.emergency_cleanup is on. Returns the number of files it deleted.
        self.on_critical: Callable[[], Awaitable[int]] | None = None
        self.last: StorageStatus | None = None
        self._task: asyncio.Task[None] | None = None
        self._emergency: asyncio.Task[None] | None = None
        self._futile = False  # an emergency cleanup found nothing it may delete
        self._sizes: asyncio.Future[dict[str, int]] | None = None

    # --- the gate ---------------------------------------------------------------------

    def usage(self, path: Path | None = None) -> DiskUsage:
        return disk_usage(path or self.recordings)

    def level(self, path: Path | None = None) -> StorageLevel:
        """The level of the file system holding ``path`` (default: recordings), now."""
        return self.level_of(self.usage(path))

    def level_of(self, usage: DiskUsage) -> StorageLevel:
        cfg = self.cfg()
        percent = usage.used_percent
        if percent >= cfg.block_percent:
            return StorageLevel.CRITICAL
        if percent >= cfg.warn_percent:
            return StorageLevel.WARN
        return StorageLevel.OK

    # --- checks -------------------------------------------------------------------------

    def status(self) -> StorageStatus:
        """Measure both media file systems now; the fuller one counts. No side effects."""
        usage = max(
            (self.usage(self.recordings), self.usage(self.snapshots)),
            key=lambda u: u.used_percent,
        )
        cfg = self.cfg()
        return StorageStatus(
            self.level_of(usage), usage, cfg.warn_percent, cfg.block_percent, time.time()
        )

    def check_now(self) -> StorageStatus:
        """Measure, report a change of level, start the emergency cleanup if due.

        Cheap (two statvfs calls): call it after writing media."""
        status = self._observe()
        if status.level is StorageLevel.CRITICAL:
            self._maybe_start_emergency()
        else:
            self._futile = False
        return status

    def _observe(self) -> StorageStatus:
        status = self.status()
        previous, self.last = self.last, status
        if self.health is not None:
            health, reason = _HEALTH[status.level]
            self.health.set(health, reason, **status.figures())
        before = previous.level if previous else StorageLevel.OK
        if status.level is not before:
            log.log(
                logging.INFO if status.level is StorageLevel.OK else logging.WARNING,
                "storage level changed",
                extra={"status": status.level.value, **status.figures()},
            )
            if self.events is not None:
                self.events.publish(StorageLevelChanged(status, before))
        return status

    def _maybe_start_emergency(self) -> None:
        if self.on_critical is None or not self.cfg().emergency_cleanup:
            return
        if self._emergency is not None and not self._emergency.done():
            return
        self._emergency = asyncio.get_running_loop().create_task(self._run_emergency())

    async def _run_emergency(self) -> None:
        assert self.on_critical is not None
        try:
            deleted = await self.on_critical()
        except Exception:
            log.exception("emergency cleanup failed")
            deleted = 0
        status = self._observe()  # tell clients at once how far it got
        if status.level is StorageLevel.CRITICAL and deleted == 0 and not self._futile:
            # Logged once per episode; the next checks try again quietly.
            log.warning("emergency cleanup found no finished recording it may delete")
        self._futile = deleted == 0

    # --- media sizes ------------------------------------------------------------------------

    async def media_sizes(self) -> dict[str, int]:
        """Bytes of media files per kind (``recordings``, ``snapshots``), scanned now;
        concurrent callers share one scan."""
        if self._sizes is None or self._sizes.done():
            self._sizes = asyncio.ensure_future(self._scan_sizes())
        return await asyncio.shield(self._sizes)

    async def _scan_sizes(self) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        files = await loop.run_in_executor(
            self.executor, scan_media, self.recordings, self.snapshots
        )
        return {
            "recordings": total_size(files, "recording"),
            "snapshots": total_size(files, "snapshot"),
        }

    # --- lifetime ------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._periodic())

    async def stop(self) -> None:
        for task in (self._task, self._emergency):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._emergency = None

    async def _periodic(self) -> None:
        while True:
            try:
                self.check_now()
            except OSError as exc:
                log.error("cannot read disk usage", extra={"error": exc.strerror})
                if self.health is not None:
                    self.health.set(Status.UNHEALTHY, "cannot read disk usage")
            await asyncio.sleep(self.cfg().check_interval)
