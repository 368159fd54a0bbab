"""Per-connection state: identity, rate budget, event subscriptions. No I/O.

Also the control API's two rules about identities: a media token never binds to a
connection (:func:`control_identity`), and what a connection's identity may see of the
cameras (:meth:`Session.sees`): the methods, the notifications and the downloads ask
here, and a camera it may not see is answered as one that does not exist.
"""

from __future__ import annotations

import itertools
import uuid

from camera_service.auth.identity import AuthError, Identity
from camera_service.auth.ratelimit import TokenBucket

NOTIFICATION_TOPICS: tuple[str, ...] = (
    "camera_status_update",
    "recording_status_update",
    "snapshot_taken",
    "storage_status_update",
    "system_status_update",
)

MEDIA_TOKEN_REFUSED = (
    "Authentication failed: invalid token for this API - a media token opens camera streams only"
)

_ids = itertools.count(1)


def control_identity(identity: Identity) -> Identity:
    """The identity, if it may use the control API (methods, downloads): a media token
    is good for MediaMTX's read and playback authorization only."""
    if identity.media_only:
        raise AuthError("invalid", MEDIA_TOKEN_REFUSED)
    return identity


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
        """Bind ``identity`` to this connection; AuthError for a media token."""
        self.identity = control_identity(identity)
        self.session_id = str(uuid.uuid4())
        return self.session_id

    def forget_identity(self) -> None:
        self.identity = None
        self.session_id = None

    @property
    def cameras(self) -> tuple[str, ...] | None:
        """The camera ids and patterns this connection may see; None: every camera."""
        return () if self.identity is None else self.identity.cameras

    def sees(self, camera_id: str | None) -> bool:
        """Whether this connection may see the camera; ``None`` (media whose camera
        its name does not say) only when it sees every camera."""
        identity = self.identity
        if identity is None:
            return False
        if camera_id is None:
            return identity.cameras is None
        return identity.sees(camera_id)

    def wants(self, topic: str, camera_id: str | None = None) -> bool:
        """Whether a notification goes to this connection; ``camera_id``: the camera it
        is about (None: it is about none, like storage and health)."""
        return (
            self.identity is not None
            and (self.topics is None or topic in self.topics)
            and (camera_id is None or self.identity.sees(camera_id))
        )
