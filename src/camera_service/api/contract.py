"""The wire contract's result shapes: one TypedDict per method result, shared by the
server's methods (which build them and publish their schemas in ``rpc.discover``) and
the SDK (``camera_service.client.types`` re-exports them).

Only typing imports, so the SDK can use it without the server. The class names are the
schema names in the OpenRPC document; fields marked ``[new]`` are the service's additions
to the contract (docs/api.md). No docstrings on the classes: pydantic would publish them
as schema descriptions.
"""

# No `from __future__ import annotations`: TypedDict turns every string annotation into
# a ForwardRef holding its own compiled code, 0.1 MB of an idle service (issue 20).
from typing import Any, Literal, NotRequired

# pydantic reads these for the OpenRPC schemas, and on Python 3.11 it wants
# typing_extensions' TypedDict.
from typing_extensions import TypedDict

Topic = Literal[
    "camera_status_update",
    "recording_status_update",
    "snapshot_taken",
    "storage_status_update",
    "system_status_update",
]
# [new] The Go-era API's dotted topic names, accepted by subscribe_events and
# unsubscribe_events as aliases of the topics above (docs/api.md, Compatibility).
TopicAlias = Literal[
    "camera.connected",
    "camera.disconnected",
    "camera.status_change",
    "recording.start",
    "recording.stop",
    "recording.error",
    "snapshot.taken",
    "system.health",
    "system.startup",
    "system.shutdown",
]

# --- session: authenticate, subscribe_events, unsubscribe_events ------------------------------


class AuthenticateResult(TypedDict):
    authenticated: bool
    role: str
    permissions: list[str]
    expires_at: str | None
    session_id: str


class SubscribeResult(TypedDict, total=False):
    subscribed: bool
    unsubscribed: bool
    topics: list[str]


# --- cameras ------------------------------------------------------------------------------------


class CameraInfo(TypedDict):
    device: str
    status: str
    name: str
    resolution: str
    fps: int
    streams: dict[str, str]
    camera_id: str
    source_type: str
    recording: bool
    device_path: str  # compatibility: the original's key (= device)
    stream_url: str | None  # compatibility: the RTSP URL (null while not connected)


class CameraList(TypedDict):
    cameras: list[CameraInfo]
    total: int
    connected: int


class CameraStatusResult(CameraInfo):
    metrics: dict[str, Any]
    capabilities: dict[str, list[str]]
    recording_session: str | None
    current_file: str | None
    elapsed_time: float | None
    recording_state: str | None  # [new] starting, recording, degraded
    recording_reason: str | None  # [new] while degraded: storage_full, stalled
    resumed_at: str | None  # [new] taken up again after a service restart
    last_recording: dict[str, Any] | None  # [new] the last final recording_status_update
    recording_duration: float | None  # [new] the running recording's requested seconds


class Capabilities(TypedDict):
    device: str
    formats: list[str]
    resolutions: list[str]
    fps_options: list[float]
    validation_status: str
    fps_by_resolution: dict[str, list[float]]  # [new] frame rates each size offers


# --- media tokens: create_media_token [new] ------------------------------------------------------


class MediaTokenResult(TypedDict):
    token: str
    camera_id: str
    expires_at: str
    streams: dict[str, str]  # rtsp, webrtc, hls, each carrying the token


class DownloadUrlResult(TypedDict):
    url: str  # the file's download_url with ?token=<link token>
    kind: Literal["recording", "snapshot"]
    filename: str
    expires_at: str


# --- streams ------------------------------------------------------------------------------------


class Stream(TypedDict):
    name: str
    source: str | None
    ready: bool
    readers: int
    bytes_sent: int


# --- streaming [new]: get_stream_url, get_stream_status, start_streaming, stop_streaming ----------


class StreamUrlResult(TypedDict):
    device: str
    camera_id: str
    stream_name: str
    stream_url: str
    available: bool
    active_consumers: int
    stream_status: Literal["READY", "NOT_READY", "ERROR"]


class MediaMtxPath(TypedDict):
    exists: bool
    ready: bool
    readers: int


class StreamMetrics(TypedDict):
    bytes_sent: int
    frames_sent: int
    bitrate: float
    fps: float


class StreamStatusResult(TypedDict):
    device: str
    camera_id: str
    stream_name: str
    status: Literal["ACTIVE", "INACTIVE", "ERROR", "STARTING", "STOPPING"]
    ready: bool
    mediamtx_path: MediaMtxPath
    metrics: StreamMetrics
    start_time: str | None
    viewing_until: str | None  # when start_streaming's window ends; null: none open


class StreamStartResult(TypedDict):
    device: str
    camera_id: str
    stream_name: str
    stream_url: str
    status: Literal["STARTED", "FAILED"]
    start_time: str
    auto_close_after: str
    error: NotRequired[str]


class StreamStopResult(TypedDict):
    device: str
    camera_id: str
    stream_name: str
    status: Literal["STOPPED", "FAILED"]
    start_time: str | None
    end_time: str
    duration: float
    stream_continues: bool
    message: str


# --- system: server info, status, metrics, system status, subscription stats ----------------


class ServerInfo(TypedDict):
    name: str
    version: str
    capabilities: list[str]
    supported_formats: list[str]
    max_cameras: int


class CapacityEntry(TypedDict):
    limit: int
    active: int
    free: int


class StatusResult(TypedDict):
    status: str
    uptime: float
    version: str
    components: dict[str, str]
    # [new] usb_cameras, streams, recordings, snapshots, connections
    capacity: dict[str, CapacityEntry]


class ComponentReport(TypedDict):
    status: str
    reason: str
    since: str


class HealthResult(TypedDict):
    """[new] get_health: get_status's health for every role, each component's reason in
    words, without the details (addresses, errors) only an admin should read."""

    status: str
    components: dict[str, ComponentReport]
    capacity: dict[str, CapacityEntry]


class SystemStatusResult(TypedDict):
    status: Literal["starting", "partial", "ready"]
    message: str
    available_cameras: list[str]
    discovery_active: bool


class SubscriptionCounts(TypedDict):
    total_subscriptions: int
    active_clients: int
    topic_counts: dict[str, int]


class SubscriptionStatsResult(TypedDict):
    global_stats: SubscriptionCounts
    client_topics: list[str]
    client_id: str


class MetricsResult(TypedDict):
    active_connections: int
    total_requests: int
    average_response_time: float
    error_rate: float
    memory_usage: float
    cpu_usage: float
    p50_ms: float
    p99_ms: float
    requests_per_second: float
    cameras: int
    streams: int
    recordings_active: int


# --- storage: get_storage_info, set_retention_policy, cleanup_old_files ----------------------


class RetentionInfo(TypedDict):
    policy_type: str
    enabled: bool
    max_age_days: NotRequired[float]
    max_size_gb: NotRequired[float]
    max_count: NotRequired[int]
    source: str  # "stored" (set_retention_policy) or "config"


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
    status: str  # [new] ok | warn | critical
    retention_policy: RetentionInfo  # [new] the policy in effect


class RetentionResult(TypedDict):
    policy_type: str
    enabled: bool
    max_age_days: NotRequired[float]
    max_size_gb: NotRequired[float]
    max_count: NotRequired[int]
    message: str


class CleanupResult(TypedDict):
    cleanup_executed: bool
    files_deleted: int
    space_freed: int
    message: str
    policy_type: str  # [new]


# --- files: list_*, get_*_info, delete_* ------------------------------------------------------


class ListedFile(TypedDict):
    filename: str
    file_size: int
    size_bytes: int  # compatibility: = file_size
    modified_time: str
    download_url: str
    duration: NotRequired[float | None]  # recordings: seconds from the container
    device: str | None  # [new] /dev/videoN or camera_id; null when the name does not say


class FileList(TypedDict):
    files: list[ListedFile]
    total: int
    limit: int
    offset: int


class FileInfo(TypedDict):
    filename: str
    file_size: int
    size_bytes: int  # compatibility: = file_size
    created_time: str
    modified_time: str
    download_url: str
    duration: NotRequired[float | None]  # recordings
    resolution: NotRequired[str | None]  # snapshots: "WxH"
    device: str | None  # [new]
    format: str  # [new] mp4, ts, jpg, png


class Deleted(TypedDict):
    filename: str
    deleted: bool
    message: str


# --- recordings: start_recording, stop_recording ----------------------------------------------


class RecordingSummary(TypedDict):
    device_path: str
    recording_id: str  # = session_id
    filename: str
    start_time: float  # epoch seconds
    status: Literal["STARTED"]


class StartResult(TypedDict):
    device: str
    camera_id: str
    session_id: str
    filename: str  # the first segment's expected name; the STARTED notification has the real one
    status: Literal["STARTED"]
    start_time: str
    duration: float | None
    format: str
    success: bool
    recording: RecordingSummary  # compatibility: the original's nested object


class StopResult(TypedDict):
    device: str
    camera_id: str
    session_id: str
    filename: str
    status: Literal["STOPPED"]
    start_time: str
    end_time: str
    duration: float
    file_size: int
    format: str
    success: bool
    files: list[str]
    recording_id: str  # compatibility: = session_id
    stopped_at: str  # compatibility: = end_time


# --- snapshots: take_snapshot -------------------------------------------------------------------


class SnapshotResult(TypedDict):
    device: str
    camera_id: str
    filename: str
    status: Literal["completed", "FAILED"]
    timestamp: str
    file_size: int
    file_path: str
    error: NotRequired[str]
    success: bool
    capture_time_ms: float
    source: Literal["warm", "stream", "device"]
    format: Literal["jpg", "png"]
    resolution: NotRequired[str]
    download_url: NotRequired[str]


class PreviewResult(TypedDict):
    device: str
    camera_id: str
    format: Literal["jpg"]
    resolution: str
    taken_at: str
    source: Literal["warm", "stream", "device"]
    image: str  # the JPEG, base64


# --- cameras at run time: add_camera, update_camera, remove_camera, list_camera_sources ---------


class CameraSourceSpec(TypedDict, total=False):
    type: Literal["rtsp", "test"]
    url: str  # rtsp: never with credentials
    username: str | None
    password: str | None  # "********" when set
    transport: Literal["tcp", "udp"]
    pattern: str  # test
    resolution: str
    fps: int


class CameraSourceInfo(TypedDict):
    camera_id: str
    name: str
    origin: Literal["config", "assignments", "api"]
    active: bool
    editable: bool
    status: str
    error: str
    source: CameraSourceSpec


class CameraSourceList(TypedDict):
    sources: list[CameraSourceInfo]
    total: int


class CameraRemoveResult(TypedDict):
    camera_id: str
    removed: bool
    recording: StopResult | None


# --- ONVIF discovery: discover_cameras and its Go-era names --------------------------------------


class OnvifProfile(TypedDict):
    token: str
    name: str
    width: int | None
    height: int | None
    encoding: str | None
    rtsp_uri: str | None


class DiscoveredCamera(TypedDict):
    endpoint: str
    address: str
    host: str
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    scopes: list[str]
    profiles: list[OnvifProfile]
    error: str | None


class DiscoverCamerasResult(TypedDict):
    devices: list[DiscoveredCamera]
    count: int
    scan_timestamp: float


class ExternalStream(TypedDict):
    url: str
    type: str
    name: str
    status: str
    discovered_at: float
    device: DiscoveredCamera


class DiscoverExternalStreamsResult(TypedDict):
    discovered_streams: list[ExternalStream]
    skydio_streams: list[ExternalStream]
    generic_streams: list[ExternalStream]
    scan_timestamp: float
    total_found: int
    devices: list[DiscoveredCamera]


class ExternalStreamsResult(TypedDict):
    external_streams: list[ExternalStream]
    skydio_streams: list[ExternalStream]
    generic_streams: list[ExternalStream]
    total_count: int
    timestamp: float


class ExternalStreamAddResult(TypedDict):
    stream_url: str  # without credentials
    stream_name: str  # the camera id
    stream_type: str  # "generic"
    status: str  # "added"
    timestamp: float
    device: str
    camera_id: str
    camera: CameraSourceInfo  # as add_camera answers


class ExternalStreamRemoveResult(TypedDict):
    stream_url: str
    stream_name: str
    status: str  # "removed"
    timestamp: float
    device: str
    camera_id: str
    recording: StopResult | None  # as remove_camera answers


class DiscoveryIntervalResult(TypedDict):
    scan_interval: float  # seconds; 0: periodic discovery off
    status: str  # "updated"
    message: str
    timestamp: float
