"""The wheel (``uv build --wheel``, docs/clients.md) carries every file the service
needs at run time, and an installed wheel runs: the command, and the dashboard served
from the installed package's files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from camera_service import __version__

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "camera_service"
TIMEOUT = 300


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        if os.environ.get("CI"):
            pytest.fail("uv is not on PATH: .ci/run installs it")
        pytest.skip("uv is not on PATH (pip install uv)")
    return uv


def run(*argv: str | Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=TIMEOUT, env=env
    )
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(_uv(), "build", "--wheel", "--out-dir", out, ROOT)
    (built,) = out.glob("camera_service-*.whl")
    return built


def test_the_wheel_carries_every_runtime_file(wheel: Path) -> None:
    assert wheel.name == f"camera_service-{__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = run("git", "-C", ROOT, "ls-files", "src/camera_service").split()
    expected = {f.removeprefix("src/") for f in tracked}
    assert expected <= names, sorted(expected - names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "camera_service/dashboard/static/vendor/hls.js-LICENSE.txt" in names
    # Nothing of the checkout's own besides the package: no tests, no bench, no caches.
    assert all(n.startswith(("camera_service/", "camera_service-")) for n in names), names
    assert not any("__pycache__" in n for n in names)


def test_an_installed_wheel_runs_and_serves_the_dashboard(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(_uv(), "venv", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(_uv(), "pip", "install", "--python", python, wheel)
    assert run(venv / "bin" / "camera-service", "--version").strip() == __version__
    # The dashboard's files come from the installed package, not from this checkout.
    shown = run(
        python,
        "-c",
        "import camera_service, sys; from camera_service.api.dashboard import load_assets, "
        "static_root; print(camera_service.__file__); print(len(load_assets(static_root())))",
    ).split()
    assert shown[0].startswith(str(venv)), shown
    static = [p for p in (PACKAGE / "dashboard" / "static").rglob("*") if p.is_file()]
    assert int(shown[1]) == len([p for p in static if not p.name.startswith(".")])
