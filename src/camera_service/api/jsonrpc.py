"""JSON-RPC 2.0 framing as plain functions over data: no sockets, no event loop.

Parsing turns one text frame into requests or an immediate error reply; the reply
builders turn results and errors back into bytes. The dispatcher and the transports
sit on top of this.

Every frame is parsed within ``Limits``: a frame holding more JSON values than
``message_values`` (an upper bound read off its separators, before any parsing: the
parser's work grows with the values it builds) or a batch of more than
``batch_requests`` elements is refused whole, as one ``Invalid`` message, so no
per-element work ever starts for it.

Request ids are echoed exactly as sent (JSON-RPC 2.0 §5: the same value). orjson reads
integers up to 64 bits exactly but turns larger ones into floats, and refuses numbers
past a double's range; for those rare frames the standard library's parser reads the
id's literal text, which the reply carries as it came.
"""

from __future__ import annotations

import json
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

Id = str | int | float | orjson.Fragment | None


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


def bad_param(param: str, reason: str) -> RpcError:
    """-32602 for one param: ``invalid <param>: <reason>``, plain words a client can
    match, and the param in ``data``."""
    return RpcError(
        INVALID_PARAMS, f"invalid {param}: {reason}", {"reason": "invalid_params", "param": param}
    )


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


@dataclass(frozen=True, slots=True)
class Limits:
    """What one frame may hold, and the bytes its reply may take (``server.*``)."""

    batch_requests: int
    message_values: int
    reply_bytes: int


def parse(payload: str | bytes, limits: Limits) -> Parsed:
    """Parse one frame. Never raises: bad input becomes an ``Invalid`` element."""
    read = read_frame(payload, limits)
    return Parsed(read, True) if isinstance(read, list) else Parsed([read], False)


def read_frame(payload: str | bytes, limits: Limits) -> Message | list[Message]:
    """:func:`parse` without the wrapper: one frame's message, or a batch's messages
    (a list). The dispatcher's path, where a request's every step counts."""
    # A frame shorter than the bound cannot hold more values: the common case scans nothing.
    if len(payload) >= limits.message_values and _values_at_most(payload) > limits.message_values:
        return _refused(
            f"Invalid Request: more than {limits.message_values} JSON values in one message",
            "too_many_values",
            limits.message_values,
        )
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return _parse_wide(payload, limits)
    if type(obj) is dict:  # to_message's usual case, inline: every request's path
        method = obj.get("method")
        params = obj.get("params")
        rid = obj.get("id")
        if (
            type(method) is str
            and type(params) in _PARAMS_OR_NONE
            and type(rid) in _ID_OR_INT
            and obj.get("jsonrpc") == "2.0"
        ):
            return Request(method, {} if params is None else params, rid, "id" not in obj)
    if type(obj) is not list:
        message = to_message(obj)
        if type(message.id) is float:  # maybe an integer past 64 bits: read it exactly
            message.id = _read_literal(payload)["id"]
        return message
    refused = _batch_refused(obj, limits)
    if refused is not None:
        return refused
    messages = [to_message(item) for item in obj]
    if any(isinstance(m.id, float) for m in messages):
        for message, item in zip(messages, _read_literal(payload), strict=True):
            if isinstance(message.id, float):
                message.id = item["id"]
    return messages


_NOT_SEPARATORS: Final = bytes(sorted(set(range(256)) - set(b"[{,:")))


def _values_at_most(payload: str | bytes) -> int:
    """An upper bound on the values and keys in a JSON text: every one but the first
    follows a ``[``, ``{``, ``,`` or ``:`` (counted inside strings too: a bound, not a
    count). One C-speed pass that keeps only those bytes: about 0.4 ms per MiB."""
    raw = payload.encode(errors="surrogatepass") if isinstance(payload, str) else payload
    return len(raw.translate(None, _NOT_SEPARATORS)) + 1


def _refused(message: str, reason: str, limit: int) -> Invalid:
    return Invalid(RpcError(INVALID_REQUEST, message, {"reason": reason, "limit": limit}))


def _batch_refused(batch: list[Any], limits: Limits) -> Invalid | None:
    """The one error for a whole batch that is empty or past the cap; None if it runs."""
    if not batch:
        return Invalid(RpcError(INVALID_REQUEST, "Invalid Request: empty batch"))
    if len(batch) > limits.batch_requests:
        return _refused(
            f"Invalid Request: batch of {len(batch)} requests, limit {limits.batch_requests}",
            "batch_too_large",
            limits.batch_requests,
        )
    return None


_OUT_OF_RANGE = "Invalid Request: a number is too large for this service"


def _literal(text: str) -> orjson.Fragment:
    return orjson.Fragment(text)


def _refuse(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")  # NaN, Infinity: Python's parser allows them


def _read_literal(payload: str | bytes) -> Any:
    """``payload`` with every number kept as its literal text (ValueError: not JSON)."""
    return json.loads(payload, parse_int=_literal, parse_float=_literal, parse_constant=_refuse)


def _parse_wide(payload: str | bytes, limits: Limits) -> Message | list[Message]:
    """A frame orjson refused: not JSON at all, or JSON with a number past a double's
    range. The latter's elements are read one by one, so the others run as usual and
    the one holding such a number is refused with its own id."""
    try:
        exact = _read_literal(payload)
    except (ValueError, RecursionError):
        return Invalid(RpcError(PARSE_ERROR, "Parse error: invalid JSON"))
    if isinstance(exact, list):
        return _batch_refused(exact, limits) or [_wide_message(i) for i in exact]
    return _wide_message(exact)


def _wide_message(item: Any) -> Message:
    rid = item.get("id") if isinstance(item, dict) else None
    if not isinstance(rid, str | orjson.Fragment):
        rid = None
    try:
        obj = orjson.loads(orjson.dumps(item))
    except orjson.JSONDecodeError:
        notification = isinstance(item, dict) and "id" not in item
        return Invalid(RpcError(INVALID_REQUEST, _OUT_OF_RANGE), rid, notification)
    message = to_message(obj)
    if isinstance(message.id, float):
        message.id = rid
    return message


_ID_TYPES: Final = (str, int, float)  # by exact type: a bool is no id
_ID_OR_NONE: Final = frozenset((str, int, float, type(None)))
_PARAMS_OR_NONE: Final = frozenset((dict, type(None)))
_ID_OR_INT: Final = frozenset((str, int, type(None)))  # no float: it may need reading exactly


def to_message(obj: Any) -> Message:
    """Validate the envelope of one request object."""
    if type(obj) is dict:  # a well-formed request, the usual case, in one test
        method = obj.get("method")
        params = obj.get("params")
        rid = obj.get("id")
        if (
            type(method) is str
            and type(params) in _PARAMS_OR_NONE
            and type(rid) in _ID_OR_NONE
            and obj.get("jsonrpc") == "2.0"
        ):
            return Request(method, {} if params is None else params, rid, "id" not in obj)
    return _refused_envelope(obj)


def _refused_envelope(obj: Any) -> Message:
    """What is wrong with an envelope, the first problem in the order clients see it."""
    if type(obj) is not dict:
        return Invalid(RpcError(INVALID_REQUEST, "Invalid Request: expected an object"))
    rid = obj.get("id")
    if rid is not None and type(rid) not in _ID_TYPES:
        return Invalid(RpcError(INVALID_REQUEST, "Invalid Request: id must be a string or number"))
    if obj.get("jsonrpc") != "2.0":
        return Invalid(RpcError(INVALID_REQUEST, 'Invalid Request: jsonrpc must be "2.0"'), rid)
    if type(obj.get("method")) is not str:
        return Invalid(RpcError(INVALID_REQUEST, "Invalid Request: method must be a string"), rid)
    return Invalid(
        bad_param("params", "must be an object (named params)"),
        rid,
        "id" not in obj,
    )


def result_reply(rid: Id, result: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "result": result, "id": rid})


def error_reply(rid: Id, error: RpcError) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "error": error.to_dict(), "id": rid})


def batch_reply(replies: list[bytes]) -> bytes:
    """Join already-encoded replies into one array without decoding them again."""
    return b"[" + b",".join(replies) + b"]"


def notification(method: str, params: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params})
