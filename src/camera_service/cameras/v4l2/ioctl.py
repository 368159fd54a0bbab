"""The real-device path: VIDIOC_QUERYCAP straight on the node.

Answers in microseconds where v4l2-ctl takes a fork and exec, but blocks: callers run
``query_caps`` in an executor. Only ``query_caps`` touches a device; decoding is pure
and tested without one.
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

from camera_service.cameras.v4l2.formats import DeviceInfo, make_device_info

# struct v4l2_capability: driver[16], card[32], bus_info[32], version, capabilities,
# device_caps, reserved[3] (all __u32).
_CAPABILITY = struct.Struct("=16s32s32sIII3I")

_IOC_READ = 2


def _ior(kind: str, number: int, size: int) -> int:
    # _IOR() from <asm-generic/ioctl.h>: dir << 30 | size << 16 | type << 8 | nr.
    return (_IOC_READ << 30) | (size << 16) | (ord(kind) << 8) | number


VIDIOC_QUERYCAP = _ior("V", 0, _CAPABILITY.size)  # 0x80685600

V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
V4L2_CAP_META_CAPTURE = 0x00800000
V4L2_CAP_DEVICE_CAPS = 0x80000000

# Bit -> the name v4l2-ctl prints, so both probe paths yield the same DeviceInfo.
CAP_NAMES: dict[int, str] = {
    0x00000001: "Video Capture",
    0x00001000: "Video Capture Multiplanar",
    0x00000002: "Video Output",
    0x00002000: "Video Output Multiplanar",
    0x00008000: "Video Memory-to-Memory",
    0x00004000: "Video Memory-to-Memory Multiplanar",
    0x00000004: "Video Overlay",
    0x00000200: "Video Output Overlay",
    0x00000010: "VBI Capture",
    0x00000020: "VBI Output",
    0x00000040: "Sliced VBI Capture",
    0x00000080: "Sliced VBI Output",
    0x00000100: "RDS Capture",
    0x00000800: "RDS Output",
    0x00100000: "SDR Capture",
    0x00400000: "SDR Output",
    0x00800000: "Metadata Capture",
    0x08000000: "Metadata Output",
    0x00010000: "Tuner",
    0x10000000: "Touch Device",
    0x00020000: "Audio",
    0x00040000: "Radio",
    0x00080000: "Modulator",
    0x00000400: "HW Frequency Seek",
    0x20000000: "I/O MC",
    0x01000000: "Read/Write",
    0x04000000: "Streaming",
    0x00200000: "Extended Pix Format",
    0x80000000: "Device Capabilities",
}


def cap_names(bits: int) -> frozenset[str]:
    return frozenset(name for bit, name in CAP_NAMES.items() if bits & bit)


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def decode_querycap(buf: bytes) -> DeviceInfo:
    """Decode a filled struct v4l2_capability."""
    driver, card, bus_info, _version, caps, device_caps, *_ = _CAPABILITY.unpack(buf)
    # device_caps is only valid when the driver says so (always, since Linux 3.4).
    node_caps = device_caps if caps & V4L2_CAP_DEVICE_CAPS else caps
    return make_device_info(_cstr(driver), _cstr(card), _cstr(bus_info), cap_names(node_caps))


def query_caps(device: Path) -> DeviceInfo:
    """VIDIOC_QUERYCAP on ``device``; raises OSError (ENOENT, ENODEV, ENOTTY, ...).

    Opened read-only and non-blocking: querying must not claim or wait for the device.
    """
    fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        buf = bytearray(_CAPABILITY.size)
        fcntl.ioctl(fd, VIDIOC_QUERYCAP, buf, True)
    finally:
        os.close(fd)
    return decode_querycap(bytes(buf))
