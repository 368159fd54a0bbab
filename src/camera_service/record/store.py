"""Recording sessions in SQLite (table ``recording_sessions``, migration 6), so a
restart knows what the previous run was recording and how each camera's last
recording ended.

A row is written when a session starts and whenever its segments or its end change;
it stays open until the session is final. At start, an open row is a session the
previous run never finished (it crashed, or was killed during the drain). Each camera
keeps its last final row (``last_recording`` in get_camera_status); older ones are
dropped. Call the methods on the DB worker thread (``AsyncDatabase.run``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from camera_service.db import Database
from camera_service.record.events import RecordingEnded
from camera_service.record.recording import Reason, Recording

log = logging.getLogger(__name__)

_COLUMNS = (
    "session_id, camera_id, device, format, duration, start_time, expected, began,"
    " segments, ended_at, reason, error, resumed_at, doubtful, final, recorded, file_size"
)


@dataclass(frozen=True, slots=True)
class Stored:
    """What the previous runs left: sessions not final, and each camera's last one."""

    unfinished: list[Recording]
    last: dict[str, RecordingEnded]  # camera_id -> its last final session


def row_of(session: Recording) -> dict[str, Any]:
    """The columns of a session now (a copy: it is written later, on another thread)."""
    segments = [
        [name, duration, name in session.completed, name in session.hooked]
        for name, duration in session.segments.items()
    ]
    return {
        "session_id": session.session_id,
        "camera_id": session.camera_id,
        "device": session.device,
        "format": session.format,
        "duration": session.duration,
        "start_time": session.start_time,
        "expected": session.expected,
        "began": session.began,
        "segments": orjson.dumps(segments).decode(),
        "ended_at": session.ended_at,
        "reason": session.reason.value if session.reason is not None else None,
        "error": session.error,
        "resumed_at": session.resumed_at,
        "doubtful": int(session.doubtful),
    }


def _session(row: Any) -> Recording:
    session = Recording(
        row["session_id"],
        row["camera_id"],
        row["device"],
        row["format"],
        row["duration"],
        row["start_time"],
        row["expected"],
    )
    for name, duration, completed, hooked in orjson.loads(row["segments"]):
        session.segments[name] = duration
        if completed:
            session.completed.add(name)
        if hooked:
            session.hooked.add(name)
    session.began = row["began"]
    session.announced = session.began is not None
    session.ended_at = row["ended_at"]
    session.reason = Reason(row["reason"]) if row["reason"] else None
    session.error = row["error"]
    session.resumed_at = row["resumed_at"]
    session.doubtful = bool(row["doubtful"])
    return session


def _ended(row: Any) -> RecordingEnded:
    session = _session(row)
    ended = RecordingEnded.of(session, session.reason or Reason.INTERRUPTED, row["file_size"] or 0)
    return dataclasses.replace(ended, duration=row["recorded"] or 0.0)


class SessionStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def load(self) -> Stored:
        unfinished: list[Recording] = []
        last: dict[str, RecordingEnded] = {}
        rows = self.database.query(
            f"SELECT {_COLUMNS} FROM recording_sessions ORDER BY start_time, session_id"
        )
        for row in rows:
            try:
                if row["final"]:
                    last[row["camera_id"]] = _ended(row)
                else:
                    unfinished.append(_session(row))
            except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
                log.warning("unreadable recording session skipped", extra={"session_id": row[0]})
        return Stored(unfinished, last)

    def save(self, row: dict[str, Any]) -> None:
        """Insert or replace a session that is not final."""
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO recording_sessions (session_id, camera_id, device, format,"
                " duration, start_time, expected, began, segments, ended_at, reason, error,"
                " resumed_at, doubtful) VALUES (:session_id, :camera_id, :device, :format,"
                " :duration, :start_time, :expected, :began, :segments, :ended_at, :reason,"
                " :error, :resumed_at, :doubtful) ON CONFLICT (session_id) DO UPDATE SET"
                " began = excluded.began, segments = excluded.segments,"
                " ended_at = excluded.ended_at, reason = excluded.reason,"
                " error = excluded.error, resumed_at = excluded.resumed_at,"
                " doubtful = excluded.doubtful WHERE NOT final",
                row,
            )

    def finish(self, row: dict[str, Any], recorded: float, file_size: int) -> None:
        """The session is final: keep it as its camera's last, drop the older ones."""
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO recording_sessions (session_id, camera_id, device,"
                " format, duration, start_time, expected, began, segments, ended_at, reason,"
                " error, resumed_at, doubtful, final, recorded, file_size) VALUES (:session_id,"
                " :camera_id, :device, :format, :duration, :start_time, :expected, :began,"
                " :segments, :ended_at, :reason, :error, :resumed_at, :doubtful, 1, :recorded,"
                " :file_size)",
                {**row, "recorded": recorded, "file_size": file_size},
            )
            conn.execute(
                "DELETE FROM recording_sessions WHERE camera_id = ? AND final AND session_id != ?",
                (row["camera_id"], row["session_id"]),
            )
