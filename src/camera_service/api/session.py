"""Per-connection state: identity, rate budget, event subscriptions. No I/O.

Also the control API's two rules about identities: a media token never binds to a
connection (:func:`control_identity`), and what a connection's identity may see of the
cameras (:meth:`Session.sees`): the methods, the notifications and the downloads ask
here, and a camera it may not see is answered as one that does not exist.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any, ClassVar

from camera_service.auth.identity import AuthError, Identity
from camera_service.auth.ratelimit import FULL, RateLimit

NOTIFICATION_TOPICS: tuple[str, ...] = (
    "camera_status_update",
    "recording_status_update",
    "snapshot_taken",
    "storage_status_update",
    "system_status_update",
)
# What a connection receives until it subscribes: the original service's topics only;
# every newer one is opt-in (docs/api.md "Compatibility").
DEFAULT_TOPICS: frozenset[str] = frozenset({"camera_status_update", "recording_status_update"})

MEDIA_TOKEN_REFUSED = (
    "Authentication failed: invalid token for this API - a media token opens camera streams only"
)

FILE_LINK_REFUSED = (
    "Authentication failed: invalid token for this API - a download link opens one file only"
)

_ids = itertools.count(1)


def control_identity(identity: Identity) -> Identity:
    """The identity, if it may use the control API (methods, downloads): a media token
    is good for MediaMTX's read and playback authorization only, a download link token
    for its one file only (``api/files.py`` takes those itself)."""
    if identity.media_only:
        raise AuthError("invalid", MEDIA_TOKEN_REFUSED)
    if identity.file is not None:
        raise AuthError("invalid", FILE_LINK_REFUSED)
    return identity


class Session:
    # Bumped whenever any session's identity or topics change: who hears which
    # notification may differ from then on (``api/audience.py`` keeps audiences by it).
    epoch: ClassVar[int] = 0

    __slots__ = (
        "_holds",
        "bare_call",
        "conn_id",
        "host",
        "identity",
        "kept",
        "narrowed",
        "peer",
        "rate",
        "session_id",
        "tat",
        "topics",
    )

    def __init__(self, rate: RateLimit | int, host: str = "", peer: str = "") -> None:
        """``rate``: the limit it shares with other connections, or requests per minute
        for one of its own."""
        self.conn_id = next(_ids)
        self.peer = peer  # the client's address, for the log of a refused credential
        self.session_id: str | None = None
        self.identity: Identity | None = None
        self.rate = rate if isinstance(rate, RateLimit) else RateLimit(rate)
        self.tat = FULL  # its rate limit's state (auth/ratelimit.py)
        self.host = host  # the host the client connected to (for stream URLs)
        self.topics = DEFAULT_TOPICS  # what it receives
        # False until it names topics: the first subscribe_events with topics then
        # receives exactly those (it narrows what it had by default).
        self.narrowed = False
        # A reply goes before the notifications its request caused: while a request
        # naming a camera is unanswered, notifications about that camera wait here.
        self._holds: dict[str, int] = {}  # camera id -> its requests unanswered
        self.kept: list[tuple[str, bytes]] = []
        # The dispatcher's Call for this session's methods without params, made once.
        self.bare_call: Any = None

    def authenticate(self, identity: Identity) -> str:
        """Bind ``identity`` to this connection; AuthError for a media token."""
        self.identity = control_identity(identity)
        self.session_id = str(uuid.uuid4())
        Session.epoch += 1
        return self.session_id

    def forget_identity(self) -> None:
        self.identity = None
        self.session_id = None
        Session.epoch += 1

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

    def hold(self, camera_id: str) -> None:
        """A request naming ``camera_id`` started: keep its notifications back."""
        self._holds[camera_id] = self._holds.get(camera_id, 0) + 1

    def release(self, camera_id: str) -> None:
        """That request's reply is ready; its kept notifications are :meth:`due` once
        the reply is written."""
        left = self._holds[camera_id] - 1
        if left:
            self._holds[camera_id] = left
        else:
            del self._holds[camera_id]

    def keep(self, camera_id: str | None, frame: bytes) -> bool:
        """Keep a notification back if a request naming its camera is unanswered, or
        one about that camera is already kept (their order stays); False: send it."""
        if camera_id is None or not (self._holds or self.kept):
            return False
        if camera_id in self._holds or any(c == camera_id for c, _ in self.kept):
            self.kept.append((camera_id, frame))
            return True
        return False

    def due(self) -> list[bytes]:
        """The kept notifications whose cameras no unanswered request names, in order."""
        if not self.kept:
            return []
        holds = self._holds
        due = [f for c, f in self.kept if c not in holds]
        self.kept = [(c, f) for c, f in self.kept if c in holds]
        return due

    def subscribe(self, topics: frozenset[str] | None) -> frozenset[str]:
        """subscribe_events: ``topics`` on top of those named so far; None: every
        topic, until topics are named again."""
        if topics is None:
            self.topics, self.narrowed = frozenset(NOTIFICATION_TOPICS), False
        else:
            self.topics = (self.topics if self.narrowed else frozenset()) | topics
            self.narrowed = True
        Session.epoch += 1
        return self.topics

    def unsubscribe(self, topics: frozenset[str] | None) -> frozenset[str]:
        """unsubscribe_events: stop receiving ``topics``; None: all of them."""
        self.topics = frozenset() if topics is None else self.topics - topics
        self.narrowed = True
        Session.epoch += 1
        return self.topics

    def wants(self, topic: str, camera_id: str | None = None) -> bool:
        """Whether a notification goes to this connection; ``camera_id``: the camera it
        is about (None: it is about none, like storage and health)."""
        return (
            self.identity is not None
            and topic in self.topics
            and (camera_id is None or self.identity.sees(camera_id))
        )
