"""MediaMTX Control API v3: client, errors and version-tolerant models."""

from camera_service.media.mediamtx.client import (
    MediaMtxClient,
    MediaMtxError,
    MediaMtxNotFound,
    MediaMtxUnavailable,
)
from camera_service.media.mediamtx.models import Info, PathState, Recording

__all__ = [
    "Info",
    "MediaMtxClient",
    "MediaMtxError",
    "MediaMtxNotFound",
    "MediaMtxUnavailable",
    "PathState",
    "Recording",
]
