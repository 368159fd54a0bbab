"""SQLite store: pragmas, private file, versioned migrations, the worker thread."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

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
