"""``GET /metrics`` against the service with the MediaMTX double and a test camera: the
per-camera and per-part families an operator alerts on, the standard ``process_*``
ones, a text ``promtool check metrics`` accepts, and the example alert rules
(``deploy/prometheus/camera-service.rules.yml``) naming only metrics that exist."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path

import aiohttp
import yaml

from camera_service.app import Application
from tests.support.media_stack import MediaStackFactory
from tests.support.system import path, require

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "camera-service.rules.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def promtool() -> str:
    require("promtool")
    return path("promtool")


async def scrape(app: Application) -> str:
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"http://127.0.0.1:{app.health_port}/metrics") as r,
    ):
        assert r.status == 200
        return await r.text()


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value for every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, line
            out[m[1] + (m[2] or "")] = float(m[3])
    return out


def families(text: str) -> dict[str, str]:
    return dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))


async def test_metrics_per_camera_and_part(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    before = time.time()
    shot = await client.call("take_snapshot", {"device": "lab"})
    assert shot["status"] == "completed", shot
    text = await scrape(stack.app)
    got = samples(text)

    assert got['camera_service_camera_connected{camera="lab"}'] == 1
    assert got['camera_service_camera_recording{camera="lab"}'] == 0
    assert got['camera_service_camera_last_snapshot_timestamp_seconds{camera="lab"}'] >= before - 1
    for name in ("stream_up", "stream_readers"):
        assert f'camera_service_camera_{name}{{camera="lab"}}' in got
    for name in ("received_bytes_total", "sent_bytes_total"):
        assert got[f'camera_service_camera_stream_{name}{{camera="lab"}}'] >= 0
    assert got["camera_service_mediamtx_up"] == 1
    assert got["camera_service_mediamtx_api_request_duration_seconds_count"] > 0
    for directory in ("data", "recordings", "snapshots"):
        labels = f'{{directory="{directory}"}}'
        assert got[f"camera_service_storage_free_bytes{labels}"] > 0
        assert got[f"camera_service_storage_used_bytes{labels}"] > 0
    assert got['camera_service_component_up{component="mediamtx"}'] == 1
    assert got["process_cpu_seconds_total"] > 0
    assert got["process_open_fds"] > 0 and got["process_max_fds"] >= got["process_open_fds"]
    assert 0 < got["process_start_time_seconds"] <= time.time()
    assert got["process_resident_memory_bytes"] > 10 * 2**20

    # Recording shows at once; a stopped MediaMTX shows at its next check.
    await client.call("start_recording", {"device": "lab"})
    got = samples(await scrape(stack.app))
    assert got['camera_service_camera_recording{camera="lab"}'] == 1
    await client.call("stop_recording", {"device": "lab"})

    # No gauge shares its name with a counter's family (OpenMetrics drops `_total`).
    kinds = families(text)
    counters = {n.removesuffix("_total") for n, k in kinds.items() if k == "counter"}
    assert not counters & {n for n, k in kinds.items() if k != "counter"}
    proc = await asyncio.create_subprocess_exec(
        promtool(), "check", "metrics",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(text.encode()), 60)
    assert proc.returncode == 0, out.decode()

    # Every metric the example rules name is one the service exports.
    exported = {re.sub(r"_(bucket|sum|count)$", "", k.split("{")[0]) for k in got} | set(kinds)
    rules = yaml.safe_load(RULES.read_text())
    named = {
        metric
        for group in rules["groups"]
        for rule in group["rules"]
        for metric in re.findall(r"\b((?:camera_service|process)_[a-z_]+)", rule["expr"])
    }
    named = {re.sub(r"_(bucket|sum|count)$", "", n) for n in named}
    assert named and named <= exported, named - exported


def test_the_example_alert_rules_are_valid_and_documented() -> None:
    checked = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # docs/operations.md shows the file as it is.
    assert RULES.read_text().strip() in OPERATIONS.read_text()
