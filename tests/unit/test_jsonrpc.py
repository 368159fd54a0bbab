"""JSON-RPC framing as plain data: no sockets."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from camera_service.api import jsonrpc
from camera_service.api.dispatch import limits_of
from camera_service.api.jsonrpc import Invalid, Request
from camera_service.config import ServerConfig

LIMITS = limits_of(ServerConfig())


@pytest.mark.parametrize(
    ("payload", "code", "rid"),
    [
        ("{not json", -32700, None),
        ('"a string"', -32600, None),
        ("42", -32600, None),
        ('{"jsonrpc":"1.0","method":"ping","id":3}', -32600, 3),
        ('{"method":"ping","id":4}', -32600, 4),
        ('{"jsonrpc":"2.0","id":5}', -32600, 5),
        ('{"jsonrpc":"2.0","method":7,"id":6}', -32600, 6),
        ('{"jsonrpc":"2.0","method":"ping","id":{"a":1}}', -32600, None),
        ('{"jsonrpc":"2.0","method":"ping","id":true}', -32600, None),
        ('{"jsonrpc":"2.0","method":"ping","params":[1],"id":8}', -32602, 8),
    ],
)
def test_bad_envelopes(payload: str, code: int, rid: object) -> None:
    parsed = jsonrpc.parse(payload, LIMITS)
    [msg] = parsed.messages
    assert isinstance(msg, Invalid)
    assert msg.error.code == code
    assert msg.id == rid


def test_empty_batch_is_one_invalid_request() -> None:
    parsed = jsonrpc.parse("[]", LIMITS)
    assert not parsed.is_batch
    [msg] = parsed.messages
    assert isinstance(msg, Invalid) and msg.error.code == -32600


def test_request_and_notification() -> None:
    [req] = jsonrpc.parse('{"jsonrpc":"2.0","method":"ping","id":"x"}', LIMITS).messages
    assert isinstance(req, Request) and req.id == "x" and not req.is_notification
    assert req.params == {}
    [note] = jsonrpc.parse('{"jsonrpc":"2.0","method":"ping"}', LIMITS).messages
    assert isinstance(note, Request) and note.is_notification


def test_batch_mixes_valid_and_invalid() -> None:
    parsed = jsonrpc.parse('[{"jsonrpc":"2.0","method":"ping","id":1}, 5]', LIMITS)
    assert parsed.is_batch
    assert isinstance(parsed.messages[0], Request)
    assert isinstance(parsed.messages[1], Invalid)


def test_replies_encode() -> None:
    assert orjson.loads(jsonrpc.result_reply(1, "pong")) == {
        "jsonrpc": "2.0",
        "result": "pong",
        "id": 1,
    }
    err = jsonrpc.RpcError(-32001, "nope", {"reason": "invalid"})
    assert orjson.loads(jsonrpc.error_reply(None, err)) == {
        "jsonrpc": "2.0",
        "error": {"code": -32001, "message": "nope", "data": {"reason": "invalid"}},
        "id": None,
    }
    batch = jsonrpc.batch_reply([jsonrpc.result_reply(1, 1), jsonrpc.result_reply(2, 2)])
    assert [r["id"] for r in orjson.loads(batch)] == [1, 2]


# --- ids are echoed exactly as sent ---------------------------------------------------------


def _reply_for(payload: str) -> bytes:
    [msg] = jsonrpc.parse(payload, LIMITS).messages
    if isinstance(msg, Invalid):
        return jsonrpc.error_reply(msg.id, msg.error)
    return jsonrpc.result_reply(msg.id, "pong")


def _id_text(reply: bytes) -> str:
    """The id as it stands in the reply's text (the last member, as the builders write)."""
    return reply.decode().rsplit('"id":', 1)[1].rstrip("}")


@pytest.mark.parametrize(
    "literal",
    [
        "18446744073709551615",  # the largest integer orjson keeps exactly
        "18446744073709551616",  # one more: orjson would make it a float
        "-9223372036854775809",
        "123456789012345678901234567890123456789",
        "0.1",
        "7",
    ],
)
def test_an_integer_id_of_any_size_is_echoed_exactly(literal: str) -> None:
    payload = f'{{"jsonrpc":"2.0","method":"ping","id":{literal}}}'
    [msg] = jsonrpc.parse(payload, LIMITS).messages
    assert isinstance(msg, Request)
    assert _id_text(_reply_for(payload)) == literal


def test_an_id_past_a_doubles_range_is_refused_and_still_carried() -> None:
    literal = "9" * 5000
    payload = f'{{"jsonrpc":"2.0","method":"ping","id":{literal}}}'
    [msg] = jsonrpc.parse(payload, LIMITS).messages
    assert isinstance(msg, Invalid) and msg.error.code == -32600
    assert "too large" in msg.error.message
    assert _id_text(_reply_for(payload)) == literal


def test_in_a_batch_only_the_element_with_a_huge_number_is_refused() -> None:
    payload = (
        '[{"jsonrpc":"2.0","method":"ping","id":1},'
        '{"jsonrpc":"2.0","method":"ping","id":"b","params":{"n":1e999}},'
        '{"jsonrpc":"2.0","method":"ping","params":{"n":1e999}}]'
    )
    parsed = jsonrpc.parse(payload, LIMITS)
    assert parsed.is_batch
    first, second, third = parsed.messages
    assert isinstance(first, Request) and first.id == 1
    assert isinstance(second, Invalid) and second.id == "b" and second.error.code == -32600
    assert isinstance(third, Invalid) and third.is_notification  # no reply for it


@pytest.mark.parametrize("payload", ['{"jsonrpc":"2.0","method":"ping","id":NaN}', "[1e999"])
def test_what_is_not_json_stays_a_parse_error(payload: str) -> None:
    [msg] = jsonrpc.parse(payload, LIMITS).messages
    assert isinstance(msg, Invalid) and msg.error.code == -32700


@examples(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.integers(min_value=-(10**80), max_value=10**80).map(str),
        st.text(alphabet="0123456789", min_size=1, max_size=400).map(
            lambda s: s.lstrip("0") or "0"
        ),
    )
)
def test_every_integer_id_comes_back_as_sent_or_is_refused_carrying_it(literal: str) -> None:
    payload = f'{{"jsonrpc":"2.0","method":"ping","id":{literal}}}'
    assert _id_text(_reply_for(payload)) == literal
