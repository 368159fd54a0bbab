"""What media is on disk now: one scan of the media directories, the file system's truth.

Only what a client could name is counted: regular files (never a symlink, a directory
or a hard link) with a plain visible name and a media extension. Blocking: call it in a
thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from camera_service.storage.names import Kind, is_media_name, is_own_file


@dataclass(frozen=True, slots=True)
class MediaFile:
    kind: Kind
    name: str
    size: int
    mtime: float


def scan_dir(kind: Kind, directory: Path) -> Iterator[MediaFile]:
    """The media files directly in ``directory``; a missing directory holds none."""
    try:
        entries = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    with entries:
        for entry in entries:
            if not is_media_name(kind, entry.name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # deleted while we looked
                continue
            if not is_own_file(st):
                continue
            yield MediaFile(kind, entry.name, st.st_size, st.st_mtime)


def scan_media(recordings: Path, snapshots: Path) -> list[MediaFile]:
    return [*scan_dir("recording", recordings), *scan_dir("snapshot", snapshots)]


def total_size(files: Iterable[MediaFile], kind: Kind) -> int:
    return sum(f.size for f in files if f.kind == kind)
