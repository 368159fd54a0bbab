"""DeviceWatcher: inotify, the poll safety net, udev (via a stand-in pyudev), cleanup."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from camera_service.cameras.v4l2.hotplug import DeviceWatcher
from tests.support.v4l2tree import FakeV4l2Tree

WAIT = 5.0  # generous bound on a wake-up that should come at once
NEVER = 3600.0  # a poll interval that cannot fire during a test


@pytest.fixture
def tree(tmp_path: Path) -> FakeV4l2Tree:
    return FakeV4l2Tree(tmp_path / "root")


@pytest.fixture
async def watcher(tree: FakeV4l2Tree) -> AsyncIterator[DeviceWatcher]:
    w = DeviceWatcher(tree.device_root, NEVER, use_udev=False)
    w.start()
    await asyncio.wait_for(w.changed(), WAIT)  # the wake-up every start gives
    try:
        yield w
    finally:
        await w.stop()


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def test_inotify_wakes_on_plug_and_unplug(watcher: DeviceWatcher, tree: FakeV4l2Tree) -> None:
    assert watcher.mechanism == "inotify"
    assert not watcher.pending
    tree.add_camera(0, "cam", "046d", "082d", serial="A")
    await asyncio.wait_for(watcher.changed(), WAIT)
    tree.remove(0)
    await asyncio.wait_for(watcher.changed(), WAIT)


async def test_only_video_names_wake(watcher: DeviceWatcher, tree: FakeV4l2Tree) -> None:
    # Kernel queues inotify events as the file operation returns, so draining the
    # queue right after is deterministic.
    (tree.device_root / "ttyUSB0").touch()
    (tree.device_root / "media0").touch()
    watcher._on_inotify()
    assert not watcher.pending
    (tree.device_root / "video3").touch()
    watcher._on_inotify()
    assert watcher.pending


async def test_burst_is_coalesced(watcher: DeviceWatcher, tree: FakeV4l2Tree) -> None:
    for n in range(0, 10, 2):
        tree.add_camera(n, f"cam{n}", "046d", "082d", serial=f"S{n}", port=f"1-{n + 1}")
        tree.add_metadata_node(n + 1, of_port=f"1-{n + 1}")
    await asyncio.wait_for(watcher.changed(), WAIT)
    watcher._on_inotify()  # anything still queued
    assert not watcher.pending  # ten nodes, one wake-up


async def test_event_during_rescan_is_not_lost(watcher: DeviceWatcher, tree: FakeV4l2Tree) -> None:
    tree.add_camera(0, "cam", "046d", "082d", serial="A", port="1-1")
    await asyncio.wait_for(watcher.changed(), WAIT)
    # The consumer is rescanning now; a second camera arrives meanwhile.
    tree.add_camera(2, "cam2", "046d", "082d", serial="B", port="1-2")
    await asyncio.wait_for(watcher.changed(), WAIT)


async def test_rename_into_place_wakes(watcher: DeviceWatcher, tree: FakeV4l2Tree) -> None:
    # udev-style: a node created elsewhere and moved in.
    tmp = tree.root / "staging"
    tmp.touch()
    os.rename(tmp, tree.device_root / "video7")
    await asyncio.wait_for(watcher.changed(), WAIT)


async def test_poll_when_inotify_is_off(tree: FakeV4l2Tree) -> None:
    w = DeviceWatcher(tree.device_root, 0.05, use_udev=False, use_inotify=False)
    w.start()
    try:
        assert w.mechanism == "poll"
        await asyncio.wait_for(w.changed(), WAIT)  # start
        await asyncio.wait_for(w.changed(), WAIT)  # a poll tick, nothing changed on disk
        await asyncio.wait_for(w.changed(), WAIT)  # and the next
    finally:
        await w.stop()


async def test_poll_runs_beside_inotify(tree: FakeV4l2Tree) -> None:
    w = DeviceWatcher(tree.device_root, 0.05, use_udev=False)
    w.start()
    try:
        assert w.mechanism == "inotify"
        await asyncio.wait_for(w.changed(), WAIT)
        await asyncio.wait_for(w.changed(), WAIT)  # the safety net, with no file event
    finally:
        await w.stop()


async def test_missing_device_root_falls_back_to_poll(tmp_path: Path) -> None:
    w = DeviceWatcher(tmp_path / "absent", NEVER, use_udev=False)
    w.start()
    try:
        assert w.mechanism == "poll"
    finally:
        await w.stop()


async def test_device_root_removed_degrades_to_poll(tmp_path: Path) -> None:
    root = tmp_path / "dev"
    root.mkdir()
    w = DeviceWatcher(root, NEVER, use_udev=False)
    w.start()
    try:
        await asyncio.wait_for(w.changed(), WAIT)
        before = w.mechanism
        root.rmdir()
        await asyncio.wait_for(w.changed(), WAIT)
        assert (before, w.mechanism) == ("inotify", "poll")
    finally:
        await w.stop()


async def test_stop_leaves_nothing_behind(tree: FakeV4l2Tree) -> None:
    fds = open_fds()
    tasks = asyncio.all_tasks()
    w = DeviceWatcher(tree.device_root, 0.05, use_udev=False)
    w.start()
    w.start()  # idempotent
    fd = w._inotify_fd
    assert fd is not None and open_fds() != fds
    await asyncio.wait_for(w.changed(), WAIT)
    await w.stop()
    assert open_fds() == fds
    assert asyncio.all_tasks() == tasks
    assert not asyncio.get_running_loop().remove_reader(fd)  # no reader was left
    await w.stop()  # idempotent


async def test_stop_without_start(tree: FakeV4l2Tree) -> None:
    await DeviceWatcher(tree.device_root, 1.0).stop()


# --- udev, through a stand-in pyudev ----------------------------------------------------


class FakeMonitor:
    """pyudev.Monitor's surface: a readable fd, filter_by, start, poll(timeout)."""

    instances: list[FakeMonitor] = []

    def __init__(self) -> None:
        self.kernel, self.sock = socket.socketpair()
        self.sock.setblocking(False)
        self.filters: list[dict[str, Any]] = []
        self.started = False
        FakeMonitor.instances.append(self)

    @classmethod
    def from_netlink(cls, context: object, source: str = "udev") -> FakeMonitor:
        return cls()

    def filter_by(self, subsystem: str, device_type: str | None = None) -> None:
        self.filters.append({"subsystem": subsystem, "device_type": device_type})

    def start(self) -> None:
        self.started = True

    def fileno(self) -> int:
        return self.sock.fileno()

    def poll(self, timeout: float | None = None) -> object | None:
        try:
            return self.sock.recv(1)
        except BlockingIOError:
            return None

    def close(self) -> None:
        self.kernel.close()
        self.sock.close()


@pytest.fixture
def fake_pyudev(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeMonitor]]:
    module = types.ModuleType("pyudev")
    module.Context = lambda: object()  # type: ignore[attr-defined]
    module.Monitor = FakeMonitor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyudev", module)
    FakeMonitor.instances = []
    yield FakeMonitor
    for m in FakeMonitor.instances:
        m.close()


@pytest.fixture
def udev_control(tmp_path: Path) -> Path:
    path = tmp_path / "udev-control"
    path.touch()
    return path


async def test_udev_when_available(
    fake_pyudev: type[FakeMonitor], udev_control: Path, tree: FakeV4l2Tree
) -> None:
    w = DeviceWatcher(tree.device_root, NEVER, udev_control=udev_control)
    w.start()
    try:
        assert w.mechanism == "udev"
        (monitor,) = fake_pyudev.instances
        assert monitor.started
        assert monitor.filters == [{"subsystem": "video4linux", "device_type": None}]
        await asyncio.wait_for(w.changed(), WAIT)
        monitor.kernel.send(b"abc")  # a burst of three uevents
        await asyncio.wait_for(w.changed(), WAIT)
        assert not w.pending  # drained in one wake-up
    finally:
        await w.stop()
    assert not asyncio.get_running_loop().remove_reader(monitor.fileno())


async def test_no_udev_daemon_means_inotify(
    fake_pyudev: type[FakeMonitor], tmp_path: Path, tree: FakeV4l2Tree
) -> None:
    w = DeviceWatcher(tree.device_root, NEVER, udev_control=tmp_path / "no-control")
    w.start()
    try:
        assert w.mechanism == "inotify" and fake_pyudev.instances == []
    finally:
        await w.stop()


async def test_no_pyudev_means_inotify(
    monkeypatch: pytest.MonkeyPatch, udev_control: Path, tree: FakeV4l2Tree
) -> None:
    monkeypatch.setitem(sys.modules, "pyudev", None)  # import raises ImportError
    w = DeviceWatcher(tree.device_root, NEVER, udev_control=udev_control)
    w.start()
    try:
        assert w.mechanism == "inotify"
    finally:
        await w.stop()


async def test_broken_udev_monitor_falls_back(
    fake_pyudev: type[FakeMonitor], udev_control: Path, tree: FakeV4l2Tree
) -> None:
    w = DeviceWatcher(tree.device_root, NEVER, udev_control=udev_control)
    w.start()
    try:
        await asyncio.wait_for(w.changed(), WAIT)
        (monitor,) = fake_pyudev.instances

        def broken(timeout: float | None = None) -> object:
            raise OSError("netlink socket gone")

        monitor.poll = broken  # type: ignore[method-assign]
        monitor.kernel.send(b"x")
        await asyncio.wait_for(w.changed(), WAIT)
        assert w.mechanism == "inotify"
        tree.add_camera(0, "cam", "046d", "082d", serial="A")
        await asyncio.wait_for(w.changed(), WAIT)
    finally:
        await w.stop()
