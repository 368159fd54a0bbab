"""The embedded SQLite store: API keys, audit trail, the media index, recording sessions.

One file under the data dir, WAL mode so the CLI in another process and the service
can read and write at the same time. Schema changes are versioned migrations.

A database that SQLite cannot read (not a database, a malformed page) does not stop the
service: :meth:`AsyncDatabase.open` with ``recover=True`` moves the file aside, never
deleting it, and starts an empty one; what cannot be rebuilt from the media (API keys,
the retention policy an admin set, the audit trail) is then gone, and the caller says
so. The CLI opens without recovering, so it never moves a file the service holds.

Adding a migration: append ``(next_version, "SQL; SQL; ...")`` to :data:`MIGRATIONS`.
Never edit or reorder an entry that has shipped; a database records the versions it
has applied in ``schema_version`` and only later entries run. Each entry runs in one
transaction, so a failing migration leaves the database at the previous version.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE api_keys (
            key_id       TEXT PRIMARY KEY,
            name         TEXT NOT NULL,
            role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
            key_hash     TEXT NOT NULL UNIQUE,
            created_at   REAL NOT NULL,
            expires_at   REAL,
            last_used_at REAL,
            revoked      INTEGER NOT NULL DEFAULT 0,
            revoked_at   REAL
        );
        CREATE TABLE audit_log (
            id     INTEGER PRIMARY KEY AUTOINCREMENT,
            ts     REAL NOT NULL,
            event  TEXT NOT NULL,
            actor  TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_log_ts ON audit_log (ts);
        """,
    ),
    (
        2,
        """
        -- MediaMTX paths this service created: the only ones it may change or delete.
        CREATE TABLE mediamtx_paths (
            name       TEXT PRIMARY KEY,
            created_at REAL NOT NULL
        );
        """,
    ),
    (
        3,
        """
        -- The media index (storage/index.py): one row per media file on disk.
        -- start_time: from the file name (api.md section 7), else the modification time.
        CREATE TABLE media_files (
            kind       TEXT NOT NULL CHECK (kind IN ('recording', 'snapshot')),
            name       TEXT NOT NULL,
            camera_id  TEXT,
            start_time REAL NOT NULL,
            end_time   REAL,
            duration   REAL,
            size       INTEGER NOT NULL,
            mtime      REAL NOT NULL,
            format     TEXT NOT NULL,
            width      INTEGER,
            height     INTEGER,
            writing    INTEGER NOT NULL DEFAULT 0,
            probed     INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (kind, name)
        ) WITHOUT ROWID;
        -- Newest-first pages, all cameras or one, optionally since/until.
        CREATE INDEX media_files_time ON media_files (kind, start_time, name);
        CREATE INDEX media_files_camera ON media_files (kind, camera_id, start_time, name);
        -- The probe queue: small, as it holds only files not read since they changed.
        CREATE INDEX media_files_unprobed ON media_files (start_time)
            WHERE probed = 0 AND writing = 0;
        """,
    ),
    (
        4,
        """
        -- The retention policy an admin set with set_retention_policy (one row at most);
        -- without a row the config's retention section is in effect.
        CREATE TABLE retention_policy (
            id           INTEGER PRIMARY KEY CHECK (id = 1),
            policy_type  TEXT NOT NULL CHECK (policy_type IN ('age', 'size', 'count', 'manual')),
            enabled      INTEGER NOT NULL,
            max_age_days REAL,
            max_size_gb  REAL,
            max_count    INTEGER,
            updated_at   REAL NOT NULL,
            updated_by   TEXT
        );
        """,
    ),
    (
        5,
        """
        -- The media index: 1 once the file's writer said it is complete (a segment's
        -- complete hook, a snapshot written) or it was found at start. A create hook
        -- arriving after that (the hooks run as separate processes) does not reopen it.
        ALTER TABLE media_files ADD COLUMN closed INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        6,
        """
        -- Recording sessions (record/store.py): each one not final yet (at start, one
        -- left open was interrupted by a crash), and each camera's last final one.
        -- segments: JSON [[name, duration or null, completed, named by a hook], ...].
        CREATE TABLE recording_sessions (
            session_id TEXT PRIMARY KEY,
            camera_id  TEXT NOT NULL,
            device     TEXT NOT NULL,
            format     TEXT NOT NULL,
            duration   REAL,
            start_time REAL NOT NULL,
            expected   TEXT NOT NULL,
            began      REAL,
            segments   TEXT NOT NULL DEFAULT '[]',
            ended_at   REAL,
            reason     TEXT,
            error      TEXT NOT NULL DEFAULT '',
            resumed_at REAL,
            doubtful   INTEGER NOT NULL DEFAULT 0,
            final      INTEGER NOT NULL DEFAULT 0,
            recorded   REAL,
            file_size  INTEGER
        );
        CREATE INDEX recording_sessions_camera ON recording_sessions (camera_id, final);
        """,
    ),
    (
        7,
        """
        -- An API key's camera scope (auth/scope.py): a JSON array of camera ids or
        -- patterns; NULL, as every key made before this column has, is every camera.
        ALTER TABLE api_keys ADD COLUMN cameras TEXT;
        """,
    ),
    (
        8,
        """
        -- Cameras added with add_camera (cameras/stored.py). source: the source as the
        -- config file would hold it (JSON), its password included: it is sent to the
        -- camera, and only ever shown masked.
        CREATE TABLE camera_sources (
            camera_id  TEXT PRIMARY KEY,
            source     TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        """,
    ),
    (
        9,
        """
        -- Settings an admin changed at run time, by dotted config key (value: JSON);
        -- without a row the config's value is in effect. First: onvif.scan_interval
        -- (set_discovery_interval, cameras/discovery.py).
        CREATE TABLE runtime_settings (
            key        TEXT PRIMARY KEY,
            value      TEXT NOT NULL,
            updated_at REAL NOT NULL,
            updated_by TEXT
        );
        """,
    ),
]


def split_statements(script: str) -> Iterator[str]:
    """Split a migration into statements; sqlite3's executescript would commit mid-way.

    ``complete_statement`` keeps semicolons inside string literals and trigger bodies.
    """
    buf = ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\r\n;"):
                yield buf.strip()
            buf = ""
    if buf.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()[:60]!r}")


def connect(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """Open a connection with the pragmas every user of the file needs.

    ``isolation_level=None``: transactions are explicit (see :meth:`Database.transaction`)
    instead of the sqlite3 module's implicit ones. ``check_same_thread=False``: the
    connection is created on one thread and used by the single DB worker thread.
    """
    conn = sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite does (it would honour the umask, often 0644).

    SQLite gives the -wal and -shm files the same mode as the database file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    with contextlib.suppress(PermissionError):  # not ours: leave it to its owner
        os.chmod(path, 0o600)


@dataclass(frozen=True, slots=True)
class Recovery:
    """An unreadable database was moved aside and an empty one started."""

    moved_to: Path
    error: str  # SQLite's words for what was wrong


# The file and the two that WAL mode keeps beside it: they belong together.
_SIDE_FILES = ("", "-wal", "-shm")


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _move_aside(path: Path) -> Path:
    """Rename the database (and its WAL files) to ``<name>.corrupt-<UTC time>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in _SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.rename(f"{path}{suffix}", f"{target}{suffix}")
    return target


class Database:
    """Synchronous access, for the CLI and for code running on the DB worker thread.

    Not safe for concurrent use from several threads; in the service wrap it in
    :class:`AsyncDatabase` and touch it only through :meth:`AsyncDatabase.run`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        _create_private(path)
        self._conn = connect(path)
        try:
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot enable WAL on {path} (got {mode})")
            self.migrate()
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def open_or_recover(cls, path: Path) -> tuple[Database, Recovery | None]:
        """Open ``path``; if SQLite finds it corrupt or not a database, move it aside
        and open a new one. Any other failure (locked, read-only, disk full) is raised:
        the file may be fine.

        ``quick_check`` reads every page once, so a file with a readable header but a
        malformed page is found here rather than by the first query that touches it."""
        try:
            db = cls(path)
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise
            return cls._fresh(path, str(exc))
        try:
            row = db.query_one("PRAGMA quick_check")
            error = "" if row is not None and row[0] == "ok" else f"quick_check: {row and row[0]}"
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                db.close()
                raise
            error = str(exc)
        if not error:
            return db, None
        db.close()
        return cls._fresh(path, error)

    @classmethod
    def _fresh(cls, path: Path, error: str) -> tuple[Database, Recovery]:
        moved_to = _move_aside(path)
        return cls(path), Recovery(moved_to, error)

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so two writers queue on
        busy_timeout instead of one failing half-way with "database is locked"."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def schema_version(self) -> int:
        row = self._conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        return int(row[0])

    def migrate(self, migrations: Sequence[tuple[int, str]] = MIGRATIONS) -> int:
        """Apply pending migrations; safe when another process migrates concurrently."""
        versions = [v for v, _ in migrations]
        if versions != sorted(set(versions)) or (versions and versions[0] < 1):
            raise ValueError("MIGRATIONS must have unique, increasing versions >= 1")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        for version, sql in migrations:
            if version <= self.schema_version():
                continue
            with self.transaction() as conn:
                if version <= self.schema_version():  # re-read under the write lock
                    continue
                for statement in split_statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, time.time()),
                )
        return self.schema_version()

    def close(self) -> None:
        self._conn.close()


class AsyncDatabase:
    """Runs every call on one dedicated thread, so the event loop never waits on
    SQLite and calls are serialized on the one connection without locks."""

    def __init__(self, database: Database, executor: ThreadPoolExecutor | None = None) -> None:
        self.database = database
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="sqlite")

    @classmethod
    async def open(cls, path: Path) -> AsyncDatabase:
        """Open (and migrate) on the worker thread too; a migration may take a while."""
        adb, _ = await cls.open_or_recover(path, recover=False)
        return adb

    @classmethod
    async def open_or_recover(
        cls, path: Path, recover: bool = True
    ) -> tuple[AsyncDatabase, Recovery | None]:
        """Like :meth:`open`; with ``recover``, an unreadable file is moved aside and an
        empty database started (see :meth:`Database.open_or_recover`)."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        loop = asyncio.get_running_loop()
        try:
            if recover:
                db, recovery = await loop.run_in_executor(executor, Database.open_or_recover, path)
            else:
                db, recovery = await loop.run_in_executor(executor, Database, path), None
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(db, executor), recovery

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``await adb.run(store.revoke, key_id)`` runs ``store.revoke(key_id)`` off-loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def close(self) -> None:
        """Let queued calls finish, then close the connection on its own thread."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self.database.close)
        finally:
            self._executor.shutdown(wait=True)
