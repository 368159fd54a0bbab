"""``camera-service client ...`` against the running service: as a real subprocess
(``python -m camera_service client``) and in-process through ``main``; output, exit
codes (0 ok, 1 error from the service, 2 usage, 3 no connection) and credentials from
options or the environment."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from camera_service.app import Application
from camera_service.cli import main
from camera_service.client import CameraClient
from camera_service.config import load_settings
from tests.conftest import make_token
from tests.support.media_stack import MediaStackFactory

WAIT = 60.0  # generous: other test runs share the two cores


def url_of(app: Application) -> str:
    return f"ws://127.0.0.1:{app.ws_port}/ws"


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``python -m camera_service client ARGS`` as a real process; (code, stdout, stderr)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CAMERA_SERVICE_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "camera_service",
        "client",
        *args,
        env={**base, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``camera-service client ARGS`` through ``main`` in a thread (it runs its own loop)."""
    code = await asyncio.to_thread(main, ["client", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- as a real process ------------------------------------------------------------------


async def test_ping_and_cameras_as_a_process(service: Application) -> None:
    env = {"CAMERA_SERVICE_URL": url_of(service)}
    assert await run_cli("ping", env=env) == (0, "pong\n", "")
    env["CAMERA_SERVICE_TOKEN"] = make_token("viewer")
    code, out, err = await run_cli("--json", "cameras", env=env)
    assert code == 0, err
    assert orjson.loads(out) == {"cameras": [], "total": 0, "connected": 0}
    code, out, _ = await run_cli("cameras", env=env)
    assert code == 0 and out == "0 of 0 cameras connected\n"


async def test_exit_codes_as_a_process(service: Application) -> None:
    url = url_of(service)
    code, out, err = await run_cli("--url", url, "--token", make_token("viewer"), "status")
    assert code == 1 and out == ""
    assert "Insufficient permissions - admin role required for get_status" in err
    code, _, err = await run_cli("--url", url, "status")
    assert code == 1 and "Authentication required" in err
    code, _, err = await run_cli("--url", url, "--token", "garbage", "ping")
    assert code == 1 and "invalid" in err
    code, _, err = await run_cli("--url", "ws://127.0.0.1:1/ws", "ping")
    assert code == 3 and "refused" in err
    code, _, err = await run_cli("--url", url, "record")
    assert code == 2 and "usage" in err
    code, _, err = await run_cli("--url", "http://127.0.0.1:1/", "ping")
    assert code == 2 and "ws://" in err


# --- in process ----------------------------------------------------------------------------


async def test_status_with_an_api_key_in_process(
    service: Application,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "cli.yaml"
    config.write_text(yaml.safe_dump({"storage": {"data_dir": str(service.paths.data_dir)}}))
    argv = ["--config", str(config), "keys", "create", "--name", "cli", "--role", "admin"]
    assert main(argv) == 0
    created = dict(ln.split(": ", 1) for ln in capsys.readouterr().out.splitlines() if ": " in ln)
    key = created["api_key"]

    code, out, err = await in_process(capsys, "--url", url_of(service), "--api-key", key, "status")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] in ("status: healthy", "status: degraded", "status: unhealthy")
    assert "components:" in lines

    monkeypatch.setenv("CAMERA_SERVICE_URL", url_of(service))
    monkeypatch.setenv("CAMERA_SERVICE_API_KEY", key)
    code, out, err = await in_process(capsys, "--json", "status")
    assert code == 0, err
    assert orjson.loads(out)["version"]


@pytest.fixture
async def watcher() -> AsyncIterator[list[CameraClient]]:
    clients: list[CameraClient] = []
    yield clients
    for client in clients:
        await client.close()


async def test_snapshot_record_and_files_in_process(
    media_stack: MediaStackFactory,
    watcher: list[CameraClient],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    url = url_of(stack.app)
    # An SDK client tells the test when the recording is final.
    sdk = CameraClient(url, token=make_token("viewer"))
    watcher.append(sdk)
    await sdk.connect()
    started: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    stopped: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sdk.on(
        "recording_status_update",
        lambda p: (started if p["status"] == "STARTED" else stopped).put_nowait(p),
    )
    opts = ("--url", url, "--token", make_token("operator"))

    code, out, err = await in_process(capsys, *opts, "snapshot", "lab", "--format", "png")
    assert code == 0, err
    assert out.startswith("snapshot lab_snapshot_") and ".png (" in out

    code, out, err = await in_process(capsys, *opts, "record", "start", "lab")
    assert code == 0, err
    assert out.startswith("recording lab until stopped: lab_")
    code, _, err = await in_process(capsys, *opts, "record", "start", "lab")
    assert code == 1 and "already recording" in err.lower()
    # STARTED comes with the first segment: stopped sooner, a loaded machine may have
    # recorded nothing (STOPPED then names no file, rightly).
    await asyncio.wait_for(started.get(), WAIT)
    code, out, err = await in_process(capsys, *opts, "record", "stop", "lab")
    assert code == 0 and out.startswith("stopped lab after "), err
    final = await asyncio.wait_for(stopped.get(), WAIT)
    assert final["status"] == "STOPPED"
    name = final["filename"]

    code, out, err = await in_process(capsys, *opts, "--json", "files", "list", "recordings")
    assert code == 0, err
    listing = orjson.loads(out)
    # Every segment of the session is listed (a loaded machine can make the recorder
    # start a second one even in a short recording; STOPPED names them all).
    assert sorted(f["filename"] for f in listing["files"]) == sorted(final["files"])
    assert name in final["files"]
    code, out, _ = await in_process(capsys, *opts, "files", "list", "snapshots")
    assert code == 0 and out.splitlines()[0].split() == ["NAME", "SIZE", "MODIFIED", "DURATION"]

    dest = tmp_path / "out.mp4"
    code, out, err = await in_process(
        capsys, *opts, "files", "download", "recordings", name, "-o", str(dest)
    )
    assert code == 0, err
    sizes = {f["filename"]: f["file_size"] for f in listing["files"]}
    assert dest.stat().st_size == sizes[name]
    assert out == f"downloaded {name} to {dest} ({dest.stat().st_size} bytes)\n"

    # Deletable at once: STOPPED means the recorder closed the file.
    code, out, err = await in_process(capsys, *opts, "files", "delete", "recordings", name)
    assert code == 0 and out == f"deleted {name}\n", err
    code, _, err = await in_process(capsys, *opts, "files", "delete", "recordings", name)
    assert code == 1 and err
    code, _, err = await in_process(
        capsys, *opts, "files", "download", "recordings", name, "-o", str(tmp_path)
    )
    assert code == 1 and "404" in err


async def test_camera_status_reads_like_a_cli_and_unknown_cameras_are_not_found(
    media_stack: MediaStackFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    opts = ("--url", url_of(stack.app), "--token", make_token("operator"))
    code, out, err = await in_process(capsys, *opts, "status", "lab")
    assert code == 0, err
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert fields["recording"] == "no" and fields["recording_session"] == "-"
    assert "False" not in out and "None" not in out
    assert "capabilities:" in out and "[" not in fields["  formats"]  # a list, comma-separated
    # A camera that does not exist: -1000, as take_snapshot answers, for status and stop.
    for command in (("status", "nosuch"), ("record", "stop", "nosuch"), ("status", "7")):
        code, out, err = await in_process(capsys, *opts, *command)
        assert (code, out) == (1, ""), (command, out)
        assert "Camera not found" in err and "(-1000)" in err, (command, err)
    code, _, err = await in_process(capsys, *opts, "snapshot", "nosuch")
    assert code == 1 and "(-1000)" in err
    # A camera that exists but is idle is still "not recording" (-1003), as the API says.
    code, _, err = await in_process(capsys, *opts, "record", "stop", "lab")
    assert code == 1 and "not recording" in err and "(-1003)" in err


# --- the service side ------------------------------------------------------------------------


def test_client_environment_variables_are_not_settings(tmp_path: Path) -> None:
    env = {
        "CAMERA_SERVICE_URL": "ws://hub:8002/ws",
        "CAMERA_SERVICE_TOKEN": "t",
        "CAMERA_SERVICE_API_KEY": "k",
        "CAMERA_SERVICE_STORAGE_DATA_DIR": str(tmp_path),
    }
    settings, _ = load_settings(environ=env)
    assert settings.storage.data_dir == tmp_path


async def test_the_service_never_imports_the_sdk() -> None:
    code = (
        "import sys\n"
        "import camera_service.app\n"
        "from camera_service.cli import build_parser\n"
        "build_parser().parse_args(['run'])\n"
        "assert not [m for m in sys.modules if m.startswith('camera_service.client')]\n"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
    assert await asyncio.wait_for(proc.wait(), WAIT) == 0
