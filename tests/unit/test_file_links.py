"""Download link tokens: the JWT claim ``file`` (its parser, minting, verification), the
control API and MediaMTX refusing them, and the time filters of the file listings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from camera_service.api.methods.files import ListParams
from camera_service.api.session import FILE_LINK_REFUSED, control_identity
from camera_service.auth.identity import AuthError, Role
from camera_service.auth.jwt import JwtAuthenticator
from camera_service.auth.scope import MAX_NAME_BYTES, parse_file_claim
from camera_service.media.access import Action, MediaAccess, MediaRequest, Verdict
from tests.unit.test_jwt import NOW, SECRET, claims, forge

NAME = "lab_2026-12-07_07-00-00.mp4"


def test_a_claim_is_kind_slash_name() -> None:
    assert parse_file_claim(f"recordings/{NAME}") == ("recordings", NAME)
    assert parse_file_claim("snapshots/ü é.jpg") == ("snapshots", "ü é.jpg")
    assert parse_file_claim("recordings/" + "a" * MAX_NAME_BYTES)[1] == "a" * MAX_NAME_BYTES


@pytest.mark.parametrize(
    "value",
    [
        None,
        7,
        ["recordings", NAME],
        "",
        NAME,
        "recordings/",
        "/" + NAME,
        "Recordings/" + NAME,
        "rec0rdings/" + NAME,
        "recordings/a/b.mp4",
        "recordings/a\\b.mp4",
        "recordings/..",
        "recordings/.",
        "recordings/a\x00.mp4",
        "recordings/a\n.mp4",
        "recordings/a\x7f.mp4",
        "recordings/" + "é" * 128,  # 256 bytes
        "recordings/\ud800.mp4",
        "k" * 33 + "/" + NAME,
    ],
)
def test_anything_else_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="file"):
        parse_file_claim(value)


def test_a_minted_link_verifies_as_a_file_identity() -> None:
    auth = JwtAuthenticator(SECRET)
    token = auth.mint(
        "alice", Role.VIEWER, 300, NOW, cameras=[], file=("recordings", NAME), expires_at=NOW + 60
    )
    identity = auth.verify(token, NOW)
    assert identity.file == ("recordings", NAME)
    assert identity.cameras == ()
    assert identity.role is Role.VIEWER
    assert identity.expires_at == NOW + 60  # never past the credential it came from
    with pytest.raises(AuthError) as expired:
        auth.verify(token, NOW + 60)
    assert expired.value.reason == "expired"


def test_minting_refuses_a_bad_file() -> None:
    with pytest.raises(ValueError, match="file"):
        JwtAuthenticator(SECRET).mint("alice", Role.VIEWER, 300, NOW, file=("recordings", "a/b"))


@pytest.mark.parametrize("value", [None, 1, "recordings", "recordings/a/b"])
def test_a_token_with_a_malformed_file_claim_is_invalid(value: Any) -> None:
    with pytest.raises(AuthError) as refused:
        JwtAuthenticator(SECRET).verify(forge(claims(file=value) | {"file": value}), NOW)
    assert refused.value.reason == "invalid"


def test_the_control_api_refuses_a_link() -> None:
    auth = JwtAuthenticator(SECRET)
    identity = auth.verify(auth.mint("alice", "admin", 60, NOW, file=("snapshots", "a.jpg")), NOW)
    with pytest.raises(AuthError) as refused:
        control_identity(identity)
    assert refused.value.message == FILE_LINK_REFUSED


def test_mediamtx_refuses_a_link_even_one_that_sees_every_camera() -> None:
    auth = JwtAuthenticator(SECRET)
    token = auth.mint("alice", "admin", 60, NOW, file=("recordings", NAME))  # no cameras
    identity = auth.verify(token, NOW)
    assert identity.sees("lab")
    req = MediaRequest(
        user="", password="", token=token, ip="127.0.0.1", action=Action("read"),
        path="lab", protocol="hls", id=None, query="",
    )  # fmt: skip
    assert MediaAccess._grant(req, identity).verdict is Verdict.DENY


# --- list_recordings / list_snapshots: since and until --------------------------------------


def test_times_with_and_without_offsets() -> None:
    p = ListParams.model_validate(
        {"since": "2026-12-07T07:00:00", "until": "2026-12-07T08:00+01:00"}
    )
    assert p.since == datetime(2026, 12, 7, 7, tzinfo=UTC)
    assert p.until is not None and p.until.timestamp() == p.since.timestamp()


@pytest.mark.parametrize(
    "value", ["yesterday", "", 1765090800, 1.5, True, [], "2026-13-01T00:00:00Z", "x" * 65]
)
def test_a_bad_time_is_a_param_error_naming_it(value: Any) -> None:
    for name in ("since", "until"):
        with pytest.raises(ValidationError) as refused:
            ListParams.model_validate({name: value})
        assert refused.value.errors()[0]["loc"] == (name,)
