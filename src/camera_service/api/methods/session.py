"""Connection-level methods: ping, authenticate, rpc.discover, event subscriptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from camera_service.api.dispatch import Dispatcher
from camera_service.api.jsonrpc import AUTH_REQUIRED, INVALID_PARAMS, RpcError
from camera_service.api.registry import Call, MethodRegistry, MethodSpec, Params
from camera_service.api.session import NOTIFICATION_TOPICS
from camera_service.auth.identity import PERMISSIONS, Role
from camera_service.observability.health import iso

Topic = Literal[
    "camera_status_update",
    "recording_status_update",
    "snapshot_taken",
    "storage_status_update",
    "system_status_update",
]


class AuthenticateParams(Params):
    auth_token: str | None = Field(None, description="JWT or API key.")
    token: str | None = Field(None, description="Alias of auth_token.")
    auth_type: Literal["jwt", "api_key", "auto"] = "auto"


class AuthenticateResult(TypedDict):
    authenticated: bool
    role: str
    permissions: list[str]
    expires_at: str | None
    session_id: str


class TopicsParams(Params):
    topics: list[Topic] | None = Field(None, description="Default: every topic.")


class SubscribeResult(TypedDict, total=False):
    subscribed: bool
    unsubscribed: bool
    topics: list[str]


def ping(call: Call) -> str:
    return "pong"


def register(
    registry: MethodRegistry, dispatcher: Dispatcher, discover: Callable[[], dict[str, Any]]
) -> None:
    async def authenticate(call: Call) -> AuthenticateResult:
        p: AuthenticateParams = call.params
        token = p.auth_token if p.auth_token is not None else p.token
        if token is None:
            raise RpcError(
                INVALID_PARAMS,
                "Invalid params: auth_token is required",
                {"reason": "invalid_params", "param": "auth_token"},
            )
        if not token:
            raise RpcError(
                AUTH_REQUIRED, "Authentication failed: invalid token", {"reason": "invalid"}
            )
        identity = await dispatcher.authenticate(call.session, token, p.auth_type)
        return {
            "authenticated": True,
            "role": identity.role.label,
            "permissions": PERMISSIONS[identity.role],
            "expires_at": iso(identity.expires_at) if identity.expires_at is not None else None,
            "session_id": call.session.session_id or "",
        }

    def subscribe_events(call: Call) -> SubscribeResult:
        topics: list[str] | None = call.params.topics
        s = call.session
        if topics is None:
            s.topics = None
        else:
            s.topics = (s.topics or frozenset()) | frozenset(topics)
        return {
            "subscribed": True,
            "topics": sorted(NOTIFICATION_TOPICS if s.topics is None else s.topics),
        }

    def unsubscribe_events(call: Call) -> SubscribeResult:
        topics: list[str] | None = call.params.topics
        s = call.session
        current = s.topics if s.topics is not None else frozenset(NOTIFICATION_TOPICS)
        s.topics = frozenset() if topics is None else current - frozenset(topics)
        return {"unsubscribed": True, "topics": sorted(s.topics)}

    registry.add(MethodSpec("ping", ping, 'Liveness check; returns "pong".', None, result=str))
    registry.add(
        MethodSpec(
            "authenticate",
            authenticate,
            "Authenticate this connection with a JWT or an API key.",
            None,
            AuthenticateParams,
            AuthenticateResult,
            (AUTH_REQUIRED,),
        )
    )
    registry.add(
        MethodSpec(
            "rpc.discover",
            lambda call: discover(),
            "OpenRPC document of this API.",
            None,
            result=dict[str, Any],
        )
    )
    registry.add(
        MethodSpec(
            "subscribe_events",
            subscribe_events,
            "Receive these notification topics (default: all).",
            Role.VIEWER,
            TopicsParams,
            SubscribeResult,
        )
    )
    registry.add(
        MethodSpec(
            "unsubscribe_events",
            unsubscribe_events,
            "Stop receiving these notification topics (default: all).",
            Role.VIEWER,
            TopicsParams,
            SubscribeResult,
        )
    )
