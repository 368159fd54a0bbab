"""The standard ``process_*`` metrics (the names Prometheus client libraries export),
read from ``/proc/self`` when scraped: CPU seconds, memory, file descriptors, start time.
Outside Linux only what ``resource`` knows is reported."""

from __future__ import annotations

import os
import resource
import time

from camera_service.observability.metrics import Family

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


_BOOT = _boot_time()


def _start_time() -> float:
    if _BOOT is not None:
        try:
            with open("/proc/self/stat", encoding="ascii") as f:
                # Field 22 (starttime, in clock ticks since boot); the command name
                # (field 2) may hold spaces, so count from its closing parenthesis.
                return _BOOT + int(f.read().rsplit(")", 1)[1].split()[19]) / _TICKS
        except (OSError, IndexError, ValueError):
            pass
    return time.time() - time.monotonic()  # a lower bound, off Linux


START_TIME = _start_time()


def process_families() -> list[Family]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    families = [
        Family(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            [({}, round(usage.ru_utime + usage.ru_stime, 6))],
        ),
        Family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            [({}, round(START_TIME, 3))],
        ),
        Family(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            [({}, soft)],
        ),
    ]
    try:
        with open("/proc/self/statm", "rb") as f:
            size, resident = (int(v) for v in f.read().split()[:2])
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        return families
    families += [
        Family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            [({}, resident * _PAGE)],
        ),
        Family(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            [({}, size * _PAGE)],
        ),
        Family("process_open_fds", "gauge", "Number of open file descriptors.", [({}, fds)]),
    ]
    return families
