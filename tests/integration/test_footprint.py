"""What the service process must not load at idle (issue 8: idle RSS < 45 MB)."""

from __future__ import annotations

import asyncio
import sys

import pydantic
import pytest

from camera_service.pydantic_plugins import LOADER

# Modules of rare paths, each worth 0.4-1.2 MB of idle RSS: importlib.metadata (pydantic
# plugin discovery; also zipfile, csv, email parsing), logging.handlers (file logging).
NOT_AT_IDLE = ("importlib.metadata", "zipfile", "csv", "logging.handlers", "pickle")


async def test_service_imports_leave_out_rare_path_modules() -> None:
    code = (
        "import sys, camera_service.cli, camera_service.app\n"
        "from camera_service.config import validate\n"
        "validate({})\n"
        f"print(sorted(m for m in {NOT_AT_IDLE!r} if m in sys.modules))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    assert out.decode().strip() == "[]"


def test_pydantic_sees_no_plugins_and_still_validates() -> None:
    assert list(sys.modules[LOADER].get_plugins()) == []

    class Probe(pydantic.BaseModel):
        n: int

    assert Probe.model_validate({"n": "3"}).n == 3
    with pytest.raises(pydantic.ValidationError) as info:
        Probe.model_validate({"n": "x"})
    assert info.value.errors()[0]["loc"] == ("n",)
