"""inotify on the media directories: which names changed, read on the event loop.

The watcher reports names and what happened to them; the index re-stats each name,
so an event is a hint, never trusted as the state. Lost events (queue overflow) and a
lost watch (the directory removed or replaced) ask for a full rescan.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import enum
import logging
import os
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
_WATCH_MASK = (
    IN_CREATE
    | IN_CLOSE_WRITE
    | IN_MOVED_TO
    | IN_DELETE
    | IN_MOVED_FROM
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then name


class Change(enum.IntEnum):
    """What an event says about a name; a later change of a name supersedes an earlier."""

    SEEN = 0  # appeared or vanished: look at it
    OPENED = 1  # created: being written until closed
    CLOSED = 2  # written and closed, or moved in whole: its content is final


def change_of(mask: int) -> Change:
    if mask & (IN_CLOSE_WRITE | IN_MOVED_TO):
        return Change.CLOSED
    if mask & IN_CREATE:
        return Change.OPENED
    return Change.SEEN


def parse_events(data: bytes) -> list[tuple[int, int, str]]:
    """(wd, mask, name) of each struct inotify_event in one read."""
    events = []
    offset = 0
    while offset + _EVENT.size <= len(data):
        wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
        offset += _EVENT.size
        raw = data[offset : offset + length].rstrip(b"\0")
        offset += length
        events.append((wd, mask, os.fsdecode(raw)))
    return events


OnChange = Callable[[str, str, Change], None]  # (key of the directory, name, change)


class MediaWatcher:
    """Watches each directory of ``dirs`` (key -> path) without following links."""

    def __init__(
        self, dirs: Mapping[str, Path], on_change: OnChange, on_lost: Callable[[], None]
    ) -> None:
        self.dirs = dict(dirs)
        self.on_change = on_change
        self.on_lost = on_lost  # events were lost: rescan everything
        self.watching = False
        self._fd: int | None = None
        self._wds: dict[int, list[str]] = {}  # one directory may serve several keys
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """Start watching; False (and a warning) where inotify is not available."""
        libc = _libc()
        if libc is None:
            log.warning("inotify unavailable; the media index is reconciled at start only")
            return False
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            log.warning("inotify unavailable", extra={"error": os.strerror(ctypes.get_errno())})
            return False
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._read)
        self.watching = self.rewatch()
        return self.watching

    def rewatch(self) -> bool:
        """(Re-)add a watch on every directory; a directory replaced since gets a new one."""
        libc = _libc()
        if self._fd is None or libc is None:
            return False
        ok = True
        self._wds.clear()
        for key, path in self.dirs.items():
            wd = libc.inotify_add_watch(self._fd, os.fsencode(path), _WATCH_MASK)
            if wd < 0:
                ok = False
                log.warning(
                    "cannot watch a media directory",
                    extra={"directory": key, "error": os.strerror(ctypes.get_errno())},
                )
                continue
            self._wds.setdefault(wd, []).append(key)
        return ok

    def stop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            if self._loop is not None:
                self._loop.remove_reader(fd)
            os.close(fd)
        self._wds.clear()
        self.watching = False

    def _read(self) -> None:
        fd = self._fd
        if fd is None:
            return
        lost = False
        while True:
            try:
                data = os.read(fd, 64 * 1024)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("inotify read failed", extra={"error": exc.strerror})
                lost = True
                break
            if not data:
                break
            for wd, mask, name in parse_events(data):
                if mask & IN_Q_OVERFLOW:
                    lost = True
                    continue
                if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                    # The directory itself went or moved: its watch is gone.
                    if self._wds.pop(wd, None) is not None:
                        log.warning("a media directory watch was lost")
                        lost = True
                    continue
                if name:
                    for key in self._wds.get(wd, ()):
                        self.on_change(key, name, change_of(mask))
        if lost:
            self.on_lost()


_LIBC: Any = None


def _libc() -> Any:
    """libc with the inotify calls typed, or None where it lacks them."""
    global _LIBC
    if _LIBC is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_init1.restype = ctypes.c_int
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            libc.inotify_add_watch.restype = ctypes.c_int
        except (OSError, AttributeError):
            return None
        _LIBC = libc
    return _LIBC
