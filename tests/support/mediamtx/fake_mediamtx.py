"""A stand-in MediaMTX executable for managed-mode tests: ``fake_mediamtx.py CONFIG``.

Reads ``apiAddress`` from the config file the service wrote and serves the
OpenAPI-checked double there until SIGTERM/SIGINT, like MediaMTX would. Contract
violations are printed to stderr and make the exit code 3.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.support.mediamtx.double import MediaMtxDouble


async def main(port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    mtx = MediaMtxDouble(work_dir=Path.cwd())
    await mtx.start(port)
    print(f"READY {port}", flush=True)
    await stop.wait()
    await mtx.stop()
    for v in mtx.violations:
        print(f"violation: {v}", file=sys.stderr)
    return 3 if mtx.violations else 0


if __name__ == "__main__":
    conf = yaml.safe_load(Path(sys.argv[1]).read_text())
    sys.exit(asyncio.run(main(int(str(conf["apiAddress"]).rsplit(":", 1)[1]))))
