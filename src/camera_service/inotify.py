"""The Linux inotify calls both watchers use (camera device nodes, media directories):
the flag values, the event record parser and libc with the calls typed."""

from __future__ import annotations

import ctypes
import os
import struct
from typing import Any

from camera_service.libc import process_libc

IN_ATTRIB = 0x00000004
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
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then name


def parse_events(data: bytes) -> list[tuple[int, int, bytes]]:
    """(wd, mask, name) of each struct inotify_event in one read."""
    events = []
    offset = 0
    while offset + _EVENT.size <= len(data):
        wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
        offset += _EVENT.size
        name = data[offset : offset + length].rstrip(b"\0")
        offset += length
        events.append((wd, mask, name))
    return events


_LIBC: Any = None


def libc() -> Any:
    """libc with the inotify calls typed, or None where it lacks them."""
    global _LIBC
    if _LIBC is None:
        try:
            lib = process_libc()
            lib.inotify_init1.argtypes = [ctypes.c_int]
            lib.inotify_init1.restype = ctypes.c_int
            lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            lib.inotify_add_watch.restype = ctypes.c_int
        except (OSError, AttributeError):
            return None
        _LIBC = lib
    return _LIBC
