"""The C library of the service's own process, opened once for every caller."""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def process_libc() -> ctypes.CDLL:
    """The process's own symbols, libc's among them, with ``ctypes.get_errno`` kept.

    Callers look up the functions they need and treat an ``AttributeError`` as a libc
    without them (musl has no ``malloc_trim``). Not ``ctypes.util.find_library("c")``:
    it runs ldconfig in a child process at start and imports shutil, tempfile, lzma."""
    return ctypes.CDLL(None, use_errno=True)
