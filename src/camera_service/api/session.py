"""Per-connection state: identity, rate budget, event subscriptions. No I/O."""

from __future__ import annotations

import itertools
import uuid

from camera_service.auth.identity import Identity
from camera_service.auth.ratelimit import TokenBucket

NOTIFICATION_TOPICS: tuple[str, ...] = (
    "camera_status_update",
    "recording_status_update",
    "snapshot_taken",
    "storage_status_update",
    "system_status_update",
)

_ids = itertools.count(1)


class Session:
    __slots__ = ("bucket", "conn_id", "host", "identity", "session_id", "topics")

    def __init__(self, requests_per_minute: int, host: str = "") -> None:
        self.conn_id = next(_ids)
        self.session_id: str | None = None
        self.identity: Identity | None = None
        self.bucket = TokenBucket(requests_per_minute)
        self.host = host  # the host the client connected to (for stream URLs)
        self.topics: frozenset[str] | None = None  # None: every topic

    def authenticate(self, identity: Identity) -> str:
        self.identity = identity
        self.session_id = str(uuid.uuid4())
        return self.session_id

    def forget_identity(self) -> None:
        self.identity = None
        self.session_id = None

    def wants(self, topic: str) -> bool:
        return self.identity is not None and (self.topics is None or topic in self.topics)
