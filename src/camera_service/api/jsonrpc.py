"""JSON-RPC 2.0 framing as plain functions over data: no sockets, no event loop.

Parsing turns one text frame into requests or an immediate error reply; the reply
builders turn results and errors back into bytes. The dispatcher and the transports
sit on top of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
AUTH_REQUIRED: Final = -32001
RATE_LIMITED: Final = -32002
PERMISSION_DENIED: Final = -32003

# Domain errors of api.md §4.
CAMERA_NOT_FOUND: Final = -1000
MEDIAMTX_FAILED: Final = -1003
FILE_NOT_FOUND: Final = -1005
ALREADY_RECORDING: Final = -1006
STORAGE_LOW: Final = -1008
STORAGE_CRITICAL: Final = -1010
CAPACITY_EXCEEDED: Final = -1012

Id = str | int | float | None


class RpcError(Exception):
    """An error reply. Raise it from a handler; it is sent as is."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


@dataclass(slots=True)
class Request:
    method: str
    params: dict[str, Any]
    id: Id
    is_notification: bool


@dataclass(slots=True)
class Invalid:
    """An element that cannot be dispatched; its reply is already known."""

    error: RpcError
    id: Id = None
    is_notification: bool = False  # a well-formed notification with bad params: no reply


Message = Request | Invalid


@dataclass(slots=True)
class Parsed:
    messages: list[Message]
    is_batch: bool


def parse(payload: str | bytes) -> Parsed:
    """Parse one frame. Never raises: bad input becomes an ``Invalid`` element."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return Parsed([Invalid(RpcError(PARSE_ERROR, "Parse error: invalid JSON"))], False)
    if isinstance(obj, list):
        if not obj:
            return Parsed(
                [Invalid(RpcError(INVALID_REQUEST, "Invalid Request: empty batch"))], False
            )
        return Parsed([to_message(item) for item in obj], True)
    return Parsed([to_message(obj)], False)


def to_message(obj: Any) -> Message:
    """Validate the envelope of one request object."""
    if not isinstance(obj, dict):
        return Invalid(RpcError(INVALID_REQUEST, "Invalid Request: expected an object"))
    rid = obj.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, str | int | float)):
        return Invalid(RpcError(INVALID_REQUEST, "Invalid Request: id must be a string or number"))
    if obj.get("jsonrpc") != "2.0":
        return Invalid(RpcError(INVALID_REQUEST, 'Invalid Request: jsonrpc must be "2.0"'), rid)
    method = obj.get("method")
    if not isinstance(method, str):
        return Invalid(RpcError(INVALID_REQUEST, "Invalid Request: method must be a string"), rid)
    params = obj.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        return Invalid(
            RpcError(INVALID_PARAMS, "Invalid params: params must be an object (named params)"),
            rid,
            "id" not in obj,
        )
    return Request(method, params, rid, "id" not in obj)


def result_reply(rid: Id, result: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "result": result, "id": rid})


def error_reply(rid: Id, error: RpcError) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "error": error.to_dict(), "id": rid})


def batch_reply(replies: list[bytes]) -> bytes:
    """Join already-encoded replies into one array without decoding them again."""
    return b"[" + b",".join(replies) + b"]"


def notification(method: str, params: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params})
