"""Connection-level methods: ping, authenticate, event subscriptions. (rpc.discover,
which describes every method, is added by :class:`api.openrpc.Discovery`.)"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from camera_service.api.contract import AuthenticateResult, SubscribeResult, Topic, TopicAlias
from camera_service.api.jsonrpc import AUTH_REQUIRED, RpcError
from camera_service.api.methodtable import Call, MethodSpec, NoParams, Params
from camera_service.auth.identity import PERMISSIONS, Role
from camera_service.observability.health import iso

MISSING_TOKEN = "authentication failed: invalid or missing token"


class AuthenticateParams(Params):
    auth_token: str | None = Field(None, description="JWT or API key.")
    token: str | None = Field(None, description="Alias of auth_token.")
    auth_type: Literal["jwt", "api_key", "auto"] = "auto"


# The Go-era dotted topic names and the topic each is delivered as (several events of
# one kind are one topic here: a camera_status_update carries the new status).
TOPIC_ALIASES: dict[str, Topic] = {
    "camera.connected": "camera_status_update",
    "camera.disconnected": "camera_status_update",
    "camera.status_change": "camera_status_update",
    "recording.start": "recording_status_update",
    "recording.stop": "recording_status_update",
    "recording.error": "recording_status_update",
    "snapshot.taken": "snapshot_taken",
    "system.health": "system_status_update",
    "system.startup": "system_status_update",
    "system.shutdown": "system_status_update",
}


class TopicsParams(Params):
    topics: list[Topic | TopicAlias] | None = Field(None, description="Default: every topic.")

    @field_validator("topics", mode="after")
    @classmethod
    def _unalias(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [TOPIC_ALIASES.get(t, t) for t in v]


def ping(call: Call[NoParams]) -> str:
    return "pong"


async def authenticate(call: Call[AuthenticateParams]) -> AuthenticateResult:
    p = call.params
    token = p.auth_token if p.auth_token is not None else p.token
    if token is None:  # as a bad token: a client need not tell the two apart by code
        raise RpcError(AUTH_REQUIRED, MISSING_TOKEN, {"reason": "invalid"})
    if not token:
        raise RpcError(AUTH_REQUIRED, "Authentication failed: invalid token", {"reason": "invalid"})
    identity = await call.ctx.components.dispatcher.authenticate(call.session, token, p.auth_type)
    return {
        "authenticated": True,
        "role": identity.role.label,
        "permissions": PERMISSIONS[identity.role],
        "expires_at": iso(identity.expires_at) if identity.expires_at is not None else None,
        "session_id": call.session.session_id or "",
    }


def subscribe_events(call: Call[TopicsParams]) -> SubscribeResult:
    topics = call.params.topics
    now = call.session.subscribe(None if topics is None else frozenset(topics))
    return {"subscribed": True, "topics": sorted(now)}


def unsubscribe_events(call: Call[TopicsParams]) -> SubscribeResult:
    topics = call.params.topics
    now = call.session.unsubscribe(None if topics is None else frozenset(topics))
    return {"unsubscribed": True, "topics": sorted(now)}


METHODS = (
    MethodSpec("ping", ping, 'Liveness check; returns "pong".', None, NoParams, str),
    MethodSpec(
        "authenticate",
        authenticate,
        "Authenticate this connection with a JWT or an API key.",
        None,
        AuthenticateParams,
        AuthenticateResult,
        (AUTH_REQUIRED,),
    ),
    MethodSpec(
        "subscribe_events",
        subscribe_events,
        "Receive these notification topics (default: all).",
        Role.VIEWER,
        TopicsParams,
        SubscribeResult,
    ),
    MethodSpec(
        "unsubscribe_events",
        unsubscribe_events,
        "Stop receiving these notification topics (default: all).",
        Role.VIEWER,
        TopicsParams,
        SubscribeResult,
    ),
)
