"""MediaMTX's HTTP authentication, on the health port: ``POST /mediamtx/auth``.

MediaMTX (``authMethod: http``) POSTs one JSON object per action, with ``user``,
``password``, ``token``, ``ip``, ``action``, ``path``, ``protocol``, ``id`` and ``query``
(its authentication docs). A 2xx answer allows; 401 makes it ask an RTSP client for
credentials (sent when the request carried none); anything else refuses (403 here).
:func:`parse_request` is the sans-I/O parser of that body; the decision is
:class:`camera_service.media.access.MediaAccess`'s.

Peers on loopback are MediaMTX on this machine. Any other peer must present the per-run
secret as the ``secret`` query parameter of the auth URL (the URL the service gives
MediaMTX: :func:`auth_url`), so nobody else on the network can ask the service which
credentials are good.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from typing import Any
from urllib.parse import quote

import orjson

from camera_service.media.access import Action, Decision, MediaAccess, MediaRequest, Verdict
from camera_service.net.addresses import is_loopback
from camera_service.net.httpserver import HttpRequest, Response, json_response
from camera_service.observability.metrics import Metrics

log = logging.getLogger(__name__)

AUTH_PATH = "/mediamtx/auth"
SECRET_PARAM = "secret"
MAX_BODY = 64 * 1024  # a JWT is at most a few kB; MediaMTX's query string is the rest
_STRINGS = ("user", "password", "token", "ip", "path", "protocol", "query")
STATUS = {Verdict.ALLOW: 200, Verdict.CHALLENGE: 401, Verdict.DENY: 403}
OUTCOME = {Verdict.ALLOW: "allowed", Verdict.CHALLENGE: "challenged", Verdict.DENY: "refused"}


def parse_request(body: bytes) -> MediaRequest:
    """MediaMTX's JSON body as a :class:`MediaRequest`; ValueError when it is not one.

    Every string field may be absent or empty (MediaMTX sends ``""`` for what it does
    not know); ``id`` is a UUID or null; ``action`` must be one of MediaMTX's."""
    if len(body) > MAX_BODY:
        raise ValueError("body too large")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError("body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("body is not a JSON object")
    fields: dict[str, str] = {}
    for name in _STRINGS:
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValueError(f"{name} is not a string")
        fields[name] = value
    try:
        action = Action(str(data.get("action")))
    except ValueError:
        raise ValueError("unknown action") from None
    raw_id = data.get("id")
    session_id: str | None = None
    if raw_id is not None and raw_id != "":
        if not isinstance(raw_id, str):
            raise ValueError("id is not a string")
        try:
            session_id = str(uuid.UUID(raw_id))
        except ValueError:
            raise ValueError("id is not a UUID") from None
    return MediaRequest(action=action, id=session_id, **fields)


def auth_url(host: str, port: int, secret: str | None = None) -> str:
    """The ``authHTTPAddress`` that reaches this endpoint (with the secret when MediaMTX
    is not on loopback)."""
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{port}{AUTH_PATH}"
    if secret:
        url += f"?{SECRET_PARAM}={quote(secret, safe='')}"
    return url


def _label(value: str) -> str:
    # MediaMTX's protocols are plain words; anything else is not worth a label of its own.
    return value if value.isalnum() and len(value) <= 16 else "other"


class MediaAuthEndpoint:
    def __init__(self, access: MediaAccess, secret: str, metrics: Metrics) -> None:
        self.access = access
        self.secret = secret.encode()
        self.metrics = metrics

    async def handle(self, request: HttpRequest) -> Response:
        if not is_loopback(request.peer):
            given = request.query.get(SECRET_PARAM, "").encode()
            if not hmac.compare_digest(given, self.secret):
                log.warning("media authorization from an unknown peer refused",
                            extra={"peer": request.peer})  # fmt: skip
                return json_response({"error": "forbidden"}, 403)
        try:
            req = parse_request(request.body)
        except ValueError as exc:
            return json_response({"error": f"invalid authentication request: {exc}"}, 400)
        started = time.perf_counter()
        decision = await self.access.decide(req)
        self._observe(req, decision, time.perf_counter() - started)
        return Response(STATUS[decision.verdict])

    def _observe(self, req: MediaRequest, decision: Decision, seconds: float) -> None:
        outcome = OUTCOME[decision.verdict]
        cache = "none" if decision.cached is None else "hit" if decision.cached else "miss"
        self.metrics.media_auth_done(
            outcome, req.action.value, _label(req.protocol), seconds, cache
        )
        if decision.verdict is Verdict.ALLOW:
            return
        if decision.verdict is Verdict.CHALLENGE:
            # The normal first step of every RTSP client: it sends credentials only
            # once asked.
            log.debug("media authorization challenged", extra=_where(req))
            return
        extra = {**_where(req), "reason": decision.reason}
        if decision.user_id is not None:
            extra["user_id"] = decision.user_id
        log.warning("media authorization refused", extra=extra)


def _where(req: MediaRequest) -> dict[str, Any]:
    """What a log line says of a request: never its user, password, token or query."""
    return {"ip": req.ip, "path": req.path, "action": req.action.value, "protocol": req.protocol}
