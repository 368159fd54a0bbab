"""MediaMTX's auth endpoint (api/mediaauth.py): statuses, the guard of peers off
loopback, the counters in /metrics and the refusal log line (never the credential)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from camera_service.api.mediaauth import MediaAuthEndpoint, auth_url
from camera_service.auth.authenticator import Authenticator
from camera_service.auth.jwt import JwtAuthenticator
from camera_service.media.access import InternalCredential, MediaAccess
from camera_service.net.httpserver import HttpRequest
from camera_service.observability.metrics import Metrics
from tests.conftest import SECRET, make_token

RUN_SECRET = "per-run-secret"


def endpoint() -> tuple[MediaAuthEndpoint, Metrics]:
    metrics = Metrics()
    access = MediaAccess(Authenticator(JwtAuthenticator(SECRET)), InternalCredential("own"))
    return MediaAuthEndpoint(access, RUN_SECRET, metrics), metrics


def post(body: dict[str, Any] | bytes, peer: str = "127.0.0.1", **query: str) -> HttpRequest:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return HttpRequest("POST", "/mediamtx/auth", "/mediamtx/auth", query, {}, raw, peer)


def mediamtx(**fields: Any) -> dict[str, Any]:
    base = {"ip": "192.0.2.5", "user": "", "password": "", "token": "", "action": "read",
            "path": "lab", "protocol": "hls", "id": None, "query": ""}  # fmt: skip
    return {**base, **fields}


async def test_statuses_follow_mediamtx_docs() -> None:
    ep, _ = endpoint()
    assert (await ep.handle(post(mediamtx()))).status == 401  # no credential: asked for
    ok = mediamtx(token=make_token("viewer"))  # Authorization: Bearer
    assert (await ep.handle(post(ok))).status == 200
    assert (await ep.handle(post(mediamtx(password="nope")))).status == 403
    assert (
        await ep.handle(post(mediamtx(action="publish", token=make_token("admin"))))
    ).status == 403
    assert (await ep.handle(post(b"{not json"))).status == 400
    assert (await ep.handle(post(mediamtx(action="dance")))).status == 400


async def test_peers_off_loopback_need_the_run_secret() -> None:
    ep, _ = endpoint()
    body = mediamtx(token=make_token("viewer"))
    assert (await ep.handle(post(body, peer="192.0.2.10"))).status == 403
    assert (await ep.handle(post(body, peer="192.0.2.10", secret="wrong"))).status == 403
    assert (await ep.handle(post(body, peer="192.0.2.10", secret=RUN_SECRET))).status == 200
    assert auth_url("192.0.2.1", 8003, "a b") == "http://192.0.2.1:8003/mediamtx/auth?secret=a%20b"
    assert auth_url("::1", 8003) == "http://[::1]:8003/mediamtx/auth"


async def test_decisions_are_counted_per_outcome_action_and_protocol() -> None:
    ep, metrics = endpoint()
    await ep.handle(post(mediamtx(token=make_token("viewer"))))
    await ep.handle(post(mediamtx(protocol="rtsp")))
    await ep.handle(post(mediamtx(action="playback", protocol="webrtc", password="bad")))
    text = metrics.render()
    name = "camera_service_media_auth_decisions_total"
    assert f'{name}{{outcome="allowed",action="read",protocol="hls"}} 1' in text
    assert f'{name}{{outcome="challenged",action="read",protocol="rtsp"}} 1' in text
    assert f'{name}{{outcome="refused",action="playback",protocol="webrtc"}} 1' in text
    await ep.handle(post(mediamtx(protocol='x"}\n{')))  # no label injection
    assert f'{name}{{outcome="challenged",action="read",protocol="other"}} 1' in metrics.render()


async def test_refusals_are_logged_with_where_never_the_credential(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ep, _ = endpoint()
    caplog.set_level(logging.DEBUG, logger="camera_service.api.mediaauth")
    secret = "a-wrong-but-secret-password"
    await ep.handle(post(mediamtx(password=secret, query=f"token={secret}", user="eve-the-user")))
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    fields = {k: getattr(record, k) for k in ("ip", "path", "action", "protocol", "reason")}
    assert fields == {"ip": "192.0.2.5", "path": "lab", "action": "read", "protocol": "hls",
                      "reason": "invalid_credential"}  # fmt: skip
    logged = str(record.__dict__)
    assert secret not in logged
    assert "eve-the-user" not in logged
