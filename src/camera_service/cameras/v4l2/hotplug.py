"""Wake-ups when video nodes may have come or gone.

Sources, best first: udev (pyudev, when installed and udevd runs), else inotify on the
device dir, and always a poll timer as the safety net for whatever the first two miss
(containers without udev, a device dir bind-mounted after start, inotify overflow).

The watcher only says "look again"; the consumer rescans and compares. Events are
coalesced into one ``asyncio.Event``: ``changed()`` clears it just before returning, so
an event that arrives while the consumer rescans sets it again and is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib
import logging
import os
from pathlib import Path
from typing import Any, Literal

from camera_service import inotify
from camera_service.inotify import (
    IN_ATTRIB,
    IN_CLOEXEC,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_NONBLOCK,
    IN_Q_OVERFLOW,
    parse_events,
)

log = logging.getLogger(__name__)

Mechanism = Literal["udev", "inotify", "poll"]

UDEV_CONTROL = Path("/run/udev/control")

_WATCH_MASK = IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MOVED_TO | IN_MOVED_FROM


class DeviceWatcher:
    def __init__(
        self,
        device_root: Path,
        poll_interval: float,
        use_udev: bool = True,
        *,
        use_inotify: bool = True,
        udev_control: Path = UDEV_CONTROL,
    ) -> None:
        self.device_root = device_root
        self.poll_interval = poll_interval
        self.use_udev = use_udev
        self.use_inotify = use_inotify
        self.udev_control = udev_control
        self.mechanism: Mechanism = "poll"
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._monitor: Any = None  # pyudev.Monitor; untyped optional dependency
        self._reader_fd: int | None = None  # fd registered with loop.add_reader
        self._inotify_fd: int | None = None

    @property
    def started(self) -> bool:
        return self._loop is not None

    @property
    def pending(self) -> bool:
        """A wake-up is waiting: the next ``changed()`` returns at once."""
        return self._event.is_set()

    def start(self) -> None:
        """Start watching (idempotent). The first ``changed()`` returns at once so the
        consumer's scan always follows the moment watching began."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        if self.use_udev and self._start_udev():
            self.mechanism = "udev"
        elif self.use_inotify and self._start_inotify():
            self.mechanism = "inotify"
        else:
            self.mechanism = "poll"
        self._poll_task = self._loop.create_task(self._poll(), name="v4l2-poll")
        self._event.set()
        log.info(
            "watching for video devices",
            extra={"mechanism": self.mechanism, "device_root": str(self.device_root)},
        )

    async def stop(self) -> None:
        """Stop everything start() started (idempotent, safe if never started)."""
        self._close_reader()
        task, self._poll_task = self._poll_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop = None

    async def changed(self) -> None:
        """Return when something under device_root may have changed (coalesced)."""
        await self._event.wait()
        self._event.clear()

    # --- poll: always on --------------------------------------------------------------

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            self._event.set()

    # --- udev ---------------------------------------------------------------------------

    def _start_udev(self) -> bool:
        # udevd's control socket is how libudev itself tells udev is running; without
        # udevd (most containers) a netlink monitor would never hear anything.
        if not self.udev_control.exists():
            return False
        try:
            pyudev: Any = importlib.import_module("pyudev")
        except ImportError:
            return False
        try:
            monitor = pyudev.Monitor.from_netlink(pyudev.Context())
            monitor.filter_by(subsystem="video4linux")
            monitor.start()
            fd = monitor.fileno()
            self._add_reader(fd, self._on_udev)
        except Exception as exc:  # any libudev/netlink failure: fall back to inotify
            log.warning("udev monitor unavailable", extra={"error": str(exc)})
            return False
        self._monitor = monitor
        return True

    def _on_udev(self) -> None:
        woke = False
        try:
            # Drain everything queued; one wake-up covers the whole burst.
            while self._monitor is not None and self._monitor.poll(timeout=0) is not None:
                woke = True
        except Exception as exc:
            # A broken socket stays readable: drop it rather than spin on it.
            log.warning("udev monitor failed; falling back", extra={"error": str(exc)})
            self._close_reader()
            self.mechanism = "inotify" if self.use_inotify and self._start_inotify() else "poll"
            woke = True
        if woke:
            self._event.set()

    # --- inotify ------------------------------------------------------------------------

    def _start_inotify(self) -> bool:
        libc = inotify.libc()
        if libc is None:
            return False
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            log.warning("inotify unavailable", extra={"error": os.strerror(ctypes.get_errno())})
            return False
        wd = libc.inotify_add_watch(fd, os.fsencode(self.device_root), _WATCH_MASK)
        if wd < 0:
            log.warning(
                "cannot watch the device dir",
                extra={"path": str(self.device_root), "error": os.strerror(ctypes.get_errno())},
            )
            os.close(fd)
            return False
        self._inotify_fd = fd
        self._add_reader(fd, self._on_inotify)
        return True

    def _on_inotify(self) -> None:
        fd = self._inotify_fd
        if fd is None:
            return
        wake = False
        lost = False
        while True:
            try:
                data = os.read(fd, 64 * 1024)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("inotify read failed", extra={"error": str(exc)})
                lost = True
                break
            if not data:
                break
            for _wd, mask, name in parse_events(data):
                if mask & IN_Q_OVERFLOW or name.startswith(b"video"):
                    wake = True
                if mask & (IN_IGNORED | IN_DELETE_SELF):
                    lost = True  # the device dir itself went away
        if lost:
            # Only the poll timer is left; say so in health and look once more.
            log.warning("inotify watch lost; polling only", extra={"path": str(self.device_root)})
            self._close_reader()
            self.mechanism = "poll"
            wake = True
        if wake:
            self._event.set()

    # --- plumbing -----------------------------------------------------------------------

    def _add_reader(self, fd: int, callback: Any) -> None:
        assert self._loop is not None
        self._loop.add_reader(fd, callback)
        self._reader_fd = fd

    def _close_reader(self) -> None:
        if self._reader_fd is not None and self._loop is not None:
            self._loop.remove_reader(self._reader_fd)
        self._reader_fd = None
        self._monitor = None  # pyudev closes the netlink socket when the monitor goes
        fd, self._inotify_fd = self._inotify_fd, None
        if fd is not None:
            os.close(fd)
