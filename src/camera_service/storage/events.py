"""Facts about media files: a recording segment opened or closed (MediaMTX's segment
hooks) or given up on (the record manager: its recorder will not close it), a snapshot
saved, a media file deleted. The media index follows them; the record manager follows
the segments.

A change of the media file systems' fill level is :class:`storage.disk.StorageLevelChanged`,
beside the status it carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from camera_service.storage.names import Kind


@dataclass(frozen=True, slots=True)
class SegmentCreated:
    """MediaMTX created a recording segment (its first part is written)."""

    camera_id: str
    segment: Path  # in the recordings directory
    at: float | None = None  # wall clock when MediaMTX ran the hook, if reported


@dataclass(frozen=True, slots=True)
class SegmentCompleted:
    """MediaMTX closed a recording segment."""

    camera_id: str
    segment: Path
    duration: float | None  # media seconds, as MediaMTX reports them
    at: float | None = None


SegmentEvent = SegmentCreated | SegmentCompleted


@dataclass(frozen=True, slots=True)
class SegmentAbandoned:
    """A segment its recorder will never complete (MediaMTX died, or moved on to a new
    segment without closing it): what is on disk now is all it holds."""

    camera_id: str
    segment: Path


@dataclass(frozen=True, slots=True)
class SnapshotSaved:
    """A snapshot is written under its final name in the snapshots directory."""

    camera_id: str
    device: str
    filename: str
    size: int  # bytes
    taken_at: float  # wall clock when the image was taken
    source: str  # warm, stream or device
    format: str  # jpg or png
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class MediaDeleted:
    """A media file was deleted (by retention or the emergency cleanup)."""

    kind: Kind
    filename: str
