"""Result shapes of the API methods, as TypedDicts: the server's own
(:mod:`camera_service.api.contract`, which imports nothing else of the server) under
the SDK's names.

A TypedDict is a plain dict: fields a newer service adds are kept in it, and fields an
older service lacks are simply missing at run time.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from camera_service.api.contract import AuthenticateResult as AuthResult
from camera_service.api.contract import CameraInfo as Camera
from camera_service.api.contract import (
    CameraList,
    CameraSourceList,
    CameraSourceSpec,
    Capabilities,
    CleanupResult,
    ComponentReport,
    Deleted,
    FileInfo,
    FileList,
    RecordingSummary,
    ServerInfo,
    StorageInfo,
    Topic,
    TopicAlias,
)
from camera_service.api.contract import CameraRemoveResult as CameraRemoved
from camera_service.api.contract import CameraSourceInfo as CameraSource
from camera_service.api.contract import CameraStatusResult as CameraStatus
from camera_service.api.contract import DiscoverCamerasResult as Discovery
from camera_service.api.contract import DiscoverExternalStreamsResult as ExternalDiscovery
from camera_service.api.contract import DiscoveryIntervalResult as DiscoveryInterval
from camera_service.api.contract import DownloadUrlResult as DownloadUrl
from camera_service.api.contract import ExternalStreamAddResult as ExternalStreamAdded
from camera_service.api.contract import ExternalStreamRemoveResult as ExternalStreamRemoved
from camera_service.api.contract import ExternalStreamsResult as ExternalStreams
from camera_service.api.contract import HealthResult as Health
from camera_service.api.contract import ListedFile as FileEntry
from camera_service.api.contract import MediaTokenResult as MediaToken
from camera_service.api.contract import MetricsResult as Metrics
from camera_service.api.contract import PreviewResult as Preview
from camera_service.api.contract import RetentionResult as RetentionPolicy
from camera_service.api.contract import SnapshotResult as Snapshot
from camera_service.api.contract import StartResult as RecordingStarted
from camera_service.api.contract import StatusResult as Status
from camera_service.api.contract import StopResult as RecordingStopped
from camera_service.api.contract import Stream as StreamInfo
from camera_service.api.contract import StreamStartResult as StreamingStarted
from camera_service.api.contract import StreamStatusResult as StreamStatus
from camera_service.api.contract import StreamStopResult as StreamingStopped
from camera_service.api.contract import StreamUrlResult as StreamUrl
from camera_service.api.contract import SubscribeResult as Subscription
from camera_service.api.contract import SubscriptionStatsResult as SubscriptionStats
from camera_service.api.contract import SystemStatusResult as SystemStatus

__all__ = [
    "AuthResult",
    "Camera",
    "CameraList",
    "CameraRemoved",
    "CameraSource",
    "CameraSourceList",
    "CameraSourceSpec",
    "CameraState",
    "CameraStatus",
    "Capabilities",
    "CleanupResult",
    "ComponentReport",
    "Deleted",
    "Discovery",
    "DiscoveryInterval",
    "DownloadUrl",
    "ExternalDiscovery",
    "ExternalStreamAdded",
    "ExternalStreamRemoved",
    "ExternalStreams",
    "FileEntry",
    "FileInfo",
    "FileKind",
    "FileList",
    "Health",
    "MediaToken",
    "Metrics",
    "Preview",
    "RecordingStarted",
    "RecordingStopped",
    "RecordingSummary",
    "RetentionPolicy",
    "ServerInfo",
    "Snapshot",
    "Status",
    "StorageInfo",
    "StreamInfo",
    "StreamStatus",
    "StreamUrl",
    "StreamingStarted",
    "StreamingStopped",
    "Streams",
    "Subscription",
    "SubscriptionStats",
    "SystemStatus",
    "Topic",
    "TopicAlias",
]

CameraState = Literal["CONNECTED", "DISCONNECTED", "ERROR"]  # a Camera's "status"
FileKind = Literal["recordings", "snapshots"]


class Streams(TypedDict, total=False):
    """The URLs of a Camera's "streams" (each present when MediaMTX serves it)."""

    rtsp: str
    webrtc: str
    hls: str
