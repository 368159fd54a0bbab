"""Result shapes of the API methods (the contract's field names), as TypedDicts.

Fields the contract marks [new], or that only some results carry, are ``NotRequired``.
The service may add fields; they are kept in the dicts (a TypedDict is a plain dict).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

CameraState = Literal["CONNECTED", "DISCONNECTED", "ERROR"]
FileKind = Literal["recordings", "snapshots"]
Topic = Literal[
    "camera_status_update",
    "recording_status_update",
    "snapshot_taken",
    "storage_status_update",
    "system_status_update",
]


class AuthResult(TypedDict):
    authenticated: bool
    role: str
    permissions: list[str]
    expires_at: str | None
    session_id: str


class Streams(TypedDict, total=False):
    rtsp: str
    webrtc: str
    hls: str


class Camera(TypedDict):
    device: str
    status: CameraState
    name: str
    resolution: str
    fps: int
    streams: Streams
    camera_id: NotRequired[str]
    source_type: NotRequired[str]
    recording: NotRequired[bool]


class CameraList(TypedDict):
    cameras: list[Camera]
    total: int
    connected: int


class CameraStatus(Camera):
    metrics: NotRequired[dict[str, Any]]
    capabilities: NotRequired[dict[str, Any]]
    recording_session: NotRequired[str | None]
    current_file: NotRequired[str | None]
    elapsed_time: NotRequired[float | None]


class Capabilities(TypedDict):
    device: str
    formats: list[str]
    resolutions: list[str]
    fps_options: list[int]
    validation_status: str


class StreamInfo(TypedDict):
    name: str
    source: Any
    ready: bool
    readers: int
    bytes_sent: int


class Snapshot(TypedDict):
    device: str
    filename: str
    status: Literal["completed", "FAILED"]
    timestamp: str
    file_size: int
    file_path: str
    error: NotRequired[str]
    success: NotRequired[bool]
    capture_time_ms: NotRequired[float]
    source: NotRequired[str]
    camera_id: NotRequired[str]
    format: NotRequired[str]
    resolution: NotRequired[str]
    download_url: NotRequired[str]


class RecordingStarted(TypedDict):
    device: str
    session_id: str
    filename: str
    status: str
    start_time: str
    duration: float | None
    format: str
    success: NotRequired[bool]
    camera_id: NotRequired[str]


class RecordingStopped(TypedDict):
    device: str
    session_id: str
    filename: str
    status: str
    start_time: str
    end_time: str
    duration: float
    file_size: int
    success: NotRequired[bool]
    files: NotRequired[list[str]]
    camera_id: NotRequired[str]
    format: NotRequired[str]


class FileEntry(TypedDict):
    filename: str
    file_size: int
    modified_time: str
    download_url: str
    duration: NotRequired[float | None]
    device: NotRequired[str | None]


class FileList(TypedDict):
    files: list[FileEntry]
    total: int
    limit: int
    offset: int


class FileInfo(TypedDict):
    filename: str
    file_size: int
    created_time: str
    modified_time: str
    download_url: str
    duration: NotRequired[float | None]
    resolution: NotRequired[str | None]
    device: NotRequired[str | None]
    format: NotRequired[str | None]


class Deleted(TypedDict):
    filename: str
    deleted: bool
    message: str


class StorageInfo(TypedDict):
    total_space: int
    used_space: int
    available_space: int
    used_percent: float
    usage_percentage: float
    warn_threshold: float
    block_threshold: float
    recordings_size: int
    snapshots_size: int
    low_space_warning: bool
    critical_space_warning: bool


class RetentionPolicy(TypedDict):
    policy_type: str
    enabled: bool
    message: str
    max_age_days: NotRequired[float]
    max_size_gb: NotRequired[float]
    max_count: NotRequired[int]


class CleanupResult(TypedDict):
    cleanup_executed: bool
    files_deleted: int
    space_freed: int
    message: str


class Metrics(TypedDict):
    active_connections: int
    total_requests: int
    average_response_time: float
    error_rate: float
    memory_usage: float
    cpu_usage: float


class Status(TypedDict):
    status: Literal["healthy", "degraded", "unhealthy"]
    uptime: float
    version: str
    components: dict[str, Any]


class ServerInfo(TypedDict):
    name: str
    version: str
    capabilities: list[str]
    supported_formats: list[str]
    max_cameras: int


class Subscription(TypedDict):
    topics: list[str]
    subscribed: NotRequired[bool]
    unsubscribed: NotRequired[bool]
