"""Properties of MediaMTX's auth request parser (api/mediaauth.py): any body gives a
MediaRequest or ValueError (the endpoint's 400), never another exception; every body
MediaMTX can send parses back to its fields; the credential found is always one the
client sent."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from camera_service.api.mediaauth import MAX_BODY, parse_request
from camera_service.media.access import Action, MediaRequest
from tests.support.properties import examples

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ("user", "password", "token", "ip", "action", "path", "protocol", "id", "query")


def mediamtx_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """What MediaMTX's authenticateHTTP marshals: every field, id a UUID or null."""
    return st.fixed_dictionaries(
        {
            "ip": st.sampled_from(["127.0.0.1", "::1", "192.0.2.7", "2001:db8::1"]),
            "user": st.text(max_size=40),
            "password": st.text(max_size=300),
            "token": st.text(max_size=300),
            "action": st.sampled_from([a.value for a in Action]),
            "path": st.text(max_size=80),
            "protocol": st.sampled_from(["rtsp", "rtmp", "hls", "webrtc", "srt", ""]),
            "id": st.none() | st.uuids().map(str),
            "query": st.text(max_size=200),
        }
    )


@examples(300)
@given(st.binary(max_size=2048))
def test_any_bytes_parse_or_raise_value_error(body: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_request(body)


@examples(300)
@given(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=12))
def test_any_json_object_parses_or_raises_value_error(data: dict[str, Any]) -> None:
    try:
        req = parse_request(json.dumps(data).encode())
    except ValueError:
        return
    assert req.action.value == data["action"]
    for name in ("user", "password", "token", "ip", "path", "protocol", "query"):
        assert getattr(req, name) == (data.get(name) or "")


@examples(300)
@given(mediamtx_bodies())
def test_every_mediamtx_body_round_trips(body: dict[str, Any]) -> None:
    req = parse_request(orjson.dumps(body))
    assert isinstance(req, MediaRequest)
    assert req.action is Action(body["action"])
    assert req.id == (str(uuid.UUID(body["id"])) if body["id"] else None)
    assert (req.user, req.password, req.token, req.ip, req.path, req.protocol, req.query) == (
        body["user"], body["password"], body["token"], body["ip"], body["path"],
        body["protocol"], body["query"],
    )  # fmt: skip


@examples(300)
@given(mediamtx_bodies(), st.text(min_size=1, max_size=80), st.sampled_from(["token", "jwt"]))
def test_the_credential_is_one_the_client_sent(body: dict[str, Any], secret: str, key: str) -> None:
    body["query"] = urlencode({"other": "x", key: secret})
    found = parse_request(orjson.dumps(body)).credential()
    assert found is not None
    # token first (Bearer), then the password (any user), then the query.
    want = body["token"] or body["password"] or secret
    assert found == want


@examples(100)
@given(mediamtx_bodies(), st.integers(min_value=1, max_value=64))
def test_oversized_bodies_are_refused(body: dict[str, Any], kib: int) -> None:
    body["query"] = "q" * (MAX_BODY + kib)
    with pytest.raises(ValueError, match="too large"):
        parse_request(orjson.dumps(body))
