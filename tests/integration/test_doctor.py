"""``camera-service doctor``: each check against the real thing (the MediaMTX double's
Control API, a port nobody listens on, an HTTP server that is not MediaMTX, FFmpeg,
directories), and the service's own log when MediaMTX never answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from camera_service.cli import main
from tests.support.media_stack import free_port
from tests.support.mediamtx.double import MediaMtxDouble
from tests.support.service_process import ServiceProcess, write_config


async def doctor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], **sections: Any
) -> tuple[int, dict[str, dict[str, str]]]:
    sections.setdefault("storage", {"data_dir": str(tmp_path / "data")})
    config = tmp_path / "doctor.yaml"
    config.write_text(yaml.safe_dump(sections))
    code = await asyncio.to_thread(main, ["--config", str(config), "doctor", "--json"])
    findings = orjson.loads(capsys.readouterr().out)
    return code, {f["check"]: f for f in findings}


@pytest.fixture
async def not_mediamtx() -> AsyncIterator[str]:
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.needs("ffmpeg")
async def test_all_present_passes_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mtx = MediaMtxDouble(work_dir=tmp_path)
    await mtx.start()
    try:
        code, found = await doctor(
            tmp_path, capsys, mediamtx={"api_url": mtx.api_url, "manage": "never"}
        )
    finally:
        await mtx.stop()
    assert found["MediaMTX"]["level"] == "ok"
    assert mtx.version in found["MediaMTX"]["detail"]
    assert found["FFmpeg"]["level"] == "ok" and "ffmpeg version" in found["FFmpeg"]["detail"]
    for label in ("data dir", "recordings", "snapshots"):
        assert found[f"storage: {label}"]["level"] == "ok"
        assert "GiB free" in found[f"storage: {label}"]["detail"]
    assert not (tmp_path / "data").exists()  # a preflight changes nothing
    # v4l2-ctl may be absent here: a warning, not a failure.
    assert code == 0, found


async def test_no_mediamtx_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, found = await doctor(tmp_path, capsys, mediamtx={"api_url": dead, "manage": "never"})
    assert code == 1
    mediamtx = found["MediaMTX"]
    assert mediamtx["level"] == "fail" and dead in mediamtx["detail"]
    assert "mediamtx.api_url" in mediamtx["fix"] and "mediamtx.manage" in mediamtx["fix"]


async def test_something_else_on_the_api_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], not_mediamtx: str
) -> None:
    code, found = await doctor(
        tmp_path, capsys, mediamtx={"api_url": not_mediamtx, "manage": "never"}
    )
    assert code == 1
    assert "not MediaMTX's Control API" in found["MediaMTX"]["detail"]
    assert "api: yes" in found["MediaMTX"]["fix"]


async def test_missing_tools_and_a_bad_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, found = await doctor(
        tmp_path,
        capsys,
        mediamtx={"manage": "always", "binary": None, "ffmpeg": str(tmp_path / "no-ffmpeg")},
        cameras={"v4l2_ctl": str(tmp_path / "no-v4l2-ctl")},
        storage={"data_dir": str(tmp_path / "data"), "recordings_path": str(blocker / "rec")},
    )
    assert code == 1
    assert found["FFmpeg"]["level"] == "fail" and "apt-get install ffmpeg" in found["FFmpeg"]["fix"]
    assert found["v4l2-ctl"]["level"] == "warn" and "v4l-utils" in found["v4l2-ctl"]["fix"]
    assert found["storage: recordings"]["level"] == "fail"
    assert "not a directory" in found["storage: recordings"]["detail"]
    assert found["storage: data dir"]["level"] == "ok"


async def test_the_service_says_once_what_to_do_when_mediamtx_never_answers(
    tmp_path: Path,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = write_config(
        tmp_path / "config.yaml",
        tmp_path / "data",
        mediamtx={"api_url": dead, "manage": "never", "check_interval": 0.2},
    )
    service = await ServiceProcess.start(config)
    try:
        line = await service.wait_for_log(
            "MediaMTX is not answering: no camera can stream until it does", timeout=30
        )
        assert line["level"] == "WARNING" and line["url"] == dead
        assert "camera-service doctor" in line["next_step"]
        assert "mediamtx.api_url" in line["next_step"]
    finally:
        await service.kill()
