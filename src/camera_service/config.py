"""Typed settings: the single source of defaults, validation and documentation.

Precedence: built-in defaults < YAML file < ``CAMERA_SERVICE_*`` environment.

Environment rule (documented in docs/configuration.md):

* ``CAMERA_SERVICE_<SECTION>_<KEY>`` sets a key directly under a section, e.g.
  ``CAMERA_SERVICE_SERVER_PORT=9000``. Section names contain no underscore, so the first
  ``_`` after the section ends it.
* Deeper keys separate every further level with a double underscore:
  ``CAMERA_SERVICE_SECURITY_RATE_LIMIT__REQUESTS_PER_MINUTE=600``. Field names never
  contain ``__``, so the rule is unambiguous.
* ``CAMERA_SERVICE_JWT_SECRET`` is kept from the earlier service and sets
  ``security.jwt.secret_key``; ``CAMERA_SERVICE_CONFIG`` names the YAML file.
* Values are read as YAML scalars (``true``, ``8002``, ``[a, b]``); anything else is an
  error naming the variable.

Fields marked ``reload="live"`` are applied by SIGHUP without a restart; a change to
any other field is reported as needing a restart.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "CAMERA_SERVICE_"
# Not settings: the config file's name, and what `camera-service client` reads (a shell
# may export them where the service runs too).
_NOT_SETTINGS = frozenset(ENV_PREFIX + n for n in ("CONFIG", "URL", "TOKEN", "API_KEY"))
DEFAULT_CONFIG_PATH = Path("/etc/camera-service/config.yaml")
SYSTEM_DATA_DIR = Path("/var/lib/camera-service")
CAMERA_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Port = Annotated[int, Field(ge=0, le=65535)]  # 0 binds an ephemeral port (tests)
PositiveSeconds = Annotated[float, Field(gt=0)]


def live(default: Any, description: str, **kwargs: Any) -> Any:
    """A field that SIGHUP applies without a restart."""
    return Field(default, description=description, json_schema_extra={"reload": "live"}, **kwargs)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class TlsConfig(Section):
    cert_file: Path | None = Field(None, description="PEM certificate; enables wss:// and https.")
    key_file: Path | None = Field(None, description="PEM private key for `cert_file`.")

    @model_validator(mode="after")
    def _both_or_neither(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be set together")
        return self


class ServerConfig(Section):
    host: str = Field("0.0.0.0", description="Address the WebSocket/HTTP API listens on.")
    port: Port = Field(8002, description="WebSocket JSON-RPC port (`/ws` and `/`).")
    max_connections: int = Field(
        1000, ge=1, le=200_000, description="Concurrent WebSocket connections; past it 503."
    )
    max_message_bytes: int = Field(
        1_048_576, ge=1024, description="Largest accepted frame; larger closes with 1009."
    )
    max_batch_requests: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Requests in one batch; a longer batch is refused whole with -32600.",
    )
    max_message_values: int = Field(
        10_000,
        ge=100,
        description="JSON values one message may hold, bounded by counting `[` `{` `,` `:` "
        "(inside strings too) before it is parsed; past it -32600.",
    )
    max_reply_bytes: int = Field(
        1_048_576,
        ge=4096,
        description="Largest reply to one message; a larger result is answered with -32603, "
        "and in a batch each element past it with that error.",
    )
    send_buffer_bytes: int = Field(
        1_048_576,
        ge=4096,
        description="Unsent bytes queued per connection before it is closed with 1013.",
    )
    ping_interval: PositiveSeconds = Field(30.0, description="Seconds between server pings.")
    ping_timeout: PositiveSeconds = Field(
        60.0, description="A client silent (no pong, no frame) this long is dropped."
    )
    request_timeout: PositiveSeconds = Field(
        30.0, description="Deadline for one JSON-RPC request; past it -32603."
    )
    shutdown_timeout: PositiveSeconds = Field(
        10.0, description="Seconds in-flight requests get to finish on SIGTERM."
    )
    tls: TlsConfig = Field(default_factory=TlsConfig)


class MediaMtxConfig(Section):
    manage: Literal["auto", "always", "never"] = Field(
        "auto", description="Start MediaMTX ourselves: always, never, or when found (auto)."
    )
    binary: Path | None = Field(None, description="MediaMTX executable; implies managed mode.")
    api_url: str = Field("http://127.0.0.1:9997", description="MediaMTX Control API base URL.")
    public_host: str | None = Field(
        None, description="Host put in stream URLs; default: the host the client connected to."
    )
    rtsp_port: Port = Field(8554, description="MediaMTX RTSP port (used in stream URLs).")
    webrtc_port: Port = Field(8889, description="MediaMTX WebRTC port (used in stream URLs).")
    hls_port: Port = Field(8888, description="MediaMTX HLS port (used in stream URLs).")
    rtp_port: Port = Field(8000, description="Managed MediaMTX: RTSP over UDP, RTP port.")
    rtcp_port: Port = Field(8001, description="Managed MediaMTX: RTSP over UDP, RTCP port.")
    multicast_rtp_port: Port = Field(
        8004, description="Managed MediaMTX: multicast RTP (its default 8002 is our API port)."
    )
    multicast_rtcp_port: Port = Field(
        8005, description="Managed MediaMTX: multicast RTCP (its default 8003 is our health port)."
    )
    webrtc_udp_port: Port = Field(8189, description="Managed MediaMTX: WebRTC ICE UDP port.")
    request_timeout: PositiveSeconds = Field(5.0, description="Timeout of one Control API call.")
    reconcile_interval: PositiveSeconds = Field(
        15.0, description="Seconds between full desired-state reconciles."
    )
    check_interval: PositiveSeconds = Field(
        1.0,
        description="Seconds between MediaMTX liveness checks (a restart is re-applied "
        "within about this long) and stream metric refreshes.",
    )
    ffmpeg: str = Field("ffmpeg", description="FFmpeg executable the publishers run.")
    encoder: Literal["libx264", "h264_v4l2m2m", "h264_vaapi", "h264_nvenc", "h264_qsv"] = Field(
        "libx264", description="H.264 encoder of USB and test-pattern publishers."
    )
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = Field(
        "ultrafast", description="libx264 preset (CPU against quality)."
    )
    bitrate_kbps: int = Field(2000, ge=100, le=50_000, description="Publisher video bitrate.")
    on_demand_start_timeout: PositiveSeconds = Field(
        10.0, description="How long MediaMTX waits for a publisher to start."
    )
    on_demand_close_after: PositiveSeconds = Field(
        10.0, description="Seconds a publisher runs on after its last reader left."
    )
    auth_host: str | None = Field(
        None,
        description="MediaMTX on another host: the address at which it reaches this "
        "service's health port. The service then gives MediaMTX, through its Control API "
        "at every (re)connect, authMethod http and this run's auth URL with its secret.",
    )
    auth_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="Seconds a media authentication (MediaMTX asking the service about a "
        "read) is reused; expiry and revocation are still checked on every one. 0: never.",
    )
    viewing_window: PositiveSeconds = live(
        300.0,
        "Seconds start_streaming keeps a camera's stream up (each call starts the window anew).",
    )


class RtspSource(Section):
    type: Literal["rtsp"] = Field("rtsp", description="Selects this schema.")
    id: str = Field(pattern=CAMERA_ID_PATTERN, description="camera_id and MediaMTX path name.")
    name: str | None = Field(None, description="Display name; default: the id.")
    url: str = Field(description="rtsp:// or rtsps:// URL, without credentials.")
    username: str | None = Field(None, description="RTSP user name, sent to the camera.")
    password: SecretStr | None = Field(
        None, description="RTSP password; never logged, masked by `config show`."
    )
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTP transport to pull with.")
    on_demand: bool = Field(True, description="Pull the source only while someone reads it.")

    @field_validator("url")
    @classmethod
    def _rtsp_url(cls, v: str) -> str:
        if not re.match(r"^rtsps?://[^\s@/]+(/[^\s]*)?$", v):
            raise ValueError("must be rtsp://host[:port]/path without credentials or spaces")
        return v


class TestPatternSource(Section):
    __test__ = False  # a camera source, not a pytest test class
    type: Literal["test"] = Field("test", description="Selects this schema.")
    id: str = Field(pattern=CAMERA_ID_PATTERN, description="camera_id and MediaMTX path name.")
    name: str | None = Field(None, description="Display name; default: the id.")
    pattern: Literal["testsrc", "testsrc2", "smptebars", "rgbtestsrc"] = Field(
        "testsrc2", description="FFmpeg lavfi test source."
    )
    resolution: str = Field(
        "1280x720",
        pattern=r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$",
        description="WIDTHxHEIGHT of the generated stream.",
    )
    fps: int = Field(15, ge=1, le=120, description="Frames per second of the generated stream.")


Source = Annotated[RtspSource | TestPatternSource, Field(discriminator="type")]


class CamerasConfig(Section):
    device_root: Path = Field(Path("/dev"), description="Where /dev/videoN nodes live.")
    sysfs_root: Path = Field(Path("/sys"), description="sysfs root read for V4L2 devices.")
    assignments_file: Path | None = Field(
        None, description="Hub OS device assignment file; absent = claim every capture device."
    )
    assignments_key: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description=(
            "etcd key (on registry.endpoints) holding the assignments, in the file's format;"
            " watched. Not together with assignments_file."
        ),
    )
    hotplug: bool = Field(True, description="Watch udev/inotify for plug events.")
    poll_interval: PositiveSeconds = Field(10.0, description="Safety-net rescan period.")
    probe_timeout: PositiveSeconds = Field(5.0, description="Capability probe timeout.")
    probe_retries: int = Field(3, ge=0, le=20, description="Retries of a failed probe.")
    v4l2_ctl: str = Field("v4l2-ctl", description="v4l2-ctl executable used to probe devices.")
    assignments_poll: PositiveSeconds = Field(
        1.0, description="Seconds between checks of the assignments file for edits."
    )
    rtsp_check_interval: PositiveSeconds = Field(
        10.0, description="Seconds between health checks of a connected RTSP source."
    )
    rtsp_max_backoff: PositiveSeconds = Field(
        60.0, description="Longest wait between checks of an unreachable RTSP source."
    )
    sources: list[Source] = live([], "Configured RTSP and test-pattern cameras.")

    @field_validator("sources")
    @classmethod
    def _unique_ids(cls, v: list[RtspSource | TestPatternSource]) -> list[Any]:
        seen: set[str] = set()
        for s in v:
            if s.id in seen:
                raise ValueError(f"duplicate source id {s.id!r}")
            if re.fullmatch(r"camera[0-9]+", s.id):
                raise ValueError(f"source id {s.id!r}: cameraN ids belong to /dev/videoN devices")
            seen.add(s.id)
        return v

    @model_validator(mode="after")
    def _one_assignments_source(self) -> CamerasConfig:
        if self.assignments_file is not None and self.assignments_key is not None:
            raise ValueError(
                "cameras.assignments_file and cameras.assignments_key are exclusive: set one"
            )
        return self


class RecordingConfig(Section):
    format: Literal["mp4", "ts"] = Field("mp4", description="Default container.")
    segment_minutes: int = Field(30, ge=1, le=1440, description="Segment length.")


class SnapshotsConfig(Section):
    format: Literal["jpg", "png"] = live(
        "jpg", "Default snapshot image format (also what warm keyframes are kept as)."
    )
    quality: int = live(
        85, "Default JPEG quality (also that of warm keyframes); PNG ignores it.", ge=1, le=100
    )
    warm: list[Annotated[str, Field(pattern=CAMERA_ID_PATTERN)]] = live(
        [], "Cameras that always keep their latest keyframe decoded (their stream stays up)."
    )
    warm_when_watched: bool = live(
        True, "Also keep the latest keyframe of any camera while someone else reads its stream."
    )
    warm_max_age: PositiveSeconds = live(
        2.5, "A kept keyframe older than this is not used (two 1 s GOPs and a margin)."
    )
    timeout: PositiveSeconds = live(
        10.0, "Longest a capture may take, waiting for a free slot included; then FAILED."
    )
    preview_max_age: PositiveSeconds = live(
        5.0,
        "get_preview: every caller of a camera gets the same image while it is younger than "
        "this, so a camera costs at most one capture per this interval however many watch.",
    )


class StorageConfig(Section):
    data_dir: Path | None = Field(
        None,
        description=(
            "Database, secrets and state. Default /var/lib/camera-service when it exists "
            "and is writable (deploy/install.sh makes it), else $XDG_DATA_HOME/camera-service."
        ),
    )
    recordings_path: Path | None = Field(None, description="Default <data_dir>/recordings.")
    snapshots_path: Path | None = Field(None, description="Default <data_dir>/snapshots.")
    warn_percent: float = live(80.0, "Disk use that raises a warning.", gt=0, le=100)
    block_percent: float = live(90.0, "Disk use that refuses new media.", gt=0, le=100)
    check_interval: float = live(
        5.0, "Seconds between disk use checks (storage_status_update, health).", gt=0
    )
    emergency_cleanup: bool = live(
        False,
        "At block_percent, delete the oldest finished recordings until use is below warn_percent.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> StorageConfig:
        if self.warn_percent >= self.block_percent:
            raise ValueError("warn_percent must be below block_percent")
        return self


class RetentionConfig(Section):
    policy_type: Literal["age", "size", "count", "manual"] = live(
        "age", "Policy in effect until an admin stores one with set_retention_policy."
    )
    enabled: bool = live(False, "Apply the policy periodically.")
    max_age_days: float = live(30.0, "age policy: delete media older than this.", gt=0)
    max_size_gb: float = live(
        50.0, "size policy: recordings + snapshots at most this many GiB (2^30 bytes).", gt=0
    )
    max_count: int = live(10_000, "count policy: recordings + snapshots files at most.", ge=1)
    interval: PositiveSeconds = live(3600.0, "Seconds between retention runs.")


# The longest lifetime a token or API key may be given: ten years. Longer credentials
# outlive the hardware they were made for, and their expiry would not fit every
# client's date type.
MAX_CREDENTIAL_TTL = 10 * 365 * 86400.0


class JwtConfig(Section):
    secret_key: SecretStr | None = Field(
        None,
        description=(
            "HS256 secret. Unset: a random 256-bit secret is generated once and kept in "
            "<data_dir>/jwt_secret (mode 0600)."
        ),
    )
    default_ttl: PositiveSeconds = Field(
        86400.0, le=MAX_CREDENTIAL_TTL, description="`token create` default lifetime."
    )


class MediaTokenConfig(Section):
    default_ttl: PositiveSeconds = live(
        300.0, "`create_media_token` lifetime when the call gives no `ttl_seconds`."
    )
    max_ttl: PositiveSeconds = live(
        3600.0, "Longest `ttl_seconds` a media token may be asked for; more is -32602.", le=86400
    )

    @model_validator(mode="after")
    def _default_within_max(self) -> MediaTokenConfig:
        if self.default_ttl > self.max_ttl:
            raise ValueError("default_ttl must not exceed max_ttl")
        return self


class FileLinkConfig(Section):
    default_ttl: PositiveSeconds = live(
        300.0, "`create_download_url` link lifetime when the call gives no `ttl_seconds`."
    )
    max_ttl: PositiveSeconds = live(
        900.0, "Longest `ttl_seconds` a download link may be asked for; more is -32602.", le=3600
    )

    @model_validator(mode="after")
    def _default_within_max(self) -> FileLinkConfig:
        if self.default_ttl > self.max_ttl:
            raise ValueError("default_ttl must not exceed max_ttl")
        return self


class RateLimitConfig(Section):
    requests_per_minute: int = live(120, "Per connection; past it -32002.", ge=1)


class SecurityConfig(Section):
    jwt: JwtConfig = Field(default_factory=JwtConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    files_require_auth: bool = live(True, "Downloads need a token or API key.")
    media_tokens: MediaTokenConfig = Field(default_factory=MediaTokenConfig)
    file_links: FileLinkConfig = Field(default_factory=FileLinkConfig)


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = live("INFO", "Log level.")
    format: Literal["auto", "json", "text"] = Field(
        "auto", description="auto: text when the log stream is a TTY, JSON lines otherwise."
    )
    stream: Literal["stderr", "stdout"] = Field(
        "stderr",
        description="Where log lines go. The container image sets stdout "
        "(`CAMERA_SERVICE_LOGGING_STREAM=stdout`); systemd's journal takes either.",
    )
    file: Path | None = Field(None, description="Also log to this file, rotated.")
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Rotate the file at this size.")
    backup_count: int = Field(5, ge=0, le=100, description="Rotated files kept.")

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class HealthConfig(Section):
    host: str = Field("0.0.0.0", description="Health/metrics/files HTTP address.")
    port: Port = Field(8003, description="Health/metrics/files HTTP port.")


class RegistryConfig(Section):
    backend: Literal["none", "etcd", "http"] = Field(
        "none", description="Service registry: none, etcd (lease + key) or http (aggregator)."
    )
    endpoints: list[str] = Field(
        ["http://127.0.0.1:2379"], min_length=1, description="etcd endpoints, tried in order."
    )
    prefix: str = Field(
        "/camera-service/instances/", description="etcd key prefix; the key is prefix + id."
    )
    ttl: int = Field(15, ge=2, le=3600, description="etcd lease TTL seconds; kept alive at TTL/3.")
    url: str | None = Field(
        None,
        description="HTTP aggregator base URL (http://host[:port][/path]); see docs/registry.md.",
    )
    token: SecretStr | None = Field(
        None,
        description="Bearer token sent to the aggregator; never logged, masked by `config show`.",
    )
    heartbeat_interval: PositiveSeconds = Field(10.0, description="Aggregator heartbeat.")
    retry_max: PositiveSeconds = Field(
        30.0, description="Longest wait between attempts while the registry is unreachable."
    )
    instance_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]{1,128}$",
        description="This instance's id in the registry. Default: <hostname>-<ws port>.",
    )
    advertise_host: str | None = Field(
        None,
        description=(
            "Host put in the advertised endpoints. Default: mediamtx.public_host, else"
            " the hostname."
        ),
    )

    @field_validator("endpoints")
    @classmethod
    def _etcd_urls(cls, v: list[str]) -> list[str]:
        # etcd's v3 JSON gateway over plain http (no TLS or auth in this client)
        for url in v:
            if not re.match(r"^http://[^\s/?#@]+/?$", url):
                raise ValueError(f"{url!r} must be http://host[:port] (plain http)")
        return v

    @field_validator("url")
    @classmethod
    def _aggregator_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^http://[^\s/?#@]+(/[^\s?#]*)?$", v):
            raise ValueError("must be http://host[:port][/path] (plain http; no user:password@)")
        return v

    @field_validator("token")
    @classmethod
    def _header_safe(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not re.fullmatch(r"[!-~]+", v.get_secret_value()):
            raise ValueError("must be printable ASCII without spaces (it is sent in a header)")
        return v

    @model_validator(mode="after")
    def _backend_settings(self) -> RegistryConfig:
        if self.backend == "http" and not self.url:
            raise ValueError("registry.backend http needs registry.url")
        return self


class ResourcesConfig(Section):
    max_usb_cameras: int = Field(
        8,
        ge=0,
        description="USB cameras claimed at most; further devices are left alone (not "
        "listed) and operations naming one get -1012 until a claimed one is unplugged.",
    )
    max_cameras: int = Field(
        32,
        ge=0,
        description="RTSP and test-pattern cameras at most, from every origin (config, "
        "assignments, add_camera); add_camera past it gets -1012.",
    )
    max_streams: int = Field(
        16,
        ge=1,
        description="Streams up at most: a snapshot or recording that would bring up one "
        "more gets -1012 (streams already up never do; viewers reading MediaMTX directly "
        "cannot be refused, but count).",
    )
    max_recordings: int = Field(
        8, ge=1, description="Concurrent recordings at most; one more gets -1012."
    )
    max_snapshots: int = Field(
        4,
        ge=1,
        description="Concurrent snapshot captures running FFmpeg at most; one more gets "
        "-1012 at once (warm snapshots are never refused).",
    )
    executor_workers: int = Field(4, ge=1, le=64, description="Threads for blocking probes.")


TOPIC_LEVEL = r"^[A-Za-z0-9_-]{1,64}$"  # one MQTT topic level (and a Home Assistant id)


class HomeAssistantConfig(Section):
    discovery: bool = Field(
        True, description="Publish Home Assistant MQTT discovery configs (docs/integrations.md)."
    )
    prefix: str = Field(
        "homeassistant", pattern=TOPIC_LEVEL, description="Home Assistant's discovery prefix."
    )


class MqttConfig(Section):
    enabled: bool = Field(False, description="Publish events and state to an MQTT broker.")
    host: str = Field("127.0.0.1", description="Broker host.")
    port: Port = Field(1883, description="Broker port (plain MQTT; TLS is not offered).")
    username: str | None = Field(None, description="Broker user name.")
    password: SecretStr | None = Field(
        None, description="Broker password; never logged, masked by `config show`."
    )
    topic_prefix: str = Field(
        "camera-service",
        pattern=r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,3}$",
        description="First topic levels; topics are <topic_prefix>/<node_id>/...",
    )
    node_id: str | None = Field(
        None,
        pattern=TOPIC_LEVEL,
        description="This service's topic level and Home Assistant node id. Default: the "
        "hostname, reduced to A-Z a-z 0-9 _ -.",
    )
    keepalive: int = Field(30, ge=5, le=3600, description="MQTT keepalive seconds.")
    retry_max: PositiveSeconds = Field(
        30.0, description="Longest wait between connection attempts while the broker is down."
    )
    queue_size: int = Field(
        1000,
        ge=10,
        le=100_000,
        description="Events kept for the broker while it is unreachable; past it the oldest "
        "is dropped (counted). Retained state is kept apart and never dropped.",
    )
    command_api_key: SecretStr | None = Field(
        None,
        description="API key MQTT commands (the Home Assistant recording switch) run as: "
        "its role and camera scope apply as on the API. Unset: commands are refused and the "
        "switch is offered as a read-only sensor.",
    )
    snapshot_image_max_bytes: int = Field(
        4 * 1024 * 1024,
        ge=0,
        description="Largest snapshot published on a camera's image topic; 0: none.",
    )
    homeassistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig)


class WebhookTarget(Section):
    url: str = Field(description="http:// or https:// URL the events are POSTed to.")
    secret: SecretStr = Field(
        description="HMAC-SHA256 key of the signature header; never logged.", min_length=16
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/?#@]+(/[^\s#]*)?$", v):
            raise ValueError("must be http(s)://host[:port][/path] (no user:password@)")
        return v


class WebhooksConfig(Section):
    targets: list[WebhookTarget] = Field(
        [], description="Where events are POSTed, each signed with its own secret."
    )
    timeout: PositiveSeconds = Field(5.0, description="Seconds one delivery may take.")
    queue_size: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Undelivered events kept per target; past it the oldest is dropped "
        "(counted in camera_service_webhook_dropped_total).",
    )
    retry_initial: PositiveSeconds = Field(1.0, description="First wait after a failed delivery.")
    retry_max: PositiveSeconds = Field(
        60.0, description="Longest wait between attempts (the backoff doubles up to it)."
    )


MIN_SCAN_INTERVAL = 1.0  # runs never overlap; below this a probe would follow a probe
MAX_SCAN_INTERVAL = 86_400.0


class OnvifConfig(Section):
    probe_targets: list[str] = Field(
        ["239.255.255.250:3702"],
        min_length=1,
        max_length=16,
        description=(
            "Where the WS-Discovery probe is sent (host:port): the standard multicast"
            " group, or a unicast address for a directed probe."
        ),
    )
    probe_wait: PositiveSeconds = Field(
        3.0, le=30, description="How long discovery collects probe answers."
    )
    device_timeout: PositiveSeconds = Field(
        5.0, le=60, description="Bound on the ONVIF calls to one device, all together."
    )
    max_devices: int = Field(
        64, ge=1, le=1024, description="Devices one discovery looks at; more are ignored."
    )
    max_answer_bytes: int = Field(
        16_384, ge=1024, le=65_507, description="A larger probe answer is dropped."
    )
    scan_interval: float = Field(
        0.0,
        ge=0,
        le=MAX_SCAN_INTERVAL,
        description=(
            "Seconds from the end of one periodic discovery to the start of the next"
            f" (0: off; else at least {MIN_SCAN_INTERVAL:g}), until an admin sets another"
            " with set_discovery_interval, which is kept across restarts."
        ),
    )

    @field_validator("scan_interval")
    @classmethod
    def _scan_interval(cls, v: float) -> float:
        return check_scan_interval(v)


def check_scan_interval(v: float) -> float:
    """0 (off) or MIN_SCAN_INTERVAL..MAX_SCAN_INTERVAL seconds (a stored value is
    checked with this too)."""
    if v != 0 and not MIN_SCAN_INTERVAL <= v <= MAX_SCAN_INTERVAL:  # NaN fails both
        raise ValueError(
            f"must be 0 (off) or {MIN_SCAN_INTERVAL:g} to {MAX_SCAN_INTERVAL:g} seconds"
        )
    return v


class Settings(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    mediamtx: MediaMtxConfig = Field(default_factory=MediaMtxConfig)
    cameras: CamerasConfig = Field(default_factory=CamerasConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    snapshots: SnapshotsConfig = Field(default_factory=SnapshotsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    onvif: OnvifConfig = Field(default_factory=OnvifConfig)


SECTIONS: tuple[str, ...] = tuple(Settings.model_fields)


class ConfigError(Exception):
    """The configuration cannot be used; the message names key, value and what is allowed."""


# --- loading -------------------------------------------------------------------------


def load_settings(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Settings, Path | None]:
    """Build the effective settings; returns them with the YAML file actually read."""
    env = os.environ if environ is None else environ
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = Path(env[ENV_PREFIX + "CONFIG"])
    if path is None and DEFAULT_CONFIG_PATH.is_file():
        path = DEFAULT_CONFIG_PATH
    data: dict[str, Any] = read_yaml(path) if path is not None else {}
    for dotted, value in env_overrides(env):
        _set_path(data, dotted.split("."), value)
    return validate(data), path


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    return data


def env_overrides(env: Mapping[str, str]) -> Iterator[tuple[str, Any]]:
    """Yield (dotted.key, value) for every CAMERA_SERVICE_* variable; unknown ones fail."""
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in _NOT_SETTINGS:
            continue
        raw = env[name]
        if name == ENV_PREFIX + "JWT_SECRET":
            yield "security.jwt.secret_key", raw  # a secret is never YAML-parsed
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section not in SECTIONS or not key:
            raise ConfigError(
                f"unknown environment variable {name}: expected "
                f"{ENV_PREFIX}<SECTION>_<KEY> with SECTION one of {', '.join(SECTIONS)}"
            )
        dotted = section + "." + key.replace("__", ".")
        yield dotted, raw if _is_text_field(dotted) else _parse_env_value(name, raw)


def _is_text_field(dotted: str) -> bool:
    """True when the key holds a string-like value (str, secret, path): such an
    environment value is taken verbatim, so ``0042`` stays ``"0042"``."""
    model: Any = Settings
    info = None
    for part in dotted.split("."):
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        info = fields[part]
        model = info.annotation
    if info is None:
        return False
    ann = info.annotation
    union = typing.get_origin(ann) in (typing.Union, types.UnionType)
    args = typing.get_args(ann) if union else (ann,)
    text_types = (str, SecretStr, Path)
    return all(a is type(None) or (isinstance(a, type) and issubclass(a, text_types)) for a in args)


def _parse_env_value(name: str, raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        raise ConfigError(f"environment variable {name}: cannot parse value {raw!r}") from None


def _set_path(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


def validate(data: Mapping[str, Any]) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(err["loc"][:-1])
            hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
            lines.append(f"{key}: unknown key (value {_show(value, key)}){hint}")
        else:
            lines.append(f"{key}: {err['msg']} (got {_show(value, key)})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model at ``loc`` (best effort), for "allowed here" hints."""
    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue  # a list index: the item type was resolved at the list field
        fields = getattr(model, "model_fields", None)
        if fields is not None and part in fields:
            model = _item_model(fields[part].annotation)
        else:  # a discriminated union's tag, e.g. cameras.sources.0.rtsp
            model = next(
                (
                    m
                    for m in (RtspSource, TestPatternSource)
                    if m.model_fields["type"].default == part
                ),
                None,
            )
        if model is None:
            return []
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else []


def _item_model(annotation: Any) -> Any:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return annotation


_SECRET_WORDS = ("secret", "password", "passwd", "token", "key")
_URL_USERINFO = re.compile(r"(?<=://)[^/\s@]*@")


def _show(value: Any, key: str) -> str:
    """A value fit for an error message: never a secret, never a whole section."""
    if any(word in key.lower() for word in _SECRET_WORDS):
        return "***"
    if isinstance(value, dict):
        # Sections and sources may hold passwords anywhere inside: name keys, not values.
        return "a mapping with keys " + ", ".join(str(k) for k in value)
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item(s)"
    text = _URL_USERINFO.sub("***@", repr(value))
    return text if len(text) <= 80 else text[:77] + "..."


# --- introspection used by `config show`, SIGHUP and the docs generator ----------------


def masked_dict(settings: Settings) -> dict[str, Any]:
    """Effective config as plain data with every secret replaced by ``***``."""

    def mask(v: Any) -> Any:
        if isinstance(v, SecretStr):
            return "***"
        if isinstance(v, BaseModel):
            return {k: mask(getattr(v, k)) for k in type(v).model_fields}
        if isinstance(v, list):
            return [mask(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    result: dict[str, Any] = mask(settings)
    return result


def iter_fields(
    model: type[BaseModel] = Settings, prefix: str = ""
) -> Iterator[tuple[str, Any, bool]]:
    """Yield (dotted key, FieldInfo, live) for every leaf field of the model."""
    for name, info in model.model_fields.items():
        dotted = prefix + name
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, Section):
            yield from iter_fields(ann, dotted + ".")
        else:
            extra = info.json_schema_extra
            is_live = isinstance(extra, dict) and extra.get("reload") == "live"
            yield dotted, info, is_live


LIVE_KEYS: frozenset[str] = frozenset(k for k, _, is_live in iter_fields() if is_live)


def changed_keys(old: Settings, new: Settings) -> list[str]:
    """Dotted keys whose value differs between two settings."""
    a, b = _flatten(old.model_dump()), _flatten(new.model_dump())
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, Mapping) and (prefix + k) not in LIVE_KEYS:
            out.update(_flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def split_reload(old: Settings, new: Settings) -> tuple[list[str], list[str]]:
    """(keys applied live, keys that need a restart) for a reload from old to new."""
    changed = changed_keys(old, new)
    return [k for k in changed if k in LIVE_KEYS], [k for k in changed if k not in LIVE_KEYS]
