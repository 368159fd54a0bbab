"""The dashboard ships inside the wheel, and its vendored hls.js is the one the vendoring
script pins (scripts/vendor-hlsjs.sh reproduces it from the npm registry)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from camera_service.api.dashboard import load_assets, static_root

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "vendor-hlsjs.sh"
VENDOR = ROOT / "src" / "camera_service" / "dashboard" / "static" / "vendor"


def pinned(name: str) -> str:
    found = re.search(rf"^{name}=(\S+)$", SCRIPT.read_text(), re.MULTILINE)
    assert found is not None, name
    return found.group(1)


def test_vendored_hlsjs_is_the_pinned_build_with_its_licence() -> None:
    assert pinned("VERSION") == "1.7.4"
    body = (VENDOR / "hls.light.min.mjs").read_bytes()
    assert hashlib.sha256(body).hexdigest() == pinned("SHA_FILE")
    licence = (VENDOR / "hls.js-LICENSE.txt").read_bytes()
    assert hashlib.sha256(licence).hexdigest() == pinned("SHA_LICENSE")
    assert b"Apache License" in licence


def test_vendoring_script_lints_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (.ci/run installs it)")
    subprocess.run(["shellcheck", str(SCRIPT)], check=True)


def test_the_wheel_carries_every_dashboard_file(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv is not None
    subprocess.run(
        [uv, "build", "--wheel", "--quiet", "-o", str(tmp_path)],
        cwd=ROOT, check=True, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )  # fmt: skip
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    expected = {f"camera_service/dashboard/static/{n}" for n in load_assets(static_root())}
    assert "camera_service/dashboard/static/index.html" in expected
    assert expected <= names
