"""The SDK's exceptions: one class per JSON-RPC error code, plus transport failures.

Every error reply raises an :class:`RpcError` (the subclass of its code when the code
is known, ``RpcError`` itself otherwise), so a client never has to look at raw replies.
"""

from __future__ import annotations

from typing import Any


class CameraServiceError(Exception):
    """Base of every exception the SDK raises."""


class ConnectionFailed(CameraServiceError, ConnectionError):
    """No usable connection: refused, handshake refused (e.g. HTTP 503 at the cap), or
    the client is closed."""


class ConnectionLost(ConnectionFailed):
    """The connection dropped while a call was waiting for its reply. The call may or
    may not have run on the server."""


class CallTimeout(CameraServiceError, TimeoutError):
    """No reply within the call's timeout."""


class DownloadError(CameraServiceError):
    """A file download failed: ``status`` is the HTTP status (0 when none came)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RpcError(CameraServiceError):
    """A JSON-RPC error reply: ``code``, ``message`` and ``data`` (an object or None)."""

    code: int = 0

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    @property
    def reason(self) -> str | None:
        """``data.reason``, the machine-readable cause, when the server gave one."""
        value = (self.data or {}).get("reason")
        return value if isinstance(value, str) else None

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


class ParseError(RpcError):
    code = -32700


class InvalidRequest(RpcError):
    code = -32600


class MethodNotFound(RpcError):
    code = -32601


class InvalidParams(RpcError):
    code = -32602


class InternalError(RpcError):
    code = -32603


class AuthenticationError(RpcError):
    code = -32001


class RateLimited(RpcError):
    code = -32002


class PermissionDenied(RpcError):
    code = -32003


class CameraNotFound(RpcError):
    code = -1000


class MediaMtxError(RpcError):
    code = -1003


class FileNotFound(RpcError):
    code = -1005


class AlreadyRecording(RpcError):
    code = -1006


class StorageLow(RpcError):
    code = -1008


class StorageCritical(RpcError):
    code = -1010


class CapacityExceeded(RpcError):
    code = -1012


ERRORS_BY_CODE: dict[int, type[RpcError]] = {
    cls.code: cls
    for cls in (
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
        AuthenticationError,
        RateLimited,
        PermissionDenied,
        CameraNotFound,
        MediaMtxError,
        FileNotFound,
        AlreadyRecording,
        StorageLow,
        StorageCritical,
        CapacityExceeded,
    )
}


def error_from_reply(error: Any) -> RpcError:
    """The exception for a reply's ``error`` member; a malformed one is still an RpcError."""
    if not isinstance(error, dict):
        return InternalError(-32603, f"malformed error reply: {error!r}"[:200])
    code = error.get("code")
    message = error.get("message")
    data = error.get("data")
    if not isinstance(code, int) or isinstance(code, bool):
        code = -32603
    text = message if isinstance(message, str) else "error without a message"
    cls = ERRORS_BY_CODE.get(code, RpcError)
    return cls(code, text, data if isinstance(data, dict) else None)
