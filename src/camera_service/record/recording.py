"""One recording session as plain data: its segments, its times, and what clients see.

No I/O here except reading segment sizes (``file_size``); the manager drives it.
"""

from __future__ import annotations

import asyncio
import enum
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from camera_service.storage.names import stat_media

EXTENSIONS = {"mp4": "mp4", "ts": "ts"}


class Reason(enum.StrEnum):
    """Why a session ended (its value is the ``reason`` clients are told)."""

    REQUESTED = "requested"  # stop_recording
    DURATION = "duration"  # the requested duration elapsed
    UNPLUGGED = "unplugged"  # the camera went away or disconnected
    MEDIAMTX_RESTARTED = "mediamtx_restarted"
    SHUTDOWN = "shutdown"
    INTERRUPTED = "interrupted"  # the service stopped without ending it (a crash)
    NO_SEGMENT = "no_segment"  # failed: MediaMTX wrote nothing in time
    STREAM_UNREADABLE = "stream_unreadable"  # failed: the stream could not be held up


FAILURES = frozenset({Reason.NO_SEGMENT, Reason.STREAM_UNREADABLE})


class Interruption(enum.StrEnum):
    """Why a session that is on records nothing (its ``reason`` while degraded, and the
    one it resumed from)."""

    STORAGE_FULL = "storage_full"  # the recordings disk has no room left
    STALLED = "stalled"  # MediaMTX writes nothing, for another reason
    SERVICE_RESTARTED = "service_restarted"  # the service stopped (a crash) and is back


class State(enum.StrEnum):
    """What a session that is on is doing."""

    STARTING = "starting"  # no segment yet
    RECORDING = "recording"
    DEGRADED = "degraded"  # nothing is being written (see Interruption)


def _stamp(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d_%H-%M-%S")


def expected_name(camera_id: str, when: float, fmt: str) -> str:
    """The name MediaMTX gives a segment starting at ``when`` (UTC, as managed)."""
    return f"{camera_id}_{_stamp(when)}.{EXTENSIONS[fmt]}"


_STAMP = re.compile(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d")


def unreported_segments(recordings: Path, session: Recording, taken: set[str]) -> list[str]:
    """Segment files of the session that no hook has named yet, oldest first.

    MediaMTX creates a segment's file before it runs the create hook, so at the end of
    a session a segment whose hook is still on its way is already on disk: named for
    the session's camera and format, starting between its first segment (or its start)
    and its end, and not ``taken`` by another session. Reads the directory: call it in
    a worker thread."""
    prefix = f"{session.camera_id}_"
    suffix = f".{EXTENSIONS[session.format]}"
    first = session.filename[len(prefix) :][:19] if session.segments else ""
    low = max(first, _stamp(session.start_time - 1))
    high = _stamp(session.ended_at if session.ended_at is not None else time.time())
    found = []
    with os.scandir(recordings) as entries:
        for entry in entries:
            name = entry.name
            stamp = name[len(prefix) : -len(suffix)]
            if (
                name.startswith(prefix)
                and name.endswith(suffix)
                and _STAMP.fullmatch(stamp)
                and low <= stamp <= high
                and name not in session.segments
                and name not in taken
                and entry.is_file(follow_symlinks=False)
            ):
                found.append(name)
    return sorted(found)


@dataclass(eq=False)
class Recording:
    session_id: str
    camera_id: str
    device: str
    format: str  # "mp4" | "ts"
    duration: float | None  # requested seconds; None: until stopped
    start_time: float  # wall clock of the accepted request
    expected: str  # the first segment's expected name, until the hook tells the real one
    # Segment name -> its duration once complete (None while open), in creation order.
    segments: dict[str, float | None] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)  # closed by the recorder, or given up
    hooked: set[str] = field(default_factory=set)  # named by MediaMTX's hooks: surely ours
    discarded: set[str] = field(default_factory=set)  # empty or unreadable: removed
    began: float | None = None  # wall clock of the first segment's start
    ended_at: float | None = None
    reason: Reason | None = None
    error: str = ""
    announced: bool = False  # STARTED sent
    resumed_at: float | None = None  # taken up again after a service restart
    # Progress (record.progress): the newest segment and its size at the last look, and
    # when a segment was last seen growing.
    looked: tuple[str, int] = ("", 0)
    progress_at: float = 0.0
    degraded: Interruption | None = None  # set while nothing is written
    stalled_seconds: float = 0.0  # time spent degraded, over (not counting one going on)
    # Writes failed at some point: what the recorder says it wrote (a complete hook's
    # duration) may not all be on disk, so each segment is read at the end.
    doubtful: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def filename(self) -> str:
        return next(iter(self.segments), self.expected)

    @property
    def current_file(self) -> str:
        return next(reversed(self.segments), self.expected)

    @property
    def files(self) -> list[str]:
        return list(self.segments)

    @property
    def open_segments(self) -> list[str]:
        return [name for name in self.segments if name not in self.completed]

    @property
    def settled(self) -> bool:
        """Every segment known is complete (the recorder closed it)."""
        return bool(self.segments) and not self.open_segments

    @property
    def state(self) -> State:
        if self.began is None:
            return State.STARTING
        return State.DEGRADED if self.degraded is not None else State.RECORDING

    def elapsed(self, now: float) -> float:
        """Seconds since the first segment began (until the end, once ended)."""
        if self.began is None:
            return 0.0
        end = self.ended_at if self.ended_at is not None else now
        return round(max(0.0, end - self.began), 3)

    def stalled(self, now: float) -> float:
        """Seconds in which nothing was written, the stall going on included."""
        seconds = self.stalled_seconds
        if self.degraded is not None:
            end = self.ended_at if self.ended_at is not None else now
            seconds += max(0.0, end - self.progress_at)
        return seconds

    def recorded_so_far(self, now: float) -> float:
        """Media seconds as far as the clock tells: elapsed, less the stalls."""
        return round(max(0.0, self.elapsed(now) - self.stalled(now)), 3)

    def recorded(self) -> float:
        """Media seconds: the segments' own durations once all are known."""
        if not self.segments:
            return 0.0
        durations = [d for d in self.segments.values() if d is not None]
        if self.settled and len(durations) == len(self.segments):
            return round(sum(durations), 3)
        return self.recorded_so_far(time.time())

    def mark(self) -> None:
        """Wake whoever waits for this session to change."""
        self.changed.set()

    def file_size(self, recordings: Path) -> int:
        total = 0
        for name in self.segments:
            try:
                total += stat_media(recordings, name).st_size
            except (FileNotFoundError, ValueError, OSError):
                continue  # deleted meanwhile, or a name we will not touch
        return total
