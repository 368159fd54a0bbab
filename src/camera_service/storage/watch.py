"""inotify on the media directories, and when a change there calls for a rescan.

The watcher is the media index's safety net, not a source of facts about files. The
files the service writes and deletes reach the index through the service's own events
(segment hooks, snapshots taken, deletions), which say what each one means. inotify
only says that a name appeared or vanished; :class:`RescanSchedule` drops the changes
one of those events explains and makes the directory of any other change (a file copied
in or removed by hand, a hook that never came) due for a rescan. Lost events (queue
overflow) and a lost watch (the directory removed or replaced) make every directory due.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Generic, TypeVar

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

K = TypeVar("K", bound=str)  # what names a directory (the media kind)

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
_PRESENT = IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO  # the name is there after the event


class MediaWatcher(Generic[K]):
    """Watches each directory of ``dirs`` (key -> path) without following links and
    calls ``on_change(key, name, present)`` for each event on a name in it."""

    def __init__(
        self,
        dirs: Mapping[K, Path],
        on_change: Callable[[K, str, bool], None],
        on_lost: Callable[[], None],
    ) -> None:
        self.dirs = dict(dirs)
        self.on_change = on_change
        self.on_lost = on_lost  # events were lost: rescan everything
        self.watching = False
        self._fd: int | None = None
        self._wds: dict[int, list[K]] = {}  # one directory may serve several keys
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
                        self.on_change(key, name, bool(mask & _PRESENT))
        if lost:
            self.on_lost()


Name = tuple[K, str]  # (directory key, file name)


class RescanSchedule(Generic[K]):
    """Which directories need a rescan, and when. Sans-I/O: the caller passes the time
    (one monotonic clock) and runs the rescans it is told are due.

    The service *tells* what it wrote or deleted (:meth:`told`); inotify *saw* a name
    appear or vanish (:meth:`saw`). A change is explained by a fact about the same
    name in the same direction within ``window`` seconds before or after it (hooks
    run as their own processes, so a fact may trail its file by a moment). A change
    still unexplained ``window`` seconds after it was seen makes its directory due.

    Cost bound: a directory whose rescan took d seconds is not due again before
    ``pause * d`` seconds after that rescan ended, so however many outside changes
    arrive, automatic rescans take at most 1 / (1 + pause) of the time.
    """

    def __init__(self, window: float, pause: float) -> None:
        if window < 0 or pause < 0:
            raise ValueError("window and pause must be >= 0")
        self.window = window
        self.pause = pause
        self._told: OrderedDict[tuple[Name[K], bool], float] = OrderedDict()  # -> when
        self._unexplained: dict[tuple[Name[K], bool], float] = {}  # -> deadline
        self._suspect: set[K] = set()  # due once their pause is over
        self._not_before: dict[K, float] = {}

    @property
    def idle(self) -> bool:
        """Nothing waits: no change is unexplained and no directory is due."""
        return not self._unexplained and not self._suspect

    def told(self, name: Name[K], present: bool, now: float) -> None:
        """The service wrote (``present``) or deleted ``name`` itself."""
        self._forget_old(now)
        key = (name, present)
        self._told.pop(key, None)
        self._told[key] = now  # kept in time order
        self._unexplained.pop(key, None)

    def saw(self, name: Name[K], present: bool, now: float) -> None:
        """inotify reports that ``name`` appeared (``present``) or vanished."""
        self._forget_old(now)
        key = (name, present)
        if key not in self._told:
            self._unexplained.setdefault(key, now + self.window)

    def lost(self, dirs: Iterable[K]) -> None:
        """Changes in ``dirs`` may have gone unseen."""
        self._suspect.update(dirs)

    def due(self, now: float) -> set[K]:
        """The directories to rescan now."""
        for key, deadline in list(self._unexplained.items()):
            if deadline <= now:
                del self._unexplained[key]
                self._suspect.add(key[0][0])
        return {d for d in self._suspect if self._not_before.get(d, -math.inf) <= now}

    def wake_at(self) -> float | None:
        """When :meth:`due` may next return something; None while nothing waits."""
        times = [*self._unexplained.values()]
        times += (self._not_before.get(d, -math.inf) for d in self._suspect)
        return min(times, default=None)

    def started(self, directory: K) -> None:
        """A rescan of ``directory`` begins: it covers every change seen so far."""
        self._suspect.discard(directory)
        for key in [k for k in self._unexplained if k[0][0] == directory]:
            del self._unexplained[key]

    def finished(self, directory: K, now: float, took: float) -> None:
        self._not_before[directory] = now + self.pause * took

    def _forget_old(self, now: float) -> None:
        while self._told:
            key, when = next(iter(self._told.items()))
            if now - when <= self.window:
                break
            del self._told[key]
