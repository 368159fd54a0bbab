"""Camera sources added through the API, kept in SQLite (table ``camera_sources``,
migration 8) as the config file would hold them. Call only on the DB thread."""

from __future__ import annotations

import logging
import time

import orjson
from pydantic import TypeAdapter, ValidationError

from camera_service.config import RtspSource, Source, TestPatternSource
from camera_service.db import Database

log = logging.getLogger(__name__)

_SOURCE: TypeAdapter[RtspSource | TestPatternSource] = TypeAdapter(Source)


def encode(source: RtspSource | TestPatternSource) -> bytes:
    """The source as JSON, its password in clear (what the camera must be sent)."""
    data = source.model_dump(mode="json", exclude_none=True)
    if isinstance(source, RtspSource) and source.password is not None:
        data["password"] = source.password.get_secret_value()
    return orjson.dumps(data)


def decode(raw: str | bytes) -> RtspSource | TestPatternSource:
    return _SOURCE.validate_python(orjson.loads(raw))


class SourceStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def load(self) -> list[RtspSource | TestPatternSource]:
        out: list[RtspSource | TestPatternSource] = []
        for row in self.database.query("SELECT camera_id, source FROM camera_sources"):
            try:
                out.append(decode(row["source"]))
            except (ValidationError, orjson.JSONDecodeError):
                # The rules may have tightened since it was stored: say so, keep the row.
                log.error("stored camera source unreadable; skipped", extra={"camera_id": row[0]})
        return out

    def put(self, source: RtspSource | TestPatternSource) -> None:
        now = time.time()
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO camera_sources (camera_id, source, created_at, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (camera_id) DO UPDATE SET"
                " source = excluded.source, updated_at = excluded.updated_at",
                (source.id, encode(source).decode(), now, now),
            )

    def delete(self, camera_id: str) -> None:
        with self.database.transaction() as conn:
            conn.execute("DELETE FROM camera_sources WHERE camera_id = ?", (camera_id,))
