"""The media index: every media file in the recordings and snapshots directories, in
SQLite, so listing a hundred thousand files is one indexed query.

The file system is the truth; the index follows it, with one signal per fact:

* what the service itself writes and deletes comes from its own events, those of
  :mod:`storage.events` (segments created and completed, from MediaMTX's hooks, or
  given up on by the record manager; snapshots saved; media deleted), and the index's
  own :meth:`MediaIndex.delete`.
  They put names in a pending set; each name is re-stat'ed and its row written, so an
  event says what happened, the file what it is now;
* anything else (a file copied in or removed by hand, a hook that never came) is
  found by a rescan: both directories, or one, are scanned and the table is made to
  match in one transaction (new rows, changed rows, vanished rows), without probing.
  A rescan runs at start, when inotify lost events, and when inotify
  (:mod:`storage.watch`) saw a change that none of the events above explains within
  a moment; such rescans are bounded to a share of the time (:data:`RESCAN_PAUSE`);
* probing happens in the background, newest first, a few at a time: a recording's
  duration from its container (ffprobe), a snapshot's size from its header. The
  table's ``probed`` flag is the queue, so a restart resumes where it stopped.

A segment is being written from its create hook until its complete hook (or until the
record manager gives it up): it is listed with its current size and no duration. One
whose file nobody has written for :data:`WRITE_IDLE_SECONDS` is closed and probed all
the same (:meth:`IndexStore.close_idle`, every :data:`IDLE_SWEEP_SECONDS` while any is
open): a writer that died without a word does not leave it unprobed until a restart.
The hooks run as separate processes,
so "create" can arrive after "complete"; the row's ``closed`` flag (the writer said
it is complete) keeps such a late create from reopening an unchanged file, while a
file a rescan found before its create hook is still opened by it.

Camera and time come from the file name when it follows api.md §7 (the names are
UTC: the managed MediaMTX runs with TZ=UTC); any other media file is listed with no
camera and its modification time. Indexed: regular files (never a symlink) whose
name passes :func:`storage.names.check_basename` with the kind's extension.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import functools
import heapq
import logging
import math
import os
import re
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any, TypeAlias

from camera_service.db import AsyncDatabase, Database
from camera_service.events import EventBus
from camera_service.storage.events import (
    MediaDeleted,
    SegmentAbandoned,
    SegmentCompleted,
    SegmentCreated,
    SnapshotSaved,
)
from camera_service.storage.inventory import scan_dir
from camera_service.storage.names import (
    KINDS,
    Kind,
    is_media_name,
    open_media,
    remove_media,
    stat_media,
)
from camera_service.storage.probe import ImageInfo, VideoInfo, probe_video, read_image_info
from camera_service.storage.watch import MediaWatcher, RescanSchedule

log = logging.getLogger(__name__)

PROBE_BATCH = 16
STOP_FLUSH_TIMEOUT = 5.0
MAX_CACHED_TOTALS = 256
WRITE_IDLE_SECONDS = 60.0
IDLE_SWEEP_SECONDS = 15.0  # between looks at the rows still being written
# A change inotify saw waits this long for the service's own event about it (a hook
# process takes ~30 ms to start on an idle machine) before it calls for a rescan.
EXPLAIN_SECONDS = 1.0
# After a rescan that took d seconds, the next automatic one of that directory waits
# at least RESCAN_PAUSE * d: rescans take at most a tenth of the time.
RESCAN_PAUSE = 9.0

# --- names: pure ---------------------------------------------------------------------------------

_STAMP = r"(?P<stamp>\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)"
_CAMERA = r"(?P<camera>[A-Za-z0-9_-]{1,64})"
_FLAGS = re.IGNORECASE | re.ASCII  # \d: ASCII digits only
_NAMED: dict[Kind, re.Pattern[str]] = {
    # MediaMTX's %path_%Y-%m-%d_%H-%M-%S, optionally with -%f (microseconds).
    "recording": re.compile(_CAMERA + "_" + _STAMP + r"(?:-(?P<micro>\d{6}))?\.(?:mp4|ts)", _FLAGS),
    "snapshot": re.compile(_CAMERA + "_snapshot_" + _STAMP + r"(?:_\d+)?\.(?:jpe?g|png)", _FLAGS),
}


def name_info(kind: Kind, name: str) -> tuple[str | None, float | None]:
    """(camera_id, UTC start time) from an api.md §7 name; (None, None) for others."""
    m = _NAMED[kind].fullmatch(name)
    if m is None:
        return None, None
    s = m["stamp"]
    try:
        start = datetime(
            int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19]),
            int(m.groupdict().get("micro") or 0), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:  # month 13 and the like: not one of ours
        return None, None
    return m["camera"], start.timestamp()


def format_of(name: str) -> str:
    ext = name[name.rfind(".") + 1 :].lower()
    return "jpg" if ext == "jpeg" else ext


# --- rows ----------------------------------------------------------------------------------------


PROBE_RETRY_SECONDS = 1.0  # a file that changed under its probe is probed again


class Change(enum.IntEnum):
    """What the service says about a name; a later change of a name supersedes an earlier."""

    SEEN = 0  # look at it (someone removed it, say)
    OPENED = 1  # created: being written until closed
    CLOSED = 2  # written and closed: its content is final


@dataclass(frozen=True, slots=True)
class MediaEntry:
    kind: Kind
    name: str
    camera_id: str | None  # None: the name does not say
    start_time: float  # UTC epoch: from the name, else the modification time
    end_time: float | None  # start + duration for named recordings, else mtime
    duration: float | None  # seconds, read from the container; None until probed
    size: int
    mtime: float
    format: str  # mp4, ts, jpg, png
    width: int | None
    height: int | None
    writing: bool  # created and not yet closed

    def written_now(self, now: float) -> bool:
        """Being written: created, not closed, and modified lately (a writer that died
        without closing does not hold the file forever)."""
        return self.writing and now - self.mtime < WRITE_IDLE_SECONDS


@dataclass(frozen=True, slots=True)
class MediaPage:
    files: list[MediaEntry]
    total: int  # rows matching the filters, whatever the page


Entries: TypeAlias = list[MediaEntry]
ChangeKey = tuple[Kind, str]

_COLUMNS = (
    "kind, name, camera_id, start_time, end_time, duration, size, mtime, format, "
    "width, height, writing"
)


def _entry(row: sqlite3.Row) -> MediaEntry:
    return MediaEntry(
        row["kind"],
        row["name"],
        row["camera_id"],
        row["start_time"],
        row["end_time"],
        row["duration"],
        row["size"],
        row["mtime"],
        row["format"],
        row["width"],
        row["height"],
        bool(row["writing"]),
    )


def scan(kind: Kind, directory: Path) -> Iterator[tuple[str, int, float]]:
    """Rows of the scan table for the media files directly in ``directory``: name, size
    and mtime only. What the name says is read in SQL for new and changed rows alone
    (:func:`_sql_functions`): it is a quarter of a rescan's time otherwise."""
    for f in scan_dir(kind, directory):
        yield f.name, f.size, f.mtime


@functools.lru_cache(maxsize=1)  # an inserted row asks for its camera, then its start
def _name_info(kind: Kind, name: str) -> tuple[str | None, float | None]:
    return name_info(kind, name)


def _camera(kind: Kind, name: str) -> str | None:
    return _name_info(kind, name)[0]


def _start(kind: Kind, name: str, mtime: float) -> float:
    start = _name_info(kind, name)[1]
    return mtime if start is None else start


def _sql_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("media_camera", 2, _camera, deterministic=True)
    conn.create_function("media_start", 3, _start, deterministic=True)
    conn.create_function("media_format", 1, format_of, deterministic=True)


# On conflict the right-hand sides read the old row: "size = excluded.size" compares
# before anything is assigned. A file that changed since its row was written loses its
# probe (and duration); one that did not keeps them.
_INSERT = (
    "INSERT INTO media_files (kind, name, camera_id, start_time, end_time, size, mtime, format,"
    " writing, probed, closed) VALUES (:kind, :name, :camera, :start, :mtime, :size, :mtime,"
    " :format, :writing, 0, :closed) ON CONFLICT (kind, name) DO UPDATE SET"
    " start_time = excluded.start_time, size = excluded.size, mtime = excluded.mtime,"
)
_SAME = "size = excluded.size AND mtime = excluded.mtime"
_UPSERT: dict[Change, str] = {
    Change.SEEN: _INSERT + f" probed = CASE WHEN {_SAME} THEN probed ELSE 0 END,"
    f" duration = CASE WHEN {_SAME} THEN duration END,"
    f" end_time = CASE WHEN {_SAME} THEN end_time ELSE excluded.end_time END",
    # Being written from now on, unless its writer said it is complete and it has not
    # changed since: the hooks run as separate processes, so "create" can come last.
    Change.OPENED: _INSERT + " writing = 1, closed = 0, probed = 0, duration = NULL,"
    f" end_time = excluded.end_time WHERE NOT (closed AND {_SAME})",
    Change.CLOSED: _INSERT + " writing = 0, closed = 1, probed = 0,"
    f" duration = CASE WHEN {_SAME} THEN duration END,"
    f" end_time = CASE WHEN {_SAME} THEN end_time ELSE excluded.end_time END",
}


# --- the store: runs on the DB worker thread ----------------------------------------------


class IndexStore:
    """SQL over the ``media_files`` table (migration 3). Call only on the DB thread."""

    def __init__(self, database: Database, dirs: Mapping[Kind, Path]) -> None:
        self.database = database
        self.dirs = dict(dirs)
        # Totals per filter: counting 100,000 index entries costs milliseconds, and
        # rows come and go only with the writes below, which clear it.
        self._totals: dict[tuple[Any, ...], int] = {}
        self._functions_added = False

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.database.connection

    def reconcile(self, kind: Kind, startup: bool, now: float) -> None:
        """Make ``kind``'s rows match its directory. ``startup`` also forgets which files
        a previous run saw being written: every file found is complete. Later, a file
        its writer left alone for :data:`WRITE_IDLE_SECONDS` is no longer being written
        (its complete hook was lost) and is probed; ``now`` is the wall clock."""
        conn = self._conn
        if not self._functions_added:
            _sql_functions(conn)
            self._functions_added = True
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS media_scan (name TEXT PRIMARY KEY, size INTEGER,"
            " mtime REAL) WITHOUT ROWID"
        )
        self._totals.clear()
        with self.database.transaction():
            conn.execute("DELETE FROM media_scan")
            conn.executemany(
                "INSERT OR IGNORE INTO media_scan VALUES (?, ?, ?)", scan(kind, self.dirs[kind])
            )
            conn.execute(
                "DELETE FROM media_files WHERE kind = ? AND NOT EXISTS "
                "(SELECT 1 FROM media_scan s WHERE s.name = media_files.name)",
                (kind,),
            )
            conn.execute(
                "UPDATE media_files SET size = s.size, mtime = s.mtime,"
                " start_time = media_start(:kind, s.name, s.mtime), end_time = s.mtime,"
                " duration = NULL, probed = 0 FROM media_scan s"
                " WHERE media_files.kind = :kind AND media_files.name = s.name"
                " AND (media_files.size != s.size OR media_files.mtime != s.mtime)",
                {"kind": kind},
            )
            idle_since = math.inf if startup else now - WRITE_IDLE_SECONDS
            conn.execute(
                "UPDATE media_files SET writing = 0, probed = 0 WHERE kind = ? AND writing"
                " AND mtime < ?",
                (kind, idle_since),
            )
            if startup:
                conn.execute(
                    "UPDATE media_files SET closed = 1 WHERE kind = ? AND NOT closed", (kind,)
                )
            # Found by a scan, nobody said it is complete: a create hook still opens it.
            conn.execute(
                "INSERT INTO media_files (kind, name, camera_id, start_time, end_time, size,"
                " mtime, format, writing, probed, closed)"
                " SELECT :kind, name, media_camera(:kind, name), media_start(:kind, name, mtime),"
                " mtime, size, mtime, media_format(name), 0, 0, :closed"
                " FROM media_scan s WHERE NOT EXISTS (SELECT 1 FROM media_files f"
                " WHERE f.kind = :kind AND f.name = s.name)",
                {"kind": kind, "closed": int(startup)},
            )
            conn.execute("DELETE FROM media_scan")
        conn.execute("PRAGMA shrink_memory")  # the scan's pages: idle RSS stays small

    def apply(self, changes: Mapping[ChangeKey, Change]) -> None:
        """Re-stat each changed name and write (or drop) its row."""
        self._totals.clear()
        with self.database.transaction() as conn:
            for (kind, name), change in changes.items():
                if not is_media_name(kind, name):
                    continue
                try:
                    st = stat_media(self.dirs[kind], name)
                except FileNotFoundError:  # gone, or not a regular file
                    conn.execute(
                        "DELETE FROM media_files WHERE kind = ? AND name = ?", (kind, name)
                    )
                    continue
                except OSError as exc:
                    log.warning("cannot stat a media file", extra={"error": exc.strerror})
                    continue
                self._upsert(kind, name, st.st_size, st.st_mtime, change)

    def close_idle(self, now: float) -> bool:
        """Close (and queue for a probe) the rows being written whose file was not
        modified for :data:`WRITE_IDLE_SECONDS`; True while any row is still open."""
        rows = self._conn.execute("SELECT kind, name FROM media_files WHERE writing").fetchall()
        idle: dict[ChangeKey, Change] = {}
        for kind, name in rows:
            try:
                st = stat_media(self.dirs[kind], name)
            except FileNotFoundError:
                idle[(kind, name)] = Change.SEEN  # gone: the row goes
                continue
            except OSError:
                continue
            if now - st.st_mtime >= WRITE_IDLE_SECONDS:
                idle[(kind, name)] = Change.CLOSED
        if idle:
            log.info("media files left open by their writer closed", extra={"files": len(idle)})
            self.apply(idle)
        return len(idle) < len(rows)

    def _upsert(self, kind: Kind, name: str, size: int, mtime: float, change: Change) -> None:
        camera_id, start = name_info(kind, name)
        self._conn.execute(
            _UPSERT[change],
            {
                "kind": kind,
                "name": name,
                "camera": camera_id,
                "start": mtime if start is None else start,
                "mtime": mtime,
                "size": size,
                "format": format_of(name),
                "writing": int(change is Change.OPENED),
                "closed": int(change is Change.CLOSED),
            },
        )

    def page(
        self,
        kind: Kind,
        limit: int,
        offset: int,
        camera_id: str | None,
        since: float | None,
        until: float | None,
        cameras: tuple[str, ...] | None = None,
    ) -> MediaPage:
        where, args = _filters(kind, camera_id, since, until, cameras)
        key = (kind, camera_id, since, until, cameras)
        count = self._totals.get(key)
        if count is None:
            if len(self._totals) >= MAX_CACHED_TOTALS:
                self._totals.clear()
            total = self._conn.execute(f"SELECT COUNT(*) FROM media_files WHERE {where}", args)
            count = self._totals[key] = int(total.fetchone()[0])
        if offset >= count:
            return MediaPage([], count)
        # The page's keys come from the index alone (it holds kind, camera, time and
        # name), so a deep offset skips index entries, not table rows.
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM media_files WHERE (kind, name) IN"
            f" (SELECT kind, name FROM media_files WHERE {where}"
            "  ORDER BY start_time DESC, name DESC LIMIT ? OFFSET ?)"
            " ORDER BY start_time DESC, name DESC",
            (*args, limit, offset),
        ).fetchall()
        return MediaPage([self._current(_entry(r)) for r in rows], count)

    def _current(self, entry: MediaEntry) -> MediaEntry:
        """A file being written: its size now, not when it was last seen."""
        if not entry.writing:
            return entry
        try:
            st = stat_media(self.dirs[entry.kind], entry.name)
        except (FileNotFoundError, OSError):
            return entry
        return dataclasses.replace(entry, size=st.st_size, mtime=st.st_mtime)

    def get(self, kind: Kind, name: str) -> MediaEntry | None:
        """The row of ``name`` after a fresh look at the file."""
        if not is_media_name(kind, name):
            return None
        self.apply({(kind, name): Change.SEEN})
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM media_files WHERE kind = ? AND name = ?", (kind, name)
        ).fetchone()
        return None if row is None else _entry(row)

    def delete(self, kind: Kind, name: str) -> int:
        """Remove the file and its row; the bytes freed. FileNotFoundError if none."""
        if not is_media_name(kind, name):
            raise FileNotFoundError(name)
        self._totals.clear()
        try:
            return remove_media(self.dirs[kind], name)
        finally:
            with self.database.transaction() as conn:
                conn.execute("DELETE FROM media_files WHERE kind = ? AND name = ?", (kind, name))

    def total_size(self, kind: Kind) -> int:
        row = self._conn.execute(
            "SELECT COALESCE(SUM(size), 0) FROM media_files WHERE kind = ?", (kind,)
        ).fetchone()
        return int(row[0])

    def oldest(self, kinds: Collection[Kind], limit: int) -> Entries:
        per_kind = [
            [
                _entry(r)
                for r in self._conn.execute(
                    f"SELECT {_COLUMNS} FROM media_files WHERE kind = ?"
                    " ORDER BY start_time, name LIMIT ?",
                    (kind, limit),
                )
            ]
            for kind in KINDS
            if kind in kinds
        ]
        merged = heapq.merge(*per_kind, key=lambda e: (e.start_time, e.name))
        return [e for _, e in zip(range(limit), merged, strict=False)]

    def unprobed(self, limit: int) -> list[tuple[Kind, str, int, float]]:
        """Files whose content was not read since they last changed, newest first."""
        rows = self._conn.execute(
            "SELECT kind, name, size, mtime FROM media_files WHERE probed = 0 AND writing = 0"
            " ORDER BY start_time DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def probed(
        self,
        kind: Kind,
        name: str,
        seen: tuple[int, float],
        now: tuple[int, float],
        info: VideoInfo | ImageInfo | None,
    ) -> bool:
        """Store a probe of the file whose row said ``seen`` (size, mtime) and that was
        ``now`` while probed; False when the row no longer matched (the file changed
        between the event and the probe: the row takes ``now`` and is probed again)."""
        with self.database.transaction() as conn:
            # A snapshot's header says its real format; a recording's is its extension.
            fmt = info.format if isinstance(info, ImageInfo) else None
            duration = info.duration if isinstance(info, VideoInfo) else None
            width = info.width if info is not None else None
            height = info.height if info is not None else None
            before = conn.total_changes
            conn.execute(
                "UPDATE media_files SET size = :size, mtime = :mtime, probed = 1,"
                " duration = :duration, width = :width, height = :height,"
                " format = COALESCE(:format, format),"
                " end_time = CASE WHEN camera_id IS NOT NULL AND :duration IS NOT NULL"
                "   THEN start_time + :duration ELSE :mtime END"
                " WHERE kind = :kind AND name = :name AND size = :seen_size"
                " AND mtime = :seen_mtime AND NOT writing",
                {
                    "kind": kind,
                    "name": name,
                    "size": now[0],
                    "mtime": now[1],
                    "seen_size": seen[0],
                    "seen_mtime": seen[1],
                    "duration": duration,
                    "width": width,
                    "height": height,
                    "format": fmt,
                },
            )
            if conn.total_changes != before:
                return True
            conn.execute(
                "UPDATE media_files SET size = ?, mtime = ? WHERE kind = ? AND name = ?"
                " AND probed = 0 AND NOT writing",
                (now[0], now[1], kind, name),
            )
            return False

    def changing(self, kind: Kind, name: str, now: tuple[int, float]) -> None:
        """The file changed while it was probed: a writer finishing it (MediaMTX writes
        the last fragment after its complete hook). It is probed again shortly."""
        with self.database.transaction() as conn:
            conn.execute(
                "UPDATE media_files SET probed = 0, duration = NULL, size = ?, mtime = ?"
                " WHERE kind = ? AND name = ?",
                (now[0], now[1], kind, name),
            )


def _filters(
    kind: Kind,
    camera_id: str | None,
    since: float | None,
    until: float | None,
    cameras: tuple[str, ...] | None,
) -> tuple[str, tuple[Any, ...]]:
    where = ["kind = ?"]
    args: list[Any] = [kind]
    if camera_id is not None:
        where.append("camera_id = ?")
        args.append(camera_id)
    if cameras is not None:
        # A camera scope's patterns (auth/scope.py) mean the same to GLOB as to fnmatch;
        # a file whose name names no camera (camera_id NULL) matches none of them.
        where.append("(" + " OR ".join(["camera_id GLOB ?"] * len(cameras) or ["0"]) + ")")
        args.extend(cameras)
    if since is not None:
        where.append("start_time >= ?")
        args.append(since)
    if until is not None:
        where.append("start_time <= ?")
        args.append(until)
    return " AND ".join(where), tuple(args)


# --- the service part --------------------------------------------------------------------------


class MediaIndex:
    """Call everything on the event loop. See the module docstring."""

    def __init__(
        self,
        db: AsyncDatabase,
        recordings: Path,
        snapshots: Path,
        events: EventBus | None = None,
        executor: Executor | None = None,
        *,
        ffprobe: str = "ffprobe",
        probe_concurrency: int = 2,
        probe_timeout: float = 15.0,
    ) -> None:
        self.db = db
        self.dirs: dict[Kind, Path] = {"recording": recordings, "snapshot": snapshots}
        self.store = IndexStore(db.database, self.dirs)
        self.events = events
        self.executor = executor
        self.ffprobe = ffprobe
        self.probe_timeout = probe_timeout
        self.watcher = MediaWatcher(self.dirs, self._on_change, self._on_lost)
        self._schedule = RescanSchedule[Kind](EXPLAIN_SECONDS, RESCAN_PAUSE)
        self._probe_slots = asyncio.Semaphore(probe_concurrency)
        self._pending: dict[ChangeKey, Change] = {}
        self._rescan_due: set[Kind] = set()
        self._startup = True
        self._lock = asyncio.Lock()  # one writer of pending changes and rescans at a time
        self._dirty = asyncio.Event()
        self._probe_wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self.version = 0  # counts applied changes and probes, for wait_until
        self.rescans = 0  # passes over the directories (one or both)
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._sweep_at: float | None = None  # loop time of the next close_idle, if due

    # --- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        """Watch first, then reconcile in the background: nothing changed meanwhile is
        missed, and start does not wait for a large directory. Callers of list/get wait
        for the first reconcile."""
        self._running = True
        self.watcher.start()
        if self.events is not None:
            self.events.subscribe(SegmentCreated, self._on_segment_created)
            self.events.subscribe(SegmentCompleted, self._on_segment_completed)
            self.events.subscribe(SegmentAbandoned, self._on_segment_abandoned)
            self.events.subscribe(SnapshotSaved, self._on_snapshot_saved)
            self.events.subscribe(MediaDeleted, self._on_media_deleted)
        self._rescan_due = set(KINDS)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._apply_loop(), name="media-index"),
            loop.create_task(self._probe_loop(), name="media-probe"),
        ]
        self._dirty.set()

    async def stop(self) -> None:
        self.watcher.stop()
        try:  # what the last moments brought (final segments) is kept; probes resume later
            async with asyncio.timeout(STOP_FLUSH_TIMEOUT):
                await self.flush()
        except Exception:
            log.warning("media index changes not saved at stop; the next start rescans")
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # --- what others call ----------------------------------------------------------------------

    async def list(
        self,
        kind: Kind,
        limit: int = 100,
        offset: int = 0,
        camera_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        cameras: tuple[str, ...] | None = None,
    ) -> MediaPage:
        """Newest first (by start time, then name); ``since``/``until`` (UTC epoch
        seconds, inclusive) filter on the start time; ``cameras`` (ids or ``*``/``?``
        patterns; None: all) keeps the files of those cameras."""
        await self.flush()
        return await self.db.run(
            self.store.page, kind, limit, offset, camera_id, since, until, cameras
        )

    async def get(self, kind: Kind, name: str) -> MediaEntry | None:
        """The entry of ``name`` (looked at now); None when there is no such media file."""
        await self.flush()
        return await self.db.run(self.store.get, kind, name)

    async def delete(self, kind: Kind, name: str) -> int:
        """Delete the media file ``name`` and its row; the bytes freed.

        ``FileNotFoundError`` when there is no such regular media file of ``kind``."""
        await self.flush()
        self._schedule.told((kind, name), False, asyncio.get_running_loop().time())
        freed = await self.db.run(self.store.delete, kind, name)
        await self._notify()
        return freed

    async def total_size(self, kind: Kind) -> int:
        """Bytes of all indexed files of ``kind``."""
        await self.flush()
        return await self.db.run(self.store.total_size, kind)

    async def oldest(self, kinds: Collection[Kind], limit: int) -> Entries:
        """The ``limit`` oldest entries of ``kinds`` (by start time), oldest first."""
        await self.flush()
        return await self.db.run(self.store.oldest, kinds, limit)

    async def rescan(self) -> None:
        """Reconcile both directories with the file system now."""
        self._rescan_due = set(KINDS)
        await self.flush()

    def forget(self, kind: Kind, name: str) -> None:
        """Another part of the service removed ``name``: its row goes once the file is
        seen gone."""
        if self._running:
            self._schedule.told((kind, name), False, asyncio.get_running_loop().time())
        self.note(kind, name, Change.SEEN)

    def note(self, kind: Kind, name: str, change: Change) -> None:
        """The service wrote ``name`` in ``kind``'s directory (OPENED, CLOSED) or asks
        for a look at it (SEEN); applied shortly (and before any list or get that
        follows)."""
        if not self._running:
            return
        if change is not Change.SEEN:
            now = asyncio.get_running_loop().time()
            self._schedule.told((kind, name), True, now)
            if change is Change.OPENED and self._sweep_at is None:
                self._sweep_at = now + IDLE_SWEEP_SECONDS
        key: ChangeKey = (kind, name)
        pending = self._pending.get(key)
        # SEEN adds nothing to a pending change, and a late OPENED (see _UPSERT)
        # does not undo a pending CLOSED.
        if pending is None or change > pending:
            self._pending[key] = change
        self._dirty.set()

    async def flush(self) -> None:
        """Apply what is pending (and a due rescan) before the caller reads."""
        if not (self._pending or self._rescan_due or self._lock.locked()):
            return
        async with self._lock:
            if self._rescan_due:
                kinds, self._rescan_due = self._rescan_due, set()
                self.rescans += 1
                log.debug("media index rescan", extra={"rescans": self.rescans})
                startup, self._startup = self._startup, False
                if not startup:
                    self.watcher.rewatch()
                loop = asyncio.get_running_loop()
                for kind in KINDS:
                    if kind in kinds:
                        self._schedule.started(kind)
                        began = loop.time()
                        await self.db.run(self.store.reconcile, kind, startup, time.time())
                        ended = loop.time()
                        self._schedule.finished(kind, ended, ended - began)
            if self._pending:
                batch, self._pending = self._pending, {}
                await self.db.run(self.store.apply, batch)
        self._probe_wake.set()
        await self._notify()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float) -> None:
        """Wait until ``predicate()`` holds, checking after each applied change or probe
        (it may be a coroutine function)."""
        async with asyncio.timeout(timeout):
            while True:
                seen = self.version
                result = predicate()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return
                async with self._changed:
                    while self.version == seen:
                        await self._changed.wait()

    async def settled(self, timeout: float) -> None:
        """Wait until every pending change is applied, every change inotify saw is
        explained or rescanned, and every file that is not being written is probed."""

        async def done() -> bool:
            await self.flush()
            return self._schedule.idle and not await self.db.run(self.store.unprobed, 1)

        await self.wait_until(done, timeout)

    # --- events ----------------------------------------------------------------------------------

    def _on_change(self, kind: Kind, name: str, present: bool) -> None:
        """inotify saw ``name`` appear or vanish: a rescan, unless the service explains it."""
        if self._running and is_media_name(kind, name):
            self._schedule.saw((kind, name), present, asyncio.get_running_loop().time())
            self._dirty.set()  # the apply loop's next wake-up may be sooner now

    def _on_lost(self) -> None:
        self._schedule.lost(KINDS)
        self._dirty.set()

    def _on_segment_created(self, event: SegmentCreated) -> None:
        self.note("recording", event.segment.name, Change.OPENED)

    def _on_segment_completed(self, event: SegmentCompleted) -> None:
        self.note("recording", event.segment.name, Change.CLOSED)

    def _on_segment_abandoned(self, event: SegmentAbandoned) -> None:
        # Final as it is: probed now, not when a rescan finds it idle.
        self.note("recording", event.segment.name, Change.CLOSED)

    def _on_snapshot_saved(self, event: SnapshotSaved) -> None:
        self.note("snapshot", PurePath(event.filename).name, Change.CLOSED)

    def _on_media_deleted(self, event: MediaDeleted) -> None:
        self.forget(event.kind, event.filename)

    async def _notify(self) -> None:
        self.version += 1
        async with self._changed:
            self._changed.notify_all()

    # --- background work -------------------------------------------------------------------------

    async def _apply_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wake = self._schedule.wake_at()
            if self._sweep_at is not None:
                wake = self._sweep_at if wake is None else min(wake, self._sweep_at)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(wake):
                    await self._dirty.wait()
            self._dirty.clear()
            self._rescan_due |= self._schedule.due(loop.time())
            try:
                await self.flush()
                if self._sweep_at is not None and loop.time() >= self._sweep_at:
                    await self._sweep()
            except Exception:
                log.exception("media index update failed")
                self._rescan_due = set(KINDS)  # changes were dropped: the next update rescans

    async def _sweep(self) -> None:
        async with self._lock:
            still_open = await self.db.run(self.store.close_idle, time.time())
        now = asyncio.get_running_loop().time()
        self._sweep_at = now + IDLE_SWEEP_SECONDS if still_open else None
        self._probe_wake.set()
        await self._notify()

    async def _probe_loop(self) -> None:
        while True:
            await self._probe_wake.wait()
            self._probe_wake.clear()
            try:
                while batch := await self.db.run(self.store.unprobed, PROBE_BATCH):
                    # A task group, not gather: cancelled (at stop), it waits for every
                    # probe to have stopped its ffprobe; gather returns at the first.
                    async with asyncio.TaskGroup() as probes:
                        for item in batch:
                            probes.create_task(self._probe(*item), name="media-probe-file")
                    await self._notify()
            except Exception:
                log.exception("media probing failed")

    async def _probe(self, kind: Kind, name: str, size: int, mtime: float) -> None:
        seen = (size, mtime)
        async with self._probe_slots:
            loop = asyncio.get_running_loop()
            try:
                fd = await loop.run_in_executor(self.executor, open_media, self.dirs[kind], name)
            except OSError:
                # Gone, replaced by a non-file, or unreadable: look again, and do not
                # retry the unreadable one until it changes.
                await self.db.run(self.store.apply, {(kind, name): Change.SEEN})
                await self.db.run(self.store.probed, kind, name, seen, seen, None)
                return
            try:
                before = os.fstat(fd)
                info: VideoInfo | ImageInfo | None = None
                try:
                    if kind == "recording":
                        info = await probe_video(fd, self.ffprobe, self.probe_timeout)
                    else:
                        info = await loop.run_in_executor(self.executor, read_image_info, fd)
                except OSError as exc:
                    log.warning("cannot read a media file", extra={"error": exc.strerror})
                after = os.fstat(fd)
            finally:
                os.close(fd)
        now = (after.st_size, after.st_mtime)
        if (before.st_size, before.st_mtime) != now:
            await self.db.run(self.store.changing, kind, name, now)
        elif await self.db.run(self.store.probed, kind, name, seen, now, info):
            return
        # Not settled: look again once the writer has had a moment (no event may follow).
        loop.call_later(PROBE_RETRY_SECONDS, self._probe_wake.set)
