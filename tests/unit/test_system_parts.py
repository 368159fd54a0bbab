"""tests/support/system.py: a missing system part skips a test naming its package, and
fails it in a strict run (CI), so CI cannot pass by skipping."""

from __future__ import annotations

import pytest

from tests.support import system


@pytest.fixture
def absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(system.PARTS, "nothing", system.Part("/nonexistent/x", "x-tools"))
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("CAMSVC_TEST_STRICT", raising=False)


@pytest.mark.usefixtures("absent")
def test_a_missing_part_skips_naming_the_package() -> None:
    with pytest.raises(
        pytest.skip.Exception, match=r"nothing not installed \(apt-get install x-tools\)"
    ):
        system.require("nothing")


@pytest.mark.usefixtures("absent")
@pytest.mark.parametrize("variable", ["CI", "CAMSVC_TEST_STRICT"])
def test_a_strict_run_fails_instead(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "true")
    with pytest.raises(pytest.fail.Exception, match="strict run"):
        system.require("nothing")


@pytest.mark.usefixtures("absent")
def test_a_part_found_where_its_variable_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        system.PARTS, "nothing", system.Part("/nonexistent/x", "x-tools", "CAMSVC_TEST_X")
    )
    monkeypatch.setenv("CAMSVC_TEST_X", "/bin/sh")
    system.require("nothing")  # present: nothing raised
    assert system.path("nothing") == "/bin/sh"
