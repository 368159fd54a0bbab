"""A real, small file system for tests: a tmpfs mounted under ``tmp_path``.

    async def test_full_disk(tmpfs: Tmpfs) -> None:
        media = tmpfs(4 * 1024 * 1024)        # a fresh mount point of 4 MiB
        fill_to_percent(media, 95)            # a file that takes it to >= 95 % used

Mounting needs root and a kernel that lets us mount (CI runs as root); anywhere else
the test is skipped and says why. Every mount is unmounted at teardown, lazily if a
process still holds it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from camera_service.storage.disk import disk_usage

Tmpfs = Callable[[int], Path]
PAGE = 4096


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    mounts: list[Path] = []

    def mount(size_bytes: int) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root (CI runs the tests as root)")
        point = tmp_path / f"tmpfs{len(mounts)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in reversed(mounts):
        if subprocess.run(["umount", str(point)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=True)


def write_file(path: Path, size: int, mtime: float | None = None) -> Path:
    """A file of ``size`` bytes (real blocks, not a sparse hole), optionally dated."""
    with path.open("wb") as f:
        chunk = b"\x5a" * 65536
        left = size
        while left > 0:
            left -= f.write(chunk[: min(left, len(chunk))])
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def fill_to_percent(directory: Path, percent: float, name: str = "filler.bin") -> Path:
    """Write ``directory/name`` so that its file system is at least ``percent`` used
    (as df counts: used / (used + available))."""
    usage = disk_usage(directory)
    size = usage.used + usage.available
    need = int(size * percent / 100) - usage.used
    path = write_file(directory / name, max(0, -(-need // PAGE) * PAGE + PAGE))
    assert disk_usage(directory).used_percent >= percent, "the file system did not fill"
    return path
