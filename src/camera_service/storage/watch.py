"""inotify on the media directories: which names changed, read on the event loop.

The watcher reports names and what happened to them; the index re-stats each name,
so an event is a hint, never trusted as the state. Lost events (queue overflow) and a
lost watch (the directory removed or replaced) ask for a full rescan.
"""

from __future__ import annotations

import asyncio
import ctypes
import enum
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from camera_service import inotify
from camera_service.inotify import (
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_ONLYDIR,
    IN_Q_OVERFLOW,
    parse_events,
)

log = logging.getLogger(__name__)

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
        libc = inotify.libc()
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
        libc = inotify.libc()
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
            for wd, mask, raw in parse_events(data):
                name = os.fsdecode(raw)
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
