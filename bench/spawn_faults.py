"""Does starting a child fork the service? Counted in page faults, not timed.

    python bench/spawn_faults.py [--pages 2000] [--rounds 20]

Under uvloop, as the service runs: each round starts one short-lived child the way
the service does, then writes one byte to each of ``--pages`` pages of this process
that were present and writable before, and counts the minor page faults of those
writes (``ru_minflt``). A fork leaves every page copy-on-write, so each write after
one faults (about ``--pages``); a vfork leaves them as they were (about 0). This is
what a fan-out to every client pays after a spawn (docs/benchmarks.md, "Where a
fan-out's time goes"), without the noise of timing it on a shared machine.

Ways, each through the service's own code:

* ``loop``: ``asyncio.create_subprocess_exec("true")``, uvloop's fork: the reference.
* ``snapshot``: ``SnapshotService._run`` of the FFmpeg of a one-shot capture (here
  encoding one frame of a lavfi test source to a JPEG on stdout).
* ``ffprobe``: ``storage.probe.probe_video`` of a one-second clip made at start.
* ``v4l2-ctl``: ``V4l2Prober.run``, with ``true`` standing in for ``v4l2-ctl``.

Run it against another commit's code with ``PYTHONPATH=<that tree>/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

from camera_service.cameras.v4l2.probe import V4l2Prober
from camera_service.media.snapshots import SnapshotService
from camera_service.storage.probe import probe_video

Spawn = Callable[[], Awaitable[object]]


def faults_writing(pages: list[bytearray]) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for page in pages:
        page[0] ^= 1
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


async def measure(spawn: Spawn, pages: list[bytearray], rounds: int) -> list[int]:
    await spawn()  # a first one: whatever it allocates once (a reader thread's stack)
    counts = []
    for _ in range(rounds):
        faults_writing(pages)  # each page present and writable
        await spawn()
        counts.append(faults_writing(pages))
    return counts


def ways(work: Path) -> dict[str, Spawn]:
    clip = work / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
         "-t", "1", "-c:v", "mpeg4", str(clip)],
        check=True,
    )  # fmt: skip
    none: list[Any] = [None] * 9
    snapshots = SnapshotService(*none)  # only _run is used
    capture = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi",
               "-i", "testsrc=size=640x360", "-frames:v", "1", "-f", "image2pipe",
               "-c:v", "mjpeg", "-"]  # fmt: skip
    device = work / "video0"
    device.touch()
    prober = V4l2Prober("true", 10.0, 0)

    async def loop() -> object:
        proc = await asyncio.create_subprocess_exec("true")
        return await proc.wait()

    async def snapshot() -> object:
        data = await snapshots._run(capture)
        assert data.startswith(b"\xff\xd8"), "not a JPEG"
        return data

    async def ffprobe() -> object:
        fd = os.open(clip, os.O_RDONLY | os.O_CLOEXEC)
        try:
            info = await probe_video(fd)
        finally:
            os.close(fd)
        assert info is not None and info.width == 320, info
        return info

    async def v4l2_ctl() -> object:
        return await prober.run(device, "--info")

    return {"loop": loop, "snapshot": snapshot, "ffprobe": ffprobe, "v4l2-ctl": v4l2_ctl}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    pages = [bytearray(4096) for _ in range(args.pages)]
    import camera_service

    print(f"   code: {Path(camera_service.__file__).parent}; python {sys.version.split()[0]}")
    print(f"   minor page faults writing {args.pages} pages after a spawn, {args.rounds} rounds:")
    with tempfile.TemporaryDirectory() as work:
        for name, spawn in ways(Path(work)).items():
            counts = uvloop.run(measure(spawn, pages, args.rounds))
            print(
                f"   {name:>9}: median {statistics.median(counts):g}"
                f" (min {min(counts)}, max {max(counts)})"
            )


if __name__ == "__main__":
    main()
