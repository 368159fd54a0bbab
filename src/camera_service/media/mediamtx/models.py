"""Tolerant readers of MediaMTX Control API bodies across versions.

Field names drift between MediaMTX releases (``ready`` became ``available``,
``bytesReceived`` became ``inboundBytes``, ``tracks`` became ``tracks2``...). Each
reader takes the newest name, falls back to the older ones, ignores unknown fields and
defaults missing or mistyped ones, so an unexpected body degrades to "unknown", never
to an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Info", "PathState", "Recording"]


def _first(d: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = d.get(key)
        if value is not None:
            return value
    return None


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    # bool is an int in Python; a byte counter never is
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return 0


def _bool(value: Any, default: bool = False) -> bool:
    return value if isinstance(value, bool) else default


@dataclass(frozen=True, slots=True)
class PathState:
    """A path as MediaMTX runs it now (``/v3/paths/list|get``)."""

    name: str
    conf_name: str = ""
    source_type: str | None = None  # rtspSource, rtspSession (a publisher), ...; None: no source
    available: bool = False  # readers can read it now
    available_time: str | None = None
    online: bool = False  # the source is running (may precede ``available``)
    inbound_bytes: int = 0
    outbound_bytes: int = 0
    readers: int = 0
    tracks: tuple[str, ...] = ()  # codec names: H264, Opus, ...

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> PathState:
        available = _bool(_first(d, "available", "ready"))
        source = d.get("source")
        source_type = _opt_str(source.get("type")) if isinstance(source, Mapping) else None
        readers = d.get("readers")
        reader_count = len(readers) if isinstance(readers, list) else _int(readers)
        return cls(
            name=_str(d.get("name")),
            conf_name=_str(d.get("confName")),
            source_type=source_type,
            available=available,
            available_time=_opt_str(_first(d, "availableTime", "readyTime")),
            online=_bool(d.get("online"), available),
            inbound_bytes=_int(_first(d, "inboundBytes", "bytesReceived")),
            outbound_bytes=_int(_first(d, "outboundBytes", "bytesSent")),
            readers=reader_count,
            tracks=_tracks(d),
        )


def _tracks(d: Mapping[str, Any]) -> tuple[str, ...]:
    tracks2 = d.get("tracks2")
    if isinstance(tracks2, list):
        return tuple(
            t["codec"]
            for t in tracks2
            if isinstance(t, Mapping) and isinstance(t.get("codec"), str)
        )
    tracks = d.get("tracks")
    if isinstance(tracks, list):
        # strings in most versions; objects with a codec in a few
        names = (t.get("codec") if isinstance(t, Mapping) else t for t in tracks)
        return tuple(n for n in names if isinstance(n, str))
    return ()


@dataclass(frozen=True, slots=True)
class Info:
    """``/v3/info``: which MediaMTX, and since when (a new ``started`` means a restart)."""

    version: str = ""
    started: str | None = None

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Info:
        return cls(version=_str(d.get("version")), started=_opt_str(d.get("started")))


@dataclass(frozen=True, slots=True)
class Recording:
    """Recorded segments of one path (``/v3/recordings/list|get``), by start time."""

    name: str
    segments: tuple[str, ...] = ()  # segment start times, RFC 3339, as MediaMTX wrote them

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Recording:
        segments = d.get("segments")
        starts: list[str] = []
        if isinstance(segments, list):
            for seg in segments:
                start = seg.get("start") if isinstance(seg, Mapping) else None
                if isinstance(start, str):
                    starts.append(start)
        return cls(name=_str(d.get("name")), segments=tuple(starts))
