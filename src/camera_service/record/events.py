"""What the record manager publishes about a session: it started (its first segment
exists), it writes nothing (degraded) or writes again (resumed, also after a service
restart), and it ended (final: every segment known and closed, or given up on)."""

from __future__ import annotations

from dataclasses import dataclass

from camera_service.record.recording import FAILURES, Interruption, Reason, Recording


@dataclass(frozen=True, slots=True)
class RecordingStarted:
    session_id: str
    camera_id: str
    device: str
    filename: str  # the first segment
    format: str  # mp4 or ts
    start_time: float  # wall clock of the accepted request
    duration: float | None  # requested seconds; None: until stopped

    @classmethod
    def of(cls, session: Recording) -> RecordingStarted:
        return cls(
            session.session_id,
            session.camera_id,
            session.device,
            session.filename,
            session.format,
            session.start_time,
            session.duration,
        )


@dataclass(frozen=True, slots=True)
class RecordingEnded:
    session_id: str
    camera_id: str
    device: str
    filename: str  # the first segment (the expected name if none was written)
    format: str
    start_time: float
    end_time: float  # wall clock when recording was switched off
    duration: float  # media seconds recorded
    reason: Reason
    files: tuple[str, ...]  # every segment, oldest first
    file_size: int  # bytes of those segments on disk at the end
    error: str = ""  # for a failure, fit for a client

    @property
    def failed(self) -> bool:
        return self.reason in FAILURES

    @classmethod
    def of(cls, session: Recording, reason: Reason, file_size: int) -> RecordingEnded:
        return cls(
            session.session_id,
            session.camera_id,
            session.device,
            session.filename,
            session.format,
            session.start_time,
            session.ended_at or session.start_time,
            session.recorded(),
            reason,
            tuple(session.files),
            file_size,
            session.error,
        )


@dataclass(frozen=True, slots=True)
class RecordingDegraded:
    """A session that is on has written nothing for a while (a full disk, say); it goes
    on, and :class:`RecordingResumed` follows when media is written again."""

    session_id: str
    camera_id: str
    device: str
    filename: str
    format: str
    start_time: float
    duration: float | None  # requested seconds; None: until stopped
    reason: Interruption
    error: str  # what is wrong, fit for a client
    since: float  # wall clock of the last media written

    @classmethod
    def of(cls, session: Recording, reason: Interruption, error: str) -> RecordingDegraded:
        return cls(
            session.session_id,
            session.camera_id,
            session.device,
            session.filename,
            session.format,
            session.start_time,
            session.duration,
            reason,
            error,
            session.progress_at,
        )


@dataclass(frozen=True, slots=True)
class RecordingResumed:
    """A session writes media again: after it was degraded, or taken up again after the
    service restarted (``reason`` says which interruption is over)."""

    session_id: str
    camera_id: str
    device: str
    filename: str
    format: str
    start_time: float
    duration: float | None
    reason: Interruption
    current_file: str  # the segment being written now

    @classmethod
    def of(cls, session: Recording, reason: Interruption) -> RecordingResumed:
        return cls(
            session.session_id,
            session.camera_id,
            session.device,
            session.filename,
            session.format,
            session.start_time,
            session.duration,
            reason,
            session.current_file,
        )
