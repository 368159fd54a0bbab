"""A fake sysfs + /dev tree for V4L2 discovery, with a fake v4l2-ctl to probe it.

The sysfs side has the real shape, symlinks included::

    sys/class/video4linux/video0 -> ../../devices/pci0000:00/0000:00:14.0/usb1/1-1/
                                    1-1:1.0/video4linux/video0
    .../video4linux/video0/device -> ../../../1-1:1.0        (the USB interface)
    .../usb1/1-1/{idVendor,idProduct,serial,product}         (the USB device)

Ports with dots (``1-1.2``) sit behind a hub (``1-1``), which has an idVendor of its
own, like the root hub ``usb1`` does. /dev nodes are plain files: no mknod here.
Adding a camera is a plug, ``remove`` an unplug.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "v4l2"
FAKE_V4L2_CTL = Path(__file__).resolve().parent / "fake_v4l2_ctl.py"

_HOST_CONTROLLER = "devices/pci0000:00/0000:00:14.0"


def _write(path: Path, value: str) -> None:
    path.write_text(value + "\n", encoding="utf-8")


class FakeV4l2Tree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sysfs_root = root / "sys"
        self.device_root = root / "dev"
        self.state_dir = root / "fake-v4l2-ctl"
        self.v4l2_ctl = self.state_dir / "v4l2-ctl"
        self._map_path = self.state_dir / "map.json"
        self._devices: dict[str, dict[str, Any]] = {}
        self._nodes: dict[int, Path] = {}  # number -> real sysfs video dir
        for d in (self.sysfs_root / "class" / "video4linux", self.device_root, self.state_dir):
            d.mkdir(parents=True, exist_ok=True)
        env = {"FAKE_V4L2_MAP": str(self._map_path), "FAKE_V4L2_DEVICE_ROOT": str(self.device_root)}
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # exec keeps one process, so the pid a caller sees is the fake's own pid.
        command = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_V4L2_CTL))}"
        script = f'#!/bin/sh\n{assignments} exec {command} "$@"\n'
        self.v4l2_ctl.write_text(script, encoding="utf-8")
        self.v4l2_ctl.chmod(0o755)
        self._save()

    # --- plug / unplug ---------------------------------------------------------------

    def cameras_config(self, **extra: Any) -> dict[str, Any]:
        """The ``cameras`` config section that discovers this tree (and only it). Hot-plug
        is left to inotify: the safety-net poll is slowed to 30 s unless ``extra`` says."""
        return {
            "device_root": str(self.device_root),
            "sysfs_root": str(self.sysfs_root),
            "v4l2_ctl": str(self.v4l2_ctl),
            "poll_interval": 30.0,
            **extra,
        }

    def add_camera(
        self,
        number: int,
        name: str,
        vid: str,
        pid: str,
        serial: str | None = None,
        port: str = "1-1",
        index: int = 0,
        info_fixture: str = "c920_info.txt",
        formats_fixture: str = "c920_formats.txt",
        interface: int = 0,
    ) -> Path:
        """Plug a USB camera whose capture node is /dev/video<number>; returns that path."""
        usb = self._usb_device(port)
        _write(usb / "idVendor", vid)
        _write(usb / "idProduct", pid)
        _write(usb / "product", name)
        _write(usb / "busnum", port.split("-", 1)[0])
        _write(usb / "devnum", str(number + 2))
        if serial is not None:
            _write(usb / "serial", serial)
        else:
            (usb / "serial").unlink(missing_ok=True)
        intf = usb / f"{port}:1.{interface}"
        intf.mkdir(exist_ok=True)
        _write(intf / "bInterfaceClass", "0e")  # USB video class
        return self._add_node(number, intf, name, index, info_fixture, formats_fixture)

    def add_metadata_node(
        self,
        number: int,
        of_port: str,
        index: int = 1,
        interface: int = 0,
        info_fixture: str = "c920_meta_info.txt",
        formats_fixture: str = "meta_formats.txt",
    ) -> Path:
        """Add the UVC metadata node of the camera on ``of_port`` (same interface)."""
        usb = self._usb_dir(of_port)
        intf = usb / f"{of_port}:1.{interface}"
        if not intf.is_dir():
            raise ValueError(f"no camera on port {of_port}")
        name = (usb / "product").read_text(encoding="utf-8").strip()
        return self._add_node(number, intf, name, index, info_fixture, formats_fixture)

    def add_plain_node(self, number: int, name: str = "platform camera", **fixtures: str) -> Path:
        """A non-USB node (a SoC camera): its ``device`` link has no USB device above."""
        parent = self.sysfs_root / "devices" / "platform" / f"camera{number}"
        parent.mkdir(parents=True, exist_ok=True)
        return self._add_node(
            number,
            parent,
            name,
            0,
            fixtures.get("info_fixture", "rpi_mmal_info.txt"),
            fixtures.get("formats_fixture", "rpi_mmal_formats.txt"),
        )

    def remove(self, number: int) -> None:
        """Unplug: the /dev node, then the sysfs entry (the USB device with its last node)."""
        (self.device_root / f"video{number}").unlink(missing_ok=True)
        (self.sysfs_root / "class" / "video4linux" / f"video{number}").unlink(missing_ok=True)
        vdir = self._nodes.pop(number, None)
        self._devices.pop(str(self.device_root / f"video{number}"), None)
        self._save()
        if vdir is None:
            return
        shutil.rmtree(vdir, ignore_errors=True)
        usb = vdir.parent.parent.parent
        if not (usb / "idVendor").exists() or any(usb.glob("*:*/video4linux/video*")):
            return  # not USB, or another node of the same camera is still there
        # The camera is gone; hubs below it (and what hangs on them) stay.
        for child in usb.iterdir():
            if ":" in child.name:
                shutil.rmtree(child, ignore_errors=True)
        if not any(c.is_dir() for c in usb.iterdir()):
            shutil.rmtree(usb, ignore_errors=True)

    # --- fake v4l2-ctl knobs -------------------------------------------------------------

    def set_probe(
        self, number: int, *, delay: float | None = None, fail_times: int | None = None
    ) -> None:
        """``delay``: hold each run until the node vanishes or this many seconds pass.
        ``fail_times``: the first N runs on this node fail like a flaky device."""
        entry = self._devices[str(self.device_root / f"video{number}")]
        if delay is not None:
            entry["delay"] = delay
        if fail_times is not None:
            entry["fail_times"] = fail_times
        self._save()

    def calls(self, number: int) -> list[int]:
        """Pids of the fake v4l2-ctl runs made on /dev/video<number>."""
        try:
            text = (self.state_dir / f"video{number}.calls").read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [int(p) for p in text.split()]

    @contextlib.asynccontextmanager
    async def probe_started(self, number: int) -> AsyncIterator[asyncio.Future[None]]:
        """A future resolved when a held run (``delay``) on the node has started.

        Event-driven: the fake writes to a FIFO we listen on with the event loop.
        """
        fifo = self.state_dir / f"video{number}.started"
        if not fifo.exists():
            os.mkfifo(fifo)
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        # Non-blocking read end: the open does not wait for a writer, and Linux
        # reports no hang-up before the first writer has come and gone.
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

        def readable() -> None:
            try:
                data = os.read(fd, 64)
            except BlockingIOError:
                return
            if data and not started.done():
                started.set_result(None)
            if not data or started.done():
                loop.remove_reader(fd)

        loop.add_reader(fd, readable)
        try:
            yield started
        finally:
            loop.remove_reader(fd)
            os.close(fd)
            if not started.done():
                started.cancel()

    # --- internals -------------------------------------------------------------------

    def _usb_dir(self, port: str) -> Path:
        bus, path = port.split("-", 1)
        hops = path.split(".")
        d = self.sysfs_root / _HOST_CONTROLLER / f"usb{bus}"
        for i in range(len(hops)):
            d = d / f"{bus}-{'.'.join(hops[: i + 1])}"
        return d

    def _usb_device(self, port: str) -> Path:
        """Create the USB device dir for ``port`` with the hubs above it."""
        bus, path = port.split("-", 1)
        root_hub = self.sysfs_root / _HOST_CONTROLLER / f"usb{bus}"
        if not root_hub.exists():
            root_hub.mkdir(parents=True)
            _write(root_hub / "idVendor", "1d6b")  # Linux Foundation root hub
            _write(root_hub / "idProduct", "0002")
        hops = path.split(".")
        d = root_hub
        for i in range(len(hops) - 1):
            d = d / f"{bus}-{'.'.join(hops[: i + 1])}"
            if not d.exists():
                d.mkdir()
                _write(d / "idVendor", "05e3")  # a Genesys Logic hub
                _write(d / "idProduct", "0610")
        d = d / port
        d.mkdir(exist_ok=True)
        return d

    def _add_node(
        self, number: int, parent: Path, name: str, index: int, info: str, formats: str
    ) -> Path:
        vdir = parent / "video4linux" / f"video{number}"
        vdir.mkdir(parents=True, exist_ok=True)
        _write(vdir / "name", name)
        _write(vdir / "index", str(index))
        _write(vdir / "dev", f"81:{number}")
        link = vdir / "device"
        link.unlink(missing_ok=True)
        link.symlink_to(f"../../../{parent.name}")
        entry = self.sysfs_root / "class" / "video4linux" / f"video{number}"
        entry.unlink(missing_ok=True)
        entry.symlink_to(os.path.relpath(vdir, entry.parent))
        self._nodes[number] = vdir
        device = self.device_root / f"video{number}"
        self._devices[str(device)] = {
            "info": str(DATA_DIR / info),
            "formats": str(DATA_DIR / formats),
        }
        self._save()
        device.touch()  # last: a node appears in /dev once the kernel has set it up
        return device

    def _save(self) -> None:
        # Atomic: a fake run may read the map while a test edits it.
        tmp = self._map_path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"state_dir": str(self.state_dir), "devices": self._devices}),
            encoding="utf-8",
        )
        os.replace(tmp, self._map_path)
