"""SQLite store: pragmas, private file, versioned migrations, the worker thread."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from camera_service import db as db_module
from camera_service.db import MIGRATIONS, AsyncDatabase, Database, split_statements

LATEST = MIGRATIONS[-1][0]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "camera-service.db"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    yield
    os.umask(old)


def tables(db: Database) -> set[str]:
    return {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_fresh_database(path: Path) -> None:
    db = Database(path)
    assert db.schema_version() == LATEST
    assert {"api_keys", "audit_log", "schema_version"} <= tables(db)
    assert db.query_one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    assert db.query_one("PRAGMA foreign_keys")[0] == 1  # type: ignore[index]
    assert db.query_one("PRAGMA synchronous")[0] == 1  # type: ignore[index]  # NORMAL
    assert db.query_one("PRAGMA busy_timeout")[0] == 5000  # type: ignore[index]
    db.close()


def test_file_is_private_whatever_the_umask(path: Path, permissive_umask: None) -> None:
    db = Database(path)
    db.execute("INSERT INTO audit_log (ts, event) VALUES (1, 'x')")
    for p in path.parent.iterdir():  # the -wal and -shm files too
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
    db.close()


def test_existing_loose_file_is_tightened(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    Database(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_migrations_idempotent(path: Path) -> None:
    Database(path).close()
    db = Database(path)
    assert db.migrate() == LATEST
    rows = db.query("SELECT version FROM schema_version ORDER BY version")
    assert [r[0] for r in rows] == [v for v, _ in MIGRATIONS]
    db.close()


def test_appending_a_migration(path: Path) -> None:
    db = Database(path)
    more = [*MIGRATIONS, (LATEST + 1, "CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a;b');")]
    assert db.migrate(more) == LATEST + 1
    assert db.query_one("SELECT x FROM t")[0] == "a;b"  # type: ignore[index]
    assert db.migrate(more) == LATEST + 1  # not applied twice
    assert len(db.query("SELECT x FROM t")) == 1
    db.close()


def test_failed_migration_rolls_back(path: Path) -> None:
    db = Database(path)
    broken = [*MIGRATIONS, (LATEST + 1, "CREATE TABLE t2 (x); INSERT INTO missing VALUES (1);")]
    with pytest.raises(sqlite3.OperationalError, match="missing"):
        db.migrate(broken)
    assert db.schema_version() == LATEST
    assert "t2" not in tables(db)
    db.close()


def test_migration_order_checked(path: Path) -> None:
    db = Database(path)
    with pytest.raises(ValueError, match="increasing"):
        db.migrate([(2, "SELECT 1"), (1, "SELECT 1")])
    db.close()


def test_split_statements_keeps_triggers_whole() -> None:
    sql = """
        CREATE TABLE a (x);
        CREATE TRIGGER tr AFTER INSERT ON a BEGIN
            UPDATE a SET x = 'y;z' WHERE rowid = new.rowid;
        END;
        ;
    """
    parts = list(split_statements(sql))
    assert len(parts) == 2
    assert parts[1].startswith("CREATE TRIGGER")
    assert parts[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        list(split_statements("INSERT INTO a VALUES ('unterminated"))


def test_transaction_rolls_back_on_error(path: Path) -> None:
    db = Database(path)

    def fail() -> None:
        with db.transaction() as conn:
            conn.execute("INSERT INTO audit_log (ts, event) VALUES (1, 'lost')")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert db.query("SELECT * FROM audit_log") == []
    db.close()


async def test_async_runs_on_one_worker_thread(path: Path) -> None:
    adb = await AsyncDatabase.open(path)

    def where() -> int:
        return threading.get_ident()

    idents = {await adb.run(where) for _ in range(5)}
    assert len(idents) == 1
    assert idents != {threading.get_ident()}
    await adb.run(adb.database.execute, "INSERT INTO audit_log (ts, event) VALUES (?, ?)", (1, "e"))
    rows = await adb.run(adb.database.query, "SELECT event FROM audit_log")
    assert [r[0] for r in rows] == ["e"]
    await adb.close()


async def test_async_wraps_existing_database(path: Path) -> None:
    adb = AsyncDatabase(Database(path))
    assert await adb.run(lambda: adb.database.schema_version()) == LATEST
    await adb.close()


# --- recovery from corruption -------------------------------------------------------------


def test_a_sound_database_is_opened_as_it_is(path: Path) -> None:
    db = Database(path)
    db.execute("INSERT INTO mediamtx_paths (name, created_at) VALUES ('lab', 1)")
    db.close()
    db, recovery = Database.open_or_recover(path)
    assert recovery is None
    assert db.query_one("SELECT name FROM mediamtx_paths")[0] == "lab"  # type: ignore[index]
    db.close()


def test_a_file_that_is_not_a_database_is_moved_aside_with_its_wal_files(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 1000)
    (path.parent / f"{path.name}-wal").write_bytes(b"wal bytes")
    db, recovery = Database.open_or_recover(path)
    assert recovery is not None and "not a database" in recovery.error
    assert recovery.moved_to.read_bytes() == b"garbage" * 1000
    assert (recovery.moved_to.parent / f"{recovery.moved_to.name}-wal").read_bytes() == (
        b"wal bytes"
    )
    assert db.schema_version() == LATEST  # a new, empty database in its place
    db.close()


def test_a_malformed_page_is_found_by_the_check_and_moved_aside(path: Path) -> None:
    db = Database(path)
    db.execute("CREATE TABLE filler (x BLOB)")
    for _ in range(50):
        db.execute("INSERT INTO filler VALUES (randomblob(2000))")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    raw = bytearray(path.read_bytes())
    raw[4096 * 3 : 4096 * 6] = b"\xa5" * (4096 * 3)
    path.write_bytes(bytes(raw))
    db, recovery = Database.open_or_recover(path)
    assert recovery is not None
    assert recovery.moved_to.read_bytes() == bytes(raw)
    assert "filler" not in tables(db)
    db.close()


def test_only_corruption_counts_as_corrupt_a_busy_database_does_not(path: Path) -> None:
    """A locked, busy or read-only database may be fine: only SQLite's own verdicts
    SQLITE_CORRUPT and SQLITE_NOTADB move a file aside."""
    Database(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked") as busy:
            other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()
        holder.execute("ROLLBACK")
        holder.close()
    assert not db_module._is_corrupt(busy.value)
    path.write_bytes(b"garbage" * 1000)
    reader = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError) as notadb:
            reader.execute("PRAGMA journal_mode")
    finally:
        reader.close()
    assert db_module._is_corrupt(notadb.value)
