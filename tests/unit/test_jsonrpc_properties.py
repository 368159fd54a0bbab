"""Properties of the JSON-RPC 2.0 envelope (jsonrpc.py): any bytes parse into messages
without raising, every element is classified as the specification says, and every
reply built for it is a JSON-RPC 2.0 response object carrying the id it must."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from camera_service.api.dispatch import limits_of
from camera_service.api.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    Invalid,
    Request,
    RpcError,
    batch_reply,
    error_reply,
    notification,
    parse,
    result_reply,
    to_message,
)
from camera_service.config import ServerConfig
from tests.support.properties import examples

LIMITS = limits_of(ServerConfig())

FLOATS = st.floats(allow_nan=False, allow_infinity=False)
INTS = st.integers(-(2**63), 2**64 - 1)  # what orjson hands over as int
# What a client may write: integers past 64 bits (orjson reads them as floats) and past a
# double's range; 400 digits stay under int()'s 4,300-digit guard in the test's encoder.
WIDE_INTS = st.one_of(INTS, st.integers(-(10**400), 10**400))


def json_values(ints: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(st.none(), st.booleans(), ints, FLOATS, st.text()),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


JSON = json_values(INTS)
WIDE_JSON = json_values(WIDE_INTS)
IDS = st.one_of(st.text(max_size=20), INTS, FLOATS)


@st.composite
def envelopes(draw: st.DrawFn, ints: st.SearchStrategy[int] = INTS) -> dict[str, Any]:
    """Request-shaped objects: each member present or not, right or of any type."""
    values = json_values(ints)
    obj: dict[str, Any] = draw(st.dictionaries(st.text(max_size=6), values, max_size=2))
    for key, right in (
        ("jsonrpc", st.just("2.0")),
        ("method", st.text(max_size=20)),
        ("params", st.one_of(st.none(), st.dictionaries(st.text(max_size=6), values, max_size=3))),
        ("id", st.one_of(st.none(), st.text(max_size=20), ints, FLOATS)),
    ):
        choice = draw(st.sampled_from(["right", "right", "absent", "wrong"]))
        if choice == "right":
            obj[key] = draw(right)
        elif choice == "wrong":
            obj[key] = draw(values)
    return obj


def valid_id(obj: dict[str, Any]) -> bool:
    rid = obj.get("id")
    return rid is None or (type(rid) in (str, int, float))


def expected(obj: Any) -> tuple[str, int | None, Any, bool]:
    """(kind, error code, reply id, is a notification) as JSON-RPC 2.0 §4-5 and
    docs/api.md say: a reply carries the request's id whenever it could be read."""
    if not isinstance(obj, dict):
        return "invalid", INVALID_REQUEST, None, False
    if not valid_id(obj):
        return "invalid", INVALID_REQUEST, None, False
    rid = obj.get("id")
    notify = "id" not in obj
    if obj.get("jsonrpc") != "2.0" or type(obj.get("method")) is not str:
        return "invalid", INVALID_REQUEST, rid, False
    params = obj.get("params")
    if params is not None and type(params) is not dict:
        return "invalid", INVALID_PARAMS, rid, notify
    return "request", None, rid, notify


def check_response(raw: bytes, rid: Any) -> dict[str, Any]:
    """``raw`` is one JSON-RPC 2.0 response object for the request id ``rid``."""
    reply = json.loads(raw)
    assert isinstance(reply, dict)
    assert reply["jsonrpc"] == "2.0"
    assert set(reply) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"})
    assert reply["id"] == rid and type(reply["id"]) is type(rid)
    if "error" in reply:
        error = reply["error"]
        assert type(error["code"]) is int and type(error["message"]) is str
        assert set(error) <= {"code", "message", "data"}
    return reply


def wire_id(message: Request | Invalid) -> Any:
    """The id as a reply carries it (a number past 64 bits is kept as its literal)."""
    return json.loads(orjson.dumps({"id": message.id}))["id"]


def reply_for(message: Request | Invalid) -> bytes:
    if isinstance(message, Invalid):
        return error_reply(message.id, message.error)
    return result_reply(message.id, {"method": message.method})


@examples(150)
@given(st.one_of(envelopes(), JSON))
def test_every_element_is_classified_and_answered_as_the_spec_says(obj: Any) -> None:
    kind, code, rid, notify = expected(obj)
    message = to_message(obj)
    if kind == "invalid":
        assert isinstance(message, Invalid)
        assert message.error.code == code
    else:
        assert isinstance(message, Request)
        assert message.method == obj["method"]
        assert message.params == (obj.get("params") or {})
    assert message.id == rid and type(message.id) is type(rid)
    assert message.is_notification is notify
    check_response(reply_for(message), rid)


WIDE_ENVELOPES = envelopes(WIDE_INTS)


@examples(100)
@given(
    st.one_of(st.lists(st.one_of(WIDE_ENVELOPES, WIDE_JSON), max_size=5), WIDE_ENVELOPES, WIDE_JSON)
)
def test_any_json_text_parses_into_answerable_messages(value: Any) -> None:
    """Ids come back exactly as sent (JSON-RPC 2.0 §5), also past 64 bits."""
    parsed = parse(json.dumps(value).encode(), LIMITS)
    if isinstance(value, list) and value:
        assert parsed.is_batch and len(parsed.messages) == len(value)
        items = value
    else:
        assert not parsed.is_batch and len(parsed.messages) == 1
        items = [value]
    if value == []:
        assert isinstance(parsed.messages[0], Invalid)
        assert parsed.messages[0].error.code == INVALID_REQUEST
        assert parsed.messages[0].id is None
    else:
        for item, message in zip(items, parsed.messages, strict=True):
            rid = expected(item)[2]
            assert wire_id(message) == rid and type(wire_id(message)) is type(rid)
    replies = [reply_for(m) for m in parsed.messages]
    joined = json.loads(batch_reply(replies))
    assert [r["id"] for r in joined] == [wire_id(m) for m in parsed.messages]


@examples(200)
@given(
    st.one_of(
        st.binary(max_size=80),
        st.text(max_size=40).map(str.encode),
        JSON.map(lambda v: json.dumps(v).encode()).flatmap(
            lambda raw: st.integers(0, len(raw)).map(lambda cut: raw[:cut])
        ),
    )
)
def test_any_bytes_parse_without_raising(raw: bytes) -> None:
    parsed = parse(raw, LIMITS)
    assert parsed.messages
    try:
        json.loads(raw)
    except ValueError:  # not JSON (or not UTF-8): one parse error, id null
        [message] = parsed.messages
        assert isinstance(message, Invalid) and message.error.code == PARSE_ERROR
        assert message.id is None
        check_response(reply_for(message), None)
        return
    for message in parsed.messages:
        check_response(reply_for(message), wire_id(message))


@examples(100)
@given(IDS, JSON, st.integers(-32768, 32767), st.text(max_size=30))
def test_replies_round_trip_ids_results_and_errors(
    rid: Any, result: Any, code: int, message: str
) -> None:
    assert check_response(result_reply(rid, result), rid)["result"] == result
    data = {"reason": message}
    reply = check_response(error_reply(rid, RpcError(code, message, data)), rid)
    assert reply["error"] == {"code": code, "message": message, "data": data}
    assert json.loads(notification(message, result)) == {
        "jsonrpc": "2.0",
        "method": message,
        "params": result,
    }
