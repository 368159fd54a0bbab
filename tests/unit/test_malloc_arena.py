"""``lifecycle.one_malloc_arena``: threads started after it allocate from glibc's main
arena (counted from glibc's own ``malloc_stats``), unless the operator chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

# A thread allocates with libc's malloc (as SQLite does in the index's thread); then
# glibc lists its arenas on stderr.
CODE = """
import ctypes, sys, threading
from camera_service.app.lifecycle import one_malloc_arena
if sys.argv[1] == "one":
    one_malloc_arena()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def work():
    libc.free(libc.malloc(4096))
t = threading.Thread(target=work)
t.start()
t.join()
libc.malloc_stats()
"""


def _arenas(mode: str, **env: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", CODE, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env,
    )
    return sum(line.startswith("Arena ") for line in proc.stderr.splitlines())


def test_a_thread_shares_the_main_arena() -> None:
    assert _arenas("default") == 2  # glibc's way: the thread got its own
    assert _arenas("one") == 1


def test_the_operators_malloc_arena_max_wins() -> None:
    assert _arenas("one", MALLOC_ARENA_MAX="4") == 2
