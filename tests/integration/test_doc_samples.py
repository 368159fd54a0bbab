"""Every Python and JavaScript sample in README.md and docs/ runs as written, against
the service with the MediaMTX double and a test camera: Python in this process (each in
a thread of its own, as a script), JavaScript with Node when it is installed (skipped
otherwise, failed in CI). Samples read ``CAMERA_SERVICE_URL`` and
``CAMERA_SERVICE_TOKEN`` from the environment, as the docs say."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import make_token
from tests.support.media_stack import MediaStackFactory
from tests.support.system import missing

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(python|js)\n(.*?)^```$", re.M | re.S)
NODE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Sample:
    file: Path
    line: int
    language: str
    code: str

    def __str__(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def samples() -> list[Sample]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for m in FENCE.finditer(text):
            found.append(Sample(doc, text.count("\n", 0, m.start()) + 1, m[1], m[2]))
    return found


SAMPLES = samples()


def test_the_docs_have_samples_to_run() -> None:
    # The extraction works: a rename of the fences would otherwise pass by running none.
    languages = {s.language for s in SAMPLES}
    assert languages == {"python", "js"} and len(SAMPLES) >= 5, [str(s) for s in SAMPLES]


def run_python(code: str, name: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, name, "exec"), {"__name__": "__main__"})
    return out.getvalue()


def node_argv(script: Path) -> list[str]:
    node = shutil.which("node")
    if node is None:
        missing("node not installed (apt-get install nodejs)")
    assert node is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    if major < 20:
        missing(f"node {version.stdout.strip()} has no WebSocket (needs 20 or newer)")
    flags = ["--experimental-websocket"] if major < 22 else []
    return [node, *flags, str(script)]


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
async def test_a_sample_runs(
    sample: Sample,
    media_stack: MediaStackFactory,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    url = f"ws://127.0.0.1:{stack.app.ws_port}/ws"
    token = make_token("admin")
    monkeypatch.setenv("CAMERA_SERVICE_URL", url)
    monkeypatch.setenv("CAMERA_SERVICE_TOKEN", token)
    monkeypatch.chdir(tmp_path)  # what a sample writes (downloads) lands here
    if sample.language == "python":
        out = await asyncio.to_thread(run_python, sample.code, str(sample))
    else:
        script = tmp_path / "sample.mjs"
        script.write_text(sample.code)
        proc = await asyncio.create_subprocess_exec(
            *node_argv(script),
            env={**os.environ, "CAMERA_SERVICE_URL": url, "CAMERA_SERVICE_TOKEN": token},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), NODE_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        assert proc.returncode == 0, stderr.decode()
        out = stdout.decode()
    # Each sample lists the cameras or authenticates: the test camera or the role shows.
    assert "lab" in out or "admin" in out, out
