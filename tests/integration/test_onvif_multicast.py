"""The WS-Discovery probe over real multicast: in a network namespace the test creates
and removes (lo with multicast and a route for 239.0.0.0/8, nothing else), the service's
probe with the default targets reaches the simulated device on the group."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "support" / "onvif_multicast_probe.py"


async def ip(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec("ip", *args)
    assert await asyncio.wait_for(proc.wait(), 10) == 0, args


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
)
async def test_the_multicast_probe_finds_the_device_in_a_namespace_of_its_own() -> None:
    name = f"csonvif-{uuid.uuid4().hex[:8]}"
    await ip("netns", "add", name)
    try:
        await ip("-n", name, "link", "set", "lo", "up", "multicast", "on")
        await ip("-n", name, "route", "add", "239.0.0.0/8", "dev", "lo")
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", name, sys.executable, str(SCRIPT),
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0
        result = json.loads(out)
        assert result["found"] == [result["expected"]]
    finally:
        await ip("netns", "del", name)
