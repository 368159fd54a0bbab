"""VIDIOC_QUERYCAP: decoding (everywhere) and a real device (hardware only)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from camera_service.cameras.v4l2 import ioctl
from camera_service.cameras.v4l2.formats import parse_info
from tests.support.v4l2tree import DATA_DIR

HARDWARE_DEVICE = Path("/dev/video0")
HARDWARE = os.environ.get("CAMERA_SERVICE_HARDWARE") == "1" and HARDWARE_DEVICE.exists()
needs_hardware = pytest.mark.skipif(
    not HARDWARE, reason="needs CAMERA_SERVICE_HARDWARE=1 and a /dev/video0"
)


def test_request_number() -> None:
    assert ioctl.VIDIOC_QUERYCAP == 0x80685600  # from <linux/videodev2.h>
    assert ioctl._CAPABILITY.size == 104


def packed(driver: str, card: str, bus: str, caps: int, device_caps: int) -> bytes:
    version = (5 << 16) | (15 << 8) | 131
    return ioctl._CAPABILITY.pack(
        driver.encode(), card.encode(), bus.encode(), version, caps, device_caps, 0, 0, 0
    )


@pytest.mark.parametrize(
    "fixture",
    [
        "c920_info.txt",
        "c920_meta_info.txt",
        "mjpeg_only_info.txt",
        "yuyv_stepwise_info.txt",
        "hdmi_capture_info.txt",
        "rpi_mmal_info.txt",
        "rkisp1_mplane_info.txt",
    ],
)
def test_decode_matches_v4l2_ctl(fixture: str) -> None:
    # The two probe paths must agree: decode the hex words v4l2-ctl printed and
    # compare with its own list of names (this also checks the recordings are coherent).
    text = (DATA_DIR / fixture).read_text()
    caps = int(re.search(r"Capabilities\s+: (0x[0-9a-f]+)", text)[1], 16)  # type: ignore[index]
    dev = int(re.search(r"Device Caps\s+: (0x[0-9a-f]+)", text)[1], 16)  # type: ignore[index]
    expected = parse_info(text)
    got = ioctl.decode_querycap(
        packed(expected.driver, expected.card, expected.bus_info, caps, dev)
    )
    assert got == expected


def test_decode_without_device_caps_uses_capabilities() -> None:
    got = ioctl.decode_querycap(packed("old", "Old", "usb-1", 0x05000001, 0xFFFFFFFF))
    assert got.device_caps == {"Video Capture", "Read/Write", "Streaming"}
    assert got.is_capture


def test_decode_full_length_strings() -> None:
    # No NUL when a name fills its field; undecodable bytes do not raise.
    raw = ioctl._CAPABILITY.pack(
        b"d" * 16, b"\xff" * 32, b"b" * 32, 0, 0x80000000, 0x00800000, 0, 0, 0
    )
    got = ioctl.decode_querycap(raw)
    assert got.driver == "d" * 16 and got.bus_info == "b" * 32
    assert got.is_metadata and not got.is_capture


def test_not_a_device_raises_oserror(tmp_path: Path) -> None:
    # What the fake tree's plain-file nodes give; callers fall back to v4l2-ctl.
    plain = tmp_path / "video0"
    plain.touch()
    with pytest.raises(OSError, match=os.strerror(errno.ENOTTY)):
        ioctl.query_caps(plain)
    with pytest.raises(FileNotFoundError):
        ioctl.query_caps(tmp_path / "video9")


@pytest.mark.hardware
@needs_hardware
def test_query_caps_on_a_real_device() -> None:
    info = ioctl.query_caps(HARDWARE_DEVICE)
    assert info.driver and info.device_caps
    if shutil.which("v4l2-ctl"):
        out = subprocess.run(
            ["v4l2-ctl", "--device", str(HARDWARE_DEVICE), "--info"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        assert parse_info(out) == info
