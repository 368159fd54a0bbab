"""What a segment the recorder did not close holds: nothing, nothing playable, or media
of some length.

MediaMTX names a segment (its create hook) before it has written much, and a recorder
that cannot write (a full disk) retries every few seconds with a new one: such files
stay empty, or hold a header and no frame. A segment that no complete hook closed is
looked at here before it is reported, with ffprobe as the media index reads
durations, so what a session reports is what the container says.
"""

from __future__ import annotations

import asyncio
import enum
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from camera_service.storage.names import open_media
from camera_service.storage.probe import probe_video

PROBE_TIMEOUT = 15.0


class Content(enum.Enum):
    MISSING = "missing"  # no such regular file (deleted meanwhile)
    EMPTY = "empty"  # 0 bytes
    UNREADABLE = "unreadable"  # bytes, but no media ffprobe can time
    MEDIA = "media"


@dataclass(frozen=True, slots=True)
class SegmentFacts:
    content: Content
    size: int = 0
    duration: float | None = None  # seconds, for MEDIA

    @property
    def junk(self) -> bool:
        return self.content in (Content.EMPTY, Content.UNREADABLE)


Inspect = Callable[[Path, str], Awaitable[SegmentFacts]]


async def inspect(
    recordings: Path, name: str, ffprobe: str = "ffprobe", timeout: float = PROBE_TIMEOUT
) -> SegmentFacts:
    """The facts of the segment ``name`` in ``recordings``."""
    try:
        fd = await asyncio.to_thread(open_media, recordings, name)
    except (FileNotFoundError, ValueError):
        return SegmentFacts(Content.MISSING)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return SegmentFacts(Content.EMPTY)
        info = await probe_video(fd, ffprobe, timeout)
    finally:
        os.close(fd)
    if info is None or info.duration is None or info.duration <= 0:
        return SegmentFacts(Content.UNREADABLE, size)
    return SegmentFacts(Content.MEDIA, size, round(info.duration, 3))
