"""Python SDK of the camera service: an async, typed client of its WebSocket JSON-RPC
API and HTTP downloads, and the ``camera-service client`` command built on it.

The service never imports this package: it is for client programs.
"""

from camera_service.client.client import ANY, DISCONNECTED, RECONNECTED, CameraClient
from camera_service.client.errors import (
    AlreadyRecording,
    AuthenticationError,
    CallTimeout,
    CameraNotFound,
    CameraServiceError,
    CapacityExceeded,
    ConnectionFailed,
    ConnectionLost,
    DownloadError,
    FileNotFound,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MediaMtxError,
    MethodNotFound,
    ParseError,
    PermissionDenied,
    RateLimited,
    RpcError,
    StorageCritical,
    StorageLow,
)

__all__ = [
    "ANY",
    "DISCONNECTED",
    "RECONNECTED",
    "AlreadyRecording",
    "AuthenticationError",
    "CallTimeout",
    "CameraClient",
    "CameraNotFound",
    "CameraServiceError",
    "CapacityExceeded",
    "ConnectionFailed",
    "ConnectionLost",
    "DownloadError",
    "FileNotFound",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "MediaMtxError",
    "MethodNotFound",
    "ParseError",
    "PermissionDenied",
    "RateLimited",
    "RpcError",
    "StorageCritical",
    "StorageLow",
]
