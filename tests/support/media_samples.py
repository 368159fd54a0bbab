"""Real media files for index and file-method tests, made once per module with FFmpeg:
clips of known length (H.264 in MP4 and MPEG-TS) and images of known size."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.system import require


def ffmpeg(*args: str) -> None:
    require("ffmpeg")
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``two`` (2 s MP4, 320x240), ``one`` (1 s MPEG-TS), ``wide`` (640x360 JPEG),
    ``small`` (64x48 PNG), by file stem."""
    d = tmp_path_factory.mktemp("samples")
    src = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=10"]
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    ffmpeg(*src, "-t", "2", *h264, str(d / "two.mp4"))
    ffmpeg(*src, "-t", "1", *h264, "-f", "mpegts", str(d / "one.ts"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=640x360", "-frames:v", "1", str(d / "wide.jpg"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1", str(d / "small.png"))
    return {p.stem: p for p in d.iterdir()}
