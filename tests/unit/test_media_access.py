"""The media plane's decision (media/access.py): who may read, play back and publish
which path, the internal credential, the camera scope and the authentication cache."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import jwt
import pytest

from camera_service.auth.authenticator import Authenticator
from camera_service.auth.identity import AuthError, Identity, Role
from camera_service.auth.jwt import JwtAuthenticator
from camera_service.media.access import (
    Action,
    InternalCredential,
    MediaAccess,
    MediaRequest,
    Verdict,
)
from tests.conftest import SECRET, make_token


class Stub(Authenticator):
    """Known credentials -> identities; counts authentications."""

    def __init__(self, identities: dict[str, Identity]) -> None:
        super().__init__(JwtAuthenticator(SECRET))
        self.identities = identities
        self.calls = 0
        self.revoked: set[str] = set()

    async def authenticate(self, token: str, auth_type: str = "auto") -> Identity:
        self.calls += 1
        identity = self.identities.get(token)
        if (
            identity is not None
            and identity.key_id not in self.revoked
            and not identity.expired(time.time())
        ):
            return identity
        raise AuthError("invalid", "Authentication failed: invalid token")

    def recheck(self, identity: Identity, now: float) -> AuthError | None:
        if identity.expired(now) or identity.key_id in self.revoked:
            return AuthError("invalid", "revoked or expired")
        return None


def ident(role: Role, cameras: tuple[str, ...] | None = None, media_only: bool = False) -> Identity:
    return Identity("u", role, "api_key", None, cameras=cameras, media_only=media_only)


def request(
    action: Action = Action.READ,
    path: str = "lab",
    *,
    password: str = "",
    token: str = "",
    query: str = "",
    ip: str = "127.0.0.1",
    user: str = "",
) -> MediaRequest:
    return MediaRequest(user, password, token, ip, action, path, "rtsp", None, query)


INTERNAL = InternalCredential("internal-secret")


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def access(
    identities: dict[str, Identity],
    cache_seconds: float = 5.0,
    local_mediamtx: Callable[[], bool] = lambda: True,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[MediaAccess, Stub]:
    stub = Stub(identities)
    a = MediaAccess(
        stub, INTERNAL, cache_seconds=cache_seconds, local_mediamtx=local_mediamtx, clock=clock
    )
    return a, stub


async def verdict(a: MediaAccess, req: MediaRequest) -> Verdict:
    return (await a.decide(req)).verdict


async def test_no_credential_asks_for_one() -> None:
    a, stub = access({})
    assert await verdict(a, request()) is Verdict.CHALLENGE
    assert await verdict(a, request(Action.PUBLISH, user="someone")) is Verdict.CHALLENGE
    assert stub.calls == 0


@pytest.mark.parametrize("role", list(Role))
async def test_every_role_reads_and_plays_back_but_never_publishes(role: Role) -> None:
    a, _ = access({"k": ident(role)})
    assert await verdict(a, request(Action.READ, password="k")) is Verdict.ALLOW
    assert await verdict(a, request(Action.PLAYBACK, password="k")) is Verdict.ALLOW
    assert await verdict(a, request(Action.PUBLISH, password="k")) is Verdict.DENY


async def test_server_actions_are_an_admins_from_loopback_only() -> None:
    a, _ = access({"v": ident(Role.VIEWER), "o": ident(Role.OPERATOR), "a": ident(Role.ADMIN)})
    for action in (Action.API, Action.METRICS, Action.PPROF):
        assert await verdict(a, request(action, "", password="a")) is Verdict.ALLOW
        assert await verdict(a, request(action, "", password="a", ip="::1")) is Verdict.ALLOW
        assert await verdict(a, request(action, "", password="a", ip="192.0.2.1")) is Verdict.DENY
        assert await verdict(a, request(action, "", password="o")) is Verdict.DENY
        assert await verdict(a, request(action, "", password="v")) is Verdict.DENY


async def test_a_media_token_reads_its_camera_and_nothing_else() -> None:
    media = ident(Role.ADMIN, cameras=("lab",), media_only=True)
    a, _ = access({"m": media})
    assert await verdict(a, request(Action.READ, password="m")) is Verdict.ALLOW
    assert await verdict(a, request(Action.PLAYBACK, password="m")) is Verdict.ALLOW
    assert await verdict(a, request(Action.READ, "gate", password="m")) is Verdict.DENY
    assert await verdict(a, request(Action.API, "", password="m")) is Verdict.DENY
    assert await verdict(a, request(Action.PUBLISH, password="m")) is Verdict.DENY


async def test_a_viewer_limited_to_a_camera_is_refused_on_another() -> None:
    a, _ = access({"v": ident(Role.VIEWER, cameras=("lab", "cam*"))})
    assert await verdict(a, request(path="lab", password="v")) is Verdict.ALLOW
    assert await verdict(a, request(path="cam2", password="v")) is Verdict.ALLOW
    decision = await a.decide(request(path="gate", password="v"))
    assert (decision.verdict, decision.reason) == (Verdict.DENY, "camera_scope")
    decision = await a.decide(request(Action.PLAYBACK, path="gate", password="v"))
    assert decision.verdict is Verdict.DENY


async def test_paths_that_are_not_camera_ids_are_refused() -> None:
    a, _ = access({"v": ident(Role.ADMIN)})
    for path in ("", "lab/sub", "../lab", "~^.*$", "x" * 65):
        assert await verdict(a, request(path=path, password="v")) is Verdict.DENY
        assert await verdict(a, request(path=path, password=INTERNAL.secret)) is Verdict.DENY


async def test_the_internal_credential_publishes_and_reads_from_loopback() -> None:
    a, stub = access({})
    for action in (Action.PUBLISH, Action.READ, Action.PLAYBACK, Action.API):
        path = "" if action is Action.API else "lab"
        req = request(action, path, password=INTERNAL.secret, user="camera-service")
        assert await verdict(a, req) is Verdict.ALLOW
        assert await verdict(a, replace(req, ip="192.0.2.9")) is Verdict.DENY
    assert stub.calls == 0  # never looked up as a JWT or API key


async def test_the_internal_credential_from_afar_only_when_mediamtx_is_elsewhere() -> None:
    a, _ = access({}, local_mediamtx=lambda: False)
    req = request(Action.PUBLISH, password=INTERNAL.secret, ip="192.0.2.9")
    assert await verdict(a, req) is Verdict.ALLOW
    # MediaMTX's own server actions stay loopback-only whatever the credential.
    req = request(Action.API, "", password=INTERNAL.secret, ip="192.0.2.9")
    assert await verdict(a, req) is Verdict.DENY


async def test_credential_is_token_then_password_then_query() -> None:
    a, _ = access({"t": ident(Role.VIEWER), "p": ident(Role.VIEWER), "q": ident(Role.VIEWER)})
    assert request(token="t", password="p", query="token=q").credential() == "t"
    assert request(password="p", query="token=q").credential() == "p"
    assert request(query="a=1&token=q").credential() == "q"
    assert request(query="jwt=q").credential() == "q"
    assert request(query="token=q&token=r").credential() is None  # ambiguous
    assert request(query="token=").credential() is None
    assert await verdict(a, request(query="jwt=q")) is Verdict.ALLOW


async def test_cache_spares_authentication_but_rechecks_revocation() -> None:
    now = [1000.0]
    key = Identity("u", Role.VIEWER, "api_key", None, key_id="kid")
    a, stub = access({"k": key}, cache_seconds=5.0, clock=lambda: now[0])
    first = await a.decide(request(password="k"))
    second = await a.decide(request(password="k"))
    assert (first.verdict, first.cached, second.verdict, second.cached) == (
        Verdict.ALLOW, False, Verdict.ALLOW, True,
    )  # fmt: skip
    assert stub.calls == 1
    stub.revoked.add("kid")
    assert await verdict(a, request(password="k")) is Verdict.DENY  # inside the 5 s
    stub.revoked.clear()
    assert await verdict(a, request(password="k")) is Verdict.ALLOW
    now[0] += 5.0  # the entry has expired: authenticated afresh
    calls = stub.calls
    assert await verdict(a, request(password="k")) is Verdict.ALLOW
    assert stub.calls == calls + 1


async def test_an_expired_token_is_refused_even_from_the_cache() -> None:
    soon = Identity("u", Role.VIEWER, "jwt", time.time() + 0.05)
    a, _ = access({"t": soon}, cache_seconds=60.0)
    assert await verdict(a, request(password="t")) is Verdict.ALLOW
    a.clock = lambda: 0.0  # the cache entry is fresh; only the token's own expiry counts
    object.__setattr__(soon, "expires_at", time.time() - 1)
    assert await verdict(a, request(password="t")) is Verdict.DENY


async def test_no_cache_authenticates_every_time() -> None:
    a, stub = access({"k": ident(Role.VIEWER)}, cache_seconds=0)
    for _ in range(3):
        assert await verdict(a, request(password="k")) is Verdict.ALLOW
    assert stub.calls == 3


async def test_real_jwts_expired_forged_or_for_another_secret_are_refused() -> None:
    a = MediaAccess(Authenticator(JwtAuthenticator(SECRET)), INTERNAL)
    assert await verdict(a, request(query=f"token={make_token('viewer')}")) is Verdict.ALLOW
    for bad in (
        make_token("viewer", ttl=-5),
        make_token("viewer")[:-3] + "AAA",
        jwt.encode({"user_id": "u", "role": "admin", "exp": time.time() + 60}, "x" * 32),
        f"{b64({'alg': 'none'})}.{b64({'user_id': 'u', 'role': 'admin', 'exp': 2e9})}.",
    ):
        assert await verdict(a, request(query=f"token={bad}")) is Verdict.DENY


def test_the_internal_credential_does_not_print_its_secret() -> None:
    cred = InternalCredential()
    assert cred.secret not in repr(cred) and cred.secret not in str(cred)
    assert len(cred.secret) >= 40 and InternalCredential().secret != cred.secret
