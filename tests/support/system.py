"""The system parts the tests use: where each is found and the Debian package that
provides it (README.md lists the same). A test that needs a missing part is skipped,
its reason naming the package to install, unless the run is strict (``CI`` or
``CAMSVC_TEST_STRICT`` set, as ``.ci/run`` does): then a missing part fails
the test, so CI cannot pass by skipping.

    require("ffmpeg", "rtsp-server-perl")   # in a fixture, or at a test's start
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import pytest


@dataclass(frozen=True, slots=True)
class Part:
    executable: str  # a name looked up on PATH, or an absolute path
    package: str  # Debian's
    env: str | None = None  # overrides where it is

    @property
    def path(self) -> str:
        return (os.environ.get(self.env) if self.env else None) or self.executable

    def present(self) -> bool:
        return shutil.which(self.path) is not None


PARTS: dict[str, Part] = {
    "ffmpeg": Part("ffmpeg", "ffmpeg"),
    "ffprobe": Part("ffprobe", "ffmpeg"),
    "rtsp-server-perl": Part(
        "/usr/bin/rtsp-server-perl", "rtsp-server-perl", "CAMSVC_TEST_RTSP_RELAY"
    ),
    "etcd": Part("/usr/bin/etcd", "etcd-server", "ETCD_BIN"),
    "mosquitto": Part("/usr/sbin/mosquitto", "mosquitto", "MOSQUITTO_BIN"),
    "chromium": Part("/usr/bin/chromium", "chromium", "CAMSVC_TEST_CHROMIUM"),
    "promtool": Part("promtool", "prometheus"),
    "shellcheck": Part("shellcheck", "shellcheck"),
    "systemd-analyze": Part("systemd-analyze", "systemd"),
}


def strict() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("CAMSVC_TEST_STRICT"))


def missing(reason: str) -> None:
    """Skip (or, when strict, fail) the running test for a missing system part."""
    if strict():
        pytest.fail(f"{reason}; a strict run (CI) needs every system part", pytrace=False)
    pytest.skip(reason)


def require(*names: str) -> None:
    absent = [name for name in names if not PARTS[name].present()]
    if absent:
        packages = sorted({PARTS[name].package for name in absent})
        missing(f"{', '.join(absent)} not installed (apt-get install {' '.join(packages)})")


def path(name: str) -> str:
    """Where ``name`` is (after :func:`require`)."""
    return PARTS[name].path
