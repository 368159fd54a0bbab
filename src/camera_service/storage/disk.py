"""How full the media file systems are, and the gate new media pass through.

``statvfs`` is cheap (a few microseconds), so the gate reads it at the moment a
recording or snapshot is asked for rather than trusting a cached figure."""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from camera_service.config import StorageConfig


class StorageLevel(enum.StrEnum):
    OK = "ok"
    WARN = "warn"  # used >= warn_percent
    CRITICAL = "critical"  # used >= block_percent: new media refused


@dataclass(frozen=True, slots=True)
class DiskUsage:
    total: int
    used: int
    available: int  # to unprivileged users, as df shows

    @property
    def used_percent(self) -> float:
        # As df: used / (used + available), so the root-reserved blocks count as full.
        denominator = self.used + self.available
        return 100.0 * self.used / denominator if denominator else 100.0


def disk_usage(path: Path) -> DiskUsage:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bfree * st.f_frsize
    available = st.f_bavail * st.f_frsize
    return DiskUsage(total, total - free, available)


class DiskMonitor:
    def __init__(self, cfg: Callable[[], StorageConfig], recordings: Path, snapshots: Path) -> None:
        self.cfg = cfg
        self.recordings = recordings
        self.snapshots = snapshots

    def usage(self, path: Path | None = None) -> DiskUsage:
        return disk_usage(path or self.recordings)

    def level(self, path: Path | None = None) -> StorageLevel:
        """The level of the file system holding ``path`` (default: recordings), now."""
        return self.level_of(self.usage(path))

    def level_of(self, usage: DiskUsage) -> StorageLevel:
        cfg = self.cfg()
        percent = usage.used_percent
        if percent >= cfg.block_percent:
            return StorageLevel.CRITICAL
        if percent >= cfg.warn_percent:
            return StorageLevel.WARN
        return StorageLevel.OK
