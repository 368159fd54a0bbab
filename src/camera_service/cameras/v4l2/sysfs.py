"""Discovery of V4L2 nodes from sysfs, and a stable identity per physical camera.

Reads ``<sysfs_root>/class/video4linux/videoN`` for every ``<device_root>/videoN`` that
exists. Both roots are configurable so tests can point them at a fake tree. Reads are
synchronous (a few tiny files per node) and tolerate a device vanishing mid-scan: an
unplugged node is simply left out, never an exception.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_VIDEO = re.compile(r"video([0-9]+)")


@dataclass(frozen=True, slots=True)
class V4l2Node:
    device: Path  # <device_root>/videoN
    number: int
    name: str
    index: int  # 0 for the capture node of a UVC interface, 1 for its metadata node
    usb_vid: str | None = None
    usb_pid: str | None = None
    serial: str | None = None
    usb_port: str | None = None  # e.g. "1-1.2", the USB device directory's name


def identity(node: V4l2Node) -> str:
    """A stable id for the physical camera behind a node.

    The serial follows the camera between ports; without one the port is the best
    we have (two identical serial-less cameras are told apart by where they sit).
    Every node of one camera (capture + metadata) shares the identity.
    """
    if node.usb_vid and node.usb_pid:
        if node.serial:
            return f"usb:{node.usb_vid}:{node.usb_pid}:{node.serial}"
        if node.usb_port:
            return f"usb:{node.usb_vid}:{node.usb_pid}@{node.usb_port}"
    return f"dev:video{node.number}"


def scan(sysfs_root: Path, device_root: Path) -> list[V4l2Node]:
    """Every video node present in both sysfs and the device dir, by number."""
    class_dir = sysfs_root / "class" / "video4linux"
    try:
        entries = os.listdir(class_dir)
    except OSError:
        return []
    nodes = []
    for entry in entries:
        m = _VIDEO.fullmatch(entry)  # skips v4l-subdevN, vbiN, radioN, swradioN
        if m is None:
            continue
        node = _read_node(class_dir / entry, device_root / entry, int(m[1]), sysfs_root)
        if node is not None:
            nodes.append(node)
    nodes.sort(key=lambda n: n.number)
    return nodes


def _read_attr(path: Path) -> str | None:
    """One sysfs attribute, stripped; None when it is absent or just vanished."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _read_node(entry: Path, device: Path, number: int, sysfs_root: Path) -> V4l2Node | None:
    if not device.exists():
        return None
    name = _read_attr(entry / "name")
    index_text = _read_attr(entry / "index")
    usb = _usb_device(entry / "device", sysfs_root)
    vid = pid = serial = port = None
    if usb is not None:
        vid = _read_attr(usb / "idVendor")
        pid = _read_attr(usb / "idProduct")
        serial = _read_attr(usb / "serial") or None
        port = usb.name
    # An unplug during the reads above leaves partial data (no USB identity, say);
    # only a node that still exists afterwards is reported.
    if not (entry.exists() and device.exists()) or (usb is not None and not (vid and pid)):
        return None
    return V4l2Node(
        device=device,
        number=number,
        name=name or f"video{number}",
        index=int(index_text) if index_text and index_text.isdigit() else 0,
        usb_vid=vid,
        usb_pid=pid,
        serial=serial,
        usb_port=port,
    )


def _usb_device(device_link: Path, sysfs_root: Path) -> Path | None:
    """The USB device directory above a node's ``device`` link (it has idVendor).

    ``device`` points at the USB interface (``1-1:1.0``); its parent (``1-1``) is the
    device. The walk starts at the target itself for drivers that link the device
    directly, and stops at the first directory with idVendor, so a hub further up
    is never mistaken for the camera.
    """
    try:
        target = Path(os.path.realpath(device_link, strict=True))
    except OSError:
        return None
    top = Path(os.path.realpath(sysfs_root))
    for directory in (target, *target.parents):
        if directory == top or top not in directory.parents:
            return None
        if (directory / "idVendor").is_file():
            return directory
    return None
