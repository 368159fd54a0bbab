"""Lifecycle conformance of the real process, as a container runtime or systemd sees it:
configuration from the environment alone, JSON logs on stdout when asked, readiness
false while draining, and on SIGTERM: recordings finalized, registration removed,
WebSockets closed with 1001, exit code 0, the shutdown timeout honoured."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from camera_service.config import DEFAULT_CONFIG_PATH
from tests.conftest import SECRET, make_token
from tests.integration.test_recordings import playable, status_update
from tests.integration.test_registry_etcd import PREFIX, registry, wait_document
from tests.rpc import RpcClient
from tests.support.etcd import EtcdServer
from tests.support.media_stack import LAB
from tests.support.mediamtx.dataplane import DataPlane
from tests.support.mediamtx.double import ApiCall, MediaMtxDouble, RecordedRequest
from tests.support.mediamtx.fixtures import assert_no_violations
from tests.support.service_process import ServiceProcess, listed_after_restart, write_config

WAIT = 60.0  # generous: other test runs share the two cores


async def readiness(http_url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(http_url + "/health/ready") as r:
        body: dict[str, Any] = await r.json()
        return r.status, body


def messages(service: ServiceProcess) -> list[Any]:
    return [line.get("msg") for line in service.lines]


def media_config(
    path: Path, data_dir: Path, mtx: MediaMtxDouble, plane: DataPlane, **sections: dict[str, Any]
) -> Path:
    media = {
        "api_url": mtx.api_url,
        "rtsp_port": plane.rtsp_port,
        "check_interval": 0.1,
        "on_demand_close_after": 2.0,
        # Longer than any drain here: a held MediaMTX request ends when the test says.
        "request_timeout": 60.0,
    }
    cameras = {"sources": [LAB], "poll_interval": 30.0}
    return write_config(path, data_dir, mediamtx=media, cameras=cameras, **sections)


class HeldPatches:
    """The double's path patches wait until :meth:`release` (anything else is answered:
    the service's MediaMTX checks and reconciles carry on)."""

    def __init__(self, mtx: MediaMtxDouble) -> None:
        self.mtx = mtx
        self.released = asyncio.Event()
        self.answered = 0

    def hold(self) -> None:
        original = self.mtx.handlers["configPathsPatch"]

        async def held(call: ApiCall) -> web.Response:
            await self.released.wait()
            self.answered += 1
            return await original(call)

        self.mtx.handlers["configPathsPatch"] = held

    def release(self) -> None:
        self.released.set()


def record_off(r: RecordedRequest) -> bool:
    body = r.body if isinstance(r.body, dict) else {}
    return r.method == "PATCH" and r.path.endswith("/lab") and body.get("record") is False


async def test_config_from_the_environment_alone_and_json_logs_on_stdout(
    tmp_path: Path,
) -> None:
    if DEFAULT_CONFIG_PATH.is_file():
        pytest.skip(f"{DEFAULT_CONFIG_PATH} exists here and would be read")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMERA_SERVICE_")}
    env |= {
        "CAMERA_SERVICE_JWT_SECRET": SECRET,
        "CAMERA_SERVICE_SERVER_HOST": "127.0.0.1",
        "CAMERA_SERVICE_SERVER_PORT": "0",
        "CAMERA_SERVICE_HEALTH_HOST": "127.0.0.1",
        "CAMERA_SERVICE_HEALTH_PORT": "0",
        "CAMERA_SERVICE_STORAGE_DATA_DIR": str(tmp_path / "data"),
        "CAMERA_SERVICE_MEDIAMTX_API_URL": "http://127.0.0.1:1",
        "CAMERA_SERVICE_LOGGING_STREAM": "stdout",  # format stays auto: a pipe gets JSON
        "CAMERA_SERVICE_SECURITY_RATE_LIMIT__REQUESTS_PER_MINUTE": "2",  # a deeper key
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "camera_service", "run",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(WAIT):
            while (ready := orjson.loads(await proc.stdout.readline()))["msg"] != (
                "camera-service ready"
            ):
                pass
        assert ready["data_dir"] == str(tmp_path / "data")
        client = await RpcClient.connect(f"ws://127.0.0.1:{ready['ws_port']}/ws")
        try:
            await client.call("authenticate", {"auth_token": make_token("viewer")})
            await client.call("get_camera_list")
            refused = await client.request("get_camera_list")
            assert refused["error"]["code"] == -32002  # the third call in a minute
        finally:
            await client.close()
        status, _ = await readiness(f"http://127.0.0.1:{ready['health_port']}")
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
        assert proc.returncode == 0
        logged = [orjson.loads(line) for line in out.splitlines()]  # every line JSON
        assert logged[-1]["msg"] == "stopped"
        assert b'"msg"' not in err  # nothing logged on stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sigterm_finalizes_recording_deregisters_closes_1001_and_exits_0(
    tmp_path: Path, etcd: EtcdServer
) -> None:
    config, data_dir = tmp_path / "config.yaml", tmp_path / "data"
    key = PREFIX + "hub-1"
    async with (
        DataPlane(restart_pause=0.2, stop_timeout=5.0, work_dir=tmp_path) as plane,
        MediaMtxDouble(work_dir=tmp_path, data_plane=plane) as mtx,
    ):
        media_config(config, data_dir, mtx, plane, registry=registry(etcd, "hub-1", ttl=600))
        service = await ServiceProcess.start(config)
        patches = HeldPatches(mtx)
        client: RpcClient | None = None
        try:
            client = await RpcClient.connect(service.ws_url)
            await client.call("authenticate", {"auth_token": make_token("operator")})
            await wait_document(etcd, "hub-1")
            await mtx.wait_for_request(lambda r: r.path == "/v3/config/paths/add/lab", timeout=WAIT)
            await client.call("start_recording", {"device": "lab"})
            name = (await status_update(client, "STARTED"))["filename"]

            # MediaMTX holds the record-off patch: the drain waits on it, so the test
            # looks at the service in the middle of it.
            patches.hold()
            sent = len(mtx.requests)
            service.signal(signal.SIGTERM)
            await service.wait_for_log("shutting down")
            await mtx.wait_for_request(record_off, start=sent, timeout=WAIT)
            status, body = await readiness(service.http_url)
            assert (status, body["details"]["reason"]) == (503, "draining")
            # Deregistered first (deleted, not expired: the lease had ten minutes).
            assert await etcd.get(key) is None
            patches.release()

            stopped = await status_update(client, "STOPPED")
            assert stopped["reason"] == "shutdown" and stopped["files"] == [name]
            assert await client.wait_closed(WAIT) == 1001
            assert await service.exit_code() == 0
        finally:
            patches.release()
            if client is not None:
                await client.close()
            await service.kill()
        order = messages(service)
        assert order.index("shutting down") < order.index("deregistered")
        assert order.index("deregistered") < order.index("recording ended") < order.index("stopped")
        recording = data_dir / "recordings" / name
        await playable(recording)
        assert_no_violations(mtx)

        # Started again on the same data dir, the service lists the file.
        files = await listed_after_restart(config, "lab")
        assert [f["filename"] for f in files] == [name]
        assert await etcd.get_prefix(PREFIX) == {}


async def test_shutdown_timeout_cancels_a_request_mediamtx_never_answers(tmp_path: Path) -> None:
    """In-flight requests get ``server.shutdown_timeout``, not the 60 s MediaMTX request
    timeout: the process exits 0 while MediaMTX still holds the request."""
    config, data_dir = tmp_path / "config.yaml", tmp_path / "data"
    async with (
        DataPlane(restart_pause=0.2, stop_timeout=5.0, work_dir=tmp_path) as plane,
        MediaMtxDouble(work_dir=tmp_path, data_plane=plane) as mtx,
    ):
        media_config(config, data_dir, mtx, plane, server={"shutdown_timeout": 1})
        service = await ServiceProcess.start(config)
        patches = HeldPatches(mtx)
        client: RpcClient | None = None
        try:
            client = await RpcClient.connect(service.ws_url)
            await client.call("authenticate", {"auth_token": make_token("operator")})
            await mtx.wait_for_request(lambda r: r.path == "/v3/config/paths/add/lab", timeout=WAIT)
            patches.hold()
            sent = len(mtx.requests)
            pending = asyncio.ensure_future(
                client.send_raw(
                    '{"jsonrpc":"2.0","id":"held","method":"start_recording",'
                    '"params":{"device":"lab"}}',
                    "held",
                    timeout=WAIT,
                )
            )
            # Sent after the request: a patch of lab (its own, or a reconcile's that
            # it caused) means it is in flight.
            await mtx.wait_for_request(
                lambda r: r.method == "PATCH" and r.path.endswith("/lab"), start=sent, timeout=WAIT
            )
            service.signal(signal.SIGTERM)
            assert await client.wait_closed(WAIT) == 1001
            assert await service.exit_code() == 0
            assert patches.answered == 0  # exited while MediaMTX still held the patch
            reply: Any = (await asyncio.gather(pending, return_exceptions=True))[0]
            # The request was cancelled: an error reply, or none before the close.
            assert isinstance(reply, ConnectionError) or "error" in reply, reply
        finally:
            patches.release()
            if client is not None:
                await client.close()
            await service.kill()
        order = messages(service)
        cancelled = order.index("in-flight requests cancelled at the shutdown deadline")
        assert order.index("shutting down") < cancelled < order.index("stopped")
