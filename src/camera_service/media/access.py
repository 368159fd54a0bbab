"""Who may read, play back and publish which MediaMTX path: the media plane's decision.

MediaMTX asks the service about every action (``authMethod: http``); the API layer
turns its request into a :class:`MediaRequest` and the :class:`Decision` back into a
status. The rules:

- no credential at all: :attr:`Verdict.CHALLENGE` (an RTSP client is asked for one);
- the service's own per-run credential (:class:`InternalCredential`): publish, read and
  playback of any camera path, and MediaMTX's api/metrics/pprof from loopback; refused
  from any other address while MediaMTX runs on this machine;
- a JWT or API key (the control API's identities): read and playback of the cameras the
  identity sees, whatever its role (recording and snapshots go through the API); an
  admin also gets api/metrics/pprof, from loopback only; a media token (``media_only``)
  gets read and playback only; publish: nobody.

Successful authentications are cached for ``cache_seconds`` (keyed by a digest of the
credential, never the credential itself), and every cache hit re-checks expiry and
revocation through :meth:`Authenticator.recheck` (one ``PRAGMA data_version`` for an
API key), so a revoked key or an expired token is refused on its next authorization.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from camera_service.auth.authenticator import Authenticator
from camera_service.auth.identity import AuthError, Identity, Role
from camera_service.cameras.model import CAMERA_ID
from camera_service.net.addresses import is_loopback

log = logging.getLogger(__name__)

INTERNAL_USER = "camera-service"  # the user name of the internal credential
CACHE_ENTRIES = 4096  # bounded: a flood of distinct tokens evicts, never grows memory
# Query parameters a browser can put on HLS / WHEP URLs ("token" is MediaMTX's current
# name, "jwt" its former one).
QUERY_KEYS = ("token", "jwt")


class Action(enum.StrEnum):
    """MediaMTX's actions (its authentication docs)."""

    PUBLISH = "publish"
    READ = "read"
    PLAYBACK = "playback"
    API = "api"
    METRICS = "metrics"
    PPROF = "pprof"


MEDIA_ACTIONS = frozenset({Action.READ, Action.PLAYBACK})
SERVER_ACTIONS = frozenset({Action.API, Action.METRICS, Action.PPROF})


class Verdict(enum.Enum):
    ALLOW = "allow"
    CHALLENGE = "challenge"  # no credential given: ask for one
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class MediaRequest:
    """One authorization question from MediaMTX (the fields of its JSON body)."""

    user: str
    password: str
    token: str
    ip: str
    action: Action
    path: str
    protocol: str
    id: str | None
    query: str

    def credential(self) -> str | None:
        """The JWT or API key presented, wherever the client put it: MediaMTX's
        ``token`` (an ``Authorization: Bearer`` header), the password (RTSP or HTTP
        Basic, any user name), or a ``token`` / ``jwt`` query parameter."""
        if self.token:
            return self.token
        if self.password:
            return self.password
        if self.query:
            values = parse_qs(self.query, keep_blank_values=False)
            for key in QUERY_KEYS:
                found = values.get(key)
                if found and len(found) == 1:
                    return found[0]
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str  # a short word for logs and metrics; never the credential
    user_id: str | None = None
    cached: bool | None = None  # None: no identity was looked up


class InternalCredential:
    """The service's own media credential, new every run: its FFmpeg publishers, its
    snapshot readers and its recording holder present it as an RTSP password."""

    def __init__(self, secret: str | None = None) -> None:
        self.user = INTERNAL_USER
        self.secret = secret if secret is not None else secrets.token_urlsafe(32)
        self._digest = self.secret.encode()

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self._digest)

    @property
    def pair(self) -> tuple[str, str]:
        """(user, password), as an RTSP reader presents them."""
        return self.user, self.secret

    def __repr__(self) -> str:  # never the secret, whatever prints it
        return "InternalCredential(<secret>)"


class MediaAccess:
    """Decides :class:`MediaRequest` s; see the module docstring."""

    def __init__(
        self,
        authenticator: Authenticator,
        internal: InternalCredential,
        *,
        cache_seconds: float = 5.0,
        local_mediamtx: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.authenticator = authenticator
        self.internal = internal
        self.cache_seconds = cache_seconds
        self.local_mediamtx = local_mediamtx
        self.clock = clock
        # digest of the credential -> (identity, monotonic time the entry expires)
        self._cache: OrderedDict[bytes, tuple[Identity, float]] = OrderedDict()

    async def decide(self, req: MediaRequest) -> Decision:
        credential = req.credential()
        if credential is None:
            return Decision(Verdict.CHALLENGE, "no_credential")
        if self.internal.matches(credential):
            return self._internal(req)
        if req.action is Action.PUBLISH:
            return Decision(Verdict.DENY, "publish_forbidden")  # before any work
        identity, cached = await self._identity(credential)
        if identity is None:
            return Decision(Verdict.DENY, "invalid_credential", cached=False)
        decision = self._grant(req, identity)
        return Decision(decision.verdict, decision.reason, identity.user_id, cached)

    def _internal(self, req: MediaRequest) -> Decision:
        user = INTERNAL_USER
        if self.local_mediamtx() and not is_loopback(req.ip):
            return Decision(Verdict.DENY, "internal_not_loopback", user)
        if req.action in SERVER_ACTIONS:
            if not is_loopback(req.ip):
                return Decision(Verdict.DENY, "not_loopback", user)
            return Decision(Verdict.ALLOW, "internal", user)
        if not CAMERA_ID.fullmatch(req.path):
            return Decision(Verdict.DENY, "not_a_camera", user)
        return Decision(Verdict.ALLOW, "internal", user)

    @staticmethod
    def _grant(req: MediaRequest, identity: Identity) -> Decision:
        if identity.file is not None:  # a download link opens its file, no stream
            return Decision(Verdict.DENY, "file_link")
        if req.action in SERVER_ACTIONS:
            if identity.media_only or identity.role < Role.ADMIN:
                return Decision(Verdict.DENY, "role")
            if not is_loopback(req.ip):
                return Decision(Verdict.DENY, "not_loopback")
            return Decision(Verdict.ALLOW, "admin")
        if req.action not in MEDIA_ACTIONS:
            return Decision(Verdict.DENY, "publish_forbidden")
        if not CAMERA_ID.fullmatch(req.path):
            return Decision(Verdict.DENY, "not_a_camera")
        if not identity.sees(req.path):
            return Decision(Verdict.DENY, "camera_scope")
        return Decision(Verdict.ALLOW, identity.role.label)

    async def _identity(self, credential: str) -> tuple[Identity | None, bool]:
        """The identity of ``credential`` (None: refused) and whether it came from the
        cache. A hit is re-checked for expiry and revocation; a miss authenticates."""
        key = hashlib.sha256(credential.encode("utf-8", "surrogatepass")).digest()
        now = self.clock()
        entry = self._cache.get(key)
        if entry is not None:
            identity, until = entry
            if now < until and self.authenticator.recheck(identity, time.time()) is None:
                return identity, True
            del self._cache[key]  # stale, expired or revoked: authenticate afresh
        try:
            identity = await self.authenticator.authenticate(credential)
        except AuthError:
            return None, False
        if self.cache_seconds > 0:
            self._cache[key] = (identity, now + self.cache_seconds)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return identity, False

    def forget(self) -> None:
        """Drop every cached authentication."""
        self._cache.clear()
