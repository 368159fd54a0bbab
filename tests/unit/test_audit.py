"""Audit trail: bounded in memory, persisted on flush, never holding credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from camera_service.auth.audit import MAX_PENDING, MAX_TEXT, AuditLog
from camera_service.db import AsyncDatabase, Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "camera-service.db")
    yield database
    database.close()


def test_record_then_flush_persists(tmp_path: Path) -> None:
    path = tmp_path / "camera-service.db"
    db = Database(path)
    audit = AuditLog(db)
    audit.record("auth_failure", None, reason="invalid", remote="127.0.0.1")
    audit.record("role_denied", "alice", method="get_metrics", role="viewer")
    assert audit.pending == 2
    assert audit.recent() == []  # not yet written
    assert audit.flush_sync() == 2
    assert audit.pending == 0
    db.close()

    reopened = Database(path)
    entries = AuditLog(reopened).recent(10)
    reopened.close()
    assert [e["event"] for e in entries] == ["role_denied", "auth_failure"]  # newest first
    assert entries[0]["actor"] == "alice"
    assert entries[0]["detail"] == {"method": "get_metrics", "role": "viewer"}
    assert entries[1]["actor"] is None
    assert entries[1]["ts"] > 0


def test_bounded_and_drops_counted(db: Database) -> None:
    audit = AuditLog(db, max_pending=5)
    for i in range(8):
        audit.record("auth_failure", None, n=i)
    assert audit.pending == 5
    assert audit.dropped == 3
    assert audit.flush_sync() == 6  # the five newest plus a marker for the gap
    entries = audit.recent(100)
    assert entries[0]["event"] == "audit_dropped"
    assert entries[0]["detail"] == {"count": 3}
    assert [e["detail"]["n"] for e in reversed(entries[1:])] == [3, 4, 5, 6, 7]
    assert audit.flush_sync() == 0  # the gap is reported once
    assert audit.dropped == 3  # the total stays for metrics


def test_default_bound(db: Database) -> None:
    audit = AuditLog(db)
    for _ in range(MAX_PENDING + 50):
        audit.record("auth_failure", None)
    assert audit.pending == MAX_PENDING
    assert audit.dropped == 50


def test_entries_are_bounded_and_credentials_masked(db: Database) -> None:
    audit = AuditLog(db)
    audit.record(
        "auth_failure",
        "x" * 10_000,
        token="eyJhbGciOi.secret.sig",
        api_key="csk_secret",
        method="m" * 10_000,
        **{f"f{i}": i for i in range(100)},
    )
    audit.flush_sync()
    (entry,) = audit.recent(1)
    assert len(entry["actor"]) == MAX_TEXT
    detail = entry["detail"]
    assert detail["token"] == "***"
    assert detail["api_key"] == "***"
    assert len(detail["method"]) == MAX_TEXT
    assert len(detail) <= 16
    assert "secret" not in str(entry)


def test_recent_limit(db: Database) -> None:
    audit = AuditLog(db)
    for i in range(10):
        audit.record("key_created", "cli", n=i)
    audit.flush_sync()
    assert [e["detail"]["n"] for e in audit.recent(3)] == [9, 8, 7]


async def test_async_flush_on_worker_thread(tmp_path: Path) -> None:
    adb = await AsyncDatabase.open(tmp_path / "camera-service.db")
    audit = AuditLog(adb)
    audit.record("key_revoked", "cli:root", key_id="k_abc")
    assert await audit.flush() == 1
    entries = await adb.run(audit.recent, 5)
    assert entries[0]["detail"] == {"key_id": "k_abc"}
    await adb.close()
