"""JSON-RPC framing as plain data: no sockets."""

from __future__ import annotations

import orjson
import pytest

from camera_service.api import jsonrpc
from camera_service.api.jsonrpc import Invalid, Request


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
    parsed = jsonrpc.parse(payload)
    [msg] = parsed.messages
    assert isinstance(msg, Invalid)
    assert msg.error.code == code
    assert msg.id == rid


def test_empty_batch_is_one_invalid_request() -> None:
    parsed = jsonrpc.parse("[]")
    assert not parsed.is_batch
    [msg] = parsed.messages
    assert isinstance(msg, Invalid) and msg.error.code == -32600


def test_request_and_notification() -> None:
    [req] = jsonrpc.parse('{"jsonrpc":"2.0","method":"ping","id":"x"}').messages
    assert isinstance(req, Request) and req.id == "x" and not req.is_notification
    assert req.params == {}
    [note] = jsonrpc.parse('{"jsonrpc":"2.0","method":"ping"}').messages
    assert isinstance(note, Request) and note.is_notification


def test_batch_mixes_valid_and_invalid() -> None:
    parsed = jsonrpc.parse('[{"jsonrpc":"2.0","method":"ping","id":1}, 5]')
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
