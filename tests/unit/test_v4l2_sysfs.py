"""sysfs discovery and camera identity, on a fake tree of the real shape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from camera_service.cameras.v4l2 import sysfs
from camera_service.cameras.v4l2.sysfs import V4l2Node, identity, scan
from tests.support.v4l2tree import FakeV4l2Tree


@pytest.fixture
def tree(tmp_path: Path) -> FakeV4l2Tree:
    return FakeV4l2Tree(tmp_path / "root")


def nodes(tree: FakeV4l2Tree) -> list[V4l2Node]:
    return scan(tree.sysfs_root, tree.device_root)


def test_fake_tree_has_the_real_sysfs_shape(tree: FakeV4l2Tree) -> None:
    tree.add_camera(0, "HD Pro Webcam C920", "046d", "082d", serial="8E5F3C2A", port="1-1")
    entry = tree.sysfs_root / "class/video4linux/video0"
    assert entry.is_symlink() and (entry / "device").is_symlink()
    real = entry.resolve()
    assert real.relative_to(tree.sysfs_root.resolve()).as_posix() == (
        "devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/video4linux/video0"
    )
    assert (entry / "device").resolve().name == "1-1:1.0"
    assert os.readlink(entry / "device") == "../../../1-1:1.0"


def test_camera_with_serial(tree: FakeV4l2Tree) -> None:
    dev = tree.add_camera(0, "HD Pro Webcam C920", "046d", "082d", serial="8E5F3C2A")
    assert nodes(tree) == [
        V4l2Node(dev, 0, "HD Pro Webcam C920", 0, "046d", "082d", "8E5F3C2A", "1-1")
    ]
    assert dev == tree.device_root / "video0"
    assert identity(nodes(tree)[0]) == "usb:046d:082d:8E5F3C2A"


def test_camera_without_serial_is_identified_by_port(tree: FakeV4l2Tree) -> None:
    tree.add_camera(0, "USB Camera: USB Camera", "0c45", "6366", port="1-2.3")
    (node,) = nodes(tree)
    assert (node.serial, node.usb_port) == (None, "1-2.3")
    # The walk stopped at the camera, not at the hub (1-2) or root hub (usb1) above it.
    assert (node.usb_vid, node.usb_pid) == ("0c45", "6366")
    assert identity(node) == "usb:0c45:6366@1-2.3"


def test_empty_serial_counts_as_none(tree: FakeV4l2Tree) -> None:
    tree.add_camera(0, "cam", "0c45", "6366", serial="", port="1-4")
    assert identity(nodes(tree)[0]) == "usb:0c45:6366@1-4"


def test_two_cameras_on_different_ports(tree: FakeV4l2Tree) -> None:
    tree.add_camera(0, "HD Pro Webcam C920", "046d", "082d", serial="8E5F3C2A", port="1-1")
    tree.add_metadata_node(1, of_port="1-1")
    tree.add_camera(2, "USB Camera", "0c45", "6366", port="1-2.3")
    tree.add_metadata_node(3, of_port="1-2.3")
    tree.add_camera(4, "USB Camera", "0c45", "6366", port="1-2.4")  # the same model again
    found = nodes(tree)
    assert [n.number for n in found] == [0, 1, 2, 3, 4]
    assert [n.index for n in found] == [0, 1, 0, 1, 0]
    ids = [identity(n) for n in found]
    assert ids == [
        "usb:046d:082d:8E5F3C2A",
        "usb:046d:082d:8E5F3C2A",  # the metadata node belongs to the same camera
        "usb:0c45:6366@1-2.3",
        "usb:0c45:6366@1-2.3",
        "usb:0c45:6366@1-2.4",
    ]
    assert found[1].name == "HD Pro Webcam C920"


def test_serial_follows_the_camera_across_ports(tree: FakeV4l2Tree) -> None:
    tree.add_camera(0, "C920", "046d", "082d", serial="AB12", port="1-1")
    before = identity(nodes(tree)[0])
    tree.remove(0)
    assert nodes(tree) == []
    tree.add_camera(5, "C920", "046d", "082d", serial="AB12", port="2-3")
    (after,) = nodes(tree)
    assert after.number == 5 and after.usb_port == "2-3"
    assert identity(after) == before


def test_remove_unplugs_only_that_camera(tree: FakeV4l2Tree) -> None:
    tree.add_camera(0, "a", "046d", "082d", serial="A", port="1-1.1")
    tree.add_camera(2, "b", "046d", "082d", serial="B", port="1-1.2")
    tree.remove(0)
    assert [identity(n) for n in nodes(tree)] == ["usb:046d:082d:B"]
    assert not (tree.device_root / "video0").exists()
    assert not (tree.sysfs_root / "class/video4linux/video0").is_symlink()


def test_non_usb_node(tree: FakeV4l2Tree) -> None:
    tree.add_plain_node(0, "mmal service 16.1")
    (node,) = nodes(tree)
    assert (node.usb_vid, node.usb_pid, node.serial, node.usb_port) == (None,) * 4
    assert identity(node) == "dev:video0"


def test_node_needs_both_sysfs_and_dev(tree: FakeV4l2Tree) -> None:
    tree.add_camera(0, "a", "046d", "082d", serial="A", port="1-1")
    tree.add_camera(2, "b", "046d", "082d", serial="B", port="1-2")
    tree.add_camera(4, "c", "046d", "082d", serial="C", port="1-3")
    (tree.device_root / "video0").unlink()  # sysfs only
    (tree.sysfs_root / "class/video4linux/video2").unlink()  # /dev only
    assert [n.number for n in nodes(tree)] == [4]


def test_other_video4linux_entries_are_ignored(tree: FakeV4l2Tree) -> None:
    tree.add_camera(0, "a", "046d", "082d", serial="A")
    for name in ("v4l-subdev0", "vbi0", "radio0", "video", "videoX"):
        (tree.sysfs_root / "class/video4linux" / name).mkdir()
        (tree.device_root / name).touch()
    assert [n.number for n in nodes(tree)] == [0]


def test_missing_roots(tmp_path: Path) -> None:
    assert scan(tmp_path / "nosys", tmp_path / "nodev") == []


def test_missing_name_and_index_fall_back(tree: FakeV4l2Tree) -> None:
    tree.add_camera(7, "a", "046d", "082d", serial="A")
    vdir = (tree.sysfs_root / "class/video4linux/video7").resolve()
    (vdir / "name").unlink()
    (vdir / "index").unlink()
    (node,) = nodes(tree)
    assert (node.name, node.index) == ("video7", 0)


def test_dangling_class_link_is_skipped(tree: FakeV4l2Tree) -> None:
    tree.add_camera(0, "a", "046d", "082d", serial="A", port="1-1")
    tree.add_camera(2, "b", "046d", "082d", serial="B", port="1-2")
    # The kernel removed the device directory; the class link was not yet gone.
    vdir = (tree.sysfs_root / "class/video4linux/video2").resolve()
    for f in vdir.iterdir():
        f.unlink()
    vdir.rmdir()
    assert [n.number for n in nodes(tree)] == [0]


@pytest.mark.parametrize("when", ["name", "index", "idVendor", "idProduct", "serial"])
def test_node_vanishing_mid_scan_is_skipped(
    tree: FakeV4l2Tree, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    tree.add_camera(0, "a", "046d", "082d", serial="A", port="1-1")
    tree.add_camera(2, "b", "046d", "0825", serial="B", port="1-2.3")
    tree.add_camera(4, "c", "046d", "0826", serial="C", port="1-4")
    real_read = sysfs._read_attr
    unplugged: list[Path] = []

    def read_and_unplug(path: Path) -> str | None:
        # The unplug lands just as the scan reaches this attribute of camera 2.
        ours = "video2" in str(path) or "1-2.3" in str(path)
        if path.name == when and ours and not unplugged:
            unplugged.append(path)
            tree.remove(2)
        return real_read(path)

    monkeypatch.setattr(sysfs, "_read_attr", read_and_unplug)
    found = nodes(tree)
    assert unplugged, "the scan never read the attribute"
    assert [(n.number, n.serial) for n in found] == [(0, "A"), (4, "C")]
