"""Retention: which media to delete, and deleting it safely.

Policies (recordings and snapshots together, oldest first by modification time):
``age`` deletes files older than ``max_age_days``; ``size`` deletes until the media
total is at most ``max_size_gb`` GiB; ``count`` until at most ``max_count`` files
remain; ``manual`` never deletes anything by itself.

The policy in effect is the config's ``retention`` section until an admin stores one
(``set_retention_policy``, kept in SQLite across restarts). It runs every
``retention.interval`` seconds when ``enabled``; ``cleanup_old_files`` applies its
limits on demand whether or not periodic runs are enabled.

Never deleted, by any policy or the emergency cleanup: a segment of an active
recording (``busy``), a file modified in the last :data:`RECENT_SECONDS`, and anything
that is not a regular media file with a plain visible name (symlinks, directories,
hidden work files). Files are deleted through the directory's descriptor without
following links (:func:`storage.names.remove_media`), and each deletion is published
as :class:`storage.events.MediaDeleted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar, cast

from camera_service.config import RetentionConfig
from camera_service.db import AsyncDatabase, Database
from camera_service.events import EventBus
from camera_service.storage.disk import DiskMonitor
from camera_service.storage.events import MediaDeleted
from camera_service.storage.inventory import MediaFile, scan_dir, scan_media
from camera_service.storage.names import Kind, remove_media, stat_media

log = logging.getLogger(__name__)

PolicyType = Literal["age", "size", "count", "manual"]
LIMIT_FIELD: dict[str, str] = {"age": "max_age_days", "size": "max_size_gb", "count": "max_count"}
GIB = 1 << 30
DAY = 86400.0
RECENT_SECONDS = 60.0  # a file modified this recently may still be being written

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    policy_type: PolicyType
    enabled: bool
    max_age_days: float | None = None
    max_size_gb: float | None = None
    max_count: int | None = None

    @classmethod
    def from_config(cls, cfg: RetentionConfig) -> RetentionPolicy:
        field = LIMIT_FIELD.get(cfg.policy_type)
        limit = {field: getattr(cfg, field)} if field else {}
        return cls(cfg.policy_type, cfg.enabled, **limit)

    def limits(self) -> dict[str, float | int]:
        """The limit of this policy's type, e.g. ``{"max_age_days": 30.0}``; none for manual."""
        field = LIMIT_FIELD.get(self.policy_type)
        value = getattr(self, field) if field else None
        return {field: value} if field and value is not None else {}


@dataclass(frozen=True, slots=True)
class CleanupResult:
    files_deleted: int
    space_freed: int
    policy: RetentionPolicy | None = None


# --- the choice: pure functions over the inventory -------------------------------------------


def deletable(f: MediaFile, busy: Collection[str], now: float) -> bool:
    return f.name not in busy and f.mtime <= now - RECENT_SECONDS


def oldest_first(files: Iterable[MediaFile]) -> list[MediaFile]:
    return sorted(files, key=lambda f: (f.mtime, f.name))


def select(
    policy: RetentionPolicy, files: list[MediaFile], busy: Collection[str], now: float
) -> list[MediaFile]:
    """The files ``policy`` deletes, oldest first. Protected files are never chosen
    but still count towards the size and count limits (they hold the space)."""
    candidates = oldest_first(f for f in files if deletable(f, busy, now))
    if policy.policy_type == "age" and policy.max_age_days is not None:
        cutoff = now - policy.max_age_days * DAY
        return [f for f in candidates if f.mtime < cutoff]
    if policy.policy_type == "size" and policy.max_size_gb is not None:
        excess = sum(f.size for f in files) - policy.max_size_gb * GIB
        chosen = []
        for f in candidates:
            if excess <= 0:
                break
            chosen.append(f)
            excess -= f.size
        return chosen
    if policy.policy_type == "count" and policy.max_count is not None:
        return candidates[: max(0, len(files) - policy.max_count)]
    return []


# --- persistence (runs on the DB worker thread) -------------------------------------------------


class RetentionStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def load(self) -> RetentionPolicy | None:
        row = self.database.query_one(
            "SELECT policy_type, enabled, max_age_days, max_size_gb, max_count "
            "FROM retention_policy WHERE id = 1"
        )
        if row is None:
            return None
        return RetentionPolicy(
            cast(PolicyType, row["policy_type"]),
            bool(row["enabled"]),
            row["max_age_days"],
            row["max_size_gb"],
            row["max_count"],
        )

    def save(self, policy: RetentionPolicy, actor: str | None) -> None:
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO retention_policy (id, policy_type, enabled, "
                "max_age_days, max_size_gb, max_count, updated_at, updated_by) "
                "VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                (
                    policy.policy_type,
                    int(policy.enabled),
                    policy.max_age_days,
                    policy.max_size_gb,
                    policy.max_count,
                    time.time(),
                    actor,
                ),
            )


# --- the service ------------------------------------------------------------------------------


class Retention:
    def __init__(
        self,
        cfg: Callable[[], RetentionConfig],
        db: AsyncDatabase,
        disk: DiskMonitor,
        events: EventBus,
        busy: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self.cfg = cfg
        self.db = db
        self.disk = disk
        self.events = events
        # Names of segments open in active recordings (read on the event loop).
        self.busy = busy
        self.store = RetentionStore(db.database)
        self.stored: RetentionPolicy | None = None
        self._lock = asyncio.Lock()  # one run at a time
        self._task: asyncio.Task[None] | None = None
        self._stopping = False  # read by a deleting thread between files

    @property
    def policy(self) -> RetentionPolicy:
        """The policy in effect: the stored one, else the config's."""
        return self.stored or RetentionPolicy.from_config(self.cfg())

    @property
    def source(self) -> Literal["stored", "config"]:
        return "stored" if self.stored else "config"

    async def set_policy(self, policy: RetentionPolicy, actor: str | None = None) -> None:
        await self.db.run(self.store.save, policy, actor)
        self.stored = policy
        log.info(
            "retention policy set",
            extra={"policy_type": policy.policy_type, "enabled": policy.enabled, "actor": actor},
        )

    async def apply(self) -> CleanupResult:
        """Apply the policy in effect now (whether or not periodic runs are enabled)."""
        policy = self.policy
        if policy.policy_type == "manual":
            return CleanupResult(0, 0, policy)
        async with self._lock:
            busy = frozenset(self.busy())
            files = await self._in_thread(scan_media, self.disk.recordings, self.disk.snapshots)
            victims = select(policy, files, busy, time.time())
            deleted, freed = await self._in_thread(self._delete, victims, busy, self._publisher())
        if deleted:
            log.info(
                "retention deleted media",
                extra={"policy_type": policy.policy_type, "files": deleted, "bytes": freed},
            )
        return CleanupResult(deleted, freed, policy)

    async def emergency_cleanup(self) -> int:
        """Delete the oldest finished recordings until the recordings file system is
        below the warn threshold again; returns the number of files deleted."""
        async with self._lock:
            busy = frozenset(self.busy())
            now = time.time()
            files = await self._in_thread(lambda: list(scan_dir("recording", self.disk.recordings)))
            victims = oldest_first(f for f in files if deletable(f, busy, now))
            deleted, _ = await self._in_thread(
                self._delete, victims, busy, self._publisher(), self._excess()
            )
        return deleted

    def _excess(self) -> int:
        """Bytes to free to get the recordings file system under the warn threshold.

        Counted against the sizes we delete, not re-read from statvfs after each
        deletion: a file another process still holds open (a viewer, ffprobe) keeps
        its blocks until closed, and re-reading would delete more than needed."""
        usage = self.disk.usage(self.disk.recordings)
        target = (usage.used + usage.available) * self.disk.cfg().warn_percent / 100
        return max(0, int(usage.used - target) + 1)

    def _delete(
        self,
        victims: list[MediaFile],
        busy: Collection[str],
        publish: Callable[[MediaDeleted], None],
        enough: int | None = None,
    ) -> tuple[int, int]:
        """Worker thread: delete ``victims`` in order (until ``enough`` bytes are freed,
        for the emergency cleanup); skip any file that changed since the scan or became recent."""
        directories: dict[Kind, Path] = {
            "recording": self.disk.recordings,
            "snapshot": self.disk.snapshots,
        }
        deleted = freed = 0
        for f in victims:
            if self._stopping or (enough is not None and freed >= enough):
                break
            directory = directories[f.kind]
            try:
                st = stat_media(directory, f.name)
                if f.name in busy or st.st_mtime != f.mtime or not deletable(f, (), time.time()):
                    continue
                size = remove_media(directory, f.name)
            except FileNotFoundError:
                continue  # gone already, or no longer a regular file
            except OSError as exc:
                log.warning(
                    "could not delete media", extra={"file_name": f.name, "error": exc.strerror}
                )
                continue
            deleted += 1
            freed += size
            if enough is not None:  # emergency: every deletion is logged for the operator
                log.warning(
                    "emergency cleanup deleted a recording",
                    extra={"file_name": f.name, "bytes": size},
                )
            publish(MediaDeleted(f.kind, f.name))
        return deleted, freed

    def _publisher(self) -> Callable[[MediaDeleted], None]:
        """Publishes on the event loop from the deleting thread, in deletion order."""
        loop = asyncio.get_running_loop()

        def publish(event: MediaDeleted) -> None:
            loop.call_soon_threadsafe(self.events.publish, event)

        return publish

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.disk.executor, fn, *args)

    # --- lifetime ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.stored = await self.db.run(self.store.load)
        self._task = asyncio.get_running_loop().create_task(self._periodic())

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.cfg().interval)
            if not self.policy.enabled:
                continue
            try:
                await self.apply()
            except Exception:
                log.exception("retention run failed")
