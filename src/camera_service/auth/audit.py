"""Security audit trail: auth failures, role denials and key changes, kept in SQLite.

``record`` runs on the event loop for every failed call, so it only appends to a
bounded queue; ``flush`` writes batches on the DB worker thread. Every entry is
bounded too (truncated strings, capped field count): a client hammering bad tokens
costs at most ``max_pending`` small entries of memory, and the oldest are dropped
and counted, with the gap itself recorded as an ``audit_dropped`` event.

Events: auth_failure, role_denied, key_created, key_revoked, key_rotated.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any

import orjson

from camera_service.db import AsyncDatabase, Database

log = logging.getLogger(__name__)

MAX_PENDING = 10_000
MAX_TEXT = 200
MAX_FIELDS = 16
# Credentials never belong in the trail; these detail names are masked even if a
# caller passes them by mistake.
SENSITIVE = frozenset(
    {"token", "auth_token", "api_key", "key", "secret", "password", "authorization", "jwt"}
)

Entry = tuple[float, str, str | None, dict[str, Any]]


def _clip(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


class AuditLog:
    def __init__(self, db: Database | AsyncDatabase, max_pending: int = MAX_PENDING) -> None:
        self._adb = db if isinstance(db, AsyncDatabase) else None
        self._db = db.database if isinstance(db, AsyncDatabase) else db
        self._pending: collections.deque[Entry] = collections.deque(maxlen=max_pending)
        self._dropped = 0  # since start, for metrics
        self._unreported = 0  # dropped since the last audit_dropped entry

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, event: str, actor: str | None, **detail: Any) -> None:
        """Non-blocking; safe to call from the event loop on every failed request."""
        clean: dict[str, Any] = {}
        for name, value in list(detail.items())[:MAX_FIELDS]:
            clean[name] = "***" if name.lower() in SENSITIVE else _clip(value)
        if len(self._pending) == self._pending.maxlen:
            self._dropped += 1
            self._unreported += 1
        self._pending.append(
            (time.time(), _clip(event), None if actor is None else _clip(actor), clean)
        )

    def flush_sync(self) -> int:
        """Write everything queued in one transaction; returns entries written.

        Runs on the DB worker thread (``flush``) or directly in the CLI.
        """
        batch: list[Entry] = []
        while self._pending:
            try:
                batch.append(self._pending.popleft())
            except IndexError:  # emptied concurrently
                break
        unreported, self._unreported = self._unreported, 0
        if unreported:
            batch.append((time.time(), "audit_dropped", None, {"count": unreported}))
        if not batch:
            return 0
        rows = [(ts, ev, actor, orjson.dumps(d).decode()) for ts, ev, actor, d in batch]
        try:
            with self._db.transaction() as conn:
                conn.executemany(
                    "INSERT INTO audit_log (ts, event, actor, detail) VALUES (?, ?, ?, ?)", rows
                )
        except BaseException:
            # Put the batch back (oldest first) so a transient "database is locked"
            # loses nothing; if the queue filled meanwhile the newest overflow is lost.
            self._unreported += unreported
            self._pending.extendleft(reversed([e for e in batch if e[1] != "audit_dropped"]))
            raise
        return len(rows)

    async def flush(self) -> int:
        """Write the queue off the event loop (on the DB worker thread)."""
        if self._adb is not None:
            return await self._adb.run(self.flush_sync)
        return self.flush_sync()

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first, from the database (flushed entries only)."""
        rows = self._db.query(
            "SELECT id, ts, event, actor, detail FROM audit_log ORDER BY id DESC LIMIT ?",
            (max(0, int(limit)),),
        )
        return [
            {
                "id": r["id"],
                "ts": r["ts"],
                "event": r["event"],
                "actor": r["actor"],
                "detail": orjson.loads(r["detail"]),
            }
            for r in rows
        ]
