"""`camera-service dashboard-link`: a dashboard URL whose fragment carries a JWT of the
role, lifetime and cameras asked for; and its duration parser, against an oracle."""

from __future__ import annotations

import re
from pathlib import Path

import jwt as pyjwt
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from camera_service.auth.commands import parse_ttl
from camera_service.auth.jwt import load_or_create_secret
from camera_service.config import MAX_CREDENTIAL_TTL, Settings, validate
from camera_service.dirs import resolve_dirs
from tests.support.properties import examples
from tests.unit.test_auth_cli import run


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return validate({"storage": {"data_dir": str(tmp_path)}, "health": {"port": 8003}})


def test_the_link_opens_the_dashboard_with_a_token_in_the_fragment(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["dashboard-link", "--role", "viewer", "--ttl", "8h", "--host", "hub.local"]
    code, out, err = run([*argv, "--cameras", "lab,door-*"], settings, capsys)
    assert code == 0
    found = re.fullmatch(r"http://hub\.local:8003/#token=(\S+)\n", out)
    assert found is not None, out
    secret, _ = load_or_create_secret(settings, resolve_dirs(settings))
    claims = pyjwt.decode(found.group(1), secret, algorithms=["HS256"])
    assert claims["role"] == "viewer" and claims["user_id"] == "dashboard-link"
    assert claims["cameras"] == ["lab", "door-*"]
    assert claims["exp"] - claims["iat"] == pytest.approx(8 * 3600, abs=1)
    assert "viewer" in err and "until" in err  # the warning goes to stderr, not the link


def test_an_ipv6_host_is_bracketed(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["dashboard-link", "--role", "admin", "--ttl", "60", "--host", "::1"]
    assert run(argv, settings, capsys)[1].startswith("http://[::1]:8003/#token=")


@pytest.mark.parametrize("ttl", ["0", "-5", "8x", "h", "", "1e3", "nan", "99999d", "٣h"])
def test_bad_lifetimes_are_refused(
    settings: Settings, capsys: pytest.CaptureFixture[str], ttl: str
) -> None:
    with pytest.raises(SystemExit):
        run(["dashboard-link", "--role", "viewer", "--ttl", ttl], settings, capsys)


UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@given(
    st.one_of(
        st.tuples(
            st.from_regex(r"[0-9]{1,6}(\.[0-9]{0,3})?|\.[0-9]{1,3}", fullmatch=True),
            st.sampled_from(sorted(UNITS)),
        ).map("".join),
        st.text(max_size=8),
    )
)
@example("8h")
@example("1.5m")
@example(".5d")
@examples(300)
def test_parse_ttl_matches_its_grammar(text: str) -> None:
    found = re.fullmatch(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([smhd]?)", text.strip().lower(), re.ASCII)
    seconds = None if found is None else float(found.group(1)) * UNITS[found.group(2)]
    if seconds is None or not 0 < seconds <= MAX_CREDENTIAL_TTL:
        with pytest.raises(ValueError, match=r"duration|ttl"):
            parse_ttl(text)
    else:
        assert parse_ttl(text) == seconds
